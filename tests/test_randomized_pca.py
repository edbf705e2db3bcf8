"""The randomized PCA's factors and the products over the discovery matrix, on either matrix dtype."""

from __future__ import annotations

import pytest
import torch

from fnsft.discovery import _randomized_pca
from fnsft.discovery._decomposition import _sum_of_squares
from fnsft.discovery._randomized_pca import _svd_of_transpose, product, range_factors


def low_rank(tokens: int = 300, neurons: int = 500, rank: int = 12, seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    left, right = (
        torch.randn(tokens, rank, generator=generator),
        torch.randn(rank, neurons, generator=generator),
    )
    return left @ right + 0.01 * torch.randn(tokens, neurons, generator=generator)


@pytest.mark.parametrize("transposed", [False, True])
def test_bfloat16_products_are_the_same_with_and_without_bfloat16_hardware(monkeypatch, transposed):
    # without bfloat16 hardware the matrix is upcast in row blocks (7 rows here, so 300 rows end in a partial
    # block); either way: the rounded operands' exact product rounded to bfloat16, within half a unit of it
    # (2^-8 relative) plus float32 accumulation (atol, for sums that cancel to near zero)
    monkeypatch.setattr(_randomized_pca, "_UPCAST_BLOCK", 7 * 500)
    matrix = low_rank().bfloat16()
    other = torch.randn(300 if transposed else 500, 9, generator=torch.Generator().manual_seed(5))
    exact = ((matrix.double().T if transposed else matrix.double()) @ other.bfloat16().double()).float()
    found = {}
    for in_software in (True, False):
        monkeypatch.setattr(
            _randomized_pca, "_bfloat16_in_software", lambda in_software=in_software: in_software
        )
        found[in_software] = product(matrix, other, transposed=transposed)
        assert found[in_software].dtype == torch.float32
        torch.testing.assert_close(found[in_software], exact, rtol=2**-7, atol=1e-2)
        assert torch.equal(found[in_software].bfloat16().float(), found[in_software])  # bfloat16 values
    torch.testing.assert_close(found[True], found[False], rtol=2**-6, atol=1e-2)


def test_sum_of_squares_reads_a_bfloat16_matrix_in_float32_blocks():
    matrix = low_rank().bfloat16()
    expected = float(matrix.double().pow(2).sum())
    assert _sum_of_squares(matrix, rows=64) == pytest.approx(expected, rel=1e-6)
    assert _sum_of_squares(matrix.float(), rows=64) == pytest.approx(expected, rel=1e-6)


def test_range_factors_are_the_svd_within_the_range_with_canonical_signs():
    matrix = low_rank()
    u, s, vt = range_factors(matrix, 40, seed=0)
    exact = torch.linalg.svdvals(matrix.double())
    torch.testing.assert_close(s[:12].double(), exact[:12], rtol=1e-5, atol=0)
    torch.testing.assert_close(u.T @ u, torch.eye(40), atol=1e-4, rtol=0)
    torch.testing.assert_close(vt @ vt.T, torch.eye(40), atol=1e-4, rtol=0)
    torch.testing.assert_close(u[:, :12] * s[:12] @ vt[:12], matrix, atol=0.1, rtol=0)
    # each pair is signed so that the largest |entry| of u is positive: the same factors from another seed
    largest = u.gather(0, u.abs().argmax(dim=0, keepdim=True))
    assert bool((largest > 0).all())
    other_u, _, other_vt = range_factors(matrix, 40, seed=1)
    torch.testing.assert_close(other_u[:, :12], u[:, :12], atol=1e-3, rtol=0)
    torch.testing.assert_close(other_vt[:12], vt[:12], atol=1e-3, rtol=0)


@pytest.mark.parametrize("spread", [2.0, 1e4])
def test_the_wide_svd_is_exact_through_either_route(spread):
    # s1 / sw of 2 goes through the Gram matrix, of 1e4 (nearly rank-deficient) through the QR
    generator = torch.Generator().manual_seed(0)
    left = torch.linalg.qr(torch.randn(2000, 20, generator=generator)).Q
    right = torch.linalg.qr(torch.randn(20, 20, generator=generator)).Q
    values = torch.logspace(0, -torch.log10(torch.tensor(spread)).item(), 20)
    tall = (left * values) @ right.T
    u, s, vt = _svd_of_transpose(tall)
    torch.testing.assert_close(s, values, rtol=1e-4, atol=0)
    torch.testing.assert_close(vt @ vt.T, torch.eye(20), atol=1e-4, rtol=0)
    torch.testing.assert_close((u * s) @ vt, tall.T, atol=1e-5, rtol=0)


def test_the_wide_svd_of_an_all_zero_block_is_finite():
    # every neuron constant: the standardised matrix is all zeros, and the Gram route would divide by s = 0
    u, s, vt = _svd_of_transpose(torch.zeros(500, 8))
    assert torch.equal(s, torch.zeros(8))
    assert bool(torch.isfinite(u).all() and torch.isfinite(vt).all())
