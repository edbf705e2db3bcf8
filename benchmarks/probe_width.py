"""What the randomized PCA's width buys: time and accuracy of the in-memory decomposition per probe width.

At 3,000 tokens the decomposition's largest cost is `range_factors`: four products of the [tokens x 46,080]
matrix with the probes. Fewer probes cost less; this measures how far the networks then move from a near-exact
reference (400 probes, 3 power iterations), with and without the default stability reruns and consensus maps.
Networks are matched one to one by map |corr|; IoU is of their z >= 3 neuron sets.

    .venv/bin/python benchmarks/probe_width.py [--tokens 3000]

Writes benchmarks/results/probe_width.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

from map_matching import matched_ious, matches
from provenance import environment

RESULTS = Path(__file__).resolve().parent / "results"
WIDTHS = ((200, 1), (120, 1), (100, 1), (80, 1), (60, 2))  # (probes, power iterations); 200/1 is the default
REFERENCE = (400, 3)


def decomposition(matrix, width: int, iterations: int, runs: int):
    """The default decomposition (20 components) with the range's width and power iterations replaced."""
    from fnsft.discovery import decompose

    start = time.perf_counter()
    result = decompose(
        matrix,
        20,
        seed=0,
        max_iter=1000,
        stability_runs=runs,
        consensus=runs > 0,
        probes=width,
        power_iterations=iterations,
    )
    return result, time.perf_counter() - start


def agreement(reference, other, widths) -> dict:
    import numpy as np

    from fnsft.networks import matched_correlations

    correlation = matched_correlations(reference.maps, other.maps)
    pairs, _ = matches(reference.maps, other.maps)
    iou = matched_ious(reference.maps, other.maps, widths, 3.0, pairs)
    return {
        "median_abs_correlation": round(float(np.median(correlation)), 4),
        "min_abs_correlation": round(float(correlation.min()), 4),
        "median_iou": round(float(np.median(iou)), 3),
        "min_iou": round(float(np.min(iou)), 3),
    }


def main(argv: list[str] | None = None) -> None:
    from fnsft import load_model
    from fnsft.data import discovery_texts, interleave_by_category
    from fnsft.discovery import capture_activations, standardize_

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=3000)
    args = parser.parse_args(argv)
    model, tokenizer = load_model()
    texts = interleave_by_category(discovery_texts()).texts
    captured = capture_activations(model, tokenizer, texts, max_tokens=args.tokens)
    matrix, widths = standardize_(captured.matrix), captured.layer_widths
    rows = []
    for runs in (0, 5):
        reference, _ = decomposition(matrix, *REFERENCE, runs)
        for width, iterations in WIDTHS:
            result, seconds = decomposition(matrix, width, iterations, runs)
            rows.append(
                {
                    "probes": width,
                    "power_iterations": iterations,
                    "stability_runs": runs,
                    "seconds": round(seconds, 2),
                }
                | agreement(reference, result, widths)
            )
            print(rows[-1], flush=True)
    report = {"environment": environment(), "tokens": args.tokens, "reference": REFERENCE, "rows": rows}
    (RESULTS / "probe_width.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
