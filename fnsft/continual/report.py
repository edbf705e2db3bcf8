"""The suite's results as text: one line per method with AA, BWT and FWT (mean ± spread over seeds) and the
paired differences against LoRA and EWC; the command line prints it, docs tables are made from it."""

from __future__ import annotations

from .metrics import spread
from .results import METRICS, REFERENCES


def _cell(entry: dict | None, percent: bool = True) -> str:
    if not entry or entry.get("mean") is None:
        return "n/a"
    scale = 100 if percent else 1
    return f"{entry['mean'] * scale:+.1f} ± {entry['std'] * scale:.1f}"


def table_rows(results: dict) -> list[list[str]]:
    """[method, seeds, AA, BWT, FWT, ΔAA vs lora, ΔBWT vs lora, ΔAA vs ewc, ΔBWT vs ewc] in percentage points."""
    rows = []
    for name, entry in results["methods"].items():
        summary = entry["summary"]
        row = [name, str(summary["AA"]["n"]), *(_cell(summary[m]) for m in METRICS)]
        for reference in REFERENCES:
            versus = entry.get(f"vs_{reference}") or {}
            row += [_cell(versus.get("AA")), _cell(versus.get("BWT"))]
        rows.append(row)
    return rows


HEADER = ["method", "seeds", "AA", "BWT", "FWT", "ΔAA vs lora", "ΔBWT vs lora", "ΔAA vs ewc", "ΔBWT vs ewc"]


def summary_lines(results: dict) -> list[str]:
    """A Markdown table of `table_rows`, headed by the suite and its tasks."""
    lines = [
        f"suite {results['suite']}: tasks {' -> '.join(results['tasks'])} (percentage points, mean ± sd over seeds)",
        "| " + " | ".join(HEADER) + " |",
        "|" + "---|" * len(HEADER),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in table_rows(results)]
    return lines


def _mean(values: list) -> float | None:
    """The mean over the seeds that have a value (None if none has)."""
    return spread(values)["mean"]


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 100:.0f}"


def stage_lines(results: dict) -> list[str]:
    """A Markdown table per method, means over seeds: each task's accuracy when learned (`a[t][t]`) and after the
    last stage (`a[t][T_last]`), the general-text loss after the last stage and the neurons protected by then."""
    tasks = results["tasks"]
    header = ["method", "learned: " + " / ".join(tasks), "after the last stage", "general loss", "protected"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for name, entry in results["methods"].items():
        runs = list(entry["seeds"].values())
        if not runs:
            continue
        learned = [_mean([run["accuracy"][t][t] for run in runs]) for t in range(len(tasks))]
        last = [_mean([run["accuracy"][t][-1] for run in runs]) for t in range(len(tasks))]
        loss = _mean([run["general_loss"][-1] for run in runs])
        protected = _mean([run["protected_neurons"][-1] for run in runs])
        cells = [
            name,
            " / ".join(_percent(v) for v in learned),
            " / ".join(_percent(v) for v in last),
            f"{loss:.2f}",
            "—" if protected is None else f"{protected:,.0f}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines
