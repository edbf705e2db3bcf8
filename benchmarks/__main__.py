"""Every speed figure in one command: discovery against forward passes (both matrix dtypes) and masked generation.

    python -m benchmarks            # 3,000 and 16,384 tokens, 3 rounds each, masking 5 rounds (about an hour here)
    python -m benchmarks --quick    # 3,000 tokens, 1 round, masking 5 rounds
    python -m benchmarks --streaming-tokens 131072   # also the default discovery at 131,072 tokens (streaming)

Writes benchmarks/results/speed.json (speed-quick.json with --quick, or --output NAME: one file per CPU kind) with the commit, the CPU model, whether it
multiplies bfloat16 in hardware, torch's thread count and the load average, next to every figure.
Also `make benchmarks` (ARGS="--quick").
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


from benchmarks import masking_benchmark, speed
from benchmarks.provenance import environment

RESULTS = Path(__file__).resolve().parent / "results"


def _tokens(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="3,000 tokens, one round")
    parser.add_argument("--tokens", type=_tokens, default=None, help="token budgets, e.g. 3000,16384")
    parser.add_argument("--dtypes", default="float32,bfloat16", help="matrix dtypes of the discoveries")
    parser.add_argument("--repeats", type=int, default=None, help="rounds per budget (default 3, quick 1)")
    parser.add_argument("--streaming-tokens", type=_tokens, default=[], help="budgets run once, float32 only")
    parser.add_argument("--masking-repeats", type=int, default=5, help="0: no masking benchmark")
    parser.add_argument(
        "--output",
        default=None,
        help="file name in benchmarks/results (default speed.json, speed-quick.json)",
    )
    args = parser.parse_args(argv)
    tokens = args.tokens or ([3000] if args.quick else [3000, 16384])
    repeats = args.repeats or (1 if args.quick else 3)
    report: dict = {"environment": environment(), "discovery": []}
    out = RESULTS / (args.output or ("speed-quick.json" if args.quick else "speed.json"))
    RESULTS.mkdir(exist_ok=True)

    def save() -> None:  # after every measurement, so a long run keeps what it has
        report["environment"]["load_average_at_save"] = os.getloadavg()[0]
        out.write_text(json.dumps(report, indent=1) + "\n")

    for budget in tokens:
        report["discovery"].append(speed.measure(budget, args.dtypes.split(","), repeats))
        save()
        print(json.dumps(report["discovery"][-1], indent=1), flush=True)
    for budget in args.streaming_tokens:
        report["discovery"].append(speed.measure(budget, ["float32"], 1))
        save()
    if args.masking_repeats:
        report["masking"] = masking_benchmark.measure(args.masking_repeats)
        save()
    print(json.dumps(report, indent=1))
    print(f"written to {out}")


if __name__ == "__main__":
    main()
