"""Network drift: an unchanged model keeps every network; a network destroyed by construction is dissolved."""

from __future__ import annotations

import copy

import numpy as np
import torch
from conftest import tiny_llama
from test_networks import TEXTS, CharTokenizer

from fnsft.architectures import mlp_blocks
from fnsft.network_drift import compare_networks, drift, rediscovery_settings
from fnsft.networks import ICAMask


def discover(model):
    finder = ICAMask(num_components=4, stability_runs=2, seed=3, threshold_rule="topk", threshold=12)
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


def test_a_network_whose_neurons_are_destroyed_is_dissolved():
    model = tiny_llama(seed=1)
    base = discover(model)
    largest = int(np.argmax(base.sizes()))
    after_model = silence_inputs(model, base.neurons[largest])
    report = drift(base, after_model, CharTokenizer(), TEXTS)
    fate = report.networks[largest]
    assert fate.status == "dissolved", fate
    destroyed = set(base.flat_ids(largest).tolist())
    for component in range(report.after.num_components):
        assert not destroyed & set(report.after.flat_ids(component).tolist())
    assert report.counts()["dissolved"] >= 1


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
    assert settings["num_components"] == 4 and settings["seed"] == 3 and settings["stability_runs"] == 2
    assert settings["threshold_rule"] == base.threshold["rule"] and settings["granularity"] == "intermediate"
