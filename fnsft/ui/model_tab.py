"""Model tab: load the embedded model or another one, with only the device/dtype/quantization this machine has."""

from __future__ import annotations

import functools

import gradio as gr
import torch

from ..architectures import model_shape, unwrap_model
from ..devices import resolve_device
from ..models import EMBEDDED_MODEL_ID, model_id
from .common import show_warnings, user_errors
from .state import AppState, LoadedModel

QUANTIZATIONS = ["none", "4bit", "8bit"]


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def device_choices() -> list[str]:
    """'auto', 'cpu' and whichever accelerators this machine has."""
    return ["auto", "cpu"] + ["cuda"] * torch.cuda.is_available() + ["mps"] * _mps_available()


def dtype_choices(device: str) -> list[str]:
    """The precisions that run on `device` ('auto' picks the policy of fnsft.devices)."""
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
def load(state: AppState, name: str, device: str, dtype: str, quantization: str) -> tuple[str, int]:
    """Load the chosen model for every session; returns its summary and the networks version."""
    loaded, note = state.load(name.strip(), device, dtype, None if quantization == "none" else quantization)
    show_warnings([note] if note else [])
    return summary_markdown(loaded), state.networks_version


@user_errors
def summary(state: AppState) -> str:
    """The loaded model's summary (waits for the load started with the app)."""
    return summary_markdown(state.require_model())


def on_device_change(device: str) -> dict:
    return gr.update(choices=dtype_choices(device), value="auto")


def build(state: AppState, demo: gr.Blocks, networks_version: gr.State) -> None:
    gr.Markdown(
        f"Empty name: the embedded **{EMBEDDED_MODEL_ID}** (works offline). Otherwise a hub id (online), "
        "a local model folder or a `.gguf` file."
    )
    with gr.Row():
        name = gr.Textbox(label="Model", placeholder="empty = embedded model", scale=3)
        device = gr.Dropdown(device_choices(), value="auto", label="Device")
        dtype = gr.Dropdown(dtype_choices("auto"), value="auto", label="Dtype")
        quantization = gr.Radio(
            QUANTIZATIONS, value="none", label="Quantization (CUDA)", visible=torch.cuda.is_available()
        )
    load_button = gr.Button("Load model", variant="primary")
    info = gr.Markdown("Loading the model…")
    device.change(on_device_change, device, dtype, api_name="dtype_choices")
    load_button.click(
        functools.partial(load, state),
        [name, device, dtype, quantization],
        [info, networks_version],
        api_name="load_model",
        concurrency_id="heavy",
        concurrency_limit=1,
    )
    demo.load(functools.partial(summary, state), None, info, api_name="model_summary")
