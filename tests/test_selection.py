"""NetworkSelection: one checked selection serving masks, selective updates, reports; the one ids parser."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import torch
from conftest import tiny_llama

from fnsft.discovery._ica_mask import ICAMask
from fnsft.errors import MaskSelectionError, TemplateError
from fnsft.masking import build_mask, masked
from fnsft.masking._hooks import random_neuron_sets
from fnsft.masking._selection import NetworkSelection, parse_component_ids
from fnsft.models._architectures import model_shape
from fnsft.networks._functional_networks import FunctionalNetworks
from fnsft.training._selective import SelectiveUpdate

INPUT = torch.tensor([[5, 17, 3, 99, 42, 8, 61, 7]])
SETS = [{0: np.array([1, 2]), 1: np.array([4])}, {1: np.array([4, 5]), 2: np.array([7])}]


def logits(model):
    with torch.no_grad():
        return model(input_ids=INPUT).logits


def networks_for(model, sets=SETS):
    return FunctionalNetworks(
        sets, model_shape(model), "tiny", "intermediate", {"rule": "topk", "value": 2}, name="tiny-nets"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [("all", None), (" all ", None), (None, None), ("0,3", [0, 3]), ("0, 3,", [0, 3]), ([2, 1], [2, 1])],
)
def test_the_one_ids_parser_reads_text_and_lists(text, expected):
    assert parse_component_ids(text) == expected


@pytest.mark.parametrize("bad", ["zero,one", "0,-1", "1.5", [True], [1.5]])
def test_the_ids_parser_refuses_what_is_not_ids(bad):
    with pytest.raises(MaskSelectionError, match="is not 'all' or comma-separated network ids"):
        parse_component_ids(bad)


def test_a_selection_is_the_union_of_its_components_and_describes_itself(tiny_model):
    selection = NetworkSelection.for_model(networks_for(tiny_model), tiny_model, "1,0")
    assert selection.ids == (0, 1) and selection.checked_against_model
    assert {layer: ids.tolist() for layer, ids in selection.neuron_sets.items()} == {
        0: [1, 2],
        1: [4, 5],
        2: [7],
    }
    assert selection.description == {
        "template": "tiny-nets",
        "components": [0, 1],
        "neurons": 5,
        "random_control": False,
    }
    only_layer_1 = NetworkSelection.for_model(networks_for(tiny_model), tiny_model, "all", layers=[1])
    assert list(only_layer_1.neuron_sets) == [1] and only_layer_1.description["layers"] == [1]


def test_its_mask_equals_the_hand_built_mask_and_keeps_the_component_ids(tiny_model):
    selection = NetworkSelection.for_model(networks_for(tiny_model), tiny_model, [0])
    mask = selection.mask("lesion")
    assert mask.description["components"] == [0] and mask.description["mode"] == "lesion"
    with masked(
        tiny_model, build_mask({0: [1, 2], 1: [4]}, model_shape(tiny_model).intermediate_sizes, "lesion")
    ):
        expected = logits(tiny_model)
    with masked(tiny_model, mask):
        assert torch.equal(logits(tiny_model), expected)
    scaled = selection.mask("scale", gain=0.5)
    assert scaled.description["gain"] == 0.5 and scaled.masked_counts() == {0: 2, 1: 1}


def test_random_control_draws_the_same_counts_as_masking_does(tiny_model):
    selection = NetworkSelection.for_model(networks_for(tiny_model), tiny_model, "all")
    control = selection.with_random_control(7)
    expected = random_neuron_sets(selection.neuron_sets, selection.networks.layer_widths, 7)
    assert {k: v.tolist() for k, v in control.neuron_sets.items()} == {
        k: v.tolist() for k, v in expected.items()
    }
    assert control.description["random_control"] and control.description["seed"] == 7
    assert control.checked_against_model and control.num_neurons == selection.num_neurons


def test_a_selection_is_checked_against_the_model_once_when_made(tiny_model):
    other = networks_for(tiny_llama(layers=4), [{3: np.array([1])}])
    with pytest.raises(TemplateError, match="networks 'tiny-nets' was made for another model"):
        NetworkSelection.for_model(other, tiny_model)
    with pytest.raises(MaskSelectionError, match=r"Unknown component ids \[5\]"):
        NetworkSelection.for_model(networks_for(tiny_model), tiny_model, "5")
    with pytest.raises(MaskSelectionError, match="Unknown layers"):
        NetworkSelection.for_model(networks_for(tiny_model), tiny_model, layers=[9])
    unchecked = NetworkSelection(networks_for(tiny_model), (0,))
    assert not unchecked.checked_against_model


def test_selective_updates_take_a_selection(tiny_model):
    selection = NetworkSelection.for_model(networks_for(tiny_model), tiny_model, [0])
    from_selection = SelectiveUpdate(tiny_model, selection, "train_only")
    entries = from_selection.trainable_entries()
    from_selection.remove()
    from_sets = SelectiveUpdate(tiny_llama(), selection.neuron_sets, "train_only")
    assert entries == from_sets.trainable_entries() > 0


def test_ica_mask_masked_is_context_local(tiny_model):
    ica = ICAMask()
    ica.networks_ = networks_for(tiny_model)
    before = logits(tiny_model)
    with ica.apply_component_masks(tiny_model, [0, 1], mode="preserve"):
        expected = logits(tiny_model)
    seen_elsewhere = []
    with ica.masked(tiny_model, "0,1", mode="preserve"):
        assert torch.equal(logits(tiny_model), expected)
        worker = threading.Thread(target=lambda: seen_elsewhere.append(logits(tiny_model)))
        worker.start()
        worker.join()
    assert torch.equal(seen_elsewhere[0], before)  # another thread saw the unmasked model
    assert torch.equal(logits(tiny_model), before)
    assert ica.select(tiny_model, [1]).description["components"] == [1]
