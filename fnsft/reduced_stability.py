"""Stability of ICA components from the PCA-reduced data alone: ICASSO-style reruns (Himberg, Hyvärinen &
Esposito 2004) that bootstrap the ICA samples and draw new FastICA seeds, without redoing the PCA.

Each rerun costs one FastICA on [samples x k] data instead of a randomized SVD over [tokens x neurons], and it
needs no stored matrix, so streaming discovery can score its components too. A component is scored by the median,
over reruns, of its |correlation| with its one-to-one (Hungarian) match.
"""

from __future__ import annotations

import numpy as np
import torch

from .decomposition import _match_abs_correlation, best_fastica, whitening


def _rerun_maps(samples, s, v, unmixing, transform, over: str) -> np.ndarray:
    """[k x N] neuron maps of one rerun, for all samples (not only the resampled ones)."""
    if over == "tokens":  # the mixing: X = u s v^T = sources @ (W T^-1 s v^T / sqrt(T))
        mixing = unmixing @ torch.linalg.inv(transform) @ torch.diag(s.double()) @ v.double().T
        return (mixing / samples.shape[0] ** 0.5).float().cpu().numpy()
    return (samples.double() @ transform @ unmixing.T).T.float().cpu().numpy()


def reduced_stability(
    u: torch.Tensor,
    s: torch.Tensor,
    v: torch.Tensor,
    reference: np.ndarray,
    *,
    over: str,
    seed: int,
    runs: int,
    max_iter: int = 400,
    tol: float = 1e-4,
    restarts: int = 3,
) -> np.ndarray:
    """[k] median best-match |corr| of each `reference` map over `runs` bootstrap + new-seed ICA reruns on the
    reduced samples (tokens: u sqrt(T); neurons: whitened v), as `Decomposition.stability`."""
    whitened_all, transform_all = whitening(u * u.shape[0] ** 0.5 if over == "tokens" else v)
    samples = whitened_all @ transform_all.to(whitened_all.dtype)  # as decompose's ICA samples
    scores = []
    for run in range(1, runs + 1):
        generator = torch.Generator().manual_seed(seed + 10_007 * run)
        picked = torch.randint(0, samples.shape[0], (samples.shape[0],), generator=generator)
        centred, transform = whitening(samples[picked])
        unmixing, _, _ = best_fastica(
            centred @ transform.to(centred.dtype),
            seed=seed + run,
            restarts=restarts,
            max_iter=max_iter,
            tol=tol,
        )
        if over == "tokens":  # the rerun's sources are expressed in the reference basis u
            transform = transform_all @ transform
        maps = _rerun_maps(samples if over == "neurons" else u, s, v, unmixing, transform, over)
        scores.append(_match_abs_correlation(reference, maps))
    return np.median(np.stack(scores), axis=0).astype(np.float32)
