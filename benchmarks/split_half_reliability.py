"""Split-half reliability of discovery on the embedded model: do networks found on one half of the shipped prompt
set (its "discovery" split) come back on the other half (its "eval" split), as a function of the token budget?

Reruns on subsets of the same tokens (the stability score) cannot tell; this measures it across texts.
Networks are matched one to one (`fnsft.network_drift.compare_networks`: IoU of neuron sets, |correlation| of maps).
Run: .venv/bin/python benchmarks/split_half_reliability.py [--tokens 256,1024,4096,16384] [--components 8]
Writes benchmarks/results/split_half.json.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> None:
    import numpy as np

    from fnsft import load_model
    from fnsft.network_drift import compare_networks
    from fnsft.networks import ICAMask
    from fnsft.texts import DEFAULT_PROMPTS, load_labelled_texts

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", default="256,1024,4096,16384")
    parser.add_argument("--components", type=int, default=8)
    args = parser.parse_args(argv)
    model, tokenizer = load_model()
    halves = [load_labelled_texts(DEFAULT_PROMPTS, split=name) for name in ("discovery", "eval")]
    rows = []
    for tokens in (int(part) for part in args.tokens.split(",")):
        start = time.perf_counter()
        finder = ICAMask(num_components=args.components, stability_runs=0)
        first, second = (
            finder.compute_global_networks(model, tokenizer, half, max_tokens=tokens) for half in halves
        )
        matched = compare_networks(first, second).networks
        ious = [entry.iou for entry in matched]
        correlations = [abs(entry.correlation) for entry in matched if entry.correlation is not None]
        rows.append(
            {
                "tokens": tokens,
                "median_iou": round(float(np.median(ious)), 3),
                "iou": [round(value, 3) for value in ious],
                "median_abs_correlation": round(float(np.median(correlations)), 3) if correlations else None,
                "seconds": round(time.perf_counter() - start, 1),
            }
        )
        print(rows[-1], flush=True)
    RESULTS.mkdir(exist_ok=True)
    result = {"model": "SmolLM2-135M-Instruct (embedded)", "components": args.components, "rows": rows}
    (RESULTS / "split_half.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
