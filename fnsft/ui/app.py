"""The fnsft app: tabs wired to one shared AppState and a per-visitor `Visitor` state, a queue that shares one
model safely, and `main`.

Served locally by default (127.0.0.1), without analytics, external fonts or CDNs.
"""

from __future__ import annotations

import argparse
import atexit
import os

import gradio as gr

from .._cli_run import check_listen_address, check_runs_dir
from .._value_types import OneLineParser, port_number, strict_bool
from . import (
    compare,
    continual_tab,
    discover,
    evidence_tab,
    explore,
    finetune,
    kept_networks,
    model_tab,
    templates_tab,
)
from .common import bind, network_selector_update
from .state import AppState, on_a_space
from .visitor import Visitor, new_visitor

SYSTEM_FONTS = ["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Arial", "sans-serif"]
SYSTEM_MONO_FONTS = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace"]
MAX_UPLOAD = "50mb"
CACHE_LIFETIME = (3600, 6 * 3600)  # every hour, remove uploads and outputs older than six hours
HEADER = (
    "# fnsft: functional networks of LLM neurons\n"
    "Load a model, **discover** networks of MLP neurons with PCA + ICA, **explore** them, **lesion or preserve** "
    "them and compare generations live, **fine-tune** with them, share them as **templates**, and see the saved "
    "**evidence** of what they do."
)


# A failed action says why in its panel's status line; the outputs' own bare "Error" badge would add nothing.
CSS = """
[data-testid="status-tracker"]:has(span.error) { display: none !important; }
.status-line p { color: var(--error-text-color); font-weight: 600; }
"""


def theme() -> gr.themes.Theme:
    """The default theme with system fonts only, so the page fetches no web fonts."""
    return gr.themes.Default(font=SYSTEM_FONTS, font_mono=SYSTEM_MONO_FONTS)


SELECTORS = 3  # the network dropdowns of Compare, Fine-tune and Templates


def refresh_selectors(state: AppState, visitor: Visitor, request: gr.Request = None) -> tuple[dict, ...]:
    """New choices for every network dropdown of the visitor's page."""
    networks = state.visit(visitor, request).networks
    return tuple(network_selector_update(networks) for _ in range(SELECTORS))


def sync(state: AppState, visitor: Visitor, request: gr.Request = None) -> int:
    """A page opened: its visitor starts from the shipped networks (the version change refreshes the page)."""
    return state.visit(visitor, request).version


def lesion_in_compare(component: int | None) -> tuple:
    """Explore's chosen network, selected for a lesion in the Compare tab, which opens."""
    if component is None:
        raise gr.Error("Choose a network in the table first.")
    return [component], "lesion", gr.Tabs(selected="compare")


def leave(state: AppState, request: gr.Request = None) -> None:
    """A page closed: its visitor leaves the registry (Gradio frees the State itself)."""
    state.visitors.forget(getattr(request, "session_hash", None))


def build_app(state: AppState | None = None) -> gr.Blocks:
    """The Blocks of the app around `state` (a fresh AppState, with no model yet, when None)."""
    state = state or AppState()
    with gr.Blocks(title="fnsft", analytics_enabled=False, delete_cache=CACHE_LIFETIME) as demo:
        gr.Markdown(HEADER)
        visitor = gr.State(new_visitor)
        networks_version = gr.State(0)
        with gr.Tabs() as tabs:
            with gr.Tab("Model"):
                model_tab.build(state, demo, visitor, networks_version)
            with gr.Tab("Discover"):
                shipped = discover.build(state, visitor, networks_version)
            with gr.Tab("Explore"):
                explore_tab = explore.build(state, visitor, networks_version)
            with gr.Tab("Lesion/Preserve & Compare", id="compare"):
                compare_tab = compare.build(state, visitor)
            with gr.Tab("Fine-tune"):
                finetune_selector = finetune.build(state, demo, visitor)
            with gr.Tab("Templates"):
                templates = templates_tab.build(state, visitor, networks_version)
            with gr.Tab("Evidence", elem_id="evidence-tab"):
                evidence_tab.build(demo, visitor)
            with gr.Tab("Continual", elem_id="continual-tab"):
                continual_tab.build(state, demo, visitor)
        demo.load(bind(sync, state), visitor, networks_version, api_name="sync")
        networks_key = gr.Textbox(visible=False)  # kept in the browser's localStorage
        demo.load(
            bind(kept_networks.restore, state),
            [visitor, networks_key],
            networks_version,
            api_name="restore_networks",
            js=kept_networks.RECALL_KEY,
        )
        networks_version.change(
            bind(kept_networks.keep, state), visitor, networks_key, api_name="keep_networks"
        ).success(None, networks_key, None, js=kept_networks.STORE_KEY)
        gr.on(
            [networks_version.change],
            bind(refresh_selectors, state),
            visitor,
            [compare_tab.selector, finetune_selector, templates.selector],
            api_name="network_choices",
        )
        explore_tab.lesion.click(
            lesion_in_compare,
            explore_tab.component,
            [compare_tab.selector, compare_tab.mode, tabs],
            api_name="lesion_in_compare",
        )
        demo.load(
            templates_tab.refresh_shipped, None, [shipped, templates.table], api_name="shipped_templates"
        )
        demo.unload(bind(leave, state))
    demo.queue(default_concurrency_limit=2, max_size=64)
    return demo


def launch(demo: gr.Blocks, host: str, port: int, share: bool = False, **kwargs):
    """Serve the app with its theme and upload limit; kwargs go to Blocks.launch."""
    return demo.launch(
        server_name=host,
        server_port=port,
        share=share,
        theme=theme(),
        css=CSS,
        max_file_size=MAX_UPLOAD,
        **kwargs,
    )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = OneLineParser(prog="fnsft-app", description="The fnsft app in your browser.")
    parser.add_argument("--model", default=None, help="hub id, model folder or .gguf (default: embedded)")
    parser.add_argument(
        "--host",
        default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        help="address to bind (default 127.0.0.1: this machine only)",
    )
    parser.add_argument(
        "--port", type=port_number, default=None, help="default: env GRADIO_SERVER_PORT, else 7860"
    )
    parser.add_argument("--share", action="store_true", help="also open a public gradio.live link")
    parser.add_argument("--runs-dir", default="runs", help="where fine-tuning runs are written")
    parser.add_argument(
        "--allow-model-change",
        type=strict_bool,
        default=None,
        help="may visitors load another model for everyone? (default: yes, except on a Hugging Face Space; "
        "env FNSFT_ALLOW_MODEL_CHANGE)",
    )
    args = parser.parse_args(argv)
    for name, variable, convert, fallback in (
        ("port", "GRADIO_SERVER_PORT", port_number, "7860"),
        ("allow_model_change", "FNSFT_ALLOW_MODEL_CHANGE", strict_bool, str(not on_a_space())),
    ):
        if getattr(args, name) is None:
            try:
                setattr(args, name, convert(os.environ.get(variable, fallback)))
            except argparse.ArgumentTypeError as error:
                parser.error(f"{variable}: {error}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Start loading the model in the background, then serve the app (the page opens at once)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    args = parse_args(argv)
    check_runs_dir(args.runs_dir)
    check_listen_address(args.host, args.port)
    state = AppState(
        runs_dir=args.runs_dir, allow_model_change=args.allow_model_change, local_models=not on_a_space()
    )
    atexit.register(state.close)
    state.load_in_background(args.model)
    launch(build_app(state), args.host, args.port, args.share)
