"""Training throughput and peak memory on the embedded model: plain LoRA and full fine-tuning against forward
masking (lesion) and selective updates (train only the networks), each in its own process.

Run: .venv/bin/python benchmarks/training_benchmark.py [--steps 12]   Writes benchmarks/results/training.json.
Throughput is tokens/s over the steps after the first (which pays one-time start-up costs).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"
CASES = {
    "LoRA": ["--method", "lora"],
    "LoRA + lesion (forward mask)": ["--method", "lora", "--network-mode", "lesion"],
    "LoRA + train only networks": ["--method", "lora", "--network-mode", "train_only"],
    "full": ["--method", "full"],
    "full + lesion (forward mask)": ["--method", "full", "--network-mode", "lesion"],
    "full + train only networks": ["--method", "full", "--network-mode", "train_only"],
}


def run_case(flags: list[str], steps: int) -> dict:
    from fnsft.training import config_from_args, read_progress, train

    with tempfile.TemporaryDirectory() as folder:
        config = config_from_args(
            [
                *flags,
                "--max-steps",
                str(steps),
                "--evaluate",
                "false",
                "--save-steps",
                "100000",
                "--batch-size",
                "4",
                "--max-length",
                "256",
                "--output-dir",
                folder,
            ]
        )
        train(config)
        rows = [r for r in read_progress(Path(folder)) if r.get("loss") is not None]
    first, last = rows[0], rows[-1]
    tokens_after_first = (
        last["tokens_per_second"] * last["elapsed"] - first["tokens_per_second"] * first["elapsed"]
    )
    return {
        "tokens_per_second": tokens_after_first / (last["elapsed"] - first["elapsed"]),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "steps": len(rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--case", default=None)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(CASES[args.case], args.steps)))
        return
    report = {
        "model": "SmolLM2-135M-Instruct (embedded)",
        "batch": "4 x up to 256 tokens",
        "steps": args.steps,
    }
    for name in CASES:
        command = [sys.executable, __file__, "--case", name, "--steps", str(args.steps)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        report[name] = json.loads(output.strip().splitlines()[-1])
        print(name, report[name], flush=True)
    for base in ("LoRA", "full"):
        for variant in (f"{base} + lesion (forward mask)", f"{base} + train only networks"):
            report[variant]["throughput_vs_" + base] = (
                report[variant]["tokens_per_second"] / report[base]["tokens_per_second"]
            )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "training.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
