"""What a training run shows in the Fine-tune tab: its progress bar, loss, log, forgetting report, drift and
downloads, read from its folder (`fnsft.ui.jobs.JobSnapshot`), and the layout that holds them."""

from __future__ import annotations

import html
import json

import gradio as gr

from ..viz import _figures as figures
from ..viz import _training_figures as training_figures
from .common import page_message
from .jobs import JobSnapshot
from .run_files import adapter_zip, checkpoint_zip, report_file
from .state import AppState
from .visitor import Visitor

LOG_LINES = 12
IDLE = "No training yet."
PREPARING = "preparing: loading the model, tokenising the data and measuring the model before training"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    minutes, seconds = divmod(int(seconds), 60)
    return f"{minutes}m {seconds:02d}s" if minutes else f"{seconds}s"


def progress_html(job: JobSnapshot) -> str:
    """A progress bar with the step, epoch, speed and ETA of the job."""
    last = job.last
    step, total = last.get("step", 0), last.get("max_steps") or 0
    percent = 100.0 if job.state == "completed" else (100.0 * step / total if total else 0.0)
    steps_done = bool(job.rows) and total > 0 and step >= total  # measuring after, rediscovering, saving
    details = [f"<b>{html.escape(job.state)}</b>"]
    if not job.finished and not job.rows:
        details.append(html.escape(job.status.get("phase") or PREPARING))
    else:
        details.append(f"step {step}/{total or '?'}")
        if not job.finished and steps_done:
            details.append(html.escape(job.status.get("phase") or "finishing"))
    details += [
        f"epoch {last.get('epoch', 0):.2f}",
        f"{last.get('tokens_per_second') or 0:,.0f} tokens/s",
        f"ETA {_duration(last.get('eta_seconds')) if not job.finished and not steps_done else '–'}",
    ]
    return (
        f'<div id="training-progress" data-state="{html.escape(job.state)}">'
        '<div style="height:14px;border-radius:7px;background:#e5e7eb;overflow:hidden">'
        f'<div style="height:100%;width:{percent:.1f}%;background:#f97316"></div></div>'
        f'<p style="margin-top:6px">{" · ".join(details)} · run <code>{html.escape(job.run_dir.name)}</code></p>'
        "</div>"
    )


def no_drift(job: JobSnapshot) -> str:
    """Why the drift chart is empty: not asked for, or asked for and measured only when the run completes."""
    config = (
        json.loads(config_file.read_text()) if (config_file := job.run_dir / "config.json").is_file() else {}
    )
    if not config.get("drift"):
        return "No drift measured: tick 'Measure drift' before training."
    if job.state == "completed":
        return "Drift was asked for but is missing from the report."
    return f"Drift is measured when the run completes (this run is {job.state}); resume it to get it."


def log_tail(job: JobSnapshot) -> str:
    """The last progress records as log lines, then the error when the job failed."""
    lines = [
        f"step {row.get('step')}/{row.get('max_steps')} · epoch {row.get('epoch', 0):.2f} · "
        + " · ".join(
            f"{key} {row[key]:.4g}" for key in ("loss", "eval_loss", "learning_rate") if row.get(key)
        )
        for row in job.rows[-LOG_LINES:]
    ]
    if job.error:
        lines.append(f"error: {page_message(job.error)}")
    return "\n".join(lines) or f"{job.state}: waiting for the first step…"


def panel(state: AppState, visitor: Visitor, job: JobSnapshot | None) -> tuple:
    """Everything the progress panel shows; the timer runs only while the job does."""
    if job is None:
        empty = figures.empty_figure(IDLE)
        nothing = ([], empty, [], empty, None, None, None)  # report, drift and the three downloads
        return (IDLE, empty, "", *nothing, gr.update(visible=False), gr.Timer(active=False))
    report = job.report or {}
    return (
        progress_html(job),
        figures.loss_curve(job.rows),
        log_tail(job),
        training_figures.report_rows(report),
        training_figures.forgetting_chart(report) if report else figures.empty_figure("No report yet."),
        training_figures.drift_rows(report),
        training_figures.drift_chart(report) if report.get("drift") else figures.empty_figure(no_drift(job)),
        report_file(state, visitor, job),
        adapter_zip(state, visitor, job),
        checkpoint_zip(state, visitor, job),
        gr.update(visible=job.resumable),
        gr.Timer(active=not job.finished),
    )


def progress_panel() -> list:
    """Lay out the run's panel: progress, loss and log, the forgetting report and drift, the downloads (in the
    order `panel` fills them)."""
    gr.Markdown("#### Progress")
    progress = gr.HTML(IDLE, elem_id="training-panel")
    with gr.Row():
        loss = gr.Plot(label="Loss", elem_id="loss-plot")
        log = gr.Textbox(label="Log", lines=LOG_LINES, interactive=False)
    gr.Markdown("#### Forgetting report")
    with gr.Row():
        report_table = gr.Dataframe(
            headers=training_figures.REPORT_HEADERS, label="Learned and forgotten", interactive=False
        )
        report_chart = gr.Plot(label="Before and after training", elem_id="forgetting-chart")
    with gr.Row():
        drift_table = gr.Dataframe(
            headers=training_figures.DRIFT_HEADERS, label="Network drift", interactive=False
        )
        drift_chart = gr.Plot(label="Network drift", elem_id="drift-chart")
    with gr.Row():
        report_json = gr.File(label="Report (JSON)", interactive=False)
        adapter = gr.File(label="Adapter, networks and report (zip)", interactive=False)
        checkpoint = gr.File(label="Last checkpoint (zip)", interactive=False)
    return [
        progress,
        loss,
        log,
        report_table,
        report_chart,
        drift_table,
        drift_chart,
        report_json,
        adapter,
        checkpoint,
    ]
