"""Discover tab: find functional networks on the loaded model (PCA + ICA), or load them from a template."""

from __future__ import annotations

from typing import NamedTuple

import gradio as gr

from .._limits import check_discovery, check_seed
from ..choices import GRANULARITIES, ICA_ORIENTATIONS, THRESHOLD_RULES, USUAL_THRESHOLDS
from ..discovery._capture import layer_widths
from ..discovery._ica_mask import ICAMask
from ..discovery._reliability import FEW_TOKENS
from ..discovery._settings import DEFAULT_SETTINGS as DISCOVERY
from . import thorough
from .common import (
    HUB,
    UPLOAD,
    action,
    bind,
    cancel_job,
    chosen_source,
    networks_markdown,
    show_warnings,
    source_fields,
    status_line,
    user_errors,
)
from .state import AppState
from .templates_tab import TEMPLATE_FILE_TYPES, load_template, shipped_template_names
from .visitor import Visitor

SHIPPED = "Shipped corpus"
DATA_FILE_TYPES = [".json", ".jsonl", ".csv"]
APP_DISCOVERY = {"num_components": 8, "max_tokens": 1024, "stability_runs": 2}  # smaller than the library's
SETTING_NAMES = {
    "num_components": "networks",
    "max_tokens": "token budget",
    "stability_runs": "stability reruns",
}
RELOAD_NOTE = (
    "Your networks are kept on this server for this browser for 6 hours: a reload brings them back. To keep them "
    "longer or elsewhere, export them as a template (Templates tab)."
)
STAGES = {"capture": ("Recording activations", 0.0, 0.5), "decompose": ("PCA + ICA", 0.5, 0.5)}


def threshold_default(rule: str) -> float:
    """The usual value of each threshold rule (z >= 3, 98th percentile, top 50 per network)."""
    return float(USUAL_THRESHOLDS[rule])


def defaults_note() -> str:
    """Which networks to trust first (the shipped ones, then a thorough discovery), and what the quick look is."""
    smaller = ", ".join(
        f"{SETTING_NAMES[name]} {value:,} (library: {getattr(DISCOVERY, name):,})"
        for name, value in APP_DISCOVERY.items()
    )
    return (
        "**Start from the shipped networks**: they are yours when you open the page (or load them as a "
        f"template), made from many tokens with a split-half check. {thorough.note()} **Find networks** is a "
        f"quick look (seconds): {smaller}; networks from fewer than {FEW_TOKENS:,} tokens do not reproduce well."
    )


@user_errors
def rethreshold(
    state: AppState, visitor: Visitor, rule: str, threshold: float, request: gr.Request = None
) -> tuple[str, int]:
    """Threshold the visitor's networks anew from their kept maps: instant, no capture or decomposition."""
    networks = state.visit(visitor, request).require_networks()
    changed = networks.rethreshold(rule, threshold)
    visitor.set_networks(changed)
    show_warnings(changed.threshold.get("notes", []))
    return networks_markdown(changed), visitor.version


def neuron_count(state: AppState, granularity: str) -> int:
    """Neurons at the site a discovery records (an unknown granularity is refused by the library's check)."""
    return sum(layer_widths(state.require_model().model, granularity))


@user_errors
def discover(
    state: AppState,
    visitor: Visitor,
    source: str,
    upload: str | None,
    hub_id: str,
    components: float,
    rule: str,
    threshold: float,
    granularity: str,
    max_tokens: float,
    seed: float,
    ica_over: str,
    stability_runs: float,
    restarts: float,
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(),
) -> tuple[str, int]:
    """Run discovery on the shared model and make its networks the visitor's current ones."""
    state.visit(visitor, request)
    components, threshold, max_tokens = check_discovery(
        components, rule, threshold, max_tokens, neuron_count(state, granularity)
    )
    seed = check_seed(seed)
    data = chosen_source(source, upload, hub_id, None, DATA_FILE_TYPES)  # None: the shipped discovery corpus
    loaded = state.require_model()
    finder = ICAMask(
        num_components=components,
        threshold=threshold,
        threshold_rule=rule,
        granularity=granularity,
        ica_over=ica_over,
        seed=seed,
        stability_runs=int(stability_runs),
        restarts=int(restarts),
    )

    def report(stage: str, fraction: float) -> None:
        description, start, span = STAGES.get(stage, ("Done", 1.0, 0.0))
        progress(start + span * fraction, desc=description)

    with state.heavy.turn(visitor, "discovery", progress) as turn:
        networks = finder.compute_global_networks(
            loaded.model,
            loaded.tokenizer,
            data,
            max_tokens=max_tokens,
            progress=turn.checked(report),
        )
    visitor.set_networks(networks)
    show_warnings(networks.decomposition.get("notes", []))
    return networks_markdown(networks), visitor.version


def current_summary(state: AppState, visitor: Visitor, request: gr.Request = None) -> str:
    """The visitor's current networks in one paragraph."""
    networks = state.visit(visitor, request).networks
    return "No networks yet." if networks is None else networks_markdown(networks)


class _SettingsFields(NamedTuple):
    """The discovery settings' components, as `_settings_fields` lays them out."""

    components: gr.Slider
    rule: gr.Dropdown
    threshold: gr.Number
    rethreshold_button: gr.Button
    granularity: gr.Radio
    max_tokens: gr.Number
    seed: gr.Number
    ica_over: gr.Radio
    stability_runs: gr.Slider
    restarts: gr.Slider


def _settings_fields() -> _SettingsFields:
    """Lay out the discovery settings."""
    gr.Markdown("#### Settings")
    components = gr.Slider(
        2, 64, value=APP_DISCOVERY["num_components"], step=1, label="Networks (ICA components)"
    )
    with gr.Row():
        rule = gr.Dropdown(list(THRESHOLD_RULES), value=DISCOVERY.threshold_rule, label="Threshold rule")
        threshold = gr.Number(DISCOVERY.threshold, label="Threshold value")
    rethreshold_button = gr.Button("Apply this threshold to my networks (instant, no new discovery)")
    granularity = gr.Radio(list(GRANULARITIES), value=DISCOVERY.granularity, label="Neurons")
    with gr.Row():
        max_tokens = gr.Number(APP_DISCOVERY["max_tokens"], precision=0, label="Token budget")
        seed = gr.Number(DISCOVERY.seed, precision=0, label="Seed")
    with gr.Accordion("Advanced", open=False):
        ica_over = gr.Radio(list(ICA_ORIENTATIONS), value=DISCOVERY.ica_over, label="ICA over")
        stability_runs = gr.Slider(
            0, 10, value=APP_DISCOVERY["stability_runs"], step=1, label="Stability reruns (0 = none)"
        )
        restarts = gr.Slider(1, 5, value=1, step=1, label="ICA restarts (best kept)")
    return _SettingsFields(
        components,
        rule,
        threshold,
        rethreshold_button,
        granularity,
        max_tokens,
        seed,
        ica_over,
        stability_runs,
        restarts,
    )


def build(state: AppState, visitor: gr.State, networks_version: gr.State) -> gr.Dropdown:
    """Lay out the tab; returns the shipped-template dropdown (refreshed when the page loads)."""
    with gr.Row():
        with gr.Column():
            gr.Markdown("#### Data")
            source = gr.Radio([SHIPPED, UPLOAD, HUB], value=SHIPPED, label="Texts to record activations on")
            upload = gr.File(label="Texts (.json / .jsonl / .csv)", file_types=DATA_FILE_TYPES, visible=False)
            hub_id = gr.Textbox(label="Hub dataset id", visible=False)
            fields = _settings_fields()
            gr.Markdown(
                "Your networks are yours: other visitors do not see them. Discoveries of all visitors run one "
                f"at a time; while yours waits, the result shows its place in the queue. {defaults_note()}"
            )
            with gr.Row():
                run = gr.Button("Find networks (quick look)", scale=2)
                deep = gr.Button("Thorough discovery (background, minutes)", variant="primary", scale=2)
                cancel = gr.Button("Cancel", variant="stop", size="sm", scale=1)
        with gr.Column():
            gr.Markdown("#### Or load a template")
            shipped = gr.Dropdown(shipped_template_names(), label="Shipped template", value=None)
            template_upload = gr.File(label="Template file (.json)", file_types=TEMPLATE_FILE_TYPES)
            load = gr.Button("Load template")
    status = status_line("discover")
    result = gr.Markdown("No networks yet.", elem_id="networks-summary")
    gr.Markdown(RELOAD_NOTE)
    source.change(source_fields, source, [upload, hub_id], api_name="discover_source")
    fields.rule.change(threshold_default, fields.rule, fields.threshold, api_name="threshold_default")
    settings = [source, upload, hub_id, fields.components, fields.rule, fields.threshold]
    settings += [fields.granularity, fields.max_tokens, fields.seed]
    wiring = {"visitor": visitor, "status": status}
    cancel_job(cancel, state, **wiring, panel="discover")
    action(
        run.click,
        bind(discover, state),
        [visitor, *settings, fields.ica_over, fields.stability_runs, fields.restarts],
        [result, networks_version],
        api_name="discover",
        heavy=True,
        **wiring,
    )
    action(
        deep.click,
        bind(thorough.thorough_discovery, state),
        visitor,
        [result, networks_version],
        api_name="thorough_discovery",
        heavy=True,
        **wiring,
    )
    action(
        fields.rethreshold_button.click,
        bind(rethreshold, state),
        [visitor, fields.rule, fields.threshold],
        [result, networks_version],
        api_name="rethreshold",
        **wiring,
    )
    networks_version.change(bind(current_summary, state), visitor, result, api_name="networks_summary")
    action(
        load.click,
        bind(load_template, state),
        [visitor, shipped, template_upload],
        [result, networks_version],
        api_name="load_template",
        heavy=True,
        reset_on_failure=[template_upload],
        **wiring,
    )
    return shipped
