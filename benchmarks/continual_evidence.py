"""Evidence for issue 30: the shipped offline continual-learning suite on the embedded model, every method, every
seed of the suite; AA, BWT and FWT with their spread and paired differences against LoRA and EWC, and the cost
(time per stage, peak memory per method).

Seed by seed, each method runs in its own process for the first seed (so its peak resident memory is its own),
then each further seed runs all methods in one process. The run folder resumes: rerunning continues where an
interrupted run stopped.
Run: nice -n 5 .venv/bin/python benchmarks/continual_evidence.py [--output-dir runs/continual-evidence]
     [--methods lora,ewc,...] [--tasks passage-kind,sentiment]   (a subset where the CPU allows no more)
Writes benchmarks/results/continual/offline.json (with this command) and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results" / "continual" / "offline.json"
RUN = "import torch, sys; torch.set_num_threads(1); from fnsft.cli import continual_main; sys.exit(continual_main(sys.argv[1:]))"


def run(folder: Path, methods: list[str], seed: int, tasks: str | None) -> None:
    command = [sys.executable, "-c", RUN, "--config", "offline", "--output-dir", str(folder)]
    command += ["--methods", ",".join(methods), "--seeds", str(seed)] + (["--tasks", tasks] if tasks else [])
    subprocess.run(command, check=True)


def cost(results: dict) -> dict:
    """Per method: mean training and scoring seconds per stage over its seeds, and its peak memory."""
    table = {}
    for name, entry in results["methods"].items():
        runs = list(entry["seeds"].values())
        if not runs:
            continue
        train = [s for run in runs for s in run["train_seconds"]]
        score = [s for run in runs for s in run["score_seconds"]]
        table[name] = {
            "train_seconds_per_stage": sum(train) / len(train),
            "score_seconds_per_stage": sum(score) / len(score),
            "peak_memory_mb_first_seed": runs[0]["peak_memory_mb"],
        }
    return table


def main() -> None:
    from fnsft.continual import OFFLINE_SUITE, collect_results, load_suite, with_overrides
    from fnsft.continual.report import summary_lines

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="runs/continual-evidence")
    parser.add_argument("--methods", default=None, help="comma-separated (default: the suite's, all of them)")
    parser.add_argument("--tasks", default=None, help="comma-separated sub-sequence (default: every task)")
    args = parser.parse_args()
    folder = Path(args.output_dir)
    suite = with_overrides(load_suite(OFFLINE_SUITE), methods=args.methods, tasks=args.tasks)
    started = time.perf_counter()
    for position, seed in enumerate(suite.seeds):
        if position == 0:
            for method in suite.methods:
                run(folder, [method], seed, args.tasks)
        else:
            run(folder, suite.methods, seed, args.tasks)
    results = collect_results(folder, suite)  # every seed and method (each process summarised only its own)
    record = {
        "command": "nice -n 5 .venv/bin/python benchmarks/continual_evidence.py "
        + " ".join(shlex.quote(a) for a in sys.argv[1:]),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), torch 1 thread",
        "wall_seconds": time.perf_counter() - started,
        "suite": json.loads((folder / "suite.json").read_text()),
        "results": results,
        "cost": cost(results),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print("\n".join(summary_lines(results)))
    print(json.dumps(record["cost"], indent=1))


if __name__ == "__main__":
    main()
