"""Figures of a fine-tuning run's results: what was learned and forgotten, as a table and a before/after chart.

Kept apart from `_figures.py` (the networks' figures) because they read a forgetting report, not networks.
"""

from __future__ import annotations

import plotly.graph_objects as go

from ._figures import empty_figure, styled

REPORT_HEADERS = ["measured on", "loss before", "loss after", "change"]


def report_rows(report: dict) -> list[list]:
    """One row for the held-out target data (learned: loss falls), one per general category (forgotten: loss
    rises), from a forgetting report."""
    if "target" not in report:
        return []
    target = report["target"]
    rows = [["target (held out)", target["before"], target["after"], target["after"] - target["before"]]]
    for category, values in report.get("general", {}).items():
        rows.append([f"general · {category}", values["before"], values["after"], values["increase"]])
    return [[name, *(round(float(value), 4) for value in numbers)] for name, *numbers in rows]


def forgetting_chart(report: dict) -> go.Figure:
    """Loss before and after training on the target data and on each general category."""
    rows = report_rows(report)
    if not rows:
        return empty_figure("This run was not evaluated before and after training.")
    names = [row[0] for row in rows]
    figure = go.Figure(
        [
            go.Bar(name="before training", x=names, y=[row[1] for row in rows], marker_color="#94a3b8"),
            go.Bar(name="after training", x=names, y=[row[2] for row in rows], marker_color="#f97316"),
        ]
    )
    learned, forgotten = report.get("learned", 0.0), report.get("forgotten", 0.0)
    title = f"Learned {learned:+.3f} nats on the target · forgot {forgotten:+.3f} nats in general"
    return styled(figure, title, "", "loss (nats per token)", barmode="group")


DRIFT_HEADERS = ["network", "status", "matched after training", "IoU", "map |correlation|"]
DRIFT_COLORS = {"kept": "#16a34a", "moved": "#f59e0b", "dissolved": "#dc2626", "empty": "#9ca3af"}


def drift_rows(report: dict) -> list[list]:
    """One row per base network: what became of it after training (the report's `drift` section)."""
    drift = report.get("drift")
    if not drift:
        return []

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(float(value), 3)

    return [
        [f"N{entry['base']}", entry["status"], "" if entry["after"] is None else f"N{entry['after']}"]
        + [rounded(entry["iou"]), rounded(entry["correlation"])]
        for entry in drift["networks"]
    ]


def drift_chart(report: dict) -> go.Figure:
    """IoU of each base network with its match after training, coloured kept / moved / dissolved."""
    drift = report.get("drift")
    if not drift:
        return empty_figure("No drift measured: tick 'Measure drift' before training.")
    entries = drift["networks"]
    figure = go.Figure(
        go.Bar(
            x=[f"N{entry['base']}" for entry in entries],
            y=[entry["iou"] for entry in entries],
            marker_color=[DRIFT_COLORS.get(entry["status"], "#6b7280") for entry in entries],
            customdata=[entry["status"] for entry in entries],
            hovertemplate="%{x}: IoU %{y:.3f} (%{customdata})<extra></extra>",
        )
    )
    counts = drift.get("counts", {})
    summary = ", ".join(f"{counts.get(name, 0)} {name}" for name in ("kept", "moved", "dissolved", "new"))
    return styled(
        figure, f"Network drift after training: {summary}", "base network", "IoU", yaxis_range=[0, 1.05]
    )
