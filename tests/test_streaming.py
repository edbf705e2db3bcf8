"""Streaming discovery matches the in-memory path: exact moments, a sketch that recovers the standardised
matrix's top factors, the same planted networks, and the same capture through a sink as into a matrix."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from conftest import tiny_llama
from test_decomposition import planted
from test_networks import TEXTS, CharTokenizer

from fnsft.discovery._capture import capture_activations, layer_widths
from fnsft.discovery._decomposition import decompose, reduced_stability, standardize_
from fnsft.discovery._ica_mask import ICAMask
from fnsft.discovery._sketches import RangePass, RunningMoments
from fnsft.discovery._streaming import BatchGroups, decompose_statistics
from fnsft.errors import DecompositionError
from fnsft.networks import matched_correlations


def _stream(data: torch.Tensor, batch: int, seed: int = 0):
    """Rows in shuffled batches (capture sends them sorted by text length, not in token order)."""
    order = torch.randperm(data.shape[0], generator=torch.Generator().manual_seed(seed))
    for start in range(0, data.shape[0], batch):
        rows = order[start : start + batch]
        yield rows, data[rows]


def _offset_and_scaled(data: torch.Tensor) -> torch.Tensor:
    """Raw activations are neither centred nor equally scaled: give each neuron its own offset and scale."""
    rng = np.random.default_rng(1)
    scale = torch.tensor(rng.uniform(0.05, 20, data.shape[1]), dtype=torch.float32)
    offset = torch.tensor(rng.normal(0, 50, data.shape[1]), dtype=torch.float32)
    return data * scale + offset


def test_running_moments_are_exact_on_a_large_offset():
    rng = np.random.default_rng(0)
    data = torch.tensor(1e4 + rng.standard_normal((1000, 7)) * [1e-3, 1, 1, 1, 1, 1, 0], dtype=torch.float32)
    moments = RunningMoments.empty(7)
    for _, batch in _stream(data, 97):
        moments.update(batch)
    exact = data.double()
    assert moments.count == 1000
    # float32 batch moments about a shift: the mean to 1e-10 of the 1e4 offset, the std to 1e-5 even at std 1e-3
    torch.testing.assert_close(moments.mean, exact.mean(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(moments.std()[:6], exact.std(0)[:6], rtol=1e-5, atol=0)
    assert moments.std()[6] == 1.0  # constant neuron: scaled by 1, as standardize_ does
    assert moments.total_variance() == pytest.approx(6 * 999, rel=1e-6)


def _streamed(
    data: torch.Tensor,
    k: int,
    sketch_rows: int,
    stability_runs: int = 0,
    over: str = "neurons",
    sample: int | None = None,
):
    """Streaming discovery of `data`: the sketch of its first `sample` shuffled rows (all by default), then the
    projection pass over every row, in another order."""
    groups = BatchGroups(data.shape[1], sketch_rows)
    fold = groups.sink()
    sampled = data[torch.randperm(data.shape[0], generator=torch.Generator().manual_seed(9))[:sample]]
    for rows, batch in _stream(sampled, 128):
        fold(rows, batch)

    def project(sink) -> None:
        for rows, batch in _stream(data, 100, seed=5):
            sink(rows, batch)

    statistics = groups.merged()
    result, moments = decompose_statistics(
        statistics,
        data.shape[0],
        k,
        project,
        over=over,
        seed=0,
        max_iter=400,
        tol=1e-4,
        restarts=3,
        stability_runs=stability_runs,
    )
    return statistics, result, moments


def test_sketch_recovers_the_standardised_top_factors():
    data, _, _ = planted(tokens=1200, neurons=2000, k=6)
    raw = _offset_and_scaled(data)
    statistics, _, _ = _streamed(raw, 6, sketch_rows=40)
    s, v = statistics.sketch.factors(statistics.moments, 6)
    _, s_exact, vt_exact = torch.linalg.svd(standardize_(raw.clone()).double(), full_matrices=False)
    torch.testing.assert_close(
        s.double(), s_exact[:6], rtol=0.15, atol=0
    )  # FD shrinks: s is an underestimate
    assert torch.all(s.double() <= s_exact[:6] * (1 + 1e-4))
    cosines = torch.linalg.svdvals(v.double().T @ vt_exact[:6].T)  # principal angles between the subspaces
    assert cosines.min() > 0.999


def test_streaming_networks_match_the_in_memory_ones():
    data, reference, courses = planted()
    raw = _offset_and_scaled(data)
    exact = decompose(standardize_(raw.clone()), 6, over="neurons", seed=0)
    # the sketch of every row, and of 40% of them (its directions hold a little less of the top variance)
    for sample, agreement, variance in ((None, 0.999, 1e-3), (600, 0.98, 0.03)):
        _, streamed, moments = _streamed(raw, 6, sketch_rows=40, stability_runs=3, sample=sample)
        assert matched_correlations(exact.maps, streamed.maps).min() > agreement
        assert matched_correlations(reference, streamed.maps).min() > 0.97
        assert matched_correlations(exact.time_courses.T, streamed.time_courses.T).min() > 0.99
        assert streamed.pca_variance_ratio == pytest.approx(exact.pca_variance_ratio, rel=variance)
        assert streamed.pca_variance_ratio <= exact.pca_variance_ratio * (1 + 1e-4)
        assert streamed.stability.min() > 0.95
        assert moments.count == raw.shape[0]  # every row's moments, not the sample's
        torch.testing.assert_close(moments.mean, raw.double().mean(0), rtol=1e-6, atol=1e-4)


def test_the_pass_over_all_tokens_gives_the_range_approximation_of_the_exact_standardised_matrix():
    """The pass scales by the sample's moments; its factors are Q Q^T A_std with A_std standardised by all the
    tokens' moments and Q spanning A_std G^-1 V (G = sample scale / all tokens' scale), exactly."""
    data, _, _ = planted(tokens=600, neurons=300, k=4)
    raw = _offset_and_scaled(data)
    sample = RunningMoments.empty(300)
    sample.update(raw[:100])
    directions = torch.linalg.qr(torch.randn(300, 20, dtype=torch.float64))[0]
    range_pass = RangePass(sample, directions, tokens=600)
    for rows, batch in _stream(raw, 64):
        range_pass.fold(rows, batch)
    u, s, v = (factor.double() for factor in range_pass.factors())
    exact = raw.double()
    standardised = (exact - exact.mean(0)) / exact.std(0)
    q = torch.linalg.qr(standardised @ ((exact.std(0) / sample.std())[:, None] * directions))[0]
    expected = q @ (q.T @ standardised)
    scale = expected.abs().max()
    torch.testing.assert_close((u * s) @ v.T / scale, expected / scale, rtol=0, atol=1e-4)  # float32 pass
    for factor in (u, v):
        torch.testing.assert_close(factor.T @ factor, torch.eye(20, dtype=torch.float64), atol=1e-5, rtol=0)
    assert range_pass.moments.count == 600


@pytest.mark.parametrize("over", ["neurons", "tokens"])
def test_reduced_stability_flags_a_component_made_of_noise(over):
    data, _, _ = planted(k=5)
    noise = torch.tensor(np.random.default_rng(3).standard_normal(data.shape), dtype=torch.float32)
    matrix = standardize_(data + 0.3 * noise)
    result = decompose(matrix, 7, over=over, seed=0)  # 5 planted networks, 2 components of Gaussian noise
    u, s, vt = torch.linalg.svd(matrix, full_matrices=False)
    loadings, basis = u[:, :30] * s[:30], vt[:30].T  # the matrix reduced to a 30-direction neuron basis
    scores = reduced_stability(loadings, basis, result.maps, over=over, seed=0, runs=4)
    assert np.sort(scores)[2:].min() > 0.95  # the planted ones reproduce
    assert np.sort(scores)[:2].max() < 0.9  # the noise ones do not


def test_capture_through_a_sink_sees_the_same_rows():
    model = tiny_llama(seed=1)
    texts = [item["text"] for item in TEXTS]
    stored = capture_activations(model, CharTokenizer(), texts, max_tokens=500, batch_size=5)
    seen = torch.zeros_like(stored.matrix)
    streamed = capture_activations(
        model,
        CharTokenizer(),
        texts,
        max_tokens=500,
        batch_size=5,
        sink=lambda rows, values: seen.index_copy_(0, rows, values),
    )
    assert streamed.matrix.shape == (0, stored.matrix.shape[1])
    np.testing.assert_array_equal(streamed.text_index, stored.text_index)
    torch.testing.assert_close(seen, stored.matrix)


def test_streaming_icamask_finds_the_in_memory_networks():
    settings = {"num_components": 4, "stability_runs": 2, "threshold_rule": "topk", "threshold": 12}
    settings["max_iter"] = (
        3000  # at 400 the in-memory FastICA stops short on 144 neurons, and maps differ by noise
    )
    found = {}
    for streaming in (False, True):
        mask = ICAMask(streaming=streaming, **settings)
        found[streaming] = mask.compute_global_networks(
            tiny_llama(seed=1), CharTokenizer(), TEXTS, max_tokens=600
        )
    exact, streamed = found[False], found[True]
    assert exact.decomposition["converged"] and streamed.decomposition["converged"]
    assert exact.decomposition["consensus"] and streamed.decomposition["consensus"]
    # Both paths' consensus maps are not compared here: on this tiny random model the reruns' FastICA is
    # ill-posed (stability as low as 0.54), and their fixed points move with a CPU's rounding (map |corr| 0.96
    # between the paths on an AVX2 CPU, above 0.99 on an AVX-512 one). That the reruns do not depend on how a
    # path factorises the range is tested on planted data
    # (test_decomposition.py::test_reruns_do_not_depend_on_how_the_range_is_factorised).
    plain = {
        streaming: ICAMask(streaming=streaming, **{**settings, "stability_runs": 0}).compute_global_networks(
            tiny_llama(seed=1), CharTokenizer(), TEXTS, max_tokens=600
        )
        for streaming in (False, True)
    }
    assert matched_correlations(plain[False].maps, plain[True].maps).min() > 0.999
    assert streamed.settings.streaming and streamed.data["num_tokens"] == 600
    assert streamed.stability is not None and streamed.stability.shape == (4,)


def test_a_sampled_capture_sees_whole_batches_of_the_same_rows_for_any_process_count():
    model, texts = tiny_llama(seed=1), [item["text"] for item in TEXTS]
    stored = capture_activations(model, CharTokenizer(), texts, max_tokens=500, batch_size=5)

    def sampled(shard):
        seen = {}
        capture_activations(
            model,
            CharTokenizer(),
            texts,
            max_tokens=500,
            batch_size=5,
            sample_tokens=200,
            shard=shard,
            sink=lambda rows, values: seen.update(zip(rows.tolist(), values, strict=True)),
        )
        return seen

    alone = sampled((0, 1))
    assert 200 <= len(alone) < 500
    for row, values in alone.items():
        torch.testing.assert_close(values, stored.matrix[row])
    first, second = sampled((0, 2)), sampled((1, 2))
    assert not first.keys() & second.keys() and first.keys() | second.keys() == alone.keys()
    with pytest.raises(ValueError, match="needs a sink"):
        capture_activations(model, CharTokenizer(), texts, max_tokens=500, sample_tokens=200)


def test_an_in_memory_matrix_larger_than_the_available_memory_is_refused_before_it_is_made(monkeypatch):
    """On Linux an oversized matrix is allocated lazily and the process is killed later; refuse it with the
    way out instead, while a streamed capture of the same tokens, which keeps no matrix, still runs."""
    model, texts = tiny_llama(seed=1), [item["text"] for item in TEXTS]
    tokens = capture_activations(model, CharTokenizer(), texts, max_tokens=500).matrix.shape
    monkeypatch.setattr(
        "fnsft.models._devices.psutil.virtual_memory", lambda: SimpleNamespace(available=1_000)
    )
    with pytest.raises(
        DecompositionError,
        match=r"\(500 tokens x 144 neurons, float32\) needs about 0.35 MB and 0.00 MB is available: stream it \(ICAMask\(streaming=True\)",
    ):
        capture_activations(model, CharTokenizer(), texts, max_tokens=500)
    streamed = capture_activations(
        model, CharTokenizer(), texts, max_tokens=500, sink=lambda rows, values: None
    )
    assert streamed.matrix.shape == (0, tokens[1])


def test_a_small_budget_tokenizes_only_the_texts_it_takes():
    calls = []

    class CountingTokenizer(CharTokenizer):
        def __call__(self, texts, **options):
            calls.append(len(texts))
            return super().__call__(texts, **options)

    texts = [f"text number {i} of a large corpus" for i in range(1000)]
    widths = sum(layer_widths(tiny_llama(seed=1), "intermediate"))
    small = capture_activations(tiny_llama(seed=1), CountingTokenizer(), texts, max_tokens=100, batch_size=4)
    assert sum(calls) == 64  # the first chunk holds the budget; the other 936 texts were never tokenized
    assert small.matrix.shape == (100, widths)
    whole = [[2 + b % 120 for b in text.encode()] for text in texts]
    cut = [row for ids in whole for row in ids][:100]
    np.testing.assert_array_equal(small.token_ids, cut)  # the same tokens as tokenizing everything first
    calls.clear()
    capture_activations(tiny_llama(seed=1), CountingTokenizer(), texts, max_tokens=None, batch_size=64)
    assert calls == [64, 128, 256, 512, 40]  # no budget: every text, in doubling chunks
