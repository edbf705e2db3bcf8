"""The forward passes behind network cards: each network's lesion effect on the output log-probabilities, and
cards for networks loaded from a template (one capture pass projected onto each network's neurons).

Activation of a network, as its card shows it (always z-scored over the card's tokens):
- discovered networks: the component's ICA time course over the discovery tokens;
- template networks (neuron sets only): the mean, over the network's neurons, of each neuron's standardised
  activation (centred and scaled over the card's tokens) at the network's granularity.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data._padding import pad_id, right_padded
from ..data._texts import (
    DEFAULT_PROMPTS,
    LabelledTexts,
    discovery_texts,
    interleave_by_category,
    load_labelled_texts,
)
from ..discovery._capture import CapturedActivations, capture_activations
from ..discovery._decomposition import standardize_
from ..discovery._settings import DEFAULT_SETTINGS as DISCOVERY
from ..masking._hooks import masked
from ..masking._selection import NetworkSelection
from ..networks._cards import LogitEffect, NetworkCard, TokenRows, network_card
from ..networks._functional_networks import FunctionalNetworks
from ..networks._templates import check_compatible

EFFECT_TEXTS, EFFECT_LENGTH, EFFECT_TOP = 4, 16, 10  # 4 texts x 16 tokens: one small batched pass per network
EFFECT_CANDIDATES = (
    1000  # the output tokens ranked: the most likely unmasked (rare tokens' log-probs are noise)
)
DISCOVERED_ACTIVATION = "ICA time course of the component over the discovery tokens, z-scored over them"
TEMPLATE_ACTIVATION = (
    "mean standardised activation of the network's neurons (each neuron centred and scaled over these tokens), "
    "z-scored over them"
)
Progress = Callable[[str, float], None]


def decoder(tokenizer) -> Callable[[int], str]:
    """token id -> its text, cached (a card decodes the same few hundred ids many times)."""
    return functools.lru_cache(maxsize=None)(lambda token: tokenizer.decode([token]))


def token_rows(captured: CapturedActivations, categories: Sequence[str] | None) -> TokenRows:
    return TokenRows(captured.token_ids, captured.text_index, captured.positions, categories)


def _effect_batch(tokenizer, texts: Sequence[str], length: int):
    encoded = [ids for ids in tokenizer(list(texts), truncation=True, max_length=length)["input_ids"] if ids]
    return right_padded(encoded, pad_id(tokenizer))


@torch.no_grad()
def _mean_log_probs(model: nn.Module, input_ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
    """[vocab] log-probability of every output token, averaged over the batch's real positions."""
    device = next(model.parameters()).device
    logits = model(
        input_ids=input_ids.to(device), attention_mask=attention.to(device), use_cache=False
    ).logits
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    weights = attention.to(device, log_probs.dtype)[..., None]
    return (log_probs * weights).sum(dim=(0, 1)).cpu() / weights.sum().cpu()


def logit_effects(
    model: nn.Module,
    tokenizer,
    networks: FunctionalNetworks,
    texts: Sequence[str],
    *,
    components: Sequence[int] | None = None,
    top: int = EFFECT_TOP,
    length: int = EFFECT_LENGTH,
    progress: Progress | None = None,
) -> list[LogitEffect | None]:
    """Per network (of `components`, default all), among the EFFECT_CANDIDATES output tokens most likely
    unmasked, those whose mean log-probability falls (`suppressed`) or rises (`promoted`) most when it alone is
    lesioned (context-local mask, one batched pass each); None for an empty network or one not asked for."""
    input_ids, attention = _effect_batch(tokenizer, texts, length)
    baseline = _mean_log_probs(model, input_ids, attention)
    candidates = torch.topk(baseline, min(EFFECT_CANDIDATES, len(baseline))).indices
    decode = decoder(tokenizer)
    wanted = (
        list(range(networks.num_components)) if components is None else networks.check_components(components)
    )
    effects: list[LogitEffect | None] = [None] * networks.num_components

    def pairs(values: torch.Tensor, ids: torch.Tensor) -> list[tuple[str, float]]:
        return [(decode(int(candidates[i])), round(float(v), 4)) for v, i in zip(values, ids, strict=True)]

    for done, component in enumerate(wanted, start=1):
        if networks.neurons[component]:
            mask = NetworkSelection.for_model(networks, model, [component]).mask("lesion")
            with masked(model, mask):
                change = (_mean_log_probs(model, input_ids, attention) - baseline)[candidates]
            falls, rises = torch.topk(-change, top), torch.topk(change, top)
            effects[component] = LogitEffect(
                pairs(-falls.values, falls.indices), pairs(rises.values, rises.indices), int(attention.sum())
            )
        if progress is not None:
            progress("logit effect", done / len(wanted))
    return effects


def effect_texts() -> list[str]:
    """The texts a logit effect is averaged over: the first EFFECT_TEXTS of the shipped prompt set's evaluation
    split, one per category."""
    return interleave_by_category(load_labelled_texts(DEFAULT_PROMPTS, split="eval")).texts[:EFFECT_TEXTS]


def add_logit_effects(
    networks: FunctionalNetworks,
    model: nn.Module,
    tokenizer,
    components: Sequence[int] | None = None,
    *,
    texts: Sequence[str] | None = None,
    progress: Progress | None = None,
) -> list[NetworkCard]:
    """The networks' cards with the logit effect of `components` (default all) measured, the others unchanged.

    Discovery leaves it out (one forward pass per network costs far more than the cards' 10% budget on a CPU);
    the app measures it when a card is opened, fnsft-build-templates for every network.

    >>> networks.cards = add_logit_effects(networks, model, tokenizer, components=[0])
    >>> networks.card(0).logit_effect.suppressed[0]  # (token, change of its log-probability)
    (..., -...)
    >>> networks.card(1).logit_effect is None  # not measured
    True
    """
    cards = [networks.card(c) for c in range(networks.num_components)]
    chosen = effect_texts() if texts is None else texts
    effects = logit_effects(model, tokenizer, networks, chosen, components=components, progress=progress)
    return [
        card if effect is None else dataclasses.replace(card, logit_effect=effect)
        for card, effect in zip(cards, effects, strict=True)
    ]


def discovery_cards(
    networks: FunctionalNetworks, time_courses: np.ndarray, rows: TokenRows, tokenizer
) -> list[NetworkCard]:
    """Cards of freshly discovered networks from their time courses [tokens x components], without the logit
    effect (see `add_logit_effects`)."""
    decode = decoder(tokenizer)
    return [
        network_card(c, time_courses[:, c], rows, decode, DISCOVERED_ACTIVATION)
        for c in range(networks.num_components)
    ]


def project(matrix: torch.Tensor, networks: FunctionalNetworks) -> np.ndarray:
    """[tokens x networks]: the mean of each network's neuron columns of a standardised matrix (0 if empty)."""
    columns = []
    for component in range(networks.num_components):
        ids = torch.from_numpy(networks.flat_ids(component).astype(np.int64))
        columns.append(matrix.index_select(1, ids).mean(dim=1) if len(ids) else torch.zeros(matrix.shape[0]))
    return torch.stack(columns, dim=1).numpy()


def template_cards(
    networks: FunctionalNetworks,
    model: nn.Module,
    tokenizer,
    texts: Any = None,
    *,
    max_tokens: int = DISCOVERY.max_tokens,
    max_length: int = DISCOVERY.max_length,
    progress: Progress | None = None,
) -> list[NetworkCard]:
    """Cards for networks that carry only neuron sets (a loaded template): one capture pass over `texts` (the
    shipped discovery corpus by default) projected onto each network's neurons (see module doc).
    progress(stage, fraction) reports "capture", then "logit effect".

    >>> networks = fnsft.load_templates("my-networks.json", model)
    >>> networks.cards = template_cards(networks, model, tokenizer, texts)
    >>> [card.logit_effect is not None for card in networks.cards]
    [True, True, True, True]
    """
    check_compatible(networks, model, f"networks {networks.name!r}")
    if texts is None:
        texts = discovery_texts()
    if not isinstance(texts, LabelledTexts):
        texts = load_labelled_texts(texts)
    texts = interleave_by_category(texts)
    report = progress or (lambda stage, fraction: None)
    captured = capture_activations(
        model,
        tokenizer,
        texts.texts,
        granularity=networks.granularity,
        max_tokens=max_tokens,
        max_length=max_length,
        progress=lambda done, total: report("capture", done / total),
    )
    activation = project(standardize_(captured.matrix), networks)
    del captured.matrix
    rows, decode = token_rows(captured, texts.categories), decoder(tokenizer)
    cards = [
        network_card(c, activation[:, c], rows, decode, TEMPLATE_ACTIVATION)
        for c in range(networks.num_components)
    ]
    return add_logit_effects(dataclasses.replace(networks, cards=cards), model, tokenizer, progress=report)


def text_activations(
    networks: FunctionalNetworks, model: nn.Module, tokenizer, text: str, *, max_length: int = 256
) -> tuple[list[str], np.ndarray]:
    """(the tokens of `text`, [tokens x networks] activations): each network's mean neuron activation at each
    token, raw (not standardised: one text has too few tokens to standardise by), for "where does it fire here".

    >>> tokens, values = text_activations(networks, model, tokenizer, "def f(x): return x")
    >>> tokens[:5], values.shape  # the tiny tokenizer has one token per byte
    (['d', 'e', 'f', ' ', 'f'], (18, 4))
    """
    check_compatible(networks, model, f"networks {networks.name!r}")
    captured = capture_activations(
        model, tokenizer, [text], granularity=networks.granularity, max_tokens=None, max_length=max_length
    )
    order = np.argsort(captured.positions, kind="stable")
    decode = decoder(tokenizer)
    tokens = [decode(int(token)) for token in captured.token_ids[order]]
    return tokens, project(captured.matrix, networks)[order]
