"""Continual tab: a finished continual-learning suite (fnsft-continual's results.json, or the evidence file that
holds one): each method's accuracy matrix a[t][T] as a heatmap (mean over seeds), and AA/BWT/FWT as a table and a
bar chart with the spread over seeds. Every name in the file is shown as text, never as markup."""

from __future__ import annotations

from pathlib import Path

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from .._files import loads_json, read_bounded
from ..continual.report import HEADER, table_rows
from ..errors import EvidenceError
from ..viz import _figures as figures
from .common import action, escape_markdown, status_line, user_errors
from .visitor import Visitor

SAVED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "continual" / "offline.json"
MAX_RESULTS_BYTES = 64 * 2**20
METRIC_NAMES = ("AA", "BWT", "FWT")


def load_results(path: str | Path | None) -> dict:
    """The suite results in `path` (results.json, or an evidence file with a "results" entry); None: the saved
    evidence of this checkout."""
    source = Path(path) if path else SAVED
    if not source.is_file():
        raise EvidenceError(
            "No continual-learning results here; upload the results.json of a fnsft-continual run."
        )
    try:
        data = loads_json(read_bounded(source, MAX_RESULTS_BYTES, "results files"))
    except (OSError, ValueError) as error:
        raise EvidenceError(f"Cannot read {source.name}: {error}") from None
    results = data.get("results", data) if isinstance(data, dict) else None
    if (
        not isinstance(results, dict)
        or not isinstance(results.get("methods"), dict)
        or "tasks" not in results
    ):
        raise EvidenceError(f"{source.name} holds no continual-learning results (no 'methods' and 'tasks').")
    return results


def mean_matrix(entry: dict) -> np.ndarray | None:
    """The method's accuracy matrix averaged over its seeds (None before any seed finished)."""
    matrices = [run["accuracy"] for run in entry.get("seeds", {}).values()]
    return np.mean(np.asarray(matrices, dtype=float), axis=0) if matrices else None


def matrix_figure(results: dict, method: str) -> go.Figure:
    matrix = mean_matrix(results["methods"].get(method, {}))
    if matrix is None:
        return figures.empty_figure(f"No finished run of {method}.")
    tasks = [figures.text(task) for task in results["tasks"]]
    stages = [f"after {index + 1}: {task}" for index, task in enumerate(tasks)]
    figure = go.Figure(
        go.Heatmap(
            z=matrix * 100,
            x=stages,
            y=tasks,
            zmin=0,
            zmax=100,
            colorscale="Viridis",
            text=np.round(matrix * 100, 1),
            texttemplate="%{text}",
            hovertemplate="task %{y}<br>%{x}<br>accuracy %{z:.1f}%<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    seeds = len(results["methods"][method]["seeds"])
    return figures.styled(
        figure, f"{figures.text(method)}: accuracy a[t][T] (%), mean of {seeds} seeds", "stage T", "task t"
    )


def metrics_figure(results: dict) -> go.Figure:
    """AA, BWT and FWT per method, mean ± sample std over seeds, in percentage points."""
    figure = go.Figure()
    methods = [figures.text(name) for name in results["methods"]]
    for metric in METRIC_NAMES:
        summaries = [entry["summary"][metric] for entry in results["methods"].values()]
        figure.add_trace(
            go.Bar(
                name=metric,
                x=methods,
                y=[None if s["mean"] is None else s["mean"] * 100 for s in summaries],
                error_y={"type": "data", "array": [(s["std"] or 0) * 100 for s in summaries]},
            )
        )
    return figures.styled(
        figure, "AA, BWT, FWT per method (percentage points, ± sd over seeds)", "", "points", barmode="group"
    )


@user_errors
def show_suite(visitor: Visitor | None = None, upload: str | None = None, method: str | None = None) -> tuple:
    """Caption, the method choice, its heatmap, the metrics table and chart."""
    results = load_results(upload)
    methods = list(results["methods"])
    chosen = method if method in methods else methods[0]
    base = results.get("base") or {}
    caption = (
        f"**Suite {escape_markdown(results.get('suite', '?'))}**: "
        f"{escape_markdown(' → '.join(results['tasks']))}. Untrained model: "
        + escape_markdown(
            ", ".join(f"{task} {value * 100:.0f}%" for task, value in base.items()) or "not scored"
        )
    )
    return (
        caption,
        gr.update(choices=methods, value=chosen),
        matrix_figure(results, chosen),
        table_rows(results),
        metrics_figure(results),
    )


def build(demo: gr.Blocks, visitor: gr.State) -> None:
    gr.Markdown(
        "Tasks learned one after another (`fnsft-continual`): accuracy on every task after every stage, average "
        "accuracy (AA), backward transfer (BWT, negative = forgetting) and forward transfer (FWT). Upload the "
        "`results.json` of a run folder to see your own suite."
    )
    upload = gr.File(label="results.json (optional)", file_types=[".json"], elem_id="continual-upload")
    status = status_line("continual")
    caption = gr.Markdown(elem_id="continual-caption")
    method = gr.Dropdown(label="Method", choices=[], elem_id="continual-method")
    heatmap = gr.Plot(label="Accuracy matrix")
    table = gr.Dataframe(headers=HEADER, label="AA / BWT / FWT (percentage points)", interactive=False)
    chart = gr.Plot(label="AA / BWT / FWT")
    outputs = [caption, method, heatmap, table, chart]
    wiring = {"visitor": visitor, "status": status}
    action(demo.load, show_suite, visitor, outputs, api_name="continual", **wiring)
    action(
        upload.upload,
        show_suite,
        [visitor, upload],
        outputs,
        api_name="continual_upload",
        reset_on_failure=[upload],
        **wiring,
    )
    action(
        method.input, show_suite, [visitor, upload, method], outputs, api_name="continual_method", **wiring
    )
