"""The columns of the activation matrix: every MLP layer's neurons laid end to end, layer 0 first.

A neuron's global id (its column) is its layer's offset plus its index within the layer. Capture writes columns in
this order, thresholds and means split them back per layer, and networks flatten their per-layer ids into it;
these functions are the one translation between the two forms.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch


def layer_offsets(widths: Sequence[int]) -> np.ndarray:
    """[layers + 1] first column of each layer, then the total: [0, w0, w0 + w1, ...]."""
    return np.concatenate([[0], np.cumsum(widths, dtype=np.int64)])


def ids_by_layer(flat_ids: np.ndarray, widths: Sequence[int]) -> dict[int, np.ndarray]:
    """Global neuron ids as {layer: ids within that layer}, for the layers that hold any."""
    offsets = layer_offsets(widths)
    layers = np.searchsorted(offsets, flat_ids, side="right") - 1
    return {int(layer): flat_ids[layers == layer] - offsets[layer] for layer in np.unique(layers)}


def values_by_layer(flat: torch.Tensor | np.ndarray, widths: Sequence[int]) -> dict[int, np.ndarray]:
    """One value per column (e.g. a mean) as {layer: float32 values of its neurons}, for every layer."""
    flat = np.asarray(flat, dtype=np.float32)
    offsets = layer_offsets(widths)
    if len(flat) != offsets[-1]:
        raise ValueError(f"{len(flat)} values for {offsets[-1]} neurons.")
    return {layer: flat[offsets[layer] : offsets[layer + 1]].copy() for layer in range(len(widths))}


def global_ids(neurons: Mapping[int, np.ndarray], widths: Sequence[int]) -> np.ndarray:
    """{layer: ids within the layer} as global ids, layer by layer (the inverse of `ids_by_layer`)."""
    offsets = layer_offsets(widths)
    parts = [offsets[layer] + ids for layer, ids in sorted(neurons.items())]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
