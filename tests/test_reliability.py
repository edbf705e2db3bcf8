"""What a user is told before reading anything into networks or effects: labels, empty networks, unreliable
discoveries and ratios whose denominator is noise."""

from __future__ import annotations

import math

import numpy as np
import pytest
from conftest import tiny_llama
from test_networks import TEXTS, CharTokenizer

from fnsft.analysis._evaluation import EffectReport
from fnsft.data._texts import LabelledTexts
from fnsft.discovery._ica_mask import ICAMask
from fnsft.discovery._reliability import SplitHalf, reliability_notes, split_half, split_halves
from fnsft.discovery._settings import DiscoverySettingsError
from fnsft.models._architectures import model_shape
from fnsft.networks._functional_networks import FunctionalNetworks
from fnsft.networks._templates import load_templates, save_templates


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
        "may differ (use 65,536 or more); "
        "1/3 networks reproduced across reruns; 1 networks are empty (N1); 1 networks have fewer than 5 neurons."
    )
    sound = networks([{0: np.arange(30)}], data={"num_tokens": 65536}, stability=np.array([0.95]))
    assert reliability_notes(sound) == []


def report(random: list[float]) -> EffectReport:
    return EffectReport("lesion", [0], 10, {"all": 2.0}, {"all": 3.0}, [{"all": value} for value in random])


def test_a_ratio_is_marked_as_noise_when_random_masks_barely_move_the_loss():
    assert report([2.5, 2.52, 2.48]).ratio_is_noise() is False  # a clear shift of 0.5 with a spread of 0.02
    assert report([2.01, 1.95, 2.06]).ratio_is_noise() is True  # a shift of 0.007 within the spread
    assert report([2.5]).ratio_is_noise() is True  # one draw: no spread to compare with
    assert report([2.01, 1.95, 2.06]).rows()[0]["ratio_is_noise"] is True


def test_split_halves_are_disjoint_and_each_holds_every_category():
    texts = LabelledTexts([f"t{i}" for i in range(7)], ["a", "b", "a", "a", "b", "c", "c"], {})
    first, second = split_halves(texts)
    assert first.texts == ["t0", "t1", "t3", "t5"] and second.texts == ["t2", "t4", "t6"]
    assert set(first.categories) == set(second.categories) == {"a", "b", "c"}
    assert first.provenance["split_half"] == "A" and second.provenance["split_half"] == "B"


def test_each_network_is_scored_by_how_its_two_halves_versions_agree():
    maps = np.eye(3, 12, dtype=np.float32) * 5 + 0.01 * np.arange(36, dtype=np.float32).reshape(3, 12)
    full = networks([{0: np.arange(0, 4)}, {0: np.arange(4, 8)}], maps=maps[:2])
    # half A finds both networks (in the other order); half B finds the first whole and half of the second
    first = networks([{0: np.arange(4, 8)}, {0: np.arange(0, 4)}], maps=maps[[1, 0]])
    second = networks(
        [{0: np.arange(0, 4)}, {0: np.arange(4, 6)}], maps=maps[[0, 2]], data={"num_tokens": 90}
    )
    first.data["num_tokens"] = 100
    halves = split_half(full, first, second)
    np.testing.assert_allclose(halves.iou, [1.0, 0.5])
    assert halves.correlation[0] == pytest.approx(1.0)
    expected = abs(np.corrcoef(maps[1], maps[2])[0, 1])
    assert halves.correlation[1] == pytest.approx(expected, abs=1e-6) and expected < 0.8
    assert halves.tokens == 90 and halves.reproduced().tolist() == [True, False]
    assert halves.summary() == {
        "tokens_per_half": 90,
        "median_iou": 0.75,
        "median_correlation": round(float(np.median(halves.correlation)), 3),
        "reproduced": 1,
        "networks": 2,
    }
    full.split_half = halves
    assert full.label(1) == "N1 · 4 neurons · split-half IoU 0.50 (does not reproduce)"
    assert full.select([1]).split_half.iou.tolist() == [0.5]


def test_a_split_half_discovery_records_its_reliability_in_templates(tmp_path):
    model = tiny_llama(seed=1)
    finder = ICAMask(num_components=3, stability_runs=0, threshold_rule="topk", threshold=6, split_half=True)
    found = finder.compute_global_networks(model, CharTokenizer(), TEXTS, max_tokens=400)
    assert found.split_half.iou.shape == (3,) and found.split_half.tokens == 200
    assert np.all((found.split_half.iou >= 0) & (found.split_half.iou <= 1))
    assert "split-half IoU" in found.label(0) and found.cards[0].label == found.label(0)
    loaded = load_templates(save_templates(found, tmp_path / "t.json"), model)
    np.testing.assert_allclose(loaded.split_half.iou, found.split_half.iou, atol=1e-4)
    np.testing.assert_allclose(loaded.split_half.correlation, found.split_half.correlation, atol=1e-4)
    assert loaded.split_half.tokens == 200 and loaded.settings == found.settings
    assert loaded.settings.split_half and loaded.settings.max_tokens == 400
    assert found.rethreshold("topk", 4).split_half is None  # it was of the old neuron sets


def test_most_networks_not_reproducing_on_the_other_half_is_said():
    found = networks([{0: np.arange(30)}, {0: np.arange(30, 60)}], data={"num_tokens": 65536})
    found.split_half = SplitHalf(np.array([0.1, 0.3]), np.array([0.3, 0.9]), 32768)
    (note,) = reliability_notes(found)
    assert "0/2 networks came back on both halves of the texts (split-half IoU median 0.20)" in note


def test_a_split_half_whose_halves_cannot_be_decomposed_is_refused_when_made():
    with pytest.raises(DiscoverySettingsError, match=r"max_tokens // 2 = 150 tokens, too few: Streaming"):
        ICAMask(streaming=True, max_tokens=300, split_half=True)
    with pytest.raises(DiscoverySettingsError, match=r"max_tokens // 2 = 10 tokens, too few: max_tokens=10"):
        ICAMask(num_components=12, max_tokens=20, split_half=True)
