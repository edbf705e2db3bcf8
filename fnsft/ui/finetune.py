"""Fine-tune tab: preview the data, train in the background with networks lesioned, preserved or frozen, follow it
live (progress, loss, ETA, log), stop it, then read the forgetting report and download the adapter."""

from __future__ import annotations

import functools
import html
import json
import shutil
from pathlib import Path

import gradio as gr
import torch

from .. import figures
from ..data import FILE_TYPES, SAMPLE_DATA, preview
from ..errors import MaskSelectionError
from ..templates import save_templates
from ..training import METHODS, NETWORK_MODES, TrainingConfig, train
from .common import HUB, UPLOAD, chosen_source, source_fields, user_errors
from .jobs import JobSnapshot
from .state import AppState

SAMPLE = f"Shipped sample ({SAMPLE_DATA.name})"
POLL_SECONDS = 2.0
LOG_LINES = 12
IDLE = "No training yet."


@user_errors
def preview_data(state: AppState, source: str, upload: str | None, hub_id: str) -> tuple[str, str]:
    """The detected format, counts and the first examples as the model will read them."""
    found = preview(
        chosen_source(source, upload, hub_id, str(SAMPLE_DATA), FILE_TYPES),
        3,
        tokenizer=state.require_model().tokenizer,
    )
    splits = ", ".join(f"{name}: {count}" for name, count in found.splits.items())
    dropped = f" ({found.dropped_empty} without a response dropped)" if found.dropped_empty else ""
    summary = (
        f"Detected format **{found.format}** (columns {', '.join(found.columns)}) · splits {splits} · "
        f"{found.n_conversations} conversations{dropped} · template **{found.template}**"
    )
    return summary, "\n\n――――――――\n\n".join(found.rendered)


def methods() -> list[str]:
    """LoRA and full fine-tuning; QLoRA too where bitsandbytes can run (CUDA)."""
    return [m for m in METHODS if m != "qlora" or torch.cuda.is_available()]


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
    details = [
        f"<b>{html.escape(job.state)}</b>",
        f"step {step}/{total or '?'}",
        f"epoch {last.get('epoch', 0):.2f}",
        f"{last.get('tokens_per_second') or 0:,.0f} tokens/s",
        f"ETA {_duration(last.get('eta_seconds')) if not job.finished else '–'}",
    ]
    return (
        f'<div id="training-progress" data-state="{html.escape(job.state)}">'
        '<div style="height:14px;border-radius:7px;background:#e5e7eb;overflow:hidden">'
        f'<div style="height:100%;width:{percent:.1f}%;background:#f97316"></div></div>'
        f'<p style="margin-top:6px">{" · ".join(details)} · run <code>{html.escape(job.run_dir.name)}</code></p>'
        "</div>"
    )


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
        lines.append(f"error: {job.error}")
    return "\n".join(lines) or f"{job.state}: waiting for the first step…"


def adapter_zip(state: AppState, job: JobSnapshot) -> str | None:
    """The run's adapter as a zip to download (made once, when the run has finished)."""
    if job.adapter_dir is None or not job.finished:
        return None
    target = state.work_dir / f"{job.run_dir.name}-adapter"
    archive = target.with_suffix(".zip")
    if not archive.is_file():
        shutil.make_archive(str(target), "zip", job.adapter_dir)
    return str(archive)


def status(state: AppState) -> tuple:
    """Everything the progress panel shows, read from the run folder; the timer runs only while training."""
    job = state.jobs.latest()
    if job is None:
        return IDLE, figures.empty_figure(IDLE), "", None, None, gr.Timer(active=False)
    report = json.dumps(job.report, indent=1) if job.report else None
    return (
        progress_html(job),
        figures.loss_curve(job.rows),
        log_tail(job),
        report,
        adapter_zip(state, job),
        gr.Timer(active=not job.finished),
    )


def network_settings(state: AppState, ids: list[int] | None, mode: str, run_dir: Path) -> dict:
    """The template file and components the trainer reads: the current networks, saved into the run folder."""
    if mode == "none":
        if ids:
            gr.Warning("Network mode 'none' trains without networks; the chosen networks are not used.")
        return {}
    if not ids:
        raise MaskSelectionError(
            f"Network mode {mode!r} needs networks: choose at least one, or mode 'none'."
        )
    path = save_templates(state.require_networks(), run_dir / "networks.json")
    return {"templates": str(path), "components": ",".join(str(c) for c in sorted(ids))}


@user_errors
def start(
    state: AppState,
    source: str,
    upload: str | None,
    hub_id: str,
    ids: list[int] | None,
    mode: str,
    random_control: bool,
    method: str,
    max_steps: int,
    epochs: float,
    learning_rate: float,
    batch_size: int,
    max_length: int,
    lora_r: int,
) -> tuple:
    """Start a training job in the background (its own copy of the loaded model) and show its panel."""
    loaded = state.require_model()
    run_dir = state.jobs.new_run_dir()
    config = TrainingConfig(
        model=loaded.source,
        device=loaded.device,
        dataset=chosen_source(source, upload, hub_id, str(SAMPLE_DATA), FILE_TYPES),
        method=method,
        network_mode=mode,
        random_control=bool(random_control),
        max_steps=int(max_steps),
        epochs=float(epochs),
        learning_rate=float(learning_rate),
        batch_size=int(batch_size),
        max_length=int(max_length),
        lora_r=int(lora_r),
        lora_alpha=2 * int(lora_r),
        output_dir=str(run_dir),
        **network_settings(state, ids, mode, run_dir),
    )
    state.jobs.start(run_dir, functools.partial(train, config))
    return status(state)


def stop(state: AppState) -> None:
    if not state.jobs.stop():
        gr.Warning("No training is running.")
    else:
        gr.Info("Stopping after the current step…")


def build(state: AppState, demo: gr.Blocks) -> gr.Dropdown:
    """Lay out the tab; returns its network selector (its choices follow the current networks)."""
    with gr.Row():
        with gr.Column():
            gr.Markdown("#### Data")
            source = gr.Radio([SAMPLE, UPLOAD, HUB], value=SAMPLE, label="Training data")
            upload = gr.File(label="Data file", file_types=list(FILE_TYPES), visible=False)
            hub_id = gr.Textbox(label="Hub dataset id", visible=False)
            data_summary = gr.Markdown()
            examples = gr.Textbox(label="First examples, as the model reads them", lines=8, interactive=False)
        with gr.Column():
            gr.Markdown("#### Training")
            selector = gr.Dropdown([], multiselect=True, label="Networks", elem_id="finetune-networks")
            with gr.Row():
                mode = gr.Dropdown(
                    list(NETWORK_MODES), value="none", label="Network mode", elem_id="network-mode"
                )
                random_control = gr.Checkbox(label="Random control (same size per layer)")
            method = gr.Radio(methods(), value="lora", label="Method")
            with gr.Row():
                max_steps = gr.Number(20, precision=0, label="Max steps (-1 = epochs)")
                epochs = gr.Number(1.0, label="Epochs")
                learning_rate = gr.Number(2e-4, label="Learning rate")
            with gr.Row():
                batch_size = gr.Number(4, precision=0, minimum=1, label="Batch size")
                max_length = gr.Number(256, precision=0, minimum=16, label="Max length (tokens)")
                lora_r = gr.Number(16, precision=0, minimum=1, label="LoRA rank")
            with gr.Row():
                start_button = gr.Button("Start training", variant="primary")
                stop_button = gr.Button("Stop", variant="stop")
    gr.Markdown("#### Progress")
    progress = gr.HTML(IDLE, elem_id="training-panel")
    with gr.Row():
        loss = gr.Plot(label="Loss", elem_id="loss-plot")
        log = gr.Textbox(label="Log", lines=LOG_LINES, interactive=False)
    with gr.Row():
        report = gr.Code(label="Forgetting report", language="json", interactive=False)
        adapter = gr.File(label="Adapter (zip)", interactive=False)
    timer = gr.Timer(POLL_SECONDS, active=False)
    panel = [progress, loss, log, report, adapter, timer]
    source.change(source_fields, source, [upload, hub_id], api_name="finetune_source")
    gr.on(
        [demo.load, source.change, upload.change, hub_id.submit],
        functools.partial(preview_data, state),
        [source, upload, hub_id],
        [data_summary, examples],
        api_name="preview_data",
    )
    gr.on([demo.load, timer.tick], functools.partial(status, state), None, panel, api_name="training_status")
    start_button.click(
        functools.partial(start, state),
        [source, upload, hub_id, selector, mode, random_control, method, max_steps, epochs, learning_rate]
        + [batch_size, max_length, lora_r],
        panel,
        api_name="start_training",
    )
    stop_button.click(functools.partial(stop, state), None, None, api_name="stop_training")
    return selector
