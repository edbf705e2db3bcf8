"""Neuron means: recorded by discovery, kept by templates, computed for networks without them, and used by
mean-ablation when the caller passes none."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from conftest import tiny_llama
from test_masking import capture_down_proj_input, logits
from test_networks import TEXTS, CharTokenizer

from fnsft import neuron_means
from fnsft.data._texts import interleave_by_category, load_labelled_texts
from fnsft.discovery._capture import capture_activations
from fnsft.discovery._ica_mask import ICAMask
from fnsft.discovery._means import with_neuron_means
from fnsft.errors import MaskSelectionError, TemplateError
from fnsft.networks._templates import load_templates, save_templates


def discover(granularity="intermediate", matrix_dtype="float32"):
    model = tiny_llama(seed=1)
    finder = ICAMask(
        num_components=4,
        stability_runs=0,
        threshold_rule="topk",
        threshold=6,
        granularity=granularity,
        matrix_dtype=matrix_dtype,
    )
    return model, finder, finder.compute_global_networks(model, CharTokenizer(), TEXTS, max_tokens=500)


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize(("granularity", "width"), [("intermediate", 48), ("mlp_output", 32)])
def test_discovery_records_each_neurons_mean_over_its_tokens(granularity, width, dtype):
    model, _, networks = discover(granularity, dtype)
    texts = interleave_by_category(load_labelled_texts(TEXTS))

    def matrix(dtype):
        return capture_activations(
            model, CharTokenizer(), texts.texts, granularity=granularity, max_tokens=500, dtype=dtype
        ).matrix.float()

    stored = matrix(getattr(torch, dtype))  # what discovery's in-memory matrix holds
    assert sorted(networks.neuron_means) == [0, 1, 2]
    recorded = np.concatenate([networks.neuron_means[layer] for layer in range(3)])
    assert recorded.shape == (3 * width,)
    np.testing.assert_allclose(recorded, stored.mean(dim=0).numpy(), rtol=1e-5, atol=1e-7)
    exact = matrix(torch.float32)
    again = np.concatenate(
        list(neuron_means(model, CharTokenizer(), TEXTS, granularity=granularity, max_tokens=500).values())
    )
    np.testing.assert_allclose(again, exact.mean(dim=0).numpy(), rtol=1e-5, atol=1e-7)
    rounding = 2**-8 * exact.abs().mean(dim=0).numpy()  # bf16 keeps 8 significant bits
    assert np.all(np.abs(recorded - again) <= rounding + 1e-7)


def test_mean_mode_uses_the_networks_recorded_means_when_none_are_passed():
    model, finder, networks = discover()
    layer = min(networks.neurons[0])
    planted = int(networks.neurons[0][layer][0])
    with finder.apply_component_masks(model, [0], mode="mean") as handle:
        assert handle.mask.description["fill"] == "mean"
        seen, hook = capture_down_proj_input(model, layer)
        logits(model)
        hook.remove()
    assert torch.all(seen[0][0][:, planted] == torch.tensor(networks.neuron_means[layer][planted]))


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_networks_without_means_are_refused_with_the_function_that_computes_them(dtype):
    model, finder, networks = discover(matrix_dtype=dtype)
    finder.networks_ = copy.copy(networks)
    finder.networks_.neuron_means = None
    with pytest.raises(MaskSelectionError, match=r"fnsft\.neuron_means\(model, tokenizer, texts"):
        finder.apply_component_masks(model, [0], mode="mean")
    with pytest.raises(MaskSelectionError, match="mean activations"):
        finder.apply_component_masks(model, [0], mode="preserve", fill="mean")
    completed = with_neuron_means(finder.networks_, model, CharTokenizer(), TEXTS)
    exact = dtype == "float32"  # else discovery's means come from bf16 values: 8 significant bits
    for layer in range(3):
        np.testing.assert_allclose(
            completed.neuron_means[layer],
            networks.neuron_means[layer],
            rtol=1e-5 if exact else 1e-2,
            atol=0 if exact else 1e-5,
        )


def test_templates_keep_the_means_to_four_significant_digits(tmp_path):
    model, _, networks = discover()
    path = save_templates(networks, tmp_path / "t.json")
    written = json.loads(path.read_text())["neuron_means"]
    assert sorted(written) == ["0", "1", "2"] and len(written["1"]) == 48
    loaded = load_templates(path, model)
    for layer in range(3):
        np.testing.assert_allclose(
            loaded.neuron_means[layer], networks.neuron_means[layer], rtol=5e-4, atol=1e-9
        )


def test_templates_without_means_still_load(tmp_path):
    model, _, networks = discover()
    data = json.loads(save_templates(networks, tmp_path / "t.json").read_text())
    del data["neuron_means"]
    (tmp_path / "old.json").write_text(json.dumps(data))
    assert load_templates(tmp_path / "old.json", model).neuron_means is None
    sft = {
        "name": "x",
        "layout": {"captured_layers_sorted": [0, 1], "hidden_size": 32},
        "templates": {"0": {"0": [1]}},
    }
    (tmp_path / "sft.json").write_text(json.dumps(sft))
    assert load_templates(tmp_path / "sft.json").neuron_means is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda means: means.pop("2"), r"neuron_means: .*one entry per layer"),
        (lambda means: means["1"].pop(), r"neuron_means\['1'\]: 47 means; expected 48, one per neuron"),
        (
            lambda means: means["0"].__setitem__(3, "0.5"),
            r"neuron_means\['0'\]\[3\]: \"0.5\" is not a finite",
        ),
        (lambda means: means.__setitem__("0", 1.5), r"neuron_means\['0'\]: 1.5 is not a list"),
    ],
    ids=["missing layer", "short layer", "text value", "not a list"],
)
def test_malformed_means_are_refused_by_field(tmp_path, change, message):
    model, _, networks = discover()
    data = json.loads(save_templates(networks, tmp_path / "t.json").read_text())
    change(data["neuron_means"])
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(TemplateError, match=message):
        load_templates(tmp_path / "bad.json", model)
