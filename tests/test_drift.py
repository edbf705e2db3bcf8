"""Network drift: an unchanged model keeps every network; a network destroyed by construction is dissolved."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from conftest import tiny_llama
from test_networks import TEXTS, CharTokenizer

from fnsft.analysis._drift import compare_networks, drift, rediscovery_settings
from fnsft.discovery._ica_mask import ICAMask
from fnsft.models._architectures import mlp_blocks


def discover(model, matrix_dtype="float32"):
    finder = ICAMask(
        num_components=4,
        stability_runs=2,
        seed=3,
        threshold_rule="topk",
        threshold=12,
        matrix_dtype=matrix_dtype,
    )
    return finder.compute_global_networks(model, CharTokenizer(), TEXTS, max_tokens=600)


def silence_inputs(model, neuron_sets):
    """A copy whose network neurons never activate: their gate and up rows are zero, so each reads 0."""
    after = copy.deepcopy(model)
    with torch.no_grad():
        for layer, ids in neuron_sets.items():
            for projection in mlp_blocks(after)[layer].up_projections:
                projection.weight[torch.as_tensor(ids)] = 0.0
    return after


def test_an_unchanged_model_keeps_every_network_with_iou_one():
    model = tiny_llama(seed=1)
    base = discover(model)
    report = drift(base, model, CharTokenizer(), TEXTS)
    assert [entry.status for entry in report.networks] == ["kept"] * base.num_components
    assert [entry.iou for entry in report.networks] == [1.0] * base.num_components
    assert all(entry.correlation > 0.999 for entry in report.networks)
    assert report.new == [] and report.counts() == {
        "kept": 4,
        "moved": 0,
        "dissolved": 0,
        "empty": 0,
        "new": 0,
    }


def test_an_empty_base_network_is_reported_as_empty_not_as_kept():
    model = tiny_llama(seed=1)
    base = discover(model)
    base.neurons[2] = {}
    report = compare_networks(base, base)
    assert report.networks[2].status == "empty" and report.counts()["empty"] == 1


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_destroyed_neurons_leave_every_rediscovered_network(dtype):
    """End to end, structure only: which component the rediscovery's leftover noise resembles depends on the
    CPU's rounding (ICA on a random tiny model has no structure to converge to), so only what must hold on any
    CPU is asserted: no rediscovered network holds a destroyed neuron, so the network is not kept."""
    model = tiny_llama(seed=1)
    base = discover(model, dtype)
    largest = int(np.argmax(base.sizes()))
    report = drift(base, silence_inputs(model, base.neurons[largest]), CharTokenizer(), TEXTS)
    destroyed = set(base.flat_ids(largest).tolist())
    for component in range(report.after.num_components):
        assert not destroyed & set(report.after.flat_ids(component).tolist())
    assert report.networks[largest].iou == 0.0 and report.networks[largest].status != "kept"


def test_a_network_with_no_counterpart_is_dissolved_and_a_resembling_one_moved():
    base = discover(tiny_llama(seed=1))
    after = copy.deepcopy(base)
    rng = np.random.default_rng(0)
    width = base.maps.shape[1]
    used = set().union(*(set(base.flat_ids(c).tolist()) for c in range(base.num_components)))
    spare = np.array(sorted(set(range(48)) - used))[:5]  # layer-0 neurons no network holds
    after.neurons[0] = {0: spare}
    noise = rng.standard_normal(width).astype(np.float32)
    noise -= noise @ base.maps.T @ np.linalg.pinv(base.maps @ base.maps.T) @ base.maps  # unlike every map
    after.maps[0] = noise
    after.neurons[1] = {layer: ids[: max(1, len(ids) // 4)] for layer, ids in base.neurons[1].items()}
    report = compare_networks(base, after)
    assert report.networks[0].status == "dissolved" and report.networks[0].correlation < 0.1
    assert report.networks[1].status == "moved" and report.networks[1].correlation > 0.999
    assert report.counts()["dissolved"] == 1 and report.new == [0]


def test_matching_uses_neuron_sets_alone_when_maps_are_missing():
    model = tiny_llama(seed=1)
    base = discover(model)
    without_maps = copy.copy(base)
    without_maps.maps = None
    report = compare_networks(without_maps, base)
    assert all(entry.correlation is None and entry.status == "kept" for entry in report.networks)


def test_rediscovery_repeats_the_recorded_recipe():
    base = discover(tiny_llama(seed=1))
    settings = rediscovery_settings(base)
    assert settings == base.settings.replace(split_half=False) and settings.max_tokens == 600
    assert (settings.num_components, settings.seed, settings.stability_runs) == (4, 3, 2)
    assert rediscovery_settings(base, stability_runs=0).stability_runs == 0
