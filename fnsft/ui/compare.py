"""Lesion/Preserve & Compare tab: the unmasked and the masked model side by side, next-token shifts, and the
loss effect of the mask against random masks of equal size."""

from __future__ import annotations

import time
from dataclasses import dataclass

import gradio as gr

from .._limits import check_seed, parse_layer_spec, whole
from .._resources import DEFAULT_PROMPTS
from ..analysis._evaluation import GAINS, gain_sweep, measure_effect
from ..analysis._generation import GenerationSettings, compare_next_token, stream_comparison
from ..choices import MASK_FILLS, MASK_MODES
from ..data._texts import LabelledTexts, load_labelled_texts, per_category
from ..masking._hooks import NeuronMask
from ..masking._selection import mask_from_networks
from ..viz import _figures as figures
from .common import action, bind, cancel_job, show_warnings, status_line, user_errors
from .state import AppState, LoadedModel
from .visitor import Visitor

DEFAULT_PROMPT = "Write a short Python function that reverses a string, then explain it in one sentence."
NEXT_TOKEN_HEADERS = ["rank", "unmasked token", "p unmasked", "masked token", "p masked"]
EFFECT_HEADERS = ["category", "unmasked loss", "network loss", "random loss", "random std", "ratio", "note"]
NOISE_NOTE = "≈ noise: random masks barely moved the loss"
MAX_EFFECT_TEXTS, MAX_RANDOM_DRAWS = 12, 5


def dials(mode: str, gain: float, fill: str) -> dict:
    """The mask settings a mode uses: the gain for 'scale' only, the fill for what 'preserve' silences."""
    return {"gain": float(gain) if mode == "scale" else None, "fill": fill if mode == "preserve" else "zero"}


def _mask(
    state: AppState,
    visitor: Visitor,
    ids: list[int] | None,
    mode: str,
    gain: float,
    fill: str,
    layers: str,
    request: object,
) -> tuple[LoadedModel, NeuronMask]:
    """The visitor's mask on the shared model; the layer field is parsed against the model's layer count."""
    loaded = state.require_model()
    networks = state.visit(visitor, request).require_networks()
    chosen = parse_layer_spec(layers, networks.shape.num_layers)
    mask = mask_from_networks(
        networks, ids or [], mode, model=loaded.model, layers=chosen, **dials(mode, gain, fill)
    )
    show_warnings(mask.warnings)
    return loaded, mask


def empty_output_note(mask: NeuronMask, text: str) -> str:
    """Why the masked model wrote nothing, when it did not: too few neurons left on."""
    if text.strip():
        return ""
    total = sum(vector.numel() for vector in mask.scale.values())
    left = total - mask.total_masked
    return (
        f"\n\nThe masked model wrote nothing: it ended at once. With {mask.total_masked:,} of {total:,} "
        f"neurons silenced, only {left:,} ({100 * left / total:.1f}%) stay on, too few to keep it writing. "
        "Choose more networks to preserve, or lesion instead."
    )


def _prompt(text: str) -> str:
    if not text.strip():
        raise ValueError("Enter a prompt first.")
    return text


def _shown(token: str) -> str:
    """Make spaces and line breaks in a token visible."""
    return token.replace(" ", "␣").replace("\n", "⏎")


def mask_summary(mask: NeuronMask) -> str:
    counts = mask.masked_counts()
    return (
        f"**{mask.description['mode']}** networks {mask.description['components']}: "
        f"{mask.total_masked:,} neurons silenced in {sum(1 for n in counts.values() if n)} layers"
    )


@user_errors
def compare(
    state: AppState,
    visitor: Visitor,
    ids: list[int] | None,
    mode: str,
    gain: float,
    fill: str,
    layers: str,
    prompt: str,
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    repetition_penalty: float,
    seed: int,
    request: gr.Request = None,
):
    """Stream the unmasked and the masked continuation of the prompt, token by token (the previous outputs are
    cleared at once)."""
    loaded, mask = _mask(state, visitor, ids, mode, gain, fill, layers, request)
    settings = GenerationSettings(
        max_new_tokens=int(max_new_tokens),
        temperature=float(temperature),
        top_k=int(top_k),
        top_p=float(top_p),
        repetition_penalty=float(repetition_penalty),
        seed=check_seed(seed),
    )
    info = mask_summary(mask)
    visitor.reserve("generation")  # so that Cancel reaches it
    visitor.cancel.clear()
    try:
        yield from _generate(loaded, visitor, _prompt(prompt), mask, settings, info)
    finally:
        visitor.release()


def _generate(loaded: LoadedModel, visitor: Visitor, prompt: str, mask, settings, info: str):
    """The two streams, with an estimate of their time after the first step and a stop at Cancel."""
    baseline = changed = ""
    yield baseline, changed, info
    started = time.monotonic()
    streams = stream_comparison(loaded.model, loaded.tokenizer, prompt, mask, settings)
    for steps, (baseline, changed) in enumerate(streams, start=1):
        if steps == 1:
            first = time.monotonic() - started
            info += (
                f" · up to {settings.max_new_tokens} tokens per side: about "
                f"{first * settings.max_new_tokens:.0f} s at this first step's speed"
            )
        if visitor.cancel.is_set():
            yield baseline, changed, f"{info}\n\nCancelled after {steps} steps: the text so far is shown."
            return
        yield baseline, changed, info
    done = (
        f" · done in {time.monotonic() - started:.0f} s"  # a stream that stops changing has not said it ended
    )
    yield baseline, changed, info + done + empty_output_note(mask, changed)


@user_errors
def next_token(
    state: AppState,
    visitor: Visitor,
    ids: list[int] | None,
    mode: str,
    gain: float,
    fill: str,
    layers: str,
    prompt: str,
    request: gr.Request = None,
) -> tuple:
    """The most likely next tokens with and without the mask, and how far the distribution moved (KL)."""
    loaded, mask = _mask(state, visitor, ids, mode, gain, fill, layers, request)
    result = compare_next_token(loaded.model, loaded.tokenizer, _prompt(prompt), mask)
    rows = [
        [rank, _shown(base), float(f"{base_p:.3g}"), _shown(changed), float(f"{changed_p:.3g}")]
        for rank, ((base, base_p), (changed, changed_p)) in enumerate(
            zip(result.baseline, result.masked, strict=True), start=1
        )
    ]
    return rows, f"KL(unmasked ‖ masked) = **{result.kl_divergence:.4f}** nats"


def measured_counts(texts_per_category: float, draws: float) -> tuple[int, int]:
    """(texts per category, random draws) of a loss measurement, within the page's bounds."""
    return (
        whole("Texts per category", texts_per_category, 1, MAX_EFFECT_TEXTS),
        whole("Random masks", draws, 1, MAX_RANDOM_DRAWS),
    )


def eval_texts_per_category(count: int) -> LabelledTexts:
    """`count` texts of each category of the shipped prompt set's eval split."""
    return per_category(load_labelled_texts(DEFAULT_PROMPTS, split="eval"), count)


def effect_rows(rows: list[dict]) -> list[list]:
    """The effect table: losses rounded, and a note where the ratio's random shift is within noise."""
    keys = ("baseline_loss", "network_loss", "random_loss_mean", "random_loss_std")
    return [
        [row["category"], *(round(row[key], 4) for key in keys), round(row["ratio"], 2)]
        + [NOISE_NOTE if row["ratio_is_noise"] else ""]
        for row in rows
    ]


@user_errors
def effect(
    state: AppState,
    visitor: Visitor,
    ids: list[int] | None,
    mode: str,
    gain: float,
    fill: str,
    layers: str,
    texts_per_category: float,
    random_draws: float,
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(),
) -> tuple:
    """Loss per category of the shipped eval split: unmasked, masked, and random masks of the same size."""
    loaded = state.require_model()
    networks = state.visit(visitor, request).require_networks()
    per_text, draws = measured_counts(texts_per_category, random_draws)
    if parse_layer_spec(layers, networks.shape.num_layers):
        gr.Warning("Measure effect masks the networks in every layer; the layer restriction is not used.")
    texts = eval_texts_per_category(per_text)
    with state.heavy.turn(visitor, "effect measurement", progress) as turn:
        report = measure_effect(
            loaded.model,
            loaded.tokenizer,
            networks,
            ids or [],
            texts,
            mode=mode,
            **dials(mode, gain, fill),
            random_draws=draws,
            progress=turn.checked(lambda fraction: progress(fraction, desc="Measuring loss")),
        )
    rows = report.rows()
    noise = (
        " (within the random masks' noise: read it as no clear difference)" if report.ratio_is_noise() else ""
    )
    headline = (
        f"**{mode}** of {report.masked_neurons:,} neurons over {len(texts.texts)} texts: the loss rose "
        f"**{report.ratio():.2f}×** as much as with random masks of the same size ({draws} draws){noise}."
    )
    return effect_rows(rows), figures.effect_chart(rows), headline


@user_errors
def sweep(
    state: AppState,
    visitor: Visitor,
    ids: list[int] | None,
    texts_per_category: float,
    random_draws: float,
    request: gr.Request = None,
    progress: gr.Progress = gr.Progress(),
):
    """Loss vs gain (0 to 2) of the chosen networks, beside random neuron sets of the same size."""
    loaded = state.require_model()
    networks = state.visit(visitor, request).require_networks()
    per_text, draws = measured_counts(texts_per_category, random_draws)
    texts = eval_texts_per_category(per_text)
    with state.heavy.turn(visitor, "gain sweep", progress) as turn:
        result = gain_sweep(
            loaded.model,
            loaded.tokenizer,
            networks,
            ids or [],
            texts,
            GAINS,
            random_draws=min(draws, 2),
            progress=turn.checked(lambda fraction: progress(fraction, desc="Sweeping the gain")),
        )
    own = dict.fromkeys(name for c in result["components"] for name in networks.top_categories(c, 2))
    return figures.gain_sweep_chart(result, list(own))  # "all", then each network's own categories


def decoding_controls() -> list:
    """The decoding settings, folded away: max new tokens, temperature, top-k, top-p, repetition penalty, seed."""
    with gr.Accordion("Decoding", open=False), gr.Row():
        return [
            gr.Slider(1, 256, value=48, step=1, label="Max new tokens"),
            gr.Slider(0, 2, value=0, step=0.05, label="Temperature (0 = greedy)"),
            gr.Slider(0, 200, value=50, step=1, label="Top-k"),
            gr.Slider(0.05, 1, value=0.95, step=0.05, label="Top-p"),
            gr.Slider(1, 2, value=1.1, step=0.05, label="Repetition penalty"),
            gr.Number(0, precision=0, label="Seed"),
        ]


@dataclass
class CompareTab:
    """What other tabs wire to: the network selector (its choices follow the visitor's networks) and the mode."""

    selector: gr.Dropdown
    mode: gr.Radio


def build(state: AppState, visitor: gr.State) -> CompareTab:
    """Lay out the tab."""
    with gr.Row():
        selector = gr.Dropdown(
            [], multiselect=True, label="Networks to mask", scale=3, elem_id="compare-networks"
        )
        mode = gr.Radio(list(MASK_MODES), value="lesion", label="Mode")
        layers = gr.Textbox(label="Only layers (optional)", placeholder="e.g. 0-9, 20")
    with gr.Row():
        gain = gr.Slider(0, 2, value=0.5, step=0.05, label="Gain (mode 'scale': 0 = lesion, 1 = unchanged)")
        fill = gr.Radio(list(MASK_FILLS), value="zero", label="Preserve sets the other neurons to")
    gr.Markdown(
        "**lesion** silences the chosen networks, **preserve** keeps only them, **scale** multiplies them by "
        "the gain, **mean** sets them to their mean activation over the discovery tokens."
    )
    prompt = gr.Textbox(DEFAULT_PROMPT, label="Prompt", lines=2)
    decoding = decoding_controls()
    with gr.Row():
        generate = gr.Button("Generate side by side", variant="primary")
        predict = gr.Button("Next-token table")
        cancel = gr.Button(
            "Cancel", variant="stop", size="sm", elem_id="compare-cancel"
        )  # any job of this tab
    status = status_line("compare")
    mask_info = gr.Markdown()
    with gr.Row():
        baseline = gr.Textbox(label="Unmasked model", lines=8, interactive=False)
        masked = gr.Textbox(label="Masked model", lines=8, interactive=False)
    kl = gr.Markdown()
    next_tokens = gr.Dataframe(headers=NEXT_TOKEN_HEADERS, label="Next token", interactive=False)
    gr.Markdown("#### Effect on loss (shipped prompt set, eval split)")
    with gr.Row():
        texts_per_category = gr.Slider(1, MAX_EFFECT_TEXTS, value=3, step=1, label="Texts per category")
        random_draws = gr.Slider(1, MAX_RANDOM_DRAWS, value=2, step=1, label="Random masks")
        measure = gr.Button("Measure effect")
        sweep_button = gr.Button("Sweep the gain (0 to 2)")
    headline = gr.Markdown()
    effect_table = gr.Dataframe(  # full width, so the ratio and note columns stay in view
        headers=EFFECT_HEADERS, label="Loss per category", interactive=False, elem_id="effect-table"
    )
    effect_plot = gr.Plot(label="Loss per category")
    sweep_plot = gr.Plot(label="Loss vs gain", elem_id="gain-sweep")
    selection = [selector, mode, gain, fill, layers]
    wiring = {"visitor": visitor, "status": status}
    cancel_job(cancel, state, **wiring, panel="compare")
    action(
        generate.click,
        bind(compare, state),
        [visitor, *selection, prompt, *decoding],
        [baseline, masked, mask_info],
        api_name="compare",
        **wiring,
    )
    action(
        predict.click,
        bind(next_token, state),
        [visitor, *selection, prompt],
        [next_tokens, kl],
        api_name="next_token",
        **wiring,
    )
    action(
        measure.click,
        bind(effect, state),
        [visitor, *selection, texts_per_category, random_draws],
        [effect_table, effect_plot, headline],
        api_name="measure_effect",
        heavy=True,
        **wiring,
    )
    action(
        sweep_button.click,
        bind(sweep, state),
        [visitor, selector, texts_per_category, random_draws],
        [sweep_plot],
        api_name="gain_sweep",
        heavy=True,
        **wiring,
    )
    return CompareTab(selector, mode)
