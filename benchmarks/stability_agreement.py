"""Stability scores two ways on the embedded model, on the same captured tokens (20 components, 5 reruns):

- reference: the full discovery (randomized PCA over all neurons + FastICA) rerun on an 80% token subset of the
  standardised matrix with a new seed, each rerun's maps matched one-to-one to the reference maps;
- reduced: `fnsft.discovery._decomposition.reduced_stability`, the reruns on 80% token subsets of the reduced matrix
  A_std B (B: the randomized range's 200 directions), which discovery uses.

At few tokens many components do not reproduce, so the flags (score < 0.8) can be compared where there is
something to flag.

Run: .venv/bin/python benchmarks/stability_agreement.py [--tokens 256,1024,4096]
Writes benchmarks/results/stability_agreement.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"
FLAG = 0.8
RUNS = 5


def _full_reruns(matrix, reference, runs: int):
    """Median matched |corr| of each reference map over full-discovery reruns on 80% token subsets."""
    import numpy as np
    import torch

    from fnsft.discovery import decompose
    from fnsft.networks import matched_correlations

    scores = []
    for run in range(1, runs + 1):
        generator = torch.Generator().manual_seed(10_007 * run)
        rows = torch.randperm(matrix.shape[0], generator=generator)[: int(matrix.shape[0] * 0.8)]
        rerun = decompose(matrix[rows.sort().values], reference.shape[0], seed=run)
        scores.append(matched_correlations(reference, rerun.maps))
    return np.median(np.stack(scores), axis=0)


def _scores(matrix, tokens: int) -> dict:
    import numpy as np

    from fnsft.discovery import PROBE_WIDTH, decompose, range_factors, reduced_stability

    result = decompose(matrix, 20, seed=0)
    started = time.perf_counter()
    full = _full_reruns(matrix, result.maps, RUNS)
    seconds = {"full_reruns": time.perf_counter() - started}
    started = time.perf_counter()
    u, s, vt = range_factors(matrix, PROBE_WIDTH, seed=0)
    reduced = reduced_stability(u * s, vt.T, result.maps, over="neurons", seed=0, runs=RUNS)
    seconds["reduced"] = time.perf_counter() - started
    return {
        "tokens": tokens,
        "seconds": seconds,
        "full_reruns": full.round(3).tolist(),
        "reduced": reduced.round(3).tolist(),
        "pearson": float(np.corrcoef(full, reduced)[0, 1]),
        "flagged_full_reruns": int((full < FLAG).sum()),
        "flagged_reduced": int((reduced < FLAG).sum()),
        "flag_agreement": float(((full < FLAG) == (reduced < FLAG)).mean()),
    }


def main(argv: list[str] | None = None) -> None:
    from fnsft import load_model
    from fnsft.data import DEFAULT_PROMPTS, interleave_by_category, load_labelled_texts
    from fnsft.discovery import capture_activations, standardize_

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", default="256,1024,4096")
    args = parser.parse_args(argv)
    model, tokenizer = load_model()
    texts = interleave_by_category(load_labelled_texts(DEFAULT_PROMPTS, split="discovery")).texts
    rows = []
    for tokens in (int(part) for part in args.tokens.split(",")):
        matrix = standardize_(capture_activations(model, tokenizer, texts, max_tokens=tokens).matrix)
        rows.append(_scores(matrix, tokens))
        print(
            json.dumps(
                {
                    k: rows[-1][k]
                    for k in ("tokens", "seconds", "pearson", "flagged_full_reruns", "flagged_reduced")
                }
            ),
            flush=True,
        )
    RESULTS.mkdir(exist_ok=True)
    result = {"model": "SmolLM2-135M-Instruct (embedded)", "components": 20, "runs": RUNS, "rows": rows}
    (RESULTS / "stability_agreement.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
