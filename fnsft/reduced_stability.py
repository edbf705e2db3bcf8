"""Stability of ICA components from the reduced data: ICASSO-style reruns (Himberg, Hyvärinen & Esposito 2004)
over random 80% subsets of the tokens of L = A_std B, the [tokens x l] loadings of the standardised matrix on an
l-dimensional neuron basis B (the sketch's, or the randomized PCA's probe width), not of A_std itself.

Each rerun redoes the SVD of L[rows] (tokens x l instead of a randomized SVD over tokens x neurons) and the
FastICA with a new seed, so it needs no stored matrix and streaming discovery can score its components too.
Resampling tokens matters: on the embedded model at 256 and 1,024 tokens, PCA reruns flag 7 of 20 components as
not reproducing; reruns that bootstrapped only the ICA's samples (the neurons, in spatial ICA) flagged none,
while these, with a 200-direction basis, follow the PCA reruns' scores (Pearson 0.99-1.00) and flags
(`benchmarks/stability_agreement.py`). A component is scored by the median, over reruns, of its |correlation|
with its one-to-one (Hungarian) match.
"""

from __future__ import annotations

import numpy as np
import torch

from .decomposition import _match_abs_correlation, _neuron_maps, _whiten, best_fastica


def reduced_stability(
    loadings: torch.Tensor,
    basis: torch.Tensor,
    reference: np.ndarray,
    *,
    over: str,
    seed: int,
    runs: int,
    max_iter: int = 400,
    tol: float = 1e-4,
    restarts: int = 3,
    fraction: float = 0.8,
) -> np.ndarray:
    """[k] median best-match |corr| of each `reference` map ([k x N]) over `runs` reruns, each on a random
    `fraction` of the rows of `loadings` ([T x l] = A_std @ basis, basis [N x l] orthonormal), as
    `Decomposition.stability`."""
    k, tokens = reference.shape[0], loadings.shape[0]
    scores = []
    for run in range(1, runs + 1):
        generator = torch.Generator().manual_seed(seed + 10_007 * run)
        rows = torch.randperm(tokens, generator=generator)[: int(tokens * fraction)].sort().values
        u, s, w = torch.linalg.svd(loadings[rows.to(loadings.device)].double(), full_matrices=False)
        u, s, v = u[:, :k].float(), s[:k].float(), (basis.double() @ w[:k].T).float()
        samples = u * len(rows) ** 0.5 if over == "tokens" else _whiten(v)
        unmixing, _, _ = best_fastica(samples, seed=seed + run, restarts=restarts, max_iter=max_iter, tol=tol)
        scores.append(_match_abs_correlation(reference, _neuron_maps(u, s, v, unmixing, over, len(rows))))
    return np.median(np.stack(scores), axis=0).astype(np.float32)
