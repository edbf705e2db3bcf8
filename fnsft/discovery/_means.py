"""Neuron means: the mean activation of every MLP neuron over a text set, the value mean-ablation sets a
neuron to (zeroing instead pushes a layer off its usual operating point).

Discovery records them while it standardises the captured activations (`FunctionalNetworks.neuron_means`), and
templates keep them. For networks without them (older templates, FunctionalNetworksSFT files), `neuron_means`
computes them in one capture pass and `with_neuron_means` does so with the texts and settings the networks were
found with.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from torch import nn

from ..networks._functional_networks import FunctionalNetworks
from ._capture import capture_activations
from ._columns import values_by_layer

NeuronMeans = dict[int, np.ndarray]  # layer -> mean activation of each of its neurons at one site


def neuron_means(
    model: nn.Module,
    tokenizer,
    texts: Any = None,
    *,
    granularity: str = "intermediate",
    max_tokens: int | None = 4096,
    max_length: int = 256,
    batch_size: int = 8,
    chat_format: bool = False,
    split: str | None = None,
) -> NeuronMeans:
    """Mean activation of every neuron at `granularity`'s site over `texts`, in one capture pass.

    texts: what `ICAMask.compute_global_networks` accepts (None: the shipped discovery corpus); taken
    in the same order as discovery takes them, so the same settings give the means discovery records.

    >>> means = fnsft.neuron_means(model, tokenizer, texts)
    >>> {layer: values.shape for layer, values in means.items()}
    {0: (48,), 1: (48,), 2: (48,)}
    >>> handle = ica.apply_component_masks(model, [0], mode="mean", means=means)
    >>> handle.remove()
    """
    from ..data._texts import (
        LabelledTexts,
        chat_formatted,
        discovery_texts,
        interleave_by_category,
        load_labelled_texts,
    )

    if texts is None:
        texts = discovery_texts()
    if not isinstance(texts, LabelledTexts):
        texts = load_labelled_texts(texts, split=split)
    texts = interleave_by_category(texts)
    inputs = chat_formatted(texts.texts, tokenizer) if chat_format else texts.texts
    captured = capture_activations(
        model,
        tokenizer,
        inputs,
        granularity=granularity,
        max_tokens=max_tokens,
        max_length=max_length,
        batch_size=batch_size,
        add_special_tokens=not chat_format,
    )
    return values_by_layer(captured.matrix.mean(dim=0), captured.layer_widths)


def with_neuron_means(
    networks: FunctionalNetworks, model: nn.Module, tokenizer, texts: Any = None
) -> FunctionalNetworks:
    """`networks` with the neuron means of `model` over `texts` (None: the shipped prompt set), measured with the
    token budget, length and chat format the networks were found with."""
    data = networks.data
    means = neuron_means(
        model,
        tokenizer,
        texts,
        granularity=networks.granularity,
        max_tokens=data.get("num_tokens", 4096),
        max_length=data.get("max_length", 256),
        chat_format=data.get("chat_format", False),
        split=data.get("split"),
    )
    widths = tuple(len(means[layer]) for layer in sorted(means))
    if widths != networks.layer_widths:
        raise ValueError(f"{networks.name} has layer widths {networks.layer_widths}, the model {widths}.")
    return dataclasses.replace(networks, neuron_means=means)
