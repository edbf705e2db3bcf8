"""The continual-learning summary of an accuracy matrix, as the continual-learning literature defines it (`a[t][T]`: accuracy on task t
after stage T): average accuracy, backward transfer, forward transfer; their spread over seeds and paired
differences between methods."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..analysis._evaluation import sample_std

Matrix = Sequence[Sequence[float]]  # rows: tasks t, columns: stages T


def _square(matrix: Matrix) -> np.ndarray:
    values = np.asarray(matrix, dtype=float)
    if values.ndim != 2 or values.shape[0] != values.shape[1] or values.shape[0] < 1:
        raise ValueError(f"an accuracy matrix is tasks x stages, square; got shape {values.shape}")
    return values


def average_accuracy(matrix: Matrix) -> float:
    """AA = mean over tasks t of `a[t][last]`."""
    values = _square(matrix)
    return float(values[:, -1].mean())


def backward_transfer(matrix: Matrix) -> float | None:
    """BWT = mean over t < last of `a[t][last] - a[t][t]` (negative: forgetting); None for one task."""
    values = _square(matrix)
    last = values.shape[0] - 1
    if last == 0:
        return None
    return float(np.mean([values[t, last] - values[t, t] for t in range(last)]))


def forward_transfer(matrix: Matrix, single_task: Sequence[float | None]) -> float | None:
    """FWT = mean over t > first of `a[t][t] - b[t]`, `b[t]` the accuracy of a model trained on task t alone
    (`single_task[0]` is not used and may be None); None for one task."""
    values = _square(matrix)
    if values.shape[0] < 2:
        return None
    if len(single_task) != values.shape[0] or any(b is None for b in single_task[1:]):
        raise ValueError("forward transfer needs a single-task accuracy for every task after the first")
    return float(np.mean([values[t, t] - single_task[t] for t in range(1, values.shape[0])]))


def summarise(matrix: Matrix, single_task: Sequence[float | None] | None) -> dict[str, float | None]:
    """AA, BWT and FWT of one run (FWT None without single-task accuracies)."""
    return {
        "AA": average_accuracy(matrix),
        "BWT": backward_transfer(matrix),
        "FWT": forward_transfer(matrix, single_task) if single_task is not None else None,
    }


def spread(values: Sequence[float | None]) -> dict[str, float | int | None]:
    """Mean and sample standard deviation over seeds (the values that exist)."""
    present = [v for v in values if v is not None]
    if not present:
        return {"mean": None, "std": None, "n": 0}
    return {"mean": float(np.mean(present)), "std": sample_std(present), "n": len(present)}


def paired_difference(ours: dict[int, float | None], theirs: dict[int, float | None]) -> dict:
    """ours - theirs per shared seed: the mean, its spread, and the per-seed differences."""
    seeds = sorted(
        seed for seed in set(ours) & set(theirs) if ours[seed] is not None and theirs[seed] is not None
    )
    differences = [ours[seed] - theirs[seed] for seed in seeds]
    return {**spread(differences), "per_seed": dict(zip(seeds, differences, strict=True))}
