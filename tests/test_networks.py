"""ICAMask on a tiny model: both granularities, every threshold rule, determinism, templates in and out."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import tiny_llama

from fnsft.data._texts import interleave_by_category, load_labelled_texts
from fnsft.discovery._ica_mask import ICAMask
from fnsft.errors import MaskSelectionError, TemplateError
from fnsft.networks._matching import match_components
from fnsft.networks._templates import load_templates, save_templates


class CharTokenizer:
    """A byte-level tokenizer: enough for the capture path, no files needed."""

    pad_token_id = 0
    eos_token_id = 1

    def __call__(self, texts, truncation=True, max_length=256, add_special_tokens=True):
        if isinstance(texts, str):
            return {"input_ids": [2 + b % 120 for b in texts.encode()][:max_length]}
        return {"input_ids": [[2 + b % 120 for b in t.encode()][:max_length] for t in texts]}

    def decode(self, ids):
        return "".join(chr(i - 2) if 2 <= i < 122 else f"<{i}>" for i in ids)


TEXTS = [{"text": f"def f{i}(x): return x * {i} + {i * 7}", "category": "code"} for i in range(12)] + [
    {"text": f"The river number {i} flows into the sea near town {i * 3}.", "category": "geography"}
    for i in range(12)
]


def fit(**settings):
    model = tiny_llama(seed=1)
    mask = ICAMask(num_components=4, stability_runs=2, **settings)
    networks = mask.compute_global_networks(model, CharTokenizer(), TEXTS, max_tokens=600)
    return model, mask, networks


@pytest.mark.parametrize(
    ("rule", "value"),
    [("zscore", 2.0), ("percentile", 95.0), ("topk", 7)],
    ids=["zscore", "percentile", "topk"],
)
def test_threshold_rules_select_what_they_say(rule, value):
    model, mask, networks = fit(threshold_rule=rule, threshold=value)
    total = networks.shape.total_neurons
    sizes = networks.sizes()
    assert (networks.threshold["rule"], networks.threshold["value"]) == (rule, value)
    if rule == "topk":
        assert sizes.tolist() == [7] * 4
    elif rule == "percentile":
        assert np.all(np.abs(sizes - total * 0.05) <= 1)
    else:
        assert np.all((sizes > 0) & (sizes < total * 0.2))
    for component, sets in mask.mask_dict_components.items():
        assert sum(len(ids) for ids in sets.values()) == sizes[component]
        assert all(0 <= n < 48 for ids in sets.values() for n in ids)


@pytest.mark.parametrize(("granularity", "width"), [("intermediate", 48), ("mlp_output", 32)])
def test_both_granularities(granularity, width):
    _, _, networks = fit(granularity=granularity, threshold_rule="topk", threshold=5)
    assert networks.granularity == granularity
    assert networks.layer_widths == (width,) * 3
    assert networks.maps.shape == (4, 3 * width)
    assert max(n for sets in networks.neurons for ids in sets.values() for n in ids) < width


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_result_carries_variance_stability_and_category_response(dtype):
    _, _, networks = fit(threshold_rule="topk", threshold=5, matrix_dtype=dtype)
    assert networks.counts_per_layer().shape == (4, 3)
    assert np.all(np.diff(networks.explained_variance) <= 1e-7)
    assert networks.stability.shape == (4,) and np.all((networks.stability >= 0) & (networks.stability <= 1))
    assert networks.categories == ["code", "geography"]
    assert networks.category_response.shape == (4, 2)
    assert networks.data["num_tokens"] == 600
    assert networks.decomposition["matrix_dtype"] == dtype and networks.settings.matrix_dtype == dtype
    top = networks.top_categories(0)
    assert networks.label(0) == " · ".join(["N0 · 5 neurons", *([", ".join(top)] if top else [])])
    response = dict(zip(networks.categories, networks.category_response[0], strict=True))
    assert all(response[category] >= 0.1 for category in top)  # only clearly positive responses name it


def test_same_seed_gives_identical_networks():
    _, _, first = fit(seed=5, threshold_rule="topk", threshold=5)
    _, _, second = fit(seed=5, threshold_rule="topk", threshold=5)
    assert first.mask_dict() == second.mask_dict()
    assert np.array_equal(first.maps, second.maps)


def test_interleaving_samples_every_category_under_a_small_budget():
    texts = interleave_by_category(load_labelled_texts(TEXTS))
    assert texts.categories[:4] == ["code", "geography", "code", "geography"]


def test_template_round_trip(tmp_path):
    model, mask, networks = fit(threshold_rule="topk", threshold=5)
    data = mask.build_templates_from_current_components("tiny-nets", path=tmp_path / "t.json")
    assert data["name"] == "tiny-nets" and data["schema_version"] == 2
    assert data["model"]["shape"]["intermediate_sizes"] == [48, 48, 48]
    loaded = ICAMask.from_templates(tmp_path / "t.json", model=model)
    assert loaded.mask_dict_components == mask.mask_dict_components
    assert loaded.networks_.threshold == networks.threshold
    assert np.allclose(loaded.networks_.stability, networks.stability)
    assert np.allclose(loaded.networks_.category_response, networks.category_response)
    assert match_components(networks, loaded.networks_)[0][2] == 1.0
    with loaded.apply_component_masks(model, [0, 1]):
        masked_logits = model(input_ids=torch.tensor([[3, 4, 5]])).logits
    assert not torch.equal(masked_logits, model(input_ids=torch.tensor([[3, 4, 5]])).logits)


def test_mismatched_and_malformed_templates_are_refused(tmp_path):
    model, mask, networks = fit(threshold_rule="topk", threshold=5)
    path = save_templates(networks, tmp_path / "t.json")
    with pytest.raises(TemplateError, match="made for another model.*3 layers vs the model's 4"):
        load_templates(path, model=tiny_llama(layers=4))
    cases = {
        "not json": ("{oops", "not valid JSON"),
        "wrong format": (json.dumps({"format": "other"}), "not an fnsft template"),
        "future schema": (
            json.dumps({"format": "fnsft-templates", "schema_version": 99}),
            "schema_version 99",
        ),
    }
    data = json.loads(path.read_text())
    data["components"][0]["neurons"] = {"1": [48]}
    cases["neuron out of range"] = (json.dumps(data), "outside 0..47")
    data["components"][0]["neurons"] = {"7": [1]}
    cases["layer out of range"] = (json.dumps(data), "names layer 7")
    for name, (text, message) in cases.items():
        bad = tmp_path / f"{name}.json"
        bad.write_text(text)
        with pytest.raises(TemplateError, match=message):
            load_templates(bad)
    with pytest.raises(TemplateError, match="no such file"):
        load_templates(tmp_path / "missing.json")


def test_failed_write_leaves_the_previous_template_intact(tmp_path, monkeypatch):
    _, _, networks = fit(threshold_rule="topk", threshold=5)
    path = save_templates(networks, tmp_path / "t.json")
    before = path.read_text()

    def explode(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(json, "dump", explode)
    with pytest.raises(OSError, match="disk full"):
        save_templates(networks, path)
    assert path.read_text() == before
    assert [p.name for p in tmp_path.iterdir()] == ["t.json"]


def test_functional_networks_sft_templates_are_imported(tmp_path):
    foreign = {
        "name": "legacy",
        "layout": {"captured_layers_sorted": [0, 1, 2], "hidden_size": 32},
        "templates": {"0": {"0": [1, 2], "2": [31]}, "1": {"1": [4]}},
    }
    path = tmp_path / "legacy.json"
    path.write_text(json.dumps(foreign))
    networks = load_templates(path, model=tiny_llama())
    assert networks.granularity == "mlp_output"
    assert networks.mask_dict() == {0: {0: [1, 2], 2: [31]}, 1: {1: [4]}}
    foreign["templates"]["0"]["0"] = [32]
    path.write_text(json.dumps(foreign))
    with pytest.raises(TemplateError, match="outside 0..31"):
        load_templates(path)


def test_select_keeps_the_chosen_networks_and_their_measures():
    _, _, networks = fit(threshold_rule="topk", threshold=5)
    chosen = networks.select([3, 1])
    assert chosen.num_components == 2
    assert chosen.mask_dict() == {0: networks.mask_dict()[1], 1: networks.mask_dict()[3]}
    assert np.array_equal(chosen.stability, networks.stability[[1, 3]])
    assert chosen.category_response.shape == (2, 2)
    assert chosen.data["selected_components"] == [1, 3]


def same_sets(a, b) -> bool:
    return len(a.neurons) == len(b.neurons) and all(
        sets_a.keys() == sets_b.keys() and all(np.array_equal(sets_a[k], sets_b[k]) for k in sets_a)
        for sets_a, sets_b in zip(a.neurons, b.neurons, strict=True)
    )


@pytest.mark.parametrize(
    ("rule", "value", "stricter"), [("zscore", 2.0, 2.5), ("percentile", 90.0, 95.0), ("topk", 7, 3)]
)
def test_rethresholding_reproduces_the_fit_and_a_stricter_value_gives_subsets(rule, value, stricter):
    _, _, networks = fit(threshold_rule=rule, threshold=value)
    again = networks.rethreshold(rule, value)
    assert same_sets(again, networks) and again.threshold == networks.threshold
    tighter = networks.rethreshold(rule, stricter)
    assert (tighter.threshold["rule"], tighter.threshold["value"]) == (rule, stricter)
    for component in range(networks.num_components):
        kept, before = set(tighter.flat_ids(component).tolist()), set(networks.flat_ids(component).tolist())
        assert kept <= before
    assert tighter.sizes().sum() < networks.sizes().sum()
    assert tighter.maps is networks.maps
    assert (networks.threshold["rule"], networks.threshold["value"]) == (rule, value)


def test_rethresholding_to_a_rule_reproduces_a_fit_with_that_rule():
    _, _, by_zscore = fit(threshold_rule="zscore", threshold=2.0)
    _, _, by_topk = fit(threshold_rule="topk", threshold=7)
    assert same_sets(by_zscore.rethreshold("topk", 7), by_topk)


def test_a_network_left_empty_is_named():
    _, _, networks = fit(threshold_rule="zscore", threshold=2.0)
    with pytest.warns(UserWarning, match=r"N0, N1, N2, N3 are empty: no neuron passes zscore 50;"):
        empty = networks.rethreshold("zscore", 50.0)
    assert empty.sizes().tolist() == [0, 0, 0, 0]
    assert empty.threshold["notes"] == [
        "N0, N1, N2, N3 are empty: no neuron passes zscore 50; lower the threshold to keep them."
    ]


def test_rethresholding_needs_the_maps_and_a_valid_threshold(tmp_path):
    model, mask, networks = fit(threshold_rule="topk", threshold=5)
    with pytest.raises(ValueError, match="percentile threshold must be above 0 and below 100"):
        networks.rethreshold("percentile", 100)
    mask.build_templates_from_current_components("tiny", tmp_path / "t.json")
    loaded = load_templates(tmp_path / "t.json")
    with pytest.raises(MaskSelectionError, match="keeps no neuron maps"):
        loaded.rethreshold("topk", 3)


def test_from_templates_takes_the_recorded_settings_and_names_the_unknown(tmp_path):
    model, mask, networks = fit(threshold_rule="topk", threshold=5, seed=4)
    mask.build_templates_from_current_components("tiny", tmp_path / "t.json")
    loaded = ICAMask.from_templates(tmp_path / "t.json", model)
    assert (loaded.threshold_rule, loaded.threshold, loaded.seed, loaded.stability_runs) == ("topk", 5, 4, 2)
    assert loaded.unknown_settings == ()
    sft = {"name": "x", "layout": {"captured_layers_sorted": [0, 1, 2], "hidden_size": 32}, "templates": {}}
    sft["templates"] = {"0": {"0": [1, 2]}}
    (tmp_path / "sft.json").write_text(json.dumps(sft))
    imported = ICAMask.from_templates(tmp_path / "sft.json")
    assert {"threshold", "threshold_rule", "ica_over", "seed"} <= set(imported.unknown_settings)
    assert imported.granularity == "mlp_output" and imported.networks_.num_components == 1
    assert "num_components" in imported.unknown_settings  # one network: no discovery asks for fewer than 2


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"threshold_rule": "median"}, "Threshold rule 'median' is unknown"),
        ({"threshold_rule": "percentile", "threshold": 100.0}, "above 0 and below 100"),
        ({"threshold_rule": "topk", "threshold": 0.5}, "whole number"),
        ({"ica_over": "layers"}, "ica_over='layers' is not one of 'neurons', 'tokens'"),
        ({"granularity": "attention"}, "granularity='attention' is not one of 'intermediate', 'mlp_output'"),
        ({"max_length": 1}, r"max_length=1 is out of range: max_length must be in 16\.\.1000000"),
        ({"num_components": "4"}, "num_components='4' must be a whole number"),
        ({"restarts": 0}, "restarts=0 is out of range"),
        ({"tol": -1}, r"tol=-1 is out of range: tol must be in \(0.0, 1.0\]"),
        ({"stability_threshold": 5}, "stability_threshold=5 is out of range"),
        ({"max_tokens": float("nan")}, "max_tokens=nan must be a whole number"),
    ],
)
def test_settings_are_checked_directly_when_made(settings, message):
    with pytest.raises(ValueError, match=message):
        ICAMask(**settings)


def test_global_neuron_ids_and_per_layer_ids_translate_both_ways():
    from fnsft.discovery._columns import global_ids, ids_by_layer, layer_offsets, values_by_layer

    widths = [4, 0, 3]
    assert layer_offsets(widths).tolist() == [0, 4, 4, 7]
    per_layer = ids_by_layer(np.array([1, 3, 4, 6]), widths)
    assert {layer: ids.tolist() for layer, ids in per_layer.items()} == {0: [1, 3], 2: [0, 2]}
    assert global_ids(per_layer, widths).tolist() == [1, 3, 4, 6]
    values = values_by_layer(np.arange(7), widths)
    assert [v.tolist() for v in values.values()] == [[0, 1, 2, 3], [], [4, 5, 6]]
    with pytest.raises(ValueError, match="6 values for 7 neurons"):
        values_by_layer(np.arange(6), widths)
