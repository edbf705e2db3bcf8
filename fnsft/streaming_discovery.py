"""Streaming discovery: capture -> running moments + Frequent Directions sketch -> PCA/ICA on the small factors.

No [tokens x neurons] matrix is ever stored: each captured batch updates the per-neuron moments and the sketch
(`fnsft.streaming`) and is dropped. The sketch gives the top singular values and right singular vectors v; the
time courses then come from a cheap projection pass (a second capture that keeps only A_std V, [tokens x l],
which also refines the top-k by Rayleigh-Ritz);
stability from reruns on token subsets of the reduced data (`fnsft.decomposition.reduced_stability`), not from PCA reruns.
Under a process group (`fnsft.parallel`) each process captures its share of the batches and the statistics,
the basis and the loadings are combined, so the result is that of one process over all the tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from .choices import SKETCH_ROWS as SKETCH_ROWS  # re-exported
from .decomposition import Decomposition, decompose_factors, reduced_stability
from .errors import DecompositionError
from .parallel import Processes
from .streaming import FrequentDirections, RunningMoments, pilot_from, standardised_projection

Sink = Callable[[torch.Tensor, torch.Tensor], None]


@dataclass
class StreamingStatistics:
    """What one process accumulates over its share of the tokens."""

    moments: RunningMoments
    sketch: FrequentDirections

    @classmethod
    def for_width(cls, width: int, sketch_rows: int) -> StreamingStatistics:
        return cls(RunningMoments.empty(width), FrequentDirections(width, sketch_rows))

    def sink(self, processes: Processes | None = None) -> Sink:
        """The capture sink: fold each batch into the moments and the sketch. The first process's first batch
        sets the pilot of every process's sketch (sketches merge only when made with one pilot)."""
        processes = processes or Processes()

        def fold(rows: torch.Tensor, values: torch.Tensor) -> None:
            if self.sketch.pilot_mean is None:
                self.sketch.set_pilot(*(processes.broadcast(part) for part in pilot_from(values)))
            centred = values.float() - self.sketch.pilot_mean  # one pass shared by the moments and the sketch
            self.moments.update_centred(centred, self.sketch.pilot_mean)
            self.sketch.update_centred(centred)

        return fold

    def merged(self, processes: Processes) -> StreamingStatistics:
        """Every process's statistics combined, in rank order (the same on every process)."""
        if not processes.distributed:
            return self
        own = self.sketch.flush()
        padded = torch.zeros(self.sketch.sketch_rows, self.sketch.width)  # zero rows add nothing to B^T B
        padded[: len(own)] = own
        parts = zip(
            processes.gather(torch.tensor([float(self.moments.count)], dtype=torch.float64)),
            processes.gather(self.moments.mean),
            processes.gather(self.moments.m2),
            processes.gather(padded),
            strict=True,
        )
        combined = StreamingStatistics.for_width(self.sketch.width, self.sketch.sketch_rows)
        combined.sketch.set_pilot(self.sketch.pilot_mean, self.sketch.pilot_scale)
        for count, mean, m2, sketch in parts:
            combined.moments.merge(RunningMoments(int(count.item()), mean.clone(), m2.clone()))
            combined.sketch.merge(sketch)
        return combined


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
    processes: Processes | None = None,
) -> Decomposition | None:
    """Components from the statistics of all the tokens (`merged` under a process group). project(sink) runs
    the projection pass over the same tokens (this process's share of them) with that sink, which fills the
    [tokens x l] loadings A_std V. Under a process group only the first process decomposes (the others get None).
    """
    processes = processes or Processes()
    tokens, neurons = statistics.moments.count, statistics.sketch.width
    limit = min(tokens, neurons, statistics.sketch.sketch_rows)
    if n_components < 2 or n_components >= limit:
        raise DecompositionError(
            f"n_components={n_components} needs 2 <= n_components < min(tokens, neurons, sketch rows) = "
            f"{limit}; capture more tokens or ask for fewer components."
        )
    _, basis = statistics.sketch.factors(statistics.moments, statistics.sketch.sketch_rows)  # [N x l]
    basis = processes.broadcast(basis)  # one basis for every process's projection
    loadings = torch.zeros(tokens, basis.shape[1])
    project(standardised_projection(statistics.moments, basis, loadings))
    loadings = processes.sum(loadings)  # each process filled only its own rows
    if not processes.is_first:
        return None
    # Rayleigh-Ritz: the exact top-k of A_std within the sketch's l directions (FD's own values are shrunk
    # and its top-k directions rotated by the tail; A_std @ basis is known exactly after the projection pass)
    u, s, w = torch.linalg.svd(loadings.double(), full_matrices=False)
    u, s, v = (
        u[:, :n_components].float(),
        s[:n_components].float(),
        (basis.double() @ w[:n_components].T).float(),
    )
    common = {"over": over, "seed": seed, "max_iter": max_iter, "tol": tol, "restarts": restarts}
    result = decompose_factors(u, s, v, statistics.moments.total_variance(), **common)
    if stability_runs > 0:
        result.stability = reduced_stability(loadings, basis, result.maps, runs=stability_runs, **common)
        result.stability_runs = stability_runs
    spread = f" over {processes.world} processes" if processes.distributed else ""
    result.notes.append(
        f"streaming: Frequent Directions sketch (Liberty 2013, {statistics.sketch.sketch_rows} rows) of {tokens} "
        f"tokens{spread}, time courses from a projection pass, stability from {stability_runs} reruns on 80% "
        "token subsets of the reduced data"
    )
    return result
