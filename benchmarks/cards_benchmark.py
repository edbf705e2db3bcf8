"""Cost of network cards: a default discovery on the embedded model, timing each stage from its progress reports.

The cards stage (examples and histograms from the time courses, one lesioned forward pass per network for the
logit effect) is reported against the whole discovery, whose target is at most 10%. Also the cards of a loaded
template (one capture pass projected onto the neuron sets) and the size of a card in a template file.
Run: .venv/bin/python benchmarks/cards_benchmark.py   Writes benchmarks/results/cards.json.
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
    import torch

    from fnsft import load_model
    from fnsft.card_pass import EFFECT_TEXTS, logit_effects, template_cards
    from fnsft.texts import DEFAULT_PROMPTS, interleave_by_category, load_labelled_texts

    model, tokenizer = load_model()
    result, networks = timed_discovery(model, tokenizer)
    texts = interleave_by_category(load_labelled_texts(DEFAULT_PROMPTS, split="discovery")).texts
    start = time.perf_counter()
    logit_effects(model, tokenizer, networks, texts[:EFFECT_TEXTS])
    result["logit_effect_seconds_again"] = (
        time.perf_counter() - start
    )  # of the cards stage, the forward passes
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
    )
    RESULTS.mkdir(exist_ok=True)
    result["load_average_at_end"] = os.getloadavg()[0]  # other work on the machine slows every stage
    (RESULTS / "cards.json").write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
