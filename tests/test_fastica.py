"""FastICA: restarts on a sample subset end at a fixed point of the full data and recover the sources."""

from __future__ import annotations

import numpy as np
import torch

from fnsft.discovery._fastica import RESTART_SAMPLES, best_fastica, fastica, orthogonalize, whiten
from fnsft.networks import matched_correlations


def _mixed_laplace(samples: int, k: int = 4, seed: int = 0):
    rng = np.random.default_rng(seed)
    sources = rng.laplace(size=(samples, k))
    return sources, whiten(torch.tensor(sources @ rng.standard_normal((k, k)), dtype=torch.float32))


def test_restarts_on_a_sample_subset_end_at_a_full_data_fixed_point():
    sources, mixed = _mixed_laplace(3 * RESTART_SAMPLES)
    solution = best_fastica(mixed, seed=0, restarts=3, max_iter=400, tol=1e-4)
    assert solution.converged
    recovered = (mixed.double() @ solution.unmixing.T).numpy()
    assert matched_correlations(sources.T, recovered.T).min() > 0.99
    again = fastica(mixed, solution.unmixing, tol=1e-4)
    assert again.converged and again.iterations == 1  # already a fixed point on all the samples


def test_small_sample_sets_skip_the_subset_and_match_a_plain_solve():
    _, mixed = _mixed_laplace(RESTART_SAMPLES // 2, seed=1)
    solution = best_fastica(mixed, seed=2, restarts=1, max_iter=400, tol=1e-4)
    start = torch.from_numpy(np.random.default_rng(2 * 7919).standard_normal((4, 4)))

    plain = fastica(mixed, orthogonalize(start), max_iter=400, tol=1e-4)
    assert torch.equal(solution.unmixing, plain.unmixing) and solution.iterations == plain.iterations
