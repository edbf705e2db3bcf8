"""Do the float32 and bfloat16 in-memory paths give the same networks for one seed and one set of texts?

The bfloat16 matrix stands in for another CPU's rounding, only far coarser (8 significant bits against float32's
24): networks that survive it survive any CPU's float32 arithmetic. Networks are matched one to one
(`fnsft.analysis._drift.compare_networks`) and reported by IoU of neuron sets and |correlation| of maps.
Run: .venv/bin/python benchmarks/dtype_agreement.py [--tokens 16384] [--components 20]
Writes benchmarks/results/dtype_agreement.json.
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

    from fnsft import ICAMask, load_model
    from fnsft.analysis import compare_networks
    from fnsft.data import DEFAULT_CORPUS, load_labelled_texts

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--components", type=int, default=20)
    args = parser.parse_args(argv)
    model, tokenizer = load_model()
    texts = load_labelled_texts(DEFAULT_CORPUS)
    found, seconds = {}, {}
    for dtype in ("float32", "bfloat16"):
        start = time.perf_counter()
        finder = ICAMask(num_components=args.components, stability_runs=0, matrix_dtype=dtype, cards=False)
        found[dtype] = finder.compute_global_networks(model, tokenizer, texts, max_tokens=args.tokens)
        seconds[dtype] = round(time.perf_counter() - start, 1)
    matched = compare_networks(found["float32"], found["bfloat16"]).networks
    ious = [round(entry.iou, 3) for entry in matched]
    correlations = [round(abs(entry.correlation), 4) for entry in matched]
    result = {
        "model": "SmolLM2-135M-Instruct (embedded)",
        "tokens": args.tokens,
        "components": args.components,
        "min_iou": min(ious),
        "median_iou": float(np.median(ious)),
        "min_abs_correlation": min(correlations),
        "iou": ious,
        "abs_correlation": correlations,
        "seconds": seconds,
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("iou", "abs_correlation")}))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "dtype_agreement.json").write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
