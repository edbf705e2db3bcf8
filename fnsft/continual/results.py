"""A suite's results from its run folder: the accuracy (and loss) matrix of every method and seed, AA/BWT/FWT,
their spread over seeds, and paired differences against LoRA and EWC; written to results.json."""

from __future__ import annotations

import json
from pathlib import Path

from ..networks._templates import write_json_atomically
from .metrics import paired_difference, spread, summarise
from .registry import make_method

METRICS = ("AA", "BWT", "FWT")
REFERENCES = ("lora", "ewc")  # the baselines every method is compared with, seed by seed


def read_json(path: Path) -> dict | None:
    """The file's JSON, or None when it is absent (or half-written by a crash: its stage is redone)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _matrices(folder: Path, tasks: list[str]) -> dict | None:
    """a[t][T] and the loss matrix of one finished sequence, its drift and costs; None while unfinished."""
    stages = [read_json(folder / f"stage-{stage}.json") for stage in range(len(tasks))]
    if read_json(folder / "sequence.json") is None or any(stage is None for stage in stages):
        return None
    return {
        "accuracy": [[stages[T]["scores"][t]["accuracy"] for T in range(len(tasks))] for t in tasks],
        "loss": [[stages[T]["scores"][t]["loss"] for T in range(len(tasks))] for t in tasks],
        "general_loss": [stage["general_loss"] for stage in stages],
        "train_seconds": [stage["train_seconds"] for stage in stages],
        "score_seconds": [stage["score_seconds"] for stage in stages],
        "peak_memory_mb": max(stage["peak_memory_mb"] for stage in stages),
        "protected_neurons": [stage.get("protected_neurons") for stage in stages],
    }


def _single_task(folder: Path, adapter: str, seed: int, tasks: list[str]) -> list[float | None] | None:
    values = [None] + [
        (read_json(folder / "single-task" / adapter / f"seed-{seed}" / f"{task}.json") or {}).get("accuracy")
        for task in tasks[1:]
    ]
    return None if any(value is None for value in values[1:]) else values


def collect_results(folder: Path, suite) -> dict:
    """Everything finished in `folder` summarised (unfinished sequences are left out), into results.json."""
    tasks = [task.name for task in suite.tasks]
    base = read_json(folder / "base.json")
    methods: dict[str, dict] = {}
    for name in suite.methods:
        runs = {}
        for seed in suite.seeds:
            run = _matrices(folder / name / f"seed-{seed}", tasks)
            if run is not None:
                single = _single_task(folder, make_method(name, suite, seed).adapter, seed, tasks)
                runs[seed] = {**run, "single_task": single, **summarise(run["accuracy"], single)}
        methods[name] = {
            "seeds": runs,
            "summary": {m: spread([r[m] for r in runs.values()]) for m in METRICS},
        }
    for name, entry in methods.items():
        for reference in REFERENCES:
            if reference in methods and reference != name:
                entry[f"vs_{reference}"] = {
                    metric: paired_difference(
                        {seed: run[metric] for seed, run in entry["seeds"].items()},
                        {seed: run[metric] for seed, run in methods[reference]["seeds"].items()},
                    )
                    for metric in METRICS
                }
    results = {
        "suite": suite.name,
        "tasks": tasks,
        "base": None if base is None else {t: base["scores"][t]["accuracy"] for t in tasks},
        "base_general_loss": None if base is None else base["general_loss"],
        "methods": methods,
    }
    write_json_atomically(results, folder / "results.json")
    return results
