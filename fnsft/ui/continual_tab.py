"""Continual tab: a finished continual-learning suite (fnsft-continual's results.json, or the evidence file that
holds one): each method's accuracy matrix a[t][T] as a heatmap (mean over seeds), and AA/BWT/FWT as a table and a
bar chart with the spread over seeds. Every name in the file is shown as text, never as markup.

A visitor can also run a small suite of their own in the background (`continual_runs.py`), follow it, stop and
resume it; once it has finished, its results are drawn here (and stay the visitor's to see)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
import plotly.graph_objects as go

from .._files import loads_json, read_bounded
from ..continual import METHODS
from ..continual.report import HEADER, table_rows
from ..errors import EvidenceError, FnsftError
from ..viz import _figures as figures
from .common import action, bind, browser_ticket, escape_markdown, page_message, status_line, user_errors
from .continual_runs import (
    BOUNDS,
    MAX_SEEDS,
    MAX_STEPS,
    SUITES,
    SuiteSnapshot,
    launch,
    offline_suite,
    phase,
    resume,
    task_names,
    view,
)
from .state import AppState
from .visitor import Visitor

SAVED = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "continual" / "offline.json"
MAX_RESULTS_BYTES = 64 * 2**20
METRIC_NAMES = ("AA", "BWT", "FWT")
RESULT_OUTPUTS = 5  # caption, method, heatmap, table, chart
POLL_SECONDS = 2.0
IDLE = "No suite of yours yet."
KEEP_SUITE, RECALL_SUITE = browser_ticket("fnsft-suite")  # the suite's ticket lives in the browser


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


def suite_outputs(results: dict, method: str | None = None) -> tuple:
    """Caption, the method choice, its heatmap, the metrics table and chart of one suite's results."""
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


@user_errors
def show_suite(visitor: Visitor | None = None, upload: str | None = None, method: str | None = None) -> tuple:
    """The uploaded results, else the visitor's own finished suite, else the saved evidence."""
    own = visitor.suite_dir / "results.json" if visitor is not None and visitor.suite_dir else None
    return suite_outputs(load_results(upload or (own if own and own.is_file() else None)), method)


def progress_html(snapshot: SuiteSnapshot | None) -> str:
    """A progress bar with the suite's state, phase, finished stages and an estimate of the time left."""
    if snapshot is None:
        return f'<div id="suite-progress" data-state="none"><p>{IDLE}</p></div>'
    done = snapshot.progress
    percent = 100.0 if snapshot.state == "completed" else 100.0 * (done.fraction if done else 0.0)
    details = [f"<b>{html.escape(snapshot.state)}</b>"]
    if where := phase(snapshot):
        details.append(html.escape(where))
    if done is not None:
        singles = f", single-task runs {done.single_done}/{done.singles}" if done.singles else ""
        details.append(f"stages {done.stages_done}/{done.stages}{singles}")
        left = done.remaining_seconds
        if left is not None and not snapshot.finished:
            measured = len(done.stage_seconds)
            about = f"{round(left)} s" if left < 90 else f"{round(left / 60)} min"
            details.append(f"about {about} left (from the {measured} stage(s) done)")
    if snapshot.error:
        details.append(f"error: {html.escape(page_message(snapshot.error))}")
    return (
        f'<div id="suite-progress" data-state="{html.escape(snapshot.state)}">'
        '<div style="height:14px;border-radius:7px;background:#e5e7eb;overflow:hidden">'
        f'<div style="height:100%;width:{percent:.1f}%;background:#f97316"></div></div>'
        f'<p style="margin-top:6px">{" · ".join(details)}</p></div>'
    )


def suite_panel(state: AppState, visitor: Visitor) -> tuple:
    """The visitor's suite: progress, Resume, the poll timer (on while it runs), and its results once done
    (the results shown are left as they are until then)."""
    snapshot = view(state, visitor.suite_dir) if visitor.suite_dir is not None else None
    results = snapshot.results if snapshot is not None else None
    drawn = suite_outputs(load_results(results)) if results else (gr.skip(),) * RESULT_OUTPUTS
    return (
        progress_html(snapshot),
        gr.update(visible=snapshot is not None and snapshot.resumable),
        gr.Timer(active=snapshot is not None and not snapshot.finished),
        *drawn,
    )


def suite_status(state: AppState, visitor: Visitor, request: gr.Request = None) -> tuple:
    state.visit(visitor, request)
    return suite_panel(state, visitor)


def restore_suite(state: AppState, visitor: Visitor, ticket: object, request: gr.Request = None) -> tuple:
    """After a reload: the suite this browser started, when its ticket proves it is theirs."""
    state.visit(visitor, request)
    if visitor.suite_dir is None and isinstance(ticket, dict):
        visitor.suite_dir = state.jobs.find(ticket.get("run"), ticket.get("key"), SUITES)
    return suite_panel(state, visitor)


@user_errors
def start_suite(
    state: AppState,
    visitor: Visitor,
    methods: list[str] | None,
    tasks: list[str] | None,
    seeds: float,
    steps: float,
    request: gr.Request = None,
) -> tuple:
    """Check the choice and start the suite in the background (refused, with nothing started, when it is out of
    bounds); the panel, and the ticket the browser keeps."""
    state.visit(visitor, request)
    key = launch(state, visitor, methods, tasks, seeds, steps)
    return (*suite_panel(state, visitor), {"run": visitor.suite_dir.name, "key": key})


@user_errors
def stop_suite(state: AppState, visitor: Visitor, request: gr.Request = None) -> None:
    """Stop the visitor's own suite (no other: `visitor.suite_dir` is only ever one they own)."""
    state.visit(visitor, request)
    if not state.jobs.stop(visitor.suite_dir):
        raise FnsftError("No continual suite of yours is running.")
    gr.Info("Stopped: the stage in progress is dropped; Resume goes on from the last finished stage.")


@user_errors
def resume_suite(state: AppState, visitor: Visitor, request: gr.Request = None) -> tuple:
    state.visit(visitor, request)
    resume(state, visitor)
    return suite_panel(state, visitor)


def launch_panel() -> tuple:
    """Lay out the launcher: the choice, its bounds, the buttons and the progress (in `wire_launcher`'s order)."""
    gr.Markdown(f"#### Run a small suite in the background\n{BOUNDS} Your suite is visible to you only.")
    methods = gr.CheckboxGroup(
        list(METHODS), value=["lora", "networks"], label="Methods", elem_id="suite-methods"
    )
    tasks = gr.CheckboxGroup(task_names(), value=task_names()[:2], label="Tasks", elem_id="suite-tasks")
    with gr.Row():
        seeds = gr.Number(1, precision=0, label=f"Seeds (1-{MAX_SEEDS}: seeds 0, 1, …)", minimum=1)
        steps = gr.Number(
            offline_suite().steps, precision=0, label=f"Steps per stage (1-{MAX_STEPS})", minimum=1
        )
    with gr.Row():
        start = gr.Button("Start suite", variant="primary")
        stop = gr.Button("Stop", variant="stop")
        resume_button = gr.Button("Resume from the last finished stage", visible=False)
    status = status_line("suite")
    progress = gr.HTML(progress_html(None), elem_id="suite-panel")
    return methods, tasks, seeds, steps, start, stop, resume_button, status, progress


def wire_launcher(state: AppState, shown: Any, visitor: gr.State, results: list) -> None:
    """The launcher's events: restore after a reload (once `shown`, the page's first results, are drawn, so the
    visitor's finished suite replaces them), the poll, Start, Stop and Resume (`results`: the tab's outputs)."""
    methods, tasks, seeds, steps, start, stop, resume_button, status, progress = launch_panel()
    ticket = gr.JSON(None, visible=False)  # {"run", "key"}: kept in the browser's localStorage
    timer = gr.Timer(POLL_SECONDS, active=False)
    outputs = [progress, resume_button, timer, *results]
    wiring = {"visitor": visitor, "status": status}
    shown.then(
        bind(restore_suite, state), [visitor, ticket], outputs, api_name="continual_restore", js=RECALL_SUITE
    )
    timer.tick(bind(suite_status, state), visitor, outputs, api_name="continual_status")
    action(
        start.click,
        bind(start_suite, state),
        [visitor, methods, tasks, seeds, steps],
        [*outputs, ticket],
        api_name="continual_start",
        **wiring,
    ).success(None, ticket, None, js=KEEP_SUITE)
    action(stop.click, bind(stop_suite, state), visitor, None, api_name="continual_stop", **wiring)
    action(
        resume_button.click,
        bind(resume_suite, state),
        visitor,
        outputs,
        api_name="continual_resume",
        **wiring,
    )


def build(state: AppState, demo: gr.Blocks, visitor: gr.State) -> None:
    gr.Markdown(
        "Tasks learned one after another (`fnsft-continual`): accuracy on every task after every stage, average "
        "accuracy (AA), backward transfer (BWT, negative = forgetting) and forward transfer (FWT). Upload the "
        "`results.json` of a run folder to see your own suite, or run a small one below: once it has finished, "
        "its results are shown here."
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
    shown = action(demo.load, show_suite, visitor, outputs, api_name="continual", **wiring)
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
    wire_launcher(state, shown, visitor, outputs)
