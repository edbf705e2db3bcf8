"""Symmetric FastICA (logcosh contrast) on whitened reduced data, in torch.

Discovery solves one small problem many times (a few random restarts for the main decomposition, and again for
every stability rerun), and each solve's cost grows with the samples (46,080 neurons in spatial ICA on the
embedded model). The restarts only have to find the right basin, so they run on a random subset of the samples;
the most non-Gaussian of them is then polished to convergence on all the samples, which usually takes a few
iterations. The answer is a fixed point of FastICA on the full data, as a full-data restart would give.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

_GAUSSIAN_LOGCOSH = 0.374567  # E[log cosh(x)] for x ~ N(0, 1)
RESTART_SAMPLES = 8192  # restarts on more samples than this use a random subset of this many


@dataclass
class Solution:
    """One FastICA solve: the unmixing W ([k x k]; sources are samples @ W.T) and how it stopped."""

    unmixing: torch.Tensor
    converged: bool
    iterations: int


def orthogonalize(weights: torch.Tensor) -> torch.Tensor:
    """Symmetric decorrelation W <- (W W^T)^-1/2 W."""
    eigenvalues, eigenvectors = torch.linalg.eigh(weights @ weights.T)
    return (eigenvectors * eigenvalues.clamp_min(1e-12).rsqrt()) @ eigenvectors.T @ weights


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """FastICA's thin products run faster on one CPU thread than on several contending ones."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fastica(
    samples: torch.Tensor, start: torch.Tensor, *, max_iter: int = 400, tol: float = 1e-4
) -> Solution:
    """Unmixing matrix for whitened samples ([n x k]) from a decorrelated start ([k x k]); it has converged when
    no row of W turns by more than tol in an iteration (|<w_new, w_old>| within tol of 1)."""
    weights = start.to(samples.device, torch.float64)
    data = samples.to(torch.float32)
    for iteration in range(1, max_iter + 1):
        g = torch.tanh(data @ weights.T.to(torch.float32))
        g_prime_mean = (1.0 - g * g).mean(dim=0).to(torch.float64)
        updated = orthogonalize(
            (g.T @ data).to(torch.float64) / data.shape[0] - g_prime_mean[:, None] * weights
        )
        change = float((torch.einsum("ij,ij->i", updated, weights).abs() - 1).abs().max())
        weights = updated
        if change < tol:
            return Solution(weights, True, iteration)
    return Solution(weights, False, max_iter)


def negentropy(sources: torch.Tensor) -> float:
    """Summed logcosh negentropy approximation of unit-variance sources: higher is more independent."""
    contrast = torch.log(torch.cosh(sources.to(torch.float64))).mean(dim=0) - _GAUSSIAN_LOGCOSH
    return float((contrast**2).sum())


def best_fastica(samples: torch.Tensor, *, seed: int, restarts: int, max_iter: int, tol: float) -> Solution:
    """FastICA from `restarts` random starts (seeds seed * 7919 + restart), keeping the most non-Gaussian.

    Symmetric FastICA can stop at a saddle point where two sources stay rotated into each other; a few restarts
    avoid it. They run on at most RESTART_SAMPLES random samples, and the winner is polished on all of them.
    """
    k, n = samples.shape[1], samples.shape[0]
    generator = torch.Generator().manual_seed(seed)
    subset = samples
    if n > RESTART_SAMPLES:
        subset = samples[torch.randperm(n, generator=generator)[:RESTART_SAMPLES].to(samples.device)]
    threads = single_threaded() if samples.device.type == "cpu" else contextlib.nullcontext()
    with threads:
        best, best_score = None, -np.inf
        for restart in range(max(restarts, 1)):
            start = torch.from_numpy(np.random.default_rng(seed * 7919 + restart).standard_normal((k, k)))
            solution = fastica(subset, orthogonalize(start), max_iter=max_iter, tol=tol)
            score = negentropy(subset.to(torch.float64) @ solution.unmixing.T)
            if score > best_score:
                best, best_score = solution, score
        if subset is samples:
            return best
        polished = fastica(samples, best.unmixing, max_iter=max_iter, tol=tol)
    return Solution(polished.unmixing, polished.converged, best.iterations + polished.iterations)


def whiten(samples: torch.Tensor) -> torch.Tensor:
    """Centre columns and make their covariance the identity (the symmetric, ZCA transform)."""
    centred = samples - samples.mean(dim=0, keepdim=True)
    covariance = (centred.T @ centred).to(torch.float64) / centred.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    transform = (eigenvectors * eigenvalues.clamp_min(1e-12).rsqrt()) @ eigenvectors.T
    return centred @ transform.to(centred.dtype)
