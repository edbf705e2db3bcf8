"""PCA + FastICA over a [tokens x neurons] matrix, and ICASSO-style stability on the reduced data.

One randomized SVD serves both ICA orientations:
- over="neurons" (spatial ICA, as fMRI does with voxels): neurons are the samples, so each component is a
  maximally non-Gaussian (sparse) map over neurons, with a time course over tokens;
- over="tokens" (temporal ICA, as the FunctionalNetworksSFT library does): tokens are the samples, each component
  has an independent time course, and its neuron map is the PCA basis times the ICA mixing.
FastICA (`fnsft.discovery._fastica`) runs on the k-dimensional reduced data only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..choices import ICA_ORIENTATIONS
from ..errors import DecompositionError
from ..networks._matching import assign, signed_correlations
from ._fastica import best_fastica, whiten
from ._randomized_pca import POWER_ITERATIONS, PROBE_WIDTH, float32_row_blocks, product, range_factors
from ._solo_threads import map_in_one_thread_each

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
    matrix_dtype: str = (
        "float32"  # the stored matrix's (fnsft.models._devices.matrix_dtype); a sketch is float32
    )
    consensus: bool = False  # maps averaged over the stability reruns (`with_consensus`)


def decomposition_record(result: Decomposition) -> dict:
    """What a decomposition did (its settings are recorded apart, whole): written to templates."""
    return {
        "method": f"randomized PCA ({POWER_ITERATIONS} power iteration, {PROBE_WIDTH} probes) + symmetric FastICA "
        "(logcosh)",
        "converged": result.converged,
        "iterations": result.iterations,
        "pca_variance_ratio": result.pca_variance_ratio,
        "matrix_dtype": result.matrix_dtype,
        "stability_runs": result.stability_runs,
        "consensus": result.consensus,
        "notes": result.notes,
    }


def standardize_(
    matrix: torch.Tensor, chunk: int = 1024, *, means_out: torch.Tensor | None = None
) -> torch.Tensor:
    """Centre and scale every column (neuron) over rows (tokens), in place; constant columns become 0.

    Statistics are computed in float32 whatever the matrix's dtype; a bfloat16 block is standardised as a
    float32 copy and written back, in 1,024-column blocks (half the time of 8,192-column ones, measured on a
    4,096 x 46,080 bfloat16 matrix). On a CPU the blocks go to single-threaded workers side by side (`fnsft.discovery._solo_threads`). means_out (one value per column), when given, receives each column's mean before centring: the
    neuron means that mean-ablation sets a neuron to, at no extra pass over the matrix.
    """
    rows = matrix.shape[0]

    def one_block(start: int) -> None:
        block = matrix[:, start : start + chunk]
        work = block.float()  # the block itself when the matrix is float32
        mean = work.mean(dim=0, keepdim=True)
        if means_out is not None:
            means_out[start : start + chunk] = mean[0]
        work -= mean
        std = work.pow(2).sum(dim=0, keepdim=True).div_(max(rows - 1, 1)).sqrt_()
        std[std < 1e-8] = 1.0
        work /= std
        if work.data_ptr() != block.data_ptr():
            block.copy_(work)

    starts = range(0, matrix.shape[1], chunk)
    if (
        matrix.device.type == "cpu"
    ):  # whole blocks per single-threaded worker: 1.4 s where 2 threads took 7.2 s
        map_in_one_thread_each(one_block, starts)
    else:
        for start in starts:
            one_block(start)
    return matrix


def _sum_of_squares(matrix: torch.Tensor, rows: int = 1024) -> float:
    """The matrix's squared Frobenius norm from its row norms (each a float32 sum over one token's neurons,
    then added in float64): one float32 norm over all 4,096 x 46,080 entries of the embedded model's matrix
    came out 5.4% low; per-row norms agree with a float64 sum within 1e-6 and take 0.07 s there. A bfloat16
    matrix is read in float32 blocks (a float32 norm of bfloat16 rows took 0.43 s for 3,000 x 46,080 on a CPU
    without bfloat16 hardware)."""
    return sum(
        float(torch.linalg.vector_norm(block, dim=1).double().pow(2).sum())
        for _, block in float32_row_blocks(matrix, rows)
    )


def _skew_signs(maps: np.ndarray) -> np.ndarray:
    centred = maps - maps.mean(axis=1, keepdims=True)
    return np.where((centred**3).mean(axis=1) >= 0, 1.0, -1.0)


def _neuron_maps(u, s, v, unmixing, over: str, tokens: int) -> np.ndarray:
    """[k x N] neuron maps for one unmixing matrix."""
    unmixing = unmixing.to(torch.float32)
    if over == "tokens":
        return (
            ((unmixing @ torch.diag(s) @ v.T) / tokens**0.5).cpu().numpy()
        )  # the mixing: X ~= courses @ maps
    return (whiten(v) @ unmixing.T).T.cpu().numpy()  # unit-variance independent neuron maps


def time_courses_of(matrix, u, s, v, unmixing, maps: np.ndarray, over: str) -> np.ndarray:
    """[T x k] time courses: the independent sources (tokens) or least-squares loadings of the maps (neurons).

    With matrix=None (streaming discovery keeps no matrix) the loadings come from the factors u s v^T instead.
    """
    tokens, neurons = u.shape[0], v.shape[0]
    if over == "tokens":
        return ((u * tokens**0.5) @ unmixing.to(torch.float32).T).cpu().numpy()
    maps_t = torch.from_numpy(maps).to(v.device, v.dtype)
    if matrix is None:
        return (((u * s) @ (v.T @ maps_t.T)) / neurons).cpu().numpy()
    courses = product(matrix, maps_t.T) / neurons  # the maps are orthogonal with norm sqrt(N)
    return courses.cpu().numpy()


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
    consensus: bool = False,
    device: str | torch.device | None = None,
    progress: Callable[[str, float], None] | None = None,
    probes: int = PROBE_WIDTH,
    power_iterations: int = POWER_ITERATIONS,
) -> Decomposition:
    """Standardised [tokens x neurons] matrix -> ordered, sign-corrected components.

    probes and power_iterations set the randomized PCA (`range_factors`); the defaults are the recipe's
    (`benchmarks/probe_width.py` measures what fewer probes cost in accuracy).

    stability_runs > 0 scores each component by its reruns on the randomized range's loadings (`rerun_maps`);
    consensus (spatial ICA) then replaces each map by its mean over the reruns. progress("stability", 0.0) marks
    where the reruns start.
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
    u, s, vt = range_factors(work, max(probes, n_components + 40), seed, power_iterations)
    common = {"over": over, "seed": seed, "max_iter": max_iter, "tol": tol, "restarts": restarts}
    k = n_components
    total_variance = _sum_of_squares(work)
    consensus = consensus and over == "neurons" and stability_runs > 0
    # consensus maps get their own time courses from the matrix below; the first maps' only order the reruns'
    # reference, so they come from the factors (a pass over the matrix saved: 0.14 s at 3,000 tokens)
    first_courses_from = None if consensus else work
    result = decompose_factors(u[:, :k], s[:k], vt[:k].T, total_variance, matrix=first_courses_from, **common)
    if stability_runs > 0:
        if progress is not None:
            progress("stability", 0.0)
        scores, maps = rerun_maps(u * s, vt.T, result.maps, runs=stability_runs, **common)
        result.stability, result.stability_runs = np.median(scores, axis=0).astype(np.float32), stability_runs
        if consensus:
            courses = time_courses_of(work, u, s, vt.T, None, maps, over)
            result = with_consensus(result, maps, courses, total_variance)
    result.matrix_dtype = str(matrix.dtype).removeprefix("torch.")
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
    samples = u * tokens**0.5 if over == "tokens" else whiten(v)
    solution = best_fastica(samples, seed=seed, restarts=restarts, max_iter=max_iter, tol=tol)
    unmixing, converged, iterations = solution.unmixing, solution.converged, solution.iterations
    notes = []
    if not converged:
        notes.append(
            f"FastICA did not converge in {max_iter} iterations (tol={tol}); components may be unreliable: "
            "capture more tokens, ask for fewer components or raise max_iter."
        )
        logger.warning(notes[-1])
    maps = _neuron_maps(u, s, v, unmixing, over, tokens)
    courses = time_courses_of(matrix, u, s, v, unmixing, maps, over)
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


def reduced_stability(
    loadings: torch.Tensor, basis: torch.Tensor, reference: np.ndarray, **rerun_settings
) -> np.ndarray:
    """[k] ICASSO-style stability (Himberg, Hyvarinen & Esposito 2004) of each `reference` map ([k x N]): the
    median, over the reruns, of its |corr| with its one-to-one (Hungarian) match. `rerun_settings` are
    `rerun_maps`'s (over, seed, runs, ...)."""
    scores, _ = rerun_maps(loadings, basis, reference, **rerun_settings)
    return np.median(scores, axis=0).astype(np.float32)


def rerun_maps(
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
) -> tuple[np.ndarray, np.ndarray]:
    """([runs x k] |corr| of each reference map with its match in each rerun, [k x N] consensus maps).

    Each rerun takes a random `fraction` of the tokens of the reduced matrix `loadings` ([T x l] = A_std @
    basis, basis [N x l] orthonormal: the randomized range's, or the streaming sketch's), and redoes the SVD
    (of [0.8 T x l], not a randomized SVD over all neurons) and the FastICA with a new seed. Resampling the
    tokens is what finds the components that do not reproduce; bootstrapping only the ICA's samples flagged
    none where PCA reruns flagged 7 of 20 (`benchmarks/stability_agreement.py` compares the two).
    The consensus map of a component is the mean of the reference and its sign-aligned matches (bagging, the
    centrotype idea of ICASSO): on the embedded model it made networks come back better on other texts.
    """
    k, tokens = reference.shape[0], loadings.shape[0]
    loadings = loadings.double()

    def rerun(run: int) -> np.ndarray:
        """The maps of one rerun, on one CPU thread: the reruns run side by side (`fnsft.discovery._solo_threads`)."""
        generator = torch.Generator().manual_seed(seed + 10_007 * run)
        rows = torch.randperm(tokens, generator=generator)[: int(tokens * fraction)].sort().values
        u, s, w = torch.linalg.svd(loadings[rows.to(loadings.device)], full_matrices=False)
        u, s, v = u[:, :k].float(), s[:k].float(), basis @ w[:k].T.float()
        samples = u * len(rows) ** 0.5 if over == "tokens" else whiten(v)
        unmixing = best_fastica(
            samples, seed=seed + run, restarts=restarts, max_iter=max_iter, tol=tol
        ).unmixing
        return _neuron_maps(u, s, v, unmixing, over, len(rows))

    on_cpu = loadings.device.type == "cpu"
    reruns = range(1, runs + 1)
    found = map_in_one_thread_each(rerun, reruns) if on_cpu else [rerun(run) for run in reruns]
    scores, total = [], reference.astype(np.float64).copy()
    for maps in found:
        partners, signed = _signed_matches(reference, maps)
        scores.append(np.abs(signed))
        total += maps[partners] * np.sign(signed)[:, None]
    return np.stack(scores) if scores else np.zeros((0, k)), (total / (runs + 1)).astype(np.float32)


def _signed_matches(reference: np.ndarray, other: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each reference map, the index of its one-to-one match in `other` (Hungarian on |corr|) and their
    signed correlation."""
    similarity = signed_correlations(reference, other)
    partners = np.zeros(len(reference), dtype=np.int64)
    for row, col in assign(np.abs(similarity)).items():
        partners[row] = col
    return partners, similarity[np.arange(len(reference)), partners]


def with_consensus(result: Decomposition, consensus: np.ndarray, courses: np.ndarray, total_variance: float):
    """`result` with its maps replaced by their consensus (spatial ICA) and the time courses and variance that go
    with them, reordered by explained variance."""
    energy = (courses**2).sum(axis=0) * (consensus**2).sum(axis=1)
    order = np.argsort(-energy, kind="stable")
    result.maps = consensus[order].astype(np.float32)
    result.time_courses = courses[:, order].astype(np.float32)
    result.explained_variance_ratio = (energy[order] / max(total_variance, 1e-12)).astype(np.float32)
    if result.stability is not None:
        result.stability = result.stability[order]
    result.consensus = True
    return result
