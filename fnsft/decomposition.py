"""PCA + FastICA over a [tokens x neurons] matrix, neuron-map thresholds, and ICASSO-style stability.

One randomized SVD serves both ICA orientations:
- over="neurons" (spatial ICA, as fMRI does with voxels): neurons are the samples, so each component is a
  maximally non-Gaussian (sparse) map over neurons, with a time course over tokens;
- over="tokens" (temporal ICA, as the FunctionalNetworksSFT library does): tokens are the samples, each component
  has an independent time course, and its neuron map is the PCA basis times the ICA mixing.
FastICA runs on the k-dimensional reduced data only (symmetric decorrelation, logcosh contrast), in torch.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from .choices import ICA_ORIENTATIONS, THRESHOLD_RULES
from .errors import DecompositionError

logger = logging.getLogger(__name__)


@dataclass
class Decomposition:
    """Components ordered by explained variance, each map sign-corrected so its heavy tail is positive."""

    maps: np.ndarray  # [components, neurons]
    time_courses: np.ndarray  # [tokens, components]
    explained_variance_ratio: np.ndarray  # [components]
    pca_variance_ratio: float
    converged: bool
    iterations: int
    stability: np.ndarray | None = None  # [components], median best-match |corr| over reruns
    stability_runs: int = 0
    notes: list[str] = field(default_factory=list)


def standardize_(
    matrix: torch.Tensor, chunk: int = 8192, *, means_out: torch.Tensor | None = None
) -> torch.Tensor:
    """Centre and scale every column (neuron) over rows (tokens), in place; constant columns become 0.

    means_out (one value per column), when given, receives each column's mean before centring: the neuron
    means that mean-ablation sets a neuron to, at no extra pass over the matrix.
    """
    rows = matrix.shape[0]
    for start in range(0, matrix.shape[1], chunk):
        block = matrix[:, start : start + chunk]
        mean = block.mean(dim=0, keepdim=True)
        if means_out is not None:
            means_out[start : start + chunk] = mean[0]
        block -= mean
        std = block.pow(2).sum(dim=0, keepdim=True).div_(max(rows - 1, 1)).sqrt_()
        std[std < 1e-8] = 1.0
        block /= std
    return matrix


def _orthogonalize(weights: torch.Tensor) -> torch.Tensor:
    """Symmetric decorrelation W <- (W W^T)^-1/2 W."""
    eigenvalues, eigenvectors = torch.linalg.eigh(weights @ weights.T)
    eigenvalues = eigenvalues.clamp_min(1e-12)
    return eigenvectors @ torch.diag(eigenvalues.rsqrt()) @ eigenvectors.T @ weights


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """FastICA's many small products run faster on one CPU thread than on several contending ones."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def fastica(
    whitened: torch.Tensor, *, seed: int, max_iter: int = 400, tol: float = 1e-4
) -> tuple[torch.Tensor, bool, int]:
    """Unmixing matrix W ([k x k]) for whitened samples ([n x k]); sources are whitened @ W.T."""
    k = whitened.shape[1]
    generator = np.random.default_rng(seed)
    weights = torch.from_numpy(generator.standard_normal((k, k))).to(whitened.device, torch.float64)
    weights = _orthogonalize(weights)
    data = whitened.to(torch.float32)
    n = data.shape[0]
    for iteration in range(1, max_iter + 1):
        projected = data @ weights.T.to(torch.float32)
        g = torch.tanh(projected)
        g_prime_mean = (1.0 - g * g).mean(dim=0).to(torch.float64)
        updated = (g.T @ data).to(torch.float64) / n - g_prime_mean[:, None] * weights
        updated = _orthogonalize(updated)
        change = float((torch.abs(torch.einsum("ij,ij->i", updated, weights)) - 1).abs().max())
        weights = updated
        if change < tol:
            return weights, True, iteration
    return weights, False, max_iter


_GAUSSIAN_LOGCOSH = 0.374567  # E[log cosh(x)] for x ~ N(0, 1)


def negentropy(sources: torch.Tensor) -> float:
    """Summed logcosh negentropy approximation of unit-variance sources: higher is more independent."""
    contrast = torch.log(torch.cosh(sources.to(torch.float64))).mean(dim=0) - _GAUSSIAN_LOGCOSH
    return float((contrast**2).sum())


def best_fastica(whitened: torch.Tensor, *, seed: int, restarts: int, max_iter: int, tol: float):
    """FastICA from `restarts` random starts, keeping the most non-Gaussian solution.

    Symmetric FastICA can stop at a saddle point where two sources stay rotated into each other; a few restarts
    are cheap on reduced data and avoid it.
    """
    best = None
    threads = single_threaded() if whitened.device.type == "cpu" else contextlib.nullcontext()
    with threads:
        for restart in range(max(restarts, 1)):
            unmixing, converged, iterations = fastica(
                whitened, seed=seed * 7919 + restart, max_iter=max_iter, tol=tol
            )
            score = negentropy(whitened.to(torch.float64) @ unmixing.T)
            if best is None or score > best[0]:
                best = (score, unmixing, converged, iterations)
    return best[1], best[2], best[3]


def whitening(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(centred samples, the symmetric transform [k x k] that makes their covariance the identity)."""
    centred = samples - samples.mean(dim=0, keepdim=True)
    covariance = (centred.T @ centred).to(torch.float64) / centred.shape[0]
    eigenvalues, eigenvectors = torch.linalg.eigh(covariance)
    return centred, eigenvectors @ torch.diag(eigenvalues.clamp_min(1e-12).rsqrt()) @ eigenvectors.T


def _whiten(samples: torch.Tensor) -> torch.Tensor:
    """Centre columns and make their covariance the identity."""
    centred, transform = whitening(samples)
    return centred @ transform.to(centred.dtype)


def _skew_signs(maps: np.ndarray) -> np.ndarray:
    centred = maps - maps.mean(axis=1, keepdims=True)
    return np.where((centred**3).mean(axis=1) >= 0, 1.0, -1.0)


def _low_rank(
    matrix: torch.Tensor,
    rank: int,
    seed: int,
    rows: torch.Tensor | None = None,
    power_iterations: int = 2,
    oversample: int = 40,
):
    """Top `rank` singular triplets of matrix[rows] by randomized SVD (Halko et al.), deterministic for `seed`.

    Each pass over the matrix costs about the same for 30 or 60 probe columns (it is memory-bound), so a wide
    probe with 2 power iterations matches maps from 8 iterations (median |corr| 0.99 on the embedded model)
    faster than a narrow probe with 4. `rows` selects token rows without copying the matrix (stability reruns).
    """
    u, s, vt = range_factors(matrix, rank + oversample, seed, rows, power_iterations)
    return u[:, :rank], s[:rank], vt[:rank].T


def range_factors(
    matrix: torch.Tensor, width: int, seed: int, rows: torch.Tensor | None = None, power_iterations: int = 2
):
    """(u [T x w], s [w], vt [w x N]): the SVD of matrix[rows] within a randomized range of `width` probes; the
    top triplets are the randomized PCA's, and u s is the reduced matrix that reduced-data stability reruns."""
    generator = torch.Generator(device="cpu").manual_seed(seed)
    width = min(width, min(matrix.shape))
    weights = torch.ones(matrix.shape[0], 1, dtype=matrix.dtype, device=matrix.device)
    if rows is not None:
        weights.zero_()
        weights[rows] = 1.0
    probe = torch.randn(matrix.shape[1], width, generator=generator).to(matrix.device, matrix.dtype)
    basis = torch.linalg.qr((matrix @ probe) * weights).Q
    for _ in range(power_iterations):
        basis = torch.linalg.qr(matrix.T @ (basis * weights)).Q
        basis = torch.linalg.qr((matrix @ basis) * weights).Q
    small = (basis * weights).T @ matrix
    u_small, s, vt = torch.linalg.svd(small, full_matrices=False)
    u = basis @ u_small
    if rows is not None:
        u = u[rows]
    return u, s, vt


def _neuron_maps(u, s, v, unmixing, over: str, tokens: int) -> np.ndarray:
    """[k x N] neuron maps for one unmixing matrix."""
    unmixing = unmixing.to(torch.float32)
    if over == "tokens":
        return (
            ((unmixing @ torch.diag(s) @ v.T) / tokens**0.5).cpu().numpy()
        )  # the mixing: X ~= courses @ maps
    return (_whiten(v) @ unmixing.T).T.cpu().numpy()  # unit-variance independent neuron maps


def _time_courses(matrix, u, s, v, unmixing, maps: np.ndarray, over: str) -> np.ndarray:
    """[T x k] time courses: the independent sources (tokens) or least-squares loadings of the maps (neurons).

    With matrix=None (streaming discovery keeps no matrix) the loadings come from the factors u s v^T instead.
    """
    tokens, neurons = u.shape[0], v.shape[0]
    if over == "tokens":
        return ((u * tokens**0.5) @ unmixing.to(torch.float32).T).cpu().numpy()
    maps_t = torch.from_numpy(maps).to(v.device, v.dtype)
    if matrix is None:
        return (((u * s) @ (v.T @ maps_t.T)) / neurons).cpu().numpy()
    return ((matrix @ maps_t.T) / neurons).cpu().numpy()  # maps are orthogonal with norm sqrt(N)


def _match_abs_correlation(reference: np.ndarray, other: np.ndarray) -> np.ndarray:
    """For each reference map, |corr| with its partner in a one-to-one (Hungarian) matching."""
    a = reference - reference.mean(axis=1, keepdims=True)
    b = other - other.mean(axis=1, keepdims=True)
    a /= np.linalg.norm(a, axis=1, keepdims=True) + 1e-12
    b /= np.linalg.norm(b, axis=1, keepdims=True) + 1e-12
    similarity = np.abs(a @ b.T)
    rows, cols = linear_sum_assignment(-similarity)
    matched = np.zeros(len(reference))
    matched[rows] = similarity[rows, cols]
    return matched


def decompose(
    matrix: torch.Tensor,
    n_components: int,
    *,
    over: str = "neurons",
    seed: int = 0,
    max_iter: int = 400,
    tol: float = 1e-4,
    stability_runs: int = 0,
    restarts: int = 3,
    power_iterations: int = 2,
    device: str | torch.device | None = None,
) -> Decomposition:
    """Standardised [tokens x neurons] matrix -> ordered, sign-corrected components.

    stability_runs > 0 re-runs PCA + ICA that many times, each with a new seed on a random 80% of the tokens
    (drawn without replacement), and scores each component by the median |correlation| of its best one-to-one
    match (ICASSO's idea).
    """
    if over not in ICA_ORIENTATIONS:
        raise ValueError(f"over={over!r} is not supported; use one of {ICA_ORIENTATIONS}.")
    tokens, neurons = matrix.shape
    if n_components < 2 or n_components >= min(tokens, neurons):
        raise DecompositionError(
            f"n_components={n_components} needs 2 <= n_components < min(tokens, neurons) = {min(tokens, neurons)}; "
            "capture more tokens or ask for fewer components."
        )
    work = matrix.to(device) if device is not None else matrix
    u, s, v = _low_rank(work, n_components, seed, power_iterations=power_iterations)
    result = decompose_factors(
        u,
        s,
        v,
        float(work.pow(2).sum()),
        over=over,
        seed=seed,
        max_iter=max_iter,
        tol=tol,
        restarts=restarts,
        matrix=work,
    )
    if stability_runs > 0:
        result.stability = _stability(
            work, over, result.maps, seed, stability_runs, max_iter, tol, restarts, power_iterations
        )
        result.stability_runs = stability_runs
    return result


def decompose_factors(
    u: torch.Tensor,
    s: torch.Tensor,
    v: torch.Tensor,
    total_variance: float,
    *,
    over: str,
    seed: int,
    max_iter: int,
    tol: float,
    restarts: int,
    matrix: torch.Tensor | None = None,
) -> Decomposition:
    """Top-k factors (u [T x k], s [k], v [N x k]) of the standardised matrix -> ordered, sign-corrected
    components; shared by the in-memory path and streaming discovery (which passes matrix=None)."""
    tokens = u.shape[0]
    pca_ratio = float(s.pow(2).sum()) / max(total_variance, 1e-12)
    samples = u * tokens**0.5 if over == "tokens" else _whiten(v)
    unmixing, converged, iterations = best_fastica(
        samples, seed=seed, restarts=restarts, max_iter=max_iter, tol=tol
    )
    notes = []
    if not converged:
        notes.append(
            f"FastICA did not converge in {max_iter} iterations (tol={tol}); components may be unreliable: "
            "capture more tokens, ask for fewer components or raise max_iter."
        )
        logger.warning(notes[-1])
    maps = _neuron_maps(u, s, v, unmixing, over, tokens)
    courses = _time_courses(matrix, u, s, v, unmixing, maps, over)
    signs = _skew_signs(maps)
    maps *= signs[:, None]
    courses *= signs[None, :]
    energy = (courses**2).sum(axis=0) * (maps**2).sum(axis=1)
    order = np.argsort(-energy, kind="stable")
    return Decomposition(
        maps=maps[order].astype(np.float32),
        time_courses=courses[:, order].astype(np.float32),
        explained_variance_ratio=(energy[order] / max(total_variance, 1e-12)).astype(np.float32),
        pca_variance_ratio=pca_ratio,
        converged=converged,
        iterations=iterations,
        notes=notes,
    )


def _stability(
    work, over, reference, seed, runs, max_iter, tol, restarts, power_iterations, fraction=0.8
) -> np.ndarray:
    """Median best-match |corr| of each reference map over reruns on random 80% subsets of the tokens."""
    scores = []
    tokens = work.shape[0]
    for run in range(1, runs + 1):
        generator = torch.Generator().manual_seed(seed + 10_007 * run)
        rows = torch.randperm(tokens, generator=generator)[: int(tokens * fraction)].sort().values
        u, s, v = _low_rank(
            work, reference.shape[0], seed + run, rows=rows.to(work.device), power_iterations=power_iterations
        )
        samples = u * len(rows) ** 0.5 if over == "tokens" else _whiten(v)
        unmixing, _, _ = best_fastica(samples, seed=seed + run, restarts=restarts, max_iter=max_iter, tol=tol)
        maps = _neuron_maps(u, s, v, unmixing, over, len(rows))
        scores.append(_match_abs_correlation(reference, maps))
    return np.median(np.stack(scores), axis=0).astype(np.float32)


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


def split_by_layer(flat_ids: np.ndarray, widths: Sequence[int]) -> dict[int, np.ndarray]:
    """Global neuron ids (over the layers laid end to end) as {layer: ids within that layer}."""
    offsets = np.concatenate([[0], np.cumsum(widths)])
    layers = np.searchsorted(offsets, flat_ids, side="right") - 1
    return {int(layer): flat_ids[layers == layer] - offsets[layer] for layer in np.unique(layers)}


def threshold_networks(
    maps: np.ndarray, widths: Sequence[int], rule: str, value: float
) -> tuple[list[dict[int, np.ndarray]], dict]:
    """(neuron sets per component, the threshold record): every map thresholded (`threshold_map`) and split by
    layer. The record names the networks left empty, which are also logged as a warning."""
    neurons = [split_by_layer(threshold_map(weights, rule, value), widths) for weights in maps]
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
