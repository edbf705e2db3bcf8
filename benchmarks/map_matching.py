"""Two discoveries' neuron maps matched one to one (Hungarian on |corr|), and the IoU of the matched networks at a
z threshold: what the benchmarks that compare maps share."""

from __future__ import annotations

import numpy as np


def matches(first: np.ndarray, second: np.ndarray) -> tuple[list[tuple[int, int]], np.ndarray]:
    """(the one-to-one pairs (row of first, row of second), their |corr|)."""
    from fnsft.networks import assign

    similarity = np.abs(np.corrcoef(first, second)[: len(first), len(first) :])
    pairs = list(assign(similarity).items())
    return pairs, np.array([similarity[i, j] for i, j in pairs])


def matched_ious(first: np.ndarray, second: np.ndarray, widths, z: float, pairs) -> np.ndarray:
    """The IoU of each pair's networks, both maps thresholded at z (the library's zscore rule)."""
    a, b = neuron_sets(first, widths, z), neuron_sets(second, widths, z)
    return np.array([len(a[i] & b[j]) / max(len(a[i] | b[j]), 1) for i, j in pairs])


def neuron_sets(maps: np.ndarray, widths, z: float) -> list[set]:
    from fnsft.discovery import threshold_networks

    found = threshold_networks(maps, widths, "zscore", z)[0]
    return [{(layer, int(i)) for layer, ids in network.items() for i in ids} for network in found]
