"""Does the randomized PCA's accuracy limit split-half reliability? (issue 25)

Each half of the discovery corpus (`fnsft.discovery.split_halves`) is captured once in memory (`--tokens` per
half), then decomposed with each range setting: the default (200 probes, 1 power iteration) and near-exact ones
(more iterations, more probes), plain (no stability reruns), 20 components. The halves' maps are matched one to
one by |corr|; the IoU is of their thresholded neuron sets, median over the 20 matches.

    .venv/bin/python benchmarks/split_half_pca_accuracy.py [--tokens 32768] [--ranges 200/1,400/3,200/3]
    .venv/bin/python benchmarks/split_half_pca_accuracy.py --second-seed 1 --output split_half_pca_seeds.json

Both halves are decomposed with seed 0 unless --second-seed gives the second half another one: with one seed
both halves draw the same random probes and ICA starts, which may make them agree for reasons that are not in the
texts. Writes benchmarks/results/split_half_pca_accuracy.json (or --output). About 12 minutes and 14 GB at 32,768
tokens per half.
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
THRESHOLDS = (3.0, 4.0, 5.0)


def agreement(first, second, widths) -> dict:
    """Median |corr| and IoU (per threshold) of the halves' one-to-one matches."""
    import numpy as np

    pairs, correlations = matches(first.maps, second.maps)
    row = {"median_abs_correlation": round(float(np.median(correlations)), 4)}
    for z in THRESHOLDS:
        iou = matched_ious(first.maps, second.maps, widths, z, pairs)
        row[f"median_iou_z{z:g}"] = round(float(np.median(iou)), 3)
    return row


def main(argv: list[str] | None = None) -> None:
    from fnsft import load_model
    from fnsft.data import discovery_texts, interleave_by_category
    from fnsft.discovery import capture_activations, decompose, split_halves, standardize_

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=32768, help="tokens per half")
    parser.add_argument(
        "--ranges", default="200/1,400/3,200/3", help="probes/power iterations, comma-separated"
    )
    parser.add_argument(
        "--second-seed", type=int, default=0, help="the second half's seed (the first's is 0)"
    )
    parser.add_argument("--output", default="split_half_pca_accuracy.json")
    args = parser.parse_args(argv)
    ranges = [tuple(int(part) for part in item.split("/")) for item in args.ranges.split(",")]
    model, tokenizer = load_model()
    halves = []
    for half in split_halves(discovery_texts()):
        texts = interleave_by_category(half).texts
        captured = capture_activations(model, tokenizer, texts, max_tokens=args.tokens, max_length=256)
        halves.append(standardize_(captured.matrix))
    widths = captured.layer_widths
    rows = []
    for probes, iterations in ranges:
        start = time.perf_counter()
        found = [
            decompose(matrix, 20, seed=seed, max_iter=1000, probes=probes, power_iterations=iterations)
            for matrix, seed in zip(halves, (0, args.second_seed), strict=True)
        ]
        rows.append(
            {
                "probes": probes,
                "power_iterations": iterations,
                "seconds": round(time.perf_counter() - start, 1),
            }
            | agreement(*found, widths)
        )
        print(rows[-1], flush=True)
    report = {
        "environment": environment(),
        "tokens_per_half": args.tokens,
        "seeds": [0, args.second_seed],
        "rows": rows,
    }
    (RESULTS / args.output).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
