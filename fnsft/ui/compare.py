"""Lesion/Preserve & Compare tab: the unmasked and the masked model side by side, next-token shifts, and the
loss effect of the mask against random masks of equal size."""

from __future__ import annotations

import functools

import gradio as gr

from .. import figures
from ..evaluation import measure_effect
from ..generation import GenerationSettings, compare_next_token, stream_comparison
from ..masking import MODES, NeuronMask
from ..selection import mask_from_networks
from ..texts import DEFAULT_PROMPTS, load_labelled_texts, per_category
from .common import parse_layers, show_warnings, user_errors
from .state import AppState, LoadedModel

DEFAULT_PROMPT = "Write a short Python function that reverses a string, then explain it in one sentence."
NEXT_TOKEN_HEADERS = ["rank", "unmasked token", "p unmasked", "masked token", "p masked"]
EFFECT_HEADERS = ["category", "unmasked loss", "network loss", "random loss", "random std", "ratio"]


def _mask(state: AppState, ids: list[int] | None, mode: str, layers: str) -> tuple[LoadedModel, NeuronMask]:
    loaded = state.require_model()
    networks = state.require_networks()
    mask = mask_from_networks(networks, ids or [], mode, model=loaded.model, layers=parse_layers(layers))
    show_warnings(mask.warnings)
    return loaded, mask


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
    ids: list[int] | None,
    mode: str,
    layers: str,
    prompt: str,
    max_new_tokens: int,
    temperature: float,
    top_k: int,
    top_p: float,
    repetition_penalty: float,
    seed: int,
):
    """Stream the unmasked and the masked continuation of the prompt, token by token."""
    loaded, mask = _mask(state, ids, mode, layers)
    settings = GenerationSettings(
        max_new_tokens=int(max_new_tokens),
        temperature=float(temperature),
        top_k=int(top_k),
        top_p=float(top_p),
        repetition_penalty=float(repetition_penalty),
        seed=int(seed),
    )
    info = mask_summary(mask)
    for baseline, changed in stream_comparison(
        loaded.model, loaded.tokenizer, _prompt(prompt), mask, settings
    ):
        yield baseline, changed, info


@user_errors
def next_token(state: AppState, ids: list[int] | None, mode: str, layers: str, prompt: str) -> tuple:
    """The most likely next tokens with and without the mask, and how far the distribution moved (KL)."""
    loaded, mask = _mask(state, ids, mode, layers)
    result = compare_next_token(loaded.model, loaded.tokenizer, _prompt(prompt), mask)
    rows = [
        [rank, _shown(base), float(f"{base_p:.3g}"), _shown(changed), float(f"{changed_p:.3g}")]
        for rank, ((base, base_p), (changed, changed_p)) in enumerate(
            zip(result.baseline, result.masked, strict=True), start=1
        )
    ]
    return rows, f"KL(unmasked ‖ masked) = **{result.kl_divergence:.4f}** nats"


@user_errors
def effect(
    state: AppState,
    ids: list[int] | None,
    mode: str,
    layers: str,
    texts_per_category: int,
    random_draws: int,
    progress: gr.Progress = gr.Progress(),
) -> tuple:
    """Loss per category of the shipped eval split: unmasked, masked, and random masks of the same size."""
    loaded = state.require_model()
    if parse_layers(layers):
        gr.Warning("Measure effect masks the networks in every layer; the layer restriction is not used.")
    texts = per_category(load_labelled_texts(DEFAULT_PROMPTS, split="eval"), int(texts_per_category))
    report = measure_effect(
        loaded.model,
        loaded.tokenizer,
        state.require_networks(),
        ids or [],
        texts,
        mode=mode,
        random_draws=int(random_draws),
        progress=lambda fraction: progress(fraction, desc="Measuring loss"),
    )
    rows = report.rows()
    table = [
        [row["category"]]
        + [
            round(row[key], 4)
            for key in ("baseline_loss", "network_loss", "random_loss_mean", "random_loss_std")
        ]
        + [round(row["ratio"], 2)]
        for row in rows
    ]
    headline = (
        f"**{mode}** of {report.masked_neurons:,} neurons over {len(texts.texts)} texts: the loss rose "
        f"**{report.ratio():.2f}×** as much as with random masks of the same size ({random_draws} draws)."
    )
    return table, figures.effect_chart(rows), headline


def build(state: AppState) -> gr.Dropdown:
    """Lay out the tab; returns its network selector (its choices follow the current networks)."""
    with gr.Row():
        selector = gr.Dropdown(
            [], multiselect=True, label="Networks to mask", scale=3, elem_id="compare-networks"
        )
        mode = gr.Radio(list(MODES), value="lesion", label="Mode")
        layers = gr.Textbox(label="Only layers (optional)", placeholder="e.g. 0-9, 20")
    prompt = gr.Textbox(DEFAULT_PROMPT, label="Prompt", lines=2)
    with gr.Accordion("Decoding", open=False), gr.Row():
        max_new_tokens = gr.Slider(1, 256, value=48, step=1, label="Max new tokens")
        temperature = gr.Slider(0, 2, value=0, step=0.05, label="Temperature (0 = greedy)")
        top_k = gr.Slider(0, 200, value=50, step=1, label="Top-k")
        top_p = gr.Slider(0.05, 1, value=0.95, step=0.05, label="Top-p")
        repetition_penalty = gr.Slider(1, 2, value=1.1, step=0.05, label="Repetition penalty")
        seed = gr.Number(0, precision=0, label="Seed")
    with gr.Row():
        generate = gr.Button("Generate side by side", variant="primary")
        predict = gr.Button("Next-token table")
    mask_info = gr.Markdown()
    with gr.Row():
        baseline = gr.Textbox(label="Unmasked model", lines=8, interactive=False)
        masked = gr.Textbox(label="Masked model", lines=8, interactive=False)
    kl = gr.Markdown()
    next_tokens = gr.Dataframe(headers=NEXT_TOKEN_HEADERS, label="Next token", interactive=False)
    gr.Markdown("#### Effect on loss (shipped prompt set, eval split)")
    with gr.Row():
        texts_per_category = gr.Slider(1, 12, value=3, step=1, label="Texts per category")
        random_draws = gr.Slider(1, 5, value=2, step=1, label="Random masks")
        measure = gr.Button("Measure effect")
    headline = gr.Markdown()
    with gr.Row():
        effect_table = gr.Dataframe(headers=EFFECT_HEADERS, label="Loss per category", interactive=False)
        effect_plot = gr.Plot(label="Loss per category")
    selection = [selector, mode, layers]
    generate.click(
        functools.partial(compare, state),
        [*selection, prompt, max_new_tokens, temperature, top_k, top_p, repetition_penalty, seed],
        [baseline, masked, mask_info],
        api_name="compare",
    )
    predict.click(
        functools.partial(next_token, state), [*selection, prompt], [next_tokens, kl], api_name="next_token"
    )
    measure.click(
        functools.partial(effect, state),
        [*selection, texts_per_category, random_draws],
        [effect_table, effect_plot, headline],
        api_name="measure_effect",
        concurrency_id="heavy",
        concurrency_limit=1,
    )
    return selector
