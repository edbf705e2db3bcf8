"""Matching two sets of networks one to one: the answer drift, split-half reliability and benchmarks share.

Networks found twice (on a fine-tuned model, on other texts, with other numerics) come back in another order; they
are paired by the Hungarian assignment that maximises the total similarity, where similarity is the IoU of the
neuron sets, averaged with the |correlation| of the neuron maps when both sides keep their maps.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from ._functional_networks import FunctionalNetworks, iou_between


def assign(score: np.ndarray) -> dict[int, int]:
    """The one-to-one matching of rows to columns with the highest total score (Hungarian assignment)."""
    rows, cols = linear_sum_assignment(-score)
    return dict(zip(rows.tolist(), cols.tolist(), strict=True))


def signed_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[rows of a x rows of b] correlation between maps (ICA leaves each map's sign arbitrary)."""
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-12
    b /= np.linalg.norm(b, axis=1, keepdims=True) + 1e-12
    return a @ b.T


def map_correlations(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """[rows of a x rows of b] |correlation| between maps."""
    return np.abs(signed_correlations(a, b))


def matched_correlations(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each reference map, its |correlation| with its partner in `other` under the one-to-one matching: how
    well maps found twice (in any order and sign) agree."""
    correlations = map_correlations(reference, other)
    partners = assign(correlations)
    return np.array([correlations[row, partners[row]] for row in range(len(reference))])


def network_correlations(base: FunctionalNetworks, other: FunctionalNetworks) -> np.ndarray | None:
    """|correlation| between every pair of neuron maps, or None when either side has no maps."""
    if base.maps is None or other.maps is None or base.maps.shape[1] != other.maps.shape[1]:
        return None
    return map_correlations(base.maps, other.maps)


def match_networks(base: FunctionalNetworks, other: FunctionalNetworks) -> dict[int, int]:
    """base component -> its partner in `other`, by neuron sets and (where both keep them) maps."""
    iou = iou_between(base, other)
    correlation = network_correlations(base, other)
    return assign(iou if correlation is None else (iou + correlation) / 2)


def match_components(a: FunctionalNetworks, b: FunctionalNetworks) -> list[tuple[int, int, float]]:
    """One-to-one matching of a's components to b's by IoU of neuron sets, best first: (a_id, b_id, iou)."""
    iou = iou_between(a, b)
    pairs = [(r, c, float(iou[r, c])) for r, c in assign(iou).items()]
    return sorted(pairs, key=lambda pair: -pair[2])
