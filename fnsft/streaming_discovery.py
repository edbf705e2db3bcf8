"""Streaming discovery: capture -> running moments + Frequent Directions sketch -> PCA/ICA on the small factors.

No [tokens x neurons] matrix is ever stored: each captured batch updates the per-neuron moments and the sketch
(`fnsft.streaming`) and is dropped. The sketch gives the top singular values and right singular vectors v; the
time courses then come from a cheap projection pass (a second capture that keeps only A_std V, [tokens x l],
which also refines the top-k by Rayleigh-Ritz);
stability comes from ICA reruns on the reduced data (`fnsft.reduced_stability`), not from PCA reruns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .choices import SKETCH_ROWS as SKETCH_ROWS  # re-exported
from .decomposition import Decomposition, decompose_factors
from .errors import DecompositionError
from .reduced_stability import reduced_stability
from .streaming import FrequentDirections, RunningMoments, standardised_projection

Sink = Callable[[torch.Tensor, torch.Tensor], None]


@dataclass
class StreamingStatistics:
    """What one process accumulates over its share of the tokens."""

    moments: RunningMoments
    sketch: FrequentDirections

    @classmethod
    def for_width(cls, width: int, sketch_rows: int) -> StreamingStatistics:
        return cls(RunningMoments.empty(width), FrequentDirections(width, sketch_rows))

    def sink(self) -> Sink:
        """The capture sink: fold each batch into the moments and the sketch."""

        def fold(rows: torch.Tensor, values: torch.Tensor) -> None:
            self.moments.update(values)
            self.sketch.update(values)

        return fold


def decompose_statistics(
    statistics: StreamingStatistics,
    n_components: int,
    project: Callable[[Sink], object],
    *,
    over: str,
    seed: int,
    max_iter: int,
    tol: float,
    restarts: int,
    stability_runs: int,
    combine: Callable[[torch.Tensor], torch.Tensor] = lambda loadings: loadings,
) -> Decomposition:
    """Components from the accumulated statistics. project(sink) runs the projection pass over the same tokens
    with that sink, which fills the [tokens x l] loadings A_std V; combine sums them over processes (parallel)."""
    tokens, neurons = statistics.moments.count, statistics.sketch.width
    limit = min(tokens, neurons, statistics.sketch.sketch_rows)
    if n_components < 2 or n_components >= limit:
        raise DecompositionError(
            f"n_components={n_components} needs 2 <= n_components < min(tokens, neurons, sketch rows) = "
            f"{limit}; capture more tokens or ask for fewer components."
        )
    _, basis = statistics.sketch.factors(statistics.moments, statistics.sketch.sketch_rows)  # [N x l]
    loadings = torch.zeros(tokens, basis.shape[1])
    project(standardised_projection(statistics.moments, basis, loadings))
    # Rayleigh-Ritz: the exact top-k of A_std within the sketch's l directions (FD's own values are shrunk
    # and its top-k directions rotated by the tail; A_std @ basis is known exactly after the projection pass)
    u, s, w = torch.linalg.svd(combine(loadings).double(), full_matrices=False)
    u, s, v = (
        u[:, :n_components].float(),
        s[:n_components].float(),
        (basis.double() @ w[:n_components].T).float(),
    )
    common = {"over": over, "seed": seed, "max_iter": max_iter, "tol": tol, "restarts": restarts}
    result = decompose_factors(u, s, v, statistics.moments.total_variance(), **common)
    if stability_runs > 0:
        result.stability = reduced_stability(u, s, v, result.maps, runs=stability_runs, **common)
        result.stability_runs = stability_runs
    result.notes.append(
        f"streaming: Frequent Directions sketch (Liberty 2013, {statistics.sketch.sketch_rows} rows) of {tokens} "
        f"tokens, time courses from a projection pass, stability from {stability_runs} ICA reruns on the reduced data"
    )
    return result
