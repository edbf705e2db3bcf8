"""Streaming discovery: a sketch of a sample of the tokens, one pass over all of them, PCA/ICA on small factors.

No [tokens x neurons] matrix is ever stored. A first capture runs a seeded random sample of the batches (about
`sketch_tokens` tokens) through the model into per-neuron moments and a Frequent Directions sketch
(`fnsft.discovery._sketches`), whose l directions span the top of the sample's standardised matrix. The pass over all the
tokens then keeps every token's moments, its loadings on those directions ([tokens x l]) and their
cross-product with the neurons ([neurons x l]); from these the randomized range approximation of the exactly
standardised matrix follows (`fnsft.discovery._sketches.RangePass`), with the time courses. Stability from reruns on
token subsets of the reduced data (`fnsft.discovery._decomposition.reduced_stability`). The sketch costs a sample, not
every token. Under a process group (`fnsft.discovery._parallel`) each process captures its share of the batches and the
statistics, the directions and the pass's sums are combined, so the result is that of one process over all
the tokens.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import DecompositionError
from ._decomposition import Decomposition, decompose_factors, rerun_maps, time_courses_of, with_consensus
from ._parallel import Processes
from ._sketches import FrequentDirections, RangePass, RunningMoments, pilot_from

Sink = Callable[[torch.Tensor, torch.Tensor], None]


SKETCH_GROUPS = 4  # batch groups sketched apart, so that 1, 2 or 4 processes merge the very same sketches


@dataclass
class StreamingStatistics:
    """The moments and the sketch of a set of tokens."""

    moments: RunningMoments
    sketch: FrequentDirections

    @classmethod
    def for_width(cls, width: int, sketch_rows: int) -> StreamingStatistics:
        return cls(RunningMoments.empty(width), FrequentDirections(width, sketch_rows))

    def fold(self, values: torch.Tensor) -> None:
        """Fold in one batch (the pilot set): one centring pass shared by the moments and the sketch."""
        centred = values.float() - self.sketch.pilot_mean
        self.moments.update_centred(centred, self.sketch.pilot_mean)
        self.sketch.update_centred(centred)

    def absorb(self, other: StreamingStatistics) -> None:
        """Fold in the statistics of other tokens (made with the same pilot)."""
        self.moments.merge(other.moments)
        self.sketch.merge(other.sketch.flush())


class BatchGroups:
    """What one process accumulates: statistics per group of batches (batch b is in group b % groups).

    Frequent Directions is exact to merge only up to its error bound, and the bound is reached differently for
    different merge trees. Sketching fixed groups apart and merging them in group order makes the merge tree the
    same whatever the number of processes that divides the group count, so one process and two (or four) give
    the same networks, not merely networks within the same bound. Other process counts give a group each.
    """

    def __init__(self, width: int, sketch_rows: int, processes: Processes | None = None):
        self.processes = processes or Processes()
        rank, world = self.processes.shard
        self.groups = SKETCH_GROUPS if SKETCH_GROUPS % world == 0 else world
        self.owned = {
            group: StreamingStatistics.for_width(width, sketch_rows)
            for group in range(rank, self.groups, world)
        }
        self.batches_seen = 0

    def sink(self) -> Sink:
        """The capture sink: fold this process's j-th batch (global batch rank + j * world) into its group.
        The first process's first batch sets the pilot of every sketch (sketches merge only with one pilot)."""
        rank, world = self.processes.shard

        def fold(rows: torch.Tensor, values: torch.Tensor) -> None:
            if self.batches_seen == 0:
                pilot = [self.processes.broadcast(part) for part in pilot_from(values)]
                for statistics in self.owned.values():
                    statistics.sketch.set_pilot(*pilot)
            self.owned[(rank + self.batches_seen * world) % self.groups].fold(values)
            self.batches_seen += 1

        return fold

    def merged(self) -> StreamingStatistics:
        """Every group's statistics (every process's) combined in group order, the same on every process."""
        world, by_group = self.processes.world, {}
        for index, statistics in enumerate(self.owned.values()):  # every process owns as many groups
            for rank, part in enumerate(self._gather(statistics)):
                by_group[rank + index * world] = part  # the index-th group of process `rank`
        first = next(iter(self.owned.values()))
        combined = StreamingStatistics.for_width(first.sketch.width, first.sketch.sketch_rows)
        combined.sketch.set_pilot(first.sketch.pilot_mean, first.sketch.pilot_scale)
        for group in sorted(by_group):
            combined.absorb(by_group[group])
        return combined

    def _gather(self, statistics: StreamingStatistics) -> list[StreamingStatistics]:
        """One group's statistics from every process, in rank order (each process passes its group of the same
        local index)."""
        if not self.processes.distributed:
            return [statistics]
        own, sketch = statistics.sketch.flush(), statistics.sketch
        padded = torch.zeros(sketch.sketch_rows, sketch.width)  # gathered tensors share one shape
        padded[: len(own)] = own
        moments = statistics.moments
        sizes = torch.tensor([float(moments.count), float(len(own))], dtype=torch.float64)
        parts = zip(
            self.processes.gather(sizes),
            self.processes.gather(moments.mean),
            self.processes.gather(moments.m2),
            self.processes.gather(padded),
            strict=True,
        )
        out = []
        for (count, used), mean, m2, rows in parts:
            part = StreamingStatistics.for_width(sketch.width, sketch.sketch_rows)
            part.moments = RunningMoments(int(count), mean, m2)
            part.sketch.set_pilot(sketch.pilot_mean, sketch.pilot_scale)
            part.sketch.sketch = rows[: int(used)]  # as one process would merge it
            out.append(part)
        return out


def decompose_statistics(
    sample: StreamingStatistics,
    tokens: int,
    n_components: int,
    project: Callable[[Sink], object],
    *,
    over: str,
    seed: int,
    max_iter: int,
    tol: float,
    restarts: int,
    stability_runs: int,
    consensus: bool = False,
    processes: Processes | None = None,
) -> tuple[Decomposition | None, RunningMoments]:
    """Components of all `tokens` tokens from the sketch of a sample of them (`merged` under a process group)
    and one pass over all of them. project(sink) runs that pass (this process's share) with a sink that
    accumulates every token's moments, its loadings on the sample's l directions and their cross-product with the
    neurons (`fnsft.discovery._sketches.RangePass`). Returns the components
    (under a process group only the first process decomposes, the others get None) and every token's moments.
    """
    processes = processes or Processes()
    neurons = sample.sketch.width
    limit = min(sample.moments.count, neurons, sample.sketch.sketch_rows)
    if n_components < 2 or n_components >= limit:
        raise DecompositionError(
            f"n_components={n_components} needs 2 <= n_components < min(sketched tokens, neurons, sketch "
            f"rows) = {limit}; sketch more tokens (sketch_tokens, --sketch-tokens) or rows (sketch_rows), "
            "capture more tokens, or ask for fewer components."
        )
    _, directions = sample.sketch.factors(sample.moments, sample.sketch.sketch_rows)  # [N x l]
    directions = processes.broadcast(directions)  # one set of directions for every process's pass
    range_pass = RangePass(sample.moments, directions, tokens)
    project(range_pass.fold)
    moments = _combined(range_pass, processes)
    if not processes.is_first:
        return None, moments
    u, s, v = range_pass.factors()
    common = {"over": over, "seed": seed, "max_iter": max_iter, "tol": tol, "restarts": restarts}
    top = slice(0, n_components)
    result = decompose_factors(u[:, top], s[top], v[:, top], moments.total_variance(), **common)
    if stability_runs > 0:
        scores, maps = rerun_maps(u * s, v, result.maps, runs=stability_runs, **common)
        result.stability, result.stability_runs = np.median(scores, axis=0).astype(np.float32), stability_runs
        if consensus and over == "neurons":
            courses = time_courses_of(None, u, s, v, None, maps, over)
            result = with_consensus(result, maps, courses, moments.total_variance())
    spread = f" over {processes.world} processes" if processes.distributed else ""
    result.notes.append(
        f"streaming: Frequent Directions sketch (Liberty 2013, {sample.sketch.sketch_rows} rows) of "
        f"{sample.moments.count} sampled tokens{spread}, all {tokens} tokens projected on its directions, "
        f"stability from {stability_runs} reruns on 80% token subsets of the reduced data"
    )
    return result, moments


def _combined(range_pass: RangePass, processes: Processes) -> RunningMoments:
    """Every process's share of the pass summed (each filled only its own rows of Y), and all the tokens'
    moments merged in rank order (the same on every process)."""
    if not processes.distributed:
        return range_pass.moments
    range_pass.projected = processes.sum(range_pass.projected)
    range_pass.cross = processes.sum(range_pass.cross)
    range_pass.moments = _merged(range_pass.moments, processes)
    return range_pass.moments


def _merged(moments: RunningMoments, processes: Processes) -> RunningMoments:
    """Every process's moments merged in rank order (the same on every process)."""
    sizes = processes.gather(torch.tensor([float(moments.count)], dtype=torch.float64))
    merged = RunningMoments.empty(moments.mean.shape[0])
    for size, mean, m2 in zip(
        sizes, processes.gather(moments.mean), processes.gather(moments.m2), strict=True
    ):
        merged.merge(RunningMoments(int(size), mean, m2))
    return merged
