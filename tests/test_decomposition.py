"""PCA + ICA recovers planted sparse networks; thresholds, determinism and non-convergence reporting."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fnsft.discovery._decomposition import decompose, rerun_maps, standardize_
from fnsft.discovery._randomized_pca import range_factors
from fnsft.discovery._thresholds import category_response, threshold_map
from fnsft.errors import DecompositionError
from fnsft.networks import matched_correlations


def planted(tokens: int = 1500, neurons: int = 3000, k: int = 6, seed: int = 0):
    """Tokens x neurons data made of k sparse neuron maps with non-Gaussian time courses, plus noise."""
    rng = np.random.default_rng(seed)
    maps = rng.laplace(size=(k, neurons)) * (rng.random((k, neurons)) < 0.05)
    courses = rng.laplace(size=(tokens, k))
    data = courses @ maps + 0.1 * rng.standard_normal((tokens, neurons))
    reference = maps / data.std(axis=0)  # the maps as they look after per-neuron standardisation
    return torch.tensor(data, dtype=torch.float32), reference, courses


@pytest.mark.parametrize("over", ["neurons", "tokens"])
def test_recovers_planted_maps(over):
    data, reference, _ = planted()
    result = decompose(standardize_(data), 6, over=over, seed=0, stability_runs=2)
    assert result.converged
    assert matched_correlations(reference, result.maps).min() > 0.97
    assert result.stability.min() > 0.95
    assert np.all(np.diff(result.explained_variance_ratio) <= 1e-7)  # ordered strongest first
    skew = ((result.maps - result.maps.mean(1, keepdims=True)) ** 3).mean(1)
    assert np.all(skew > 0)  # heavy tail made positive


def test_standardize_centres_and_scales_and_keeps_constant_columns_finite():
    data = torch.randn(200, 5) * torch.tensor([1.0, 2, 3, 4, 5]) + 7
    data[:, 2] = 3.0
    standardize_(data)
    assert torch.allclose(data.mean(0), torch.zeros(5), atol=1e-5)
    assert torch.allclose(data[:, [0, 1, 3, 4]].std(0), torch.ones(4), atol=1e-4)
    assert torch.equal(data[:, 2], torch.zeros(200))


def test_variance_ratios_of_a_large_matrix_are_exact():
    """A rank-5 matrix of 20 million entries: 5 components explain all of it (a float32 norm made it 1.002)."""
    generator = torch.Generator().manual_seed(0)
    data = torch.randn(4096, 5, generator=generator) @ torch.randn(5, 5000, generator=generator)
    result = decompose(standardize_(data), 5, seed=0)
    assert result.pca_variance_ratio == pytest.approx(1.0, abs=1e-5)
    assert result.explained_variance_ratio.sum() == pytest.approx(1.0, abs=1e-3)  # maps centred by whitening


def test_a_bfloat16_matrix_gives_the_float32_networks():
    """The in-memory matrix is bfloat16 on CPUs that multiply it in hardware: same maps, same courses."""
    data, _, _ = planted(seed=3)
    means = torch.empty(data.shape[1])
    exact = decompose(standardize_(data.clone()), 6, seed=0, stability_runs=2)
    halved = standardize_(data.bfloat16(), means_out=means)
    assert halved.dtype == torch.bfloat16
    assert torch.allclose(means, data.mean(0), atol=1e-2)
    assert halved.float().mean(0).abs().max() < 1e-2 and (halved.float().std(0) - 1).abs().max() < 1e-2
    result = decompose(halved, 6, seed=0, stability_runs=2)
    assert result.matrix_dtype == "bfloat16" and exact.matrix_dtype == "float32"
    assert matched_correlations(exact.maps, result.maps).min() > 0.999
    courses = np.corrcoef(exact.time_courses.T, result.time_courses.T)[:6, 6:]
    assert np.abs(courses).max(axis=1).min() > 0.999
    assert result.pca_variance_ratio == pytest.approx(exact.pca_variance_ratio, rel=1e-3)
    assert result.stability == pytest.approx(exact.stability, abs=0.02)


def test_same_seed_same_result_other_seed_same_networks():
    data, _, _ = planted(seed=1)
    matrix = standardize_(data)
    first = decompose(matrix, 6, seed=3)
    second = decompose(matrix, 6, seed=3)
    assert np.array_equal(first.maps, second.maps)
    other = decompose(matrix, 6, seed=4)
    assert matched_correlations(first.maps, other.maps).min() > 0.99


def test_non_convergence_is_reported_not_hidden(caplog):
    data, _, _ = planted(seed=2)
    result = decompose(standardize_(data), 6, max_iter=1, tol=1e-12)
    assert not result.converged
    assert result.iterations == 1
    assert "did not converge" in result.notes[0]
    assert "did not converge" in caplog.text


def test_too_many_components_is_a_clear_error():
    with pytest.raises(DecompositionError, match="n_components=50"):
        decompose(torch.randn(40, 100), 50)


def test_threshold_rules():
    weights = np.array([0.0] * 96 + [10.0, 9.0, -8.0, 0.5])
    assert threshold_map(weights, "zscore", 3.0).tolist() == [96, 97]  # positive tail only
    assert threshold_map(weights, "percentile", 97).tolist() == [96, 97, 98]  # by |w|
    assert threshold_map(weights, "topk", 3).tolist() == [96, 97, 98]
    with pytest.raises(ValueError, match="percentile"):
        threshold_map(weights, "percentile", 100)
    with pytest.raises(ValueError, match="topk"):
        threshold_map(weights, "topk", 0)
    with pytest.raises(ValueError, match="not supported"):
        threshold_map(weights, "median", 1)


def test_category_response_points_at_the_driving_category():
    courses = np.zeros((6, 2))
    courses[:3, 0] = 5.0  # component 0 fires on category "a" tokens
    courses[3:, 1] = 5.0
    categories = np.array(["a", "a", "a", "b", "b", "b"], dtype=object)
    response = category_response(courses, categories, ["a", "b"])
    assert response[0, 0] > 0 > response[0, 1]
    assert response[1, 1] > 0 > response[1, 0]


def test_reruns_do_not_depend_on_how_the_range_is_factorised():
    # the in-memory path hands the reruns a wide SVD's basis of the range, streaming the sketch's Rayleigh-Ritz
    # one: another orthonormal basis of the same space must give the same scores and consensus maps
    matrix = standardize_(planted(seed=4)[0])
    u, s, vt = range_factors(matrix, 200, 0)
    reference = decompose(matrix, 6, seed=0).maps
    rotation = torch.linalg.qr(torch.randn(200, 200, generator=torch.Generator().manual_seed(3))).Q
    common = {"over": "neurons", "seed": 0, "max_iter": 400, "tol": 1e-4, "restarts": 3, "runs": 3}
    scores, consensus = rerun_maps(u * s, vt.T, reference, **common)
    turned_scores, turned = rerun_maps((u * s) @ rotation, vt.T @ rotation, reference, **common)
    np.testing.assert_allclose(turned_scores, scores, atol=1e-4)
    same_row = [
        np.corrcoef(a, b)[0, 1] for a, b in zip(consensus, turned, strict=True)
    ]  # in the reference's order
    assert min(same_row) > 0.9999


def test_consensus_maps_are_the_mean_of_the_map_and_its_aligned_reruns():
    data, reference, _ = planted(seed=4)
    matrix = standardize_(data)
    single = decompose(matrix, 6, seed=0, stability_runs=3)
    u, s, vt = range_factors(matrix, 200, 0)
    common = {"over": "neurons", "seed": 0, "max_iter": 400, "tol": 1e-4, "restarts": 3}
    scores, consensus = rerun_maps(u * s, vt.T, single.maps, runs=3, **common)
    assert scores.shape == (3, 6) and np.allclose(np.median(scores, axis=0), single.stability)
    none, itself = rerun_maps(u * s, vt.T, single.maps, runs=0, **common)
    assert none.shape == (0, 6) and np.array_equal(itself, single.maps)  # no reruns: the map itself
    # each consensus map is (map + the 3 reruns' matches, signed to agree with it) / 4: closer to the truth
    # than any single map, never sign-flipped
    assert np.all(np.einsum("ij,ij->i", consensus - consensus.mean(1, keepdims=True), single.maps) > 0)
    averaged = decompose(matrix, 6, seed=0, stability_runs=3, consensus=True)
    assert averaged.consensus and not single.consensus
    matched = matched_correlations(consensus, averaged.maps)
    assert matched.min() > 0.9999  # the same maps, reordered by explained variance
    truth_single = matched_correlations(reference, single.maps)
    truth_consensus = matched_correlations(reference, averaged.maps)
    assert truth_consensus.mean() >= truth_single.mean() - 1e-4
    courses = averaged.time_courses
    expected = (matrix.numpy() @ averaged.maps.T) / matrix.shape[1]
    np.testing.assert_allclose(courses, expected, rtol=1e-3, atol=1e-4)  # the courses of the consensus maps
