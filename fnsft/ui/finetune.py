"""Fine-tune tab: preview the data, train in the background with networks lesioned, preserved or frozen, follow it
live (progress, loss, ETA, log), stop and resume it, then read the forgetting report and download the adapter.

A visitor sees their own run only; the page keeps its ticket (name and owner key) in the browser, so a reload
finds it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import gradio as gr
import torch

from .._limits import check_training
from ..choices import NETWORK_MODES, TRAINING_METHODS
from ..data import FILE_TYPES, SAMPLE_DATA, load_train_validation, preview
from ..errors import FnsftError, MaskSelectionError
from ..networks._functional_networks import FunctionalNetworks
from ..networks._templates import save_templates
from ..training import TrainingConfig
from ..training._run import preflight
from . import try_adapter
from .common import (
    HUB,
    UPLOAD,
    action,
    bind,
    browser_ticket,
    chosen_source,
    source_fields,
    status_line,
    user_errors,
)
from .state import AppState
from .training_panel import panel, progress_panel
from .training_process import TrainingProcess
from .visitor import Visitor

SAMPLE = f"Shipped sample ({SAMPLE_DATA.name})"
KEEP_TICKET, RECALL_TICKET = browser_ticket("fnsft-run")  # the run's ticket lives in the browser
MODES_NOTE = (
    "**Network modes:** *none* trains as usual; *freeze* keeps the chosen networks' neurons exactly as they are "
    "and trains the rest (in the saved evidence it learned as much as full fine-tuning and forgot 22% less); "
    "*train_only* updates only those neurons (forgets least, learns less); *lesion* / *preserve* silence the "
    "networks, or all but them, during training (worse than plain LoRA on both counts there)."
)
POLL_SECONDS = 2.0


@user_errors
def preview_data(
    state: AppState, visitor: Visitor, source: str, upload: str | None, hub_id: str
) -> tuple[str, str]:
    """The detected format, how many records train and how many are held out, and the first examples as the
    model will read them."""
    data = chosen_source(source, upload, hub_id, str(SAMPLE_DATA), FILE_TYPES)
    found = preview(data, 3, tokenizer=state.require_model().tokenizer)
    fraction = TrainingConfig.validation_fraction
    train_records, held_out = load_train_validation(data, fraction, TrainingConfig.seed)
    dropped = f" ({found.dropped_empty} without a response dropped)" if found.dropped_empty else ""
    summary = (
        f"Detected format **{found.format}** (columns {', '.join(found.columns)}) · "
        f"**{len(train_records)} train · {len(held_out)} held out** records{dropped} · "
        f"template **{found.template}**"
    )
    return summary, "\n\n――――――――\n\n".join(found.rendered)


def methods() -> list[str]:
    """LoRA and full fine-tuning; QLoRA too where bitsandbytes can run (CUDA)."""
    return [m for m in TRAINING_METHODS if m != "qlora" or torch.cuda.is_available()]


def status(state: AppState, visitor: Visitor, request: gr.Request = None) -> tuple:
    """The visitor's run, read from its folder."""
    state.visit(visitor, request)
    job = state.jobs.view(visitor.run_dir) if visitor.run_dir is not None else None
    return panel(state, visitor, job)


def restore(state: AppState, visitor: Visitor, ticket: object, request: gr.Request = None) -> tuple:
    """After a reload: the run this browser started, when its ticket ({"run": name, "key": owner key}) proves
    it is theirs; anything else (another visitor's name, a guess, no key) finds nothing."""
    state.visit(visitor, request)
    if visitor.run_dir is None and isinstance(ticket, dict):
        visitor.run_dir = state.jobs.find(ticket.get("run"), ticket.get("key"))
    return status(state, visitor, request)


def chosen_networks(
    visitor: Visitor, ids: list[int] | None, mode: str, drift: bool
) -> tuple[FunctionalNetworks | None, list[int]]:
    """(the networks the run reads or None, the chosen ids), checked before the run folder exists: mode 'none'
    reads networks only to measure drift against them."""
    if mode == "none":
        if ids:
            gr.Warning("Network mode 'none' trains without networks; the chosen networks are not used.")
        return (visitor.require_networks() if drift else None), []
    if not ids:
        raise MaskSelectionError(
            f"Network mode {mode!r} needs networks: choose at least one, or mode 'none'."
        )
    networks = visitor.require_networks()
    chosen = networks.check_components(ids)
    if not networks.sizes()[chosen].any():  # the trainer would refuse them only after loading the model
        names = ", ".join(f"N{c}" for c in chosen)
        raise MaskSelectionError(
            f"{names} {'holds' if len(chosen) == 1 else 'hold'} no neurons (the threshold kept none): choose "
            "networks that hold neurons, or discover again with a lower threshold."
        )
    return networks, chosen


def network_settings(networks: FunctionalNetworks | None, ids: list[int], run_dir: Path) -> dict:
    """The template file (saved into the run folder) and components the trainer reads."""
    if networks is None:
        return {}
    settings = {"templates": str(save_templates(networks, run_dir / "networks.json"))}
    if ids:
        settings["components"] = ",".join(str(c) for c in sorted(ids))
    return settings


def _launch(state: AppState, visitor: Visitor, config: TrainingConfig) -> None:
    """Claim the visitor's heavy-job slot and start the run (a child process); the slot frees itself when the
    process ends."""
    state.jobs.start(
        visitor, "training", lambda on_exit: TrainingProcess(config, on_exit, state.jobs.command)
    )
    visitor.run_dir = Path(config.output_dir)


@user_errors
def start(
    state: AppState,
    visitor: Visitor,
    source: str,
    upload: str | None,
    hub_id: str,
    ids: list[int] | None,
    mode: str,
    random_control: bool,
    method: str,
    max_steps: float,
    epochs: float,
    learning_rate: float,
    batch_size: float,
    max_length: float,
    lora_r: float,
    drift: bool,
    request: gr.Request = None,
) -> tuple:
    """Start a training job in a child process (which loads its own copy of the model) and show its panel.

    Everything that can be checked is checked here, before the run folder exists: the settings, the data (as
    the preview reads it) and the networks."""
    state.visit(visitor, request)
    loaded = state.require_model()
    settings = check_training(max_steps, epochs, learning_rate, batch_size, max_length, lora_r)
    dataset = chosen_source(source, upload, hub_id, str(SAMPLE_DATA), FILE_TYPES)
    if method not in methods():
        raise FnsftError(f"Method {method!r} is not available here; choose one of {', '.join(methods())}.")
    config = TrainingConfig(
        model=loaded.source,
        device=loaded.device,
        dataset=dataset,
        method=method,
        network_mode=mode,
        random_control=bool(random_control),
        drift=bool(drift),
        lora_alpha=2 * settings["lora_r"],
        **settings,
    )
    preflight(config, networks=False)  # unreadable data is refused now; the page checks its own networks
    networks, chosen = chosen_networks(visitor, ids, mode, bool(drift))
    run_dir, key = state.jobs.new_run()
    config = dataclasses.replace(
        config, output_dir=str(run_dir), **network_settings(networks, chosen, run_dir)
    )
    _launch(state, visitor, config)
    return (*status(state, visitor, request), {"run": run_dir.name, "key": key})


@user_errors
def resume(state: AppState, visitor: Visitor, request: gr.Request = None) -> tuple:
    """Continue the visitor's stopped, failed or interrupted run from its last complete checkpoint."""
    state.visit(visitor, request)
    job = state.jobs.view(visitor.run_dir) if visitor.run_dir is not None else None
    if job is None or not job.resumable:
        raise FnsftError("There is no stopped run with a checkpoint to resume.")
    recorded = json.loads((job.run_dir / "config.json").read_text())
    known = {item.name for item in dataclasses.fields(TrainingConfig)}
    config = TrainingConfig(**{key: value for key, value in recorded.items() if key in known})
    config.resume, config.overwrite = True, False
    _launch(state, visitor, config)
    return status(state, visitor, request)


@user_errors
def stop(state: AppState, visitor: Visitor, request: gr.Request = None) -> None:
    """Stop the visitor's own running job (no other: `visitor.run_dir` is only ever a run they own)."""
    state.visit(visitor, request)
    if not state.jobs.stop(visitor.run_dir):
        raise FnsftError("No training of yours is running.")
    gr.Info("Stopping after the current step…")


def build(state: AppState, demo: gr.Blocks, visitor: gr.State) -> gr.Dropdown:
    """Lay out the tab; returns its network selector (its choices follow the visitor's networks)."""
    run_ticket = gr.JSON(None, visible=False)  # {"run", "key"}: kept in the browser's localStorage
    with gr.Row():
        with gr.Column():
            gr.Markdown("#### Data")
            source = gr.Radio(
                [SAMPLE, UPLOAD, HUB], value=SAMPLE, label="Training data", elem_id="finetune-source"
            )
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
                batch_size = gr.Number(4, precision=0, label="Batch size")
                max_length = gr.Number(256, precision=0, label="Max length (tokens)")
                lora_r = gr.Number(16, precision=0, label="LoRA rank")
            gr.Markdown(MODES_NOTE)
            drift = gr.Checkbox(
                label="Measure drift: rediscover your networks after training (adds about one discovery)"
            )
            gr.Markdown("One training runs at a time on this server; your run is visible to you only.")
            with gr.Row():
                start_button = gr.Button("Start training", variant="primary")
                stop_button = gr.Button("Stop", variant="stop")
                resume_button = gr.Button("Resume from the last checkpoint", visible=False)
            status_text = status_line("finetune")
    outputs = [*progress_panel(), resume_button]
    try_adapter.build(state, visitor, status_text)
    timer = gr.Timer(POLL_SECONDS, active=False)
    outputs.append(timer)
    source.change(source_fields, source, [upload, hub_id], api_name="finetune_source")
    wiring = {"visitor": visitor, "status": status_text}
    action(
        [demo.load, source.change, upload.change, hub_id.submit],
        bind(preview_data, state),
        [visitor, source, upload, hub_id],
        [data_summary, examples],
        api_name="preview_data",
        **wiring,
    )
    demo.load(
        bind(restore, state), [visitor, run_ticket], outputs, api_name="restore_training", js=RECALL_TICKET
    )
    timer.tick(bind(status, state), visitor, outputs, api_name="training_status")
    action(
        start_button.click,
        bind(start, state),
        [visitor, source, upload, hub_id, selector, mode, random_control, method, max_steps, epochs]
        + [learning_rate, batch_size, max_length, lora_r, drift],
        [*outputs, run_ticket],
        api_name="start_training",
        **wiring,
    ).success(None, run_ticket, None, js=KEEP_TICKET)
    action(resume_button.click, bind(resume, state), visitor, outputs, api_name="resume_training", **wiring)
    action(stop_button.click, bind(stop, state), visitor, None, api_name="stop_training", **wiring)
    return selector
