"""Model tab: the shared model's summary, and (where the server allows it) loading another model for everyone,
with only the device/dtype/quantization this machine has."""

from __future__ import annotations

import gradio as gr
import torch

from ..models._architectures import model_shape, unwrap_model
from ..models._devices import resolve_device
from ..models._loading import EMBEDDED_MODEL_ID, model_id
from .common import action, bind, status_line, user_errors
from .state import AppState, LoadedModel
from .visitor import Visitor

QUANTIZATIONS = ["none", "4bit", "8bit"]


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def device_choices() -> list[str]:
    """'auto', 'cpu' and whichever accelerators this machine has."""
    return ["auto", "cpu"] + ["cuda"] * torch.cuda.is_available() + ["mps"] * _mps_available()


def dtype_choices(device: str) -> list[str]:
    """The precisions that run on `device` ('auto' picks the policy of fnsft.models._devices)."""
    kind = resolve_device(device).type
    if kind == "cuda":
        return ["auto", "float32", "float16"] + ["bfloat16"] * torch.cuda.is_bf16_supported()
    if kind == "mps":
        return ["auto", "float32", "float16"]
    return ["auto", "float32", "bfloat16"]


def summary_markdown(loaded: LoadedModel) -> str:
    """What a user needs to know about the loaded model before analysing it."""
    model = loaded.model
    shape = model_shape(model)
    widths = sorted(set(shape.intermediate_sizes))
    parameter = next(model.parameters())
    parameters = sum(p.numel() for p in model.parameters())
    rows = {
        "Architecture": f"{shape.model_type} ({type(unwrap_model(model)).__name__})",
        "Layers": shape.num_layers,
        "Neurons per layer": ", ".join(str(width) for width in widths),
        "MLP neurons in all": f"{shape.total_neurons:,}",
        "Hidden size": shape.hidden_size,
        "Parameters": f"{parameters / 1e6:,.1f} M",
        "Device": str(parameter.device),
        "Dtype": str(parameter.dtype).removeprefix("torch."),
        "Quantization": loaded.quantization or "none",
    }
    table = "\n".join(f"| {key} | {value} |" for key, value in rows.items())
    return f"### {model_id(model)}\n\n| Property | Value |\n|---|---|\n{table}"


@user_errors
def load(
    state: AppState,
    visitor: Visitor,
    name: str,
    device: str,
    dtype: str,
    quantization: str,
    request: gr.Request = None,
) -> tuple[str, int]:
    """Load the chosen model for every visitor; returns its summary and the visitor's networks version."""
    with state.heavy.turn(visitor, "model load"):
        loaded = state.change_model(name, device, dtype, None if quantization == "none" else quantization)
    state.visit(visitor, request)  # warns when the visitor's networks were replaced
    return summary_markdown(loaded), visitor.version


@user_errors
def summary(state: AppState) -> str:
    """The loaded model's summary (waits for the load started with the app)."""
    return summary_markdown(state.require_model())


def intro(state: AppState) -> str:
    """What the Model tab lets this visitor do on this server."""
    shared = "The model is shared by every visitor of this app; your networks and results are yours alone."
    if not state.allow_model_change:
        return f"{shared} This server keeps its model: loading another one is switched off."
    where = "a hub id (online), a local model folder or a `.gguf` file" if state.local_models else "a hub id"
    return (
        f"{shared} Loading a model changes it **for everyone**. Empty name: the embedded "
        f"**{EMBEDDED_MODEL_ID}** (works offline); otherwise {where}."
    )


def on_device_change(device: str) -> dict:
    return gr.update(choices=dtype_choices(device), value="auto")


def build(state: AppState, demo: gr.Blocks, visitor: gr.State, networks_version: gr.State) -> None:
    gr.Markdown(intro(state))
    with gr.Row(visible=state.allow_model_change):
        name = gr.Textbox(label="Model", placeholder="empty = embedded model", scale=3)
        device = gr.Dropdown(device_choices(), value="auto", label="Device")
        dtype = gr.Dropdown(dtype_choices("auto"), value="auto", label="Dtype")
        quantization = gr.Radio(
            QUANTIZATIONS, value="none", label="Quantization (CUDA)", visible=torch.cuda.is_available()
        )
    load_button = gr.Button("Load model for everyone", variant="primary", visible=state.allow_model_change)
    status = status_line("model")
    info = gr.Markdown("Loading the model…")
    device.change(on_device_change, device, dtype, api_name="dtype_choices")
    action(
        load_button.click,
        bind(load, state),
        [visitor, name, device, dtype, quantization],
        [info, networks_version],
        api_name="load_model",
        heavy=True,
        visitor=visitor,
        status=status,
    )
    demo.load(bind(summary, state), None, info, api_name="model_summary")
