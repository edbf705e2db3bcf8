"""Cost of network cards: a default discovery on the embedded model, timing each stage from its progress reports.

The cards stage of a discovery (examples, histograms, labels from the time courses) is reported against the whole
discovery (target: at most 10%); the logit effect, one lesioned forward pass per network, is timed apart, for one
network (what opening a card in the app adds) and for all (what fnsft-build-templates adds). With --template, also
the cards of a loaded template (one capture pass projected onto the neuron sets). And the size of a card.
Run: .venv/bin/python benchmarks/cards_benchmark.py [--template]   Writes benchmarks/results/cards.json.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


def timed_discovery(model, tokenizer) -> tuple[dict, object]:
    from fnsft import ICAMask

    marks: dict[str, float] = {}

    def progress(stage: str, fraction: float) -> None:
        marks.setdefault(stage, time.perf_counter())

    start = time.perf_counter()
    networks = ICAMask().compute_global_networks(model, tokenizer, progress=progress)
    end = time.perf_counter()
    total = end - start
    cards = marks["done"] - marks["cards"]
    return {
        "discovery_seconds": total,
        "capture_seconds": marks["decompose"] - start,
        "decomposition_seconds": marks["cards"] - marks["decompose"],
        "cards_seconds": cards,
        "cards_share_of_discovery": cards / total,
        "cards_vs_discovery_without_cards": cards / (total - cards),
    }, networks


def main() -> None:
    import argparse

    import torch

    from fnsft import load_model
    from fnsft.analysis import add_logit_effects, template_cards

    parser = argparse.ArgumentParser()
    parser.add_argument("--template", action="store_true", help="also time cards for a loaded template")
    args = parser.parse_args()
    model, tokenizer = load_model()
    result, networks = timed_discovery(model, tokenizer)
    start = time.perf_counter()
    networks.cards = add_logit_effects(networks, model, tokenizer, [0])
    result["logit_effect_one_network_seconds"] = (
        time.perf_counter() - start
    )  # what opening a card adds in the app
    start = time.perf_counter()
    networks.cards = add_logit_effects(networks, model, tokenizer)
    result["logit_effect_all_networks_seconds"] = (
        time.perf_counter() - start
    )  # what fnsft-build-templates adds
    if args.template:
        start = time.perf_counter()
        template_cards(networks, model, tokenizer)
        result["template_cards_seconds"] = time.perf_counter() - start
    sizes = [len(json.dumps(card.to_dict())) for card in networks.cards]
    result.update(
        model="SmolLM2-135M-Instruct (embedded)",
        threads=torch.get_num_threads(),
        settings="ICAMask() defaults: 20 components, 4096 tokens, 5 stability runs",
        card_bytes_max=max(sizes),
        card_bytes_mean=sum(sizes) / len(sizes),
        example_label=networks.card(0).label,
        load_average_at_end=os.getloadavg()[0],  # other work on the machine slows every stage
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "cards.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
