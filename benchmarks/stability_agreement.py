"""Stability scores two ways on the embedded model: PCA + ICA reruns on 80% token subsets of the full matrix
against the same reruns on the reduced matrix (`fnsft.reduced_stability`: 80% token subsets of A_std B, B a
neuron basis of 60 or 200 directions from a randomized range), on the same captured tokens, 20 components, 5
reruns each. At few tokens many components do not reproduce, so the flags (score < 0.8) can be compared where
there is something to flag.

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


def _scores(matrix, tokens: int, runs: int = 5) -> dict:
    import numpy as np

    from fnsft.decomposition import _stability, decompose, range_factors
    from fnsft.reduced_stability import reduced_stability

    result = decompose(matrix, 20, seed=0)
    started = time.perf_counter()
    today = _stability(matrix, "neurons", result.maps, 0, runs, 400, 1e-4, 3, 2)
    seconds = {"pca_reruns": time.perf_counter() - started}
    row = {"tokens": tokens, "seconds": seconds, "pca_reruns": today.round(3).tolist()}
    for width in (60, 200):
        started = time.perf_counter()
        u, s, vt = range_factors(matrix, width, seed=0)
        scores = reduced_stability(u * s, vt.T, result.maps, over="neurons", seed=0, runs=runs)
        seconds[f"reduced_{width}"] = time.perf_counter() - started
        row[f"reduced_{width}"] = {
            "scores": scores.round(3).tolist(),
            "pearson": float(np.corrcoef(today, scores)[0, 1]),
            "flagged_pca_reruns": int((today < FLAG).sum()),
            "flagged_reduced": int((scores < FLAG).sum()),
            "flag_agreement": float(((today < FLAG) == (scores < FLAG)).mean()),
        }
    return row


def main(argv: list[str] | None = None) -> None:
    from fnsft import load_model
    from fnsft.activations import capture_activations
    from fnsft.decomposition import standardize_
    from fnsft.texts import DEFAULT_PROMPTS, interleave_by_category, load_labelled_texts

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
        print(json.dumps({k: v for k, v in rows[-1].items() if k != "pca_reruns"}), flush=True)
    RESULTS.mkdir(exist_ok=True)
    result = {"model": "SmolLM2-135M-Instruct (embedded)", "components": 20, "runs": 5, "rows": rows}
    (RESULTS / "stability_agreement.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
