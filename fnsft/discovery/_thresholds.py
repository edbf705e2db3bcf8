"""From sign-corrected neuron maps to networks: threshold rules, the split by layer, and category responses."""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np

from ..choices import THRESHOLD_RULES
from ._columns import ids_by_layer


def threshold_map(weights: np.ndarray, rule: str, value: float) -> np.ndarray:
    """Indices of the neurons kept from one sign-corrected neuron map.

    zscore: z = (w - mean) / std >= value (the paper's rule, 1.96; the positive, heavy tail);
    percentile: |w| >= the value-th percentile of |w| (the FunctionalNetworksSFT rule, 98);
    topk: the int(value) neurons of largest |w|.
    """
    if rule == "zscore":
        z = (weights - weights.mean()) / (weights.std() + 1e-12)
        return np.flatnonzero(z >= value)
    if rule == "percentile":
        if not 0 < value < 100:
            raise ValueError(f"percentile threshold must be in (0, 100), got {value}.")
        magnitude = np.abs(weights)
        return np.flatnonzero(magnitude >= np.percentile(magnitude, value))
    if rule == "topk":
        count = int(value)
        if count < 1 or count > len(weights):
            raise ValueError(f"topk threshold must be between 1 and {len(weights)}, got {value}.")
        return np.sort(np.argpartition(-np.abs(weights), count - 1)[:count])
    raise ValueError(f"threshold rule {rule!r} is not supported; use one of {THRESHOLD_RULES}.")


def threshold_networks(
    maps: np.ndarray, widths: Sequence[int], rule: str, value: float
) -> tuple[list[dict[int, np.ndarray]], dict]:
    """(neuron sets per component, the threshold record): every map thresholded (`threshold_map`) and split by
    layer. The record names the networks left empty, which are also logged as a warning."""
    neurons = [ids_by_layer(threshold_map(weights, rule, value), widths) for weights in maps]
    record: dict = {"rule": rule, "value": value}
    empty = [f"N{component}" for component, sets in enumerate(neurons) if not sets]
    if empty:
        record["notes"] = [
            f"{', '.join(empty)} {'is' if len(empty) == 1 else 'are'} empty: no neuron passes {rule} {value:g}; "
            "lower the threshold to keep them."
        ]
        warnings.warn(record["notes"][0], stacklevel=2)
    return neurons, record


def category_response(
    time_courses: np.ndarray, token_categories: np.ndarray, categories: list[str]
) -> np.ndarray:
    """[components x categories]: mean z-scored time course over the tokens of each category."""
    z = (time_courses - time_courses.mean(axis=0)) / (time_courses.std(axis=0) + 1e-12)
    return np.stack([z[token_categories == c].mean(axis=0) for c in categories], axis=1).astype(np.float32)
