"""Measuring with the dials: a loss-vs-gain sweep and measure_effect under every mode, on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import tiny_llama
from test_networks import TEXTS, CharTokenizer

from fnsft.analysis._evaluation import gain_sweep, loss_by_category, measure_effect, token_losses
from fnsft.data._texts import load_labelled_texts
from fnsft.discovery._ica_mask import ICAMask
from fnsft.masking import build_mask


@pytest.fixture(scope="module")
def setup():
    model = tiny_llama(seed=1)
    finder = ICAMask(num_components=4, stability_runs=0, threshold_rule="topk", threshold=10)
    networks = finder.compute_global_networks(model, CharTokenizer(), TEXTS, max_tokens=500)
    return model, networks, load_labelled_texts(TEXTS[:4] + TEXTS[-4:])


def losses(model, texts, mask=None):
    return loss_by_category(token_losses(model, CharTokenizer(), texts.texts, mask=mask), texts.categories)


def test_gain_sweep_runs_from_lesion_through_the_model_to_amplified(setup):
    model, networks, texts = setup
    sweep = gain_sweep(model, CharTokenizer(), networks, [0, 1], texts, (0.0, 1.0, 2.0), random_draws=2)
    assert sweep["components"] == [0, 1] and sweep["gains"] == [0.0, 1.0, 2.0]
    assert len(sweep["network"]) == 3 and [len(draw) for draw in sweep["random"]] == [3, 3]
    lesion = build_mask(networks.union([0, 1]), networks.layer_widths, "lesion")
    assert sweep["network"][0] == losses(model, texts, lesion)  # gain 0 is the lesion
    assert sweep["network"][1] == losses(model, texts) == sweep["random"][0][1]  # gain 1 is the model
    assert sweep["network"][2]["all"] != sweep["network"][1]["all"]
    assert set(sweep["network"][0]) == {"all", "code", "geography"}


def test_measure_effect_takes_every_dial(setup):
    model, networks, texts = setup
    unity = measure_effect(
        model, CharTokenizer(), networks, [0], texts, mode="scale", gain=1.0, random_draws=1
    )
    assert unity.network == unity.baseline == unity.random[0] and unity.masked_neurons == 0
    mean = measure_effect(model, CharTokenizer(), networks, [0], texts, mode="mean", random_draws=2)
    explicit = build_mask(networks.union([0]), networks.layer_widths, "mean", means=networks.neuron_means)
    assert mean.network == losses(model, texts, explicit)
    assert len(mean.random) == 2 and mean.random[0] != mean.random[1]
    preserve = measure_effect(model, CharTokenizer(), networks, [0], texts, mode="preserve", fill="mean")
    assert np.isfinite(preserve.network["all"]) and preserve.network != mean.network
