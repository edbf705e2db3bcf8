"""Figures of a fine-tuning run's results: what was learned and forgotten, as a table and a before/after chart.

Kept apart from `figures.py` (the networks' figures) because they read a forgetting report, not networks.
"""

from __future__ import annotations

import plotly.graph_objects as go

from .figures import empty_figure, styled

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
