"""Evidence for issue 30: the shipped offline continual-learning suite on the embedded model, every method, every
seed of the suite; AA, BWT and FWT with their spread and paired differences against LoRA and EWC, and the cost
(time per stage, peak memory per method).

Seed by seed, each method runs in its own process for the first seed (so its peak resident memory is its own),
then each further seed runs all methods in one process. The run folder resumes: rerunning continues where an
interrupted run stopped.
Run: nice -n 5 .venv/bin/python benchmarks/continual_evidence.py [--output-dir runs/continual-evidence]
     [--methods lora,ewc,...] [--tasks passage-kind,sentiment]   (a subset where the CPU allows no more)
Two runs side by side (two processes on a 2-core machine), then summarised together:
     ... continual_evidence.py --collect RUN_A RUN_B --methods <all of both> --tasks <the same>
Writes benchmarks/results/continual/offline.json (with this command) and prints the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results" / "continual" / "offline.json"
COMMAND_FILE = "command.txt"
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


def merge(folders: list[Path]) -> list[str]:
    """Copy the method and single-task folders of the other run folders into the first; their commands."""
    commands = []
    for folder in folders:
        note = folder / COMMAND_FILE
        commands.append(note.read_text().strip() if note.is_file() else f"(no {COMMAND_FILE} in {folder})")
        if folder != folders[0]:
            for part in folder.iterdir():
                if part.is_dir():
                    shutil.copytree(part, folders[0] / part.name, dirs_exist_ok=True)
    return commands


def main() -> None:
    from fnsft.continual import OFFLINE_SUITE, collect_results, load_suite, with_overrides
    from fnsft.continual.report import stage_lines, summary_lines

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", default="runs/continual-evidence")
    parser.add_argument("--methods", default=None, help="comma-separated (default: the suite's, all of them)")
    parser.add_argument("--tasks", default=None, help="comma-separated sub-sequence (default: every task)")
    parser.add_argument(
        "--collect",
        nargs="+",
        type=Path,
        default=None,
        metavar="RUN_FOLDER",
        help="run nothing: summarise these finished run folders together (the first receives the others')",
    )
    args = parser.parse_args()
    command = "nice -n 5 .venv/bin/python benchmarks/continual_evidence.py " + " ".join(
        shlex.quote(a) for a in sys.argv[1:]
    )
    suite = with_overrides(load_suite(OFFLINE_SUITE), methods=args.methods, tasks=args.tasks)
    started = time.perf_counter()
    if args.collect:
        folder, runs = args.collect[0], merge(args.collect)
    else:
        folder, runs = Path(args.output_dir), [command]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / COMMAND_FILE).write_text(command + "\n")
        for position, seed in enumerate(suite.seeds):
            for methods in [[m] for m in suite.methods] if position == 0 else [suite.methods]:
                run(folder, methods, seed, args.tasks)
    results = collect_results(folder, suite)  # every seed and method (each process summarised only its own)
    record = {
        "command": command,
        "runs": runs,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores (shared), torch 1 thread",
        "wall_seconds": None if args.collect else time.perf_counter() - started,
        "suite": json.loads((folder / "suite.json").read_text()),
        "results": results,
        "cost": cost(results),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(record, indent=1) + "\n")
    print("\n".join(summary_lines(results) + [""] + stage_lines(results)))
    print(json.dumps(record["cost"], indent=1))


if __name__ == "__main__":
    main()
