"""Which threshold, and which recipe for the halves, make the shipped networks reproduce? (issue 25)

Two phases, because the discoveries take about an hour on a 2-core CPU and the comparisons a second:

    .venv/bin/python benchmarks/split_half_variants.py discover [--halves-stability-runs 0,5]
    .venv/bin/python benchmarks/split_half_variants.py compare

`discover` repeats the shipped template's recorded recipe (its `"discovery"` settings: 262,144 tokens, streaming,
consensus maps) on the whole discovery corpus and on each of its two halves (`fnsft.discovery.split_halves`, half
the tokens each), once per number of stability reruns on the halves (0 is what `split_half=True` runs; 5 repeats the
full recipe's consensus maps), and pickles the networks with their maps to `--work`. `compare` thresholds every map
anew with each rule below and matches the halves as the template's split-half record does
(`fnsft.discovery._reliability.split_half`), writing `benchmarks/results/split_half_variants.json`.

Rules: `z` keeps z >= value (the library's zscore rule, the sign-corrected heavy tail); `|z|` keeps |z| >= value
(both tails, so the sign of a map cannot matter).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"
TEMPLATE = (
    Path(__file__).resolve().parents[1] / "fnsft" / "_data" / "ica_templates" / "SmolLM2-135M-Instruct.json"
)
RULES = (("z", 3.0), ("z", 3.5), ("z", 4.0), ("z", 4.5), ("z", 5.0), ("|z|", 3.0), ("|z|", 4.0), ("|z|", 5.0))


def discover(work: Path, halves_stability_runs: list[int]) -> None:
    """The full discovery once, and both halves once per number of stability reruns, pickled with their maps."""
    from fnsft import DiscoverySettings, load_model
    from fnsft.data import discovery_texts
    from fnsft.discovery import ICAMask, split_halves

    settings = DiscoverySettings(**json.loads(TEMPLATE.read_text())["discovery"]).replace(split_half=False)
    model, tokenizer = load_model()
    texts = discovery_texts()
    work.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    full = ICAMask(settings, cards=False).compute_global_networks(model, tokenizer, texts)
    (work / "full.pkl").write_bytes(pickle.dumps(full))
    for runs in halves_stability_runs:
        half_settings = settings.replace(max_tokens=settings.max_tokens // 2, stability_runs=runs)
        halves = [
            ICAMask(half_settings, cards=False).compute_global_networks(model, tokenizer, half)
            for half in split_halves(texts)
        ]
        (work / f"halves-{runs}.pkl").write_bytes(pickle.dumps(halves))
        print(f"halves with {runs} stability reruns: {time.perf_counter() - start:.0f} s", flush=True)


def _thresholded(networks, rule: str, value: float):
    """`networks` with every map thresholded anew: z >= value is the library's own zscore rule
    (`FunctionalNetworks.rethreshold`); |z| >= value keeps both tails, split into layers here."""
    import numpy as np

    if rule == "z":
        return networks.rethreshold("zscore", value)
    maps = networks.maps
    z = (maps - maps.mean(axis=1, keepdims=True)) / (maps.std(axis=1, keepdims=True) + 1e-12)
    neurons = [by_layer(np.flatnonzero(row >= value), networks.layer_widths) for row in np.abs(z)]
    return dataclasses.replace(networks, neurons=neurons, split_half=None)


def by_layer(ids, widths) -> dict:
    """Global column ids -> {layer: ids within the layer}."""
    import numpy as np

    starts = np.cumsum([0, *widths])
    layers = np.searchsorted(starts, ids, side="right") - 1
    return {int(layer): ids[layers == layer] - starts[layer] for layer in np.unique(layers)}


def compare(work: Path) -> dict:
    """Split-half IoU and map |corr| (medians, per network) for every rule and every recipe of the halves."""
    import numpy as np

    from fnsft.discovery import split_half

    full = pickle.loads((work / "full.pkl").read_bytes())
    rows = []
    for path in sorted(work.glob("halves-*.pkl")):
        halves = pickle.loads(path.read_bytes())
        for rule, value in RULES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # an empty network is part of the answer here
                whole = _thresholded(full, rule, value)
                found = split_half(whole, *(_thresholded(h, rule, value) for h in halves))
            sizes = whole.sizes()
            rows.append(
                {
                    "halves_stability_runs": int(path.stem.split("-")[1]),
                    "rule": rule,
                    "value": value,
                    "median_iou": round(float(np.median(found.iou)), 3),
                    "median_abs_correlation": round(float(np.median(np.abs(found.correlation))), 3),
                    "reproduced": int(found.reproduced().sum()),
                    "iou": [round(float(v), 3) for v in found.iou],
                    "median_network_size": int(np.median(sizes)),
                    "smallest_network": int(sizes.min()),
                }
            )
    return {
        "what": "split-half reliability of the shipped recipe (262,144 tokens, 131,072 per half) by threshold rule",
        "recipe": full.settings.to_dict(),
        "tokens_per_half": int(min(h.data["num_tokens"] for h in halves)),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("phase", choices=("discover", "compare"))
    parser.add_argument("--work", default=str(Path.home() / ".cache" / "fnsft" / "split_half_variants"))
    parser.add_argument("--halves-stability-runs", default="0,5", help="comma-separated")
    args = parser.parse_args(argv)
    work = Path(args.work)
    if args.phase == "discover":
        discover(work, [int(part) for part in args.halves_stability_runs.split(",")])
        return
    result = compare(work)
    (RESULTS / "split_half_variants.json").write_text(json.dumps(result, indent=1) + "\n")
    for row in result["rows"]:
        print({k: v for k, v in row.items() if k != "iou"})


if __name__ == "__main__":
    main()
