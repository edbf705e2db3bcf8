"""Split-half reliability of discovery on the embedded model: do networks found on one half of a corpus come back
on the other half, as a function of the tokens per half?

Each half (alternate texts within each kind, `fnsft.discovery._reliability.split_halves`) gets its own discovery with the same
settings; the two sets of networks are matched one to one (`fnsft.analysis._drift.compare_networks`: IoU of neuron
sets, |correlation| of neuron maps). Reruns on subsets of the same tokens (the stability score) cannot tell this.
Run: .venv/bin/python benchmarks/split_half_reliability.py [--tokens 16384,32768,65536,131072] [--components 20]
     [--corpus corpus|prompts] [--streaming-from 32768] [--stability-runs 5 (0: plain maps, no consensus)]
Writes benchmarks/results/split_half.json (one row per token count, merged with earlier rows of other counts).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


def _key(row: dict) -> tuple:
    return row["corpus"], row.get("recipe", "plain"), row["tokens_per_half"]


def half_discoveries(model, tokenizer, texts, tokens: int, settings):
    """The networks of each half, `tokens` from each, with `settings`."""
    from fnsft import ICAMask
    from fnsft.discovery import split_halves

    finder = ICAMask(settings.replace(max_tokens=tokens), cards=False)
    return [finder.compute_global_networks(model, tokenizer, half) for half in split_halves(texts)]


THRESHOLDS = (
    ("zscore", 2.5),
    ("zscore", 3.0),
    ("zscore", 3.5),
    ("zscore", 4.0),
    ("zscore", 5.0),
    ("topk", 200),
)


def rethresholded(first, second, rule: str, value: float):
    """Both halves' networks thresholded anew from their kept maps: how the agreement depends on the threshold."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # an empty network is part of the answer here
        return first.rethreshold(rule, value), second.rethreshold(rule, value)


def main(argv: list[str] | None = None) -> None:
    import numpy as np

    from fnsft import DiscoverySettings, load_model
    from fnsft.analysis import compare_networks
    from fnsft.data import DEFAULT_CORPUS, DEFAULT_PROMPTS, load_labelled_texts

    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", default="16384,32768,65536,131072", help="tokens per half")
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument("--threshold", type=float, default=3.0)
    parser.add_argument("--corpus", choices=("corpus", "prompts"), default="corpus")
    parser.add_argument("--streaming-from", type=int, default=32768, help="stream from this many tokens up")
    parser.add_argument("--sketch-tokens", type=int, default=16384)
    parser.add_argument(
        "--stability-runs", type=int, default=5, help="0: no reruns, so no consensus maps (the plain recipe)"
    )
    parser.add_argument("--output", default=str(RESULTS / "split_half.json"))
    args = parser.parse_args(argv)
    model, tokenizer = load_model()
    source = DEFAULT_CORPUS if args.corpus == "corpus" else DEFAULT_PROMPTS
    texts = load_labelled_texts(source, split=None if args.corpus == "corpus" else "discovery")
    output = Path(args.output)
    previous = json.loads(output.read_text()) if output.is_file() else {}
    rows = {_key(row): row for row in previous.get("rows", [])}
    for tokens in (int(part) for part in args.tokens.split(",")):
        streaming = tokens >= args.streaming_from
        settings = DiscoverySettings(
            num_components=args.components,
            threshold=args.threshold,
            stability_runs=args.stability_runs,
            streaming=streaming,
            sketch_tokens=min(args.sketch_tokens, tokens),
        )
        start = time.perf_counter()
        first, second = half_discoveries(model, tokenizer, texts, tokens, settings)
        matched = compare_networks(first, second).networks
        ious = [entry.iou for entry in matched]
        by_threshold = {
            f"{rule} {value:g}": round(
                float(
                    np.median(
                        [e.iou for e in compare_networks(*rethresholded(first, second, rule, value)).networks]
                    )
                ),
                3,
            )
            for rule, value in THRESHOLDS
        }
        correlations = [abs(entry.correlation) for entry in matched if entry.correlation is not None]
        row = {
            "corpus": args.corpus,
            "recipe": "consensus" if args.stability_runs else "plain",
            "tokens_per_half": tokens,
            "tokens_found": [first.data["num_tokens"], second.data["num_tokens"]],
            "streaming": streaming,
            "sketch_tokens": settings.sketch_tokens if streaming else None,
            "median_iou": round(float(np.median(ious)), 3),
            "iou": [round(value, 3) for value in ious],
            "median_abs_correlation": round(float(np.median(correlations)), 3),
            "abs_correlation": [round(value, 3) for value in correlations],
            "median_iou_by_threshold": by_threshold,
            "seconds": round(time.perf_counter() - start, 1),
        }
        rows[_key(row)] = row
        print(json.dumps({k: v for k, v in row.items() if k not in ("iou", "abs_correlation")}), flush=True)
        output.parent.mkdir(exist_ok=True)
        result = {
            "model": "SmolLM2-135M-Instruct (embedded)",
            "components": args.components,
            "threshold": args.threshold,
            "rows": sorted(rows.values(), key=_key),
        }
        output.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    main()
