"""What a user is told before reading anything into networks or effects: labels, empty networks, unreliable
discoveries and ratios whose denominator is noise."""

from __future__ import annotations

import math

import numpy as np
from conftest import tiny_llama

from fnsft.architectures import model_shape
from fnsft.evaluation import EffectReport
from fnsft.functional_networks import FunctionalNetworks
from fnsft.reliability import reliability_notes


def networks(sets, **fields) -> FunctionalNetworks:
    return FunctionalNetworks(sets, model_shape(tiny_llama()), "tiny", "intermediate", {}, **fields)


def test_labels_name_only_categories_with_a_clearly_positive_response():
    found = networks(
        [{0: np.arange(5)}, {1: np.arange(3)}],
        categories=["math", "cooking", "code"],
        category_response=np.array([[0.9, -0.02, -0.5], [0.05, 0.3, 0.2]]),
    )
    assert found.label(0) == "N0 · 5 neurons · math"  # cooking (-0.02) does not name it
    assert found.label(1) == "N1 · 3 neurons · cooking, code"
    assert found.top_categories(1, 3) == ["cooking", "code"]  # math (0.05) is not clearly non-zero


def test_an_empty_network_overlaps_nothing_not_even_itself():
    iou = networks([{0: np.arange(4)}, {}, {0: np.arange(2, 6)}]).iou_matrix()
    assert iou[0, 0] == 1 and math.isnan(iou[1, 1]) and iou[0, 1] == 0
    assert iou[0, 2] == 2 / 6


def test_a_discovery_from_few_tokens_says_why_it_is_unreliable():
    found = networks(
        [{0: np.arange(3)}, {}, {1: np.arange(40)}],
        data={"num_tokens": 512},
        stability=np.array([0.2, 0.1, 0.9]),
    )
    (note,) = reliability_notes(found)
    assert note == (
        "These networks are unreliable: only 512 tokens were recorded: networks from other texts of the same kind "
        "may differ (use 16,384 or more); "
        "1/3 networks reproduced across reruns; 1 networks are empty (N1); 1 networks have fewer than 5 neurons."
    )
    sound = networks([{0: np.arange(30)}], data={"num_tokens": 16384}, stability=np.array([0.95]))
    assert reliability_notes(sound) == []


def report(random: list[float]) -> EffectReport:
    return EffectReport("lesion", [0], 10, {"all": 2.0}, {"all": 3.0}, [{"all": value} for value in random])


def test_a_ratio_is_marked_as_noise_when_random_masks_barely_move_the_loss():
    assert report([2.5, 2.52, 2.48]).ratio_is_noise() is False  # a clear shift of 0.5 with a spread of 0.02
    assert report([2.01, 1.95, 2.06]).ratio_is_noise() is True  # a shift of 0.007 within the spread
    assert report([2.5]).ratio_is_noise() is True  # one draw: no spread to compare with
    assert report([2.01, 1.95, 2.06]).rows()[0]["ratio_is_noise"] is True
