"""The randomized PCA of the in-memory [tokens x neurons] matrix, and the products over that matrix.

At 3,000 tokens of the embedded model this is most of a decomposition's own cost: four products of the
[3,000 x 46,080] matrix with 200 probes, each bound by arithmetic on a 2-core CPU (about 0.5 s each on an AMD
EPYC), so the work around them is kept to what the method needs.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import torch

from ..models._devices import cpu_has_native_bf16
from ._solo_threads import in_one_thread

PROBE_WIDTH = 200  # randomized range width: the PCA's probes, and the directions stability reruns keep
POWER_ITERATIONS = 1
_UPCAST_BLOCK = 1 << 24  # float32 elements per upcast block (64 MB)
# the largest s1 / sw for which the wide SVD goes through the Gram matrix (error <= 1e-4)
_GRAM_CONDITION = 30.0


@functools.cache
def _bfloat16_in_software() -> bool:
    return not cpu_has_native_bf16()


def product(matrix: torch.Tensor, other: torch.Tensor, *, transposed: bool = False) -> torch.Tensor:
    """matrix @ other (matrix.T @ other when transposed), computed in the matrix's dtype and returned in float32
    for the QR and SVD.

    bfloat16 halves the bytes the products read where the CPU multiplies it in hardware. Where it does not, torch
    multiplies bfloat16 in software: 55 s for [3,000 x 46,080] @ [46,080 x 200] on an AMD EPYC, against 0.46 s in
    float32. There the matrix is upcast a block at a time (`_upcast_product`: it keeps its halved memory), and the
    product is what the hardware computes: `other` rounded to bfloat16, products accumulated in float32, the
    result rounded to bfloat16, so a seed gives the same networks on the bfloat16 path of either CPU kind.
    """
    dtype = matrix.dtype
    other = other.to(dtype)
    if dtype == torch.bfloat16 and matrix.device.type == "cpu" and _bfloat16_in_software():
        return _upcast_product(matrix, other.float(), transposed).bfloat16().float()
    return ((matrix.T if transposed else matrix) @ other).float()


def _upcast_product(matrix: torch.Tensor, other: torch.Tensor, transposed: bool) -> torch.Tensor:
    """The product of a bfloat16 matrix and a float32 `other`, a block of the matrix's rows at a time
    (`float32_row_blocks`); transposed, the blocks' products are summed."""
    out = torch.zeros(matrix.shape[1] if transposed else matrix.shape[0], other.shape[1])
    for start, block in float32_row_blocks(matrix):
        if transposed:
            out.addmm_(block.T, other[start : start + len(block)])
        else:
            torch.matmul(block, other, out=out[start : start + len(block)])
    return out


def float32_row_blocks(matrix: torch.Tensor, rows: int = 0) -> Iterator[tuple[int, torch.Tensor]]:
    """(first row, block) over the matrix, each block float32: a view of a float32 matrix, otherwise a copy into
    one reused buffer (a fresh float32 copy of a whole bfloat16 [3,000 x 46,080] matrix took 0.30 s to allocate
    and fill, copies into a reused buffer 0.05 s). rows=0: blocks of about 64 MB."""
    step = rows or max(1, _UPCAST_BLOCK // max(matrix.shape[1], 1))
    buffer = None
    if matrix.dtype != torch.float32:
        buffer = torch.empty(min(step, matrix.shape[0]), matrix.shape[1], device=matrix.device)
    for start in range(0, matrix.shape[0], step):
        block = matrix[start : start + step]
        yield start, block if buffer is None else buffer[: len(block)].copy_(block)


def range_factors(matrix: torch.Tensor, width: int, seed: int, power_iterations: int = POWER_ITERATIONS):
    """(u [T x w], s [w], vt [w x N]): the SVD of the matrix within a randomized range of `width` probes
    (Halko, Martinsson & Tropp 2011), deterministic for `seed`.

    The top triplets are the randomized PCA's; u s, the [T x w] loadings on the w directions vt, is the reduced
    matrix that `reduced_stability` reruns. On the embedded model (4,096 tokens) 200 probes with one power
    iteration put the top 20 closer to the exact SVD's (neuron maps after ICA: median |corr| 0.997, min 0.990) than
    60 probes with two (0.993, 0.977), in less time than two iterations of 200 (0.9999).

    Only the token-side blocks are orthonormalised. The neuron-side one, X^T Q with Q orthonormal, goes straight
    into X (X^T Q): that squares only the matrix's own condition within the range (its 1st / 200th singular value
    is 5.3 on the embedded model), and saves a [46,080 x 200] QR (0.25 s) per iteration. Each singular pair is
    then signed canonically (`_signed`), so that the factors, and the FastICA that starts from them, do not depend
    on the signs a QR or SVD routine happens to pick.
    """
    generator = torch.Generator(device="cpu").manual_seed(seed)
    width = min(width, min(matrix.shape))
    probe = torch.randn(matrix.shape[1], width, generator=generator).to(matrix.device)
    basis = _orthonormal(product(matrix, probe))
    for _ in range(power_iterations):
        basis = _orthonormal(product(matrix, product(matrix, basis, transposed=True)))
    u_small, s, vt = _svd_of_transpose(product(matrix, basis, transposed=True))  # X^T Q: 0.52 s, Q^T X 0.62 s
    u, vt = _signed(basis @ u_small, vt)
    return u, s, vt


def _orthonormal(block: torch.Tensor) -> torch.Tensor:
    """Q of the QR of a thin block: on one CPU thread (`fnsft.discovery._solo_threads`), where a [4,096 x 200] QR was
    measured 14-200x faster than on two threads of a busy machine."""
    if block.device.type != "cpu":
        return torch.linalg.qr(block).Q
    return in_one_thread(torch.linalg.qr, block).Q


def _svd_of_transpose(tall: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(u, s, vt) of the wide [w x N] block tall.T.

    On a CPU, from the eigenvectors of the small Gram matrix tall^T tall: 0.10 s for [46,080 x 200] on an AMD EPYC,
    against 0.44 s for the QR of tall and the SVD of its R. The Gram matrix squares the block's condition, so its
    directions are orthonormal within about 1e-7 (s1 / sw)^2 in float32; where s1 / sw exceeds _GRAM_CONDITION (a
    nearly rank-deficient block: never on the embedded model, where it is 5.3) the QR route is taken instead, on
    one CPU thread, where it was measured 3.5-6.5x faster than torch.linalg.svd on a busy 2-core machine.
    """
    if tall.device.type != "cpu":
        return torch.linalg.svd(tall.T, full_matrices=False)
    eigenvalues, eigenvectors = in_one_thread(torch.linalg.eigh, (tall.T @ tall).double())
    s = eigenvalues.flip(0).clamp_min(0).sqrt()
    if 0 < s[0] <= s[-1] * _GRAM_CONDITION:  # (an all-zero block, s1 = 0, takes the QR route)
        u = eigenvectors.flip(1)
        return u.float(), s.float(), (tall @ (u / s).float()).T
    q, r = in_one_thread(torch.linalg.qr, tall)
    u, s, wt = in_one_thread(torch.linalg.svd, r.T)
    return u, s, (q @ wt.T).T


def _signed(u: torch.Tensor, vt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each singular pair flipped so that the largest |entry| of its token loadings u is positive (u is the
    smaller factor: [3,000 x 200] against vt's [200 x 46,080])."""
    signs = torch.sign(u.gather(0, u.abs().argmax(dim=0, keepdim=True))).squeeze(0)
    signs[signs == 0] = 1.0
    return u * signs, vt * signs[:, None]
