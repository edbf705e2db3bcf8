"""Network cards: a planted network's card highlights its token; ordering, window bounds, template round trips."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from conftest import tiny_llama
from test_networks import TEXTS, CharTokenizer, fit

from fnsft.analysis._card_passes import TEMPLATE_ACTIVATION, add_logit_effects, template_cards
from fnsft.errors import MaskSelectionError, TemplateError
from fnsft.models._architectures import model_shape
from fnsft.networks._cards import TokenRows, network_card, top_rows
from fnsft.networks._functional_networks import FunctionalNetworks
from fnsft.networks._templates import load_templates, save_templates, templates_to_dict

PLANTED_CHAR = "q"
PLANTED_ID = CharTokenizer()(PLANTED_CHAR)["input_ids"][0]
PLANTED = np.arange(8)  # layer-1 neurons that fire on PLANTED_CHAR


def planted_model():
    """A tiny Llama whose layer-1 neurons 0..7 read the embedding of PLANTED_CHAR (gate and up aligned with it)."""
    model = tiny_llama(seed=2)
    with torch.no_grad():
        embedding = model.model.embed_tokens.weight[PLANTED_ID]
        direction = embedding / embedding.norm()
        mlp = model.model.layers[1].mlp
        mlp.gate_proj.weight[PLANTED] = 40 * direction
        mlp.up_proj.weight[PLANTED] = 40 * direction
    return model


def planted_networks(model) -> FunctionalNetworks:
    return FunctionalNetworks(
        [{1: PLANTED}, {0: np.arange(40, 48)}], model_shape(model), "tiny", "intermediate", {"rule": "topk"}
    )


QUIET_TEXTS = [
    {"text": f"Item {i} was quiet, as quiet as the square at {i} o'clock.", "category": "prose"}
    for i in range(10)
] + [{"text": f"def f{i}(x): return x + {i}", "category": "code"} for i in range(10)]


def test_a_planted_networks_card_highlights_its_token_and_names_it():
    model = planted_model()
    networks = planted_networks(model)
    stages = []
    cards = template_cards(
        networks, model, CharTokenizer(), QUIET_TEXTS, progress=lambda stage, f: stages.append((stage, f))
    )
    card = cards[0]
    assert [e.tokens[e.position] for e in card.top_examples] == [PLANTED_CHAR] * len(card.top_examples)
    assert len(card.top_examples) == 20
    assert card.label.startswith("N0") and card.label.endswith(f'"{PLANTED_CHAR}"')
    assert card.category_activation["prose"] > 0 > card.category_activation["code"]
    assert card.activation == TEMPLATE_ACTIVATION
    assert card.histogram.share_above > 0 and sum(card.histogram.counts) == sum(
        len(t["text"]) for t in QUIET_TEXTS
    )
    assert card.logit_effect is not None and len(card.logit_effect.suppressed) == 10
    assert card.logit_effect.suppressed[0][1] <= 0 <= card.logit_effect.promoted[0][1]
    assert stages[0][0] == "capture" and stages[-1] == ("logit effect", 1.0)


def rows_for(lengths: list[int]) -> TokenRows:
    ids = np.concatenate([np.arange(n) + 10 * t for t, n in enumerate(lengths)])
    return TokenRows(
        ids,
        np.concatenate([np.full(n, t) for t, n in enumerate(lengths)]),
        np.concatenate([np.arange(n) for n in lengths]),
        [f"c{t}" for t in range(len(lengths))],
    )


def test_examples_are_ordered_capped_per_text_and_windows_stay_inside_their_text():
    rows = rows_for([30, 5, 30])
    activation = np.zeros(65)
    activation[[2, 3, 4, 5, 20]] = [9, 8, 7, 6, 5]  # text 0: five peaks; per_text=3 keeps the top three
    activation[[31, 50]] = [4, 3]  # text 1 (rows 30..34) and text 2
    card = network_card(0, activation, rows, str, "test", k=5, per_text=3, before=12, after=4)
    assert [e.text_index for e in card.top_examples] == [0, 0, 0, 1, 2]
    values = [e.activation for e in card.top_examples]
    assert values == sorted(values, reverse=True)
    first, short = card.top_examples[0], card.top_examples[3]
    assert first.tokens == [str(i) for i in range(0, 7)] and first.position == 2  # clipped at the text start
    assert short.tokens == [str(10 + i) for i in range(5)] and short.position == 1  # the whole 5-token text
    middle = card.top_examples[4]  # row 50 = text 2, position 15: 12 before, 4 after
    assert middle.tokens == [str(20 + i) for i in range(3, 20)] and middle.position == 12
    assert middle.category == "c2" and len(middle.values) == len(middle.tokens)
    assert top_rows(activation, rows.text_index, 3, 1) == [2, 31, 50]


def test_interval_examples_lie_in_their_interval_highest_first():
    rows = rows_for([40, 40])
    activation = np.random.default_rng(0).standard_normal(80)
    card = network_card(0, activation, rows, str, "test")
    lows = [interval.low for interval in card.quantile_examples]
    assert lows == sorted(lows, reverse=True) and lows[-1] == 0.0
    for interval in card.quantile_examples:
        assert all(interval.low <= e.activation <= interval.high + 1e-3 for e in interval.examples)
    assert card.histogram.share_above == 0.0  # nothing reaches z = 3 in 80 normal draws with this seed


def test_discovered_cards_round_trip_through_a_version_2_template(tmp_path):
    model, _, networks = fit(threshold_rule="topk", threshold=5)
    assert networks.cards is not None and len(networks.cards) == networks.num_components
    path = save_templates(networks, tmp_path / "t.json")
    data = json.loads(path.read_text())
    assert data["schema_version"] == 2
    assert max(len(json.dumps(card)) for card in data["cards"]) < 12_000
    loaded = load_templates(path, model)
    assert loaded.card(1) == networks.card(1)
    assert networks.card(0).logit_effect is None  # measured on demand, not during discovery
    measured = add_logit_effects(networks, model, CharTokenizer(), [2])
    assert [card.logit_effect is not None for card in measured] == [False, False, True, False]
    assert measured[2].top_examples == networks.card(2).top_examples
    networks.cards = measured
    assert networks.rethreshold("topk", 3).card(2).logit_effect is None
    chosen = networks.select([2]).card(0)
    assert chosen.component == 0 and chosen.label == "N0" + networks.card(2).label.removeprefix("N2")
    assert chosen.top_examples == networks.card(2).top_examples


def test_version_1_templates_load_without_cards_and_say_how_to_get_them(tmp_path):
    model = tiny_llama()
    data = templates_to_dict(planted_networks(model))
    data["schema_version"] = 1
    path = tmp_path / "v1.json"
    path.write_text(json.dumps(data))
    networks = load_templates(path, model)
    assert networks.cards is None
    with pytest.raises(MaskSelectionError, match="has no cards.*template_cards"):
        networks.card(0)


def card_template() -> dict:
    model = planted_model()
    networks = planted_networks(model)
    networks.cards = template_cards(networks, model, CharTokenizer(), TEXTS[:6], max_tokens=200)
    return templates_to_dict(networks)


@pytest.mark.parametrize(
    ("path", "value", "message"),
    [
        (("cards",), [], r"cards: 0 cards for 2 components"),
        (("cards", 1, "component"), 0, r"cards\[1\].component: 0 at position 1"),
        (("cards", 0, "top_examples", 0, "position"), 99, r"top_examples\[0\].position: 99 is out of range"),
        (("cards", 0, "top_examples", 0, "tokens"), ["x"] * 65, r"tokens: 65 entries; expected at most 64"),
        (("cards", 0, "histogram", "share_above"), 2, r"histogram.share_above: 2 is out of range"),
        (("cards", 0, "label"), "x" * 401, r"label: 401 characters"),
    ],
    ids=["count", "order", "position", "window", "share", "label"],
)
def test_malformed_cards_are_refused_by_name(tmp_path, path, value, message):
    data = copy.deepcopy(card_template())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(data))
    with pytest.raises(TemplateError, match=message):
        load_templates(file)


def test_card_html_shades_tokens_escapes_them_and_exports_one_page():
    from fnsft.viz._card_html import card_histogram, card_html

    rows = rows_for([20])
    activation = np.zeros(20)
    activation[10] = 5.0
    pieces = {10: "<b>", 9: "\n"}
    card = network_card(0, activation, rows, lambda t: pieces.get(t, f"t{t}"), "test")
    fragment = card_html(card)
    assert "&lt;b&gt;" in fragment and "<b>" not in fragment.replace("<b>falls", "").replace("<b>rises", "")
    assert "outline:2px solid" in fragment and "⏎" in fragment  # the token outlined, a newline shown
    assert "background:#ff8c00;color:#111" in fragment  # the strongest token fully shaded, its text set dark
    assert "rgba" not in fragment  # opaque shades only: dark text stays readable on a dark page
    page = card_html(card, document=True)
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<script" not in page
    assert list(card_histogram(card).data[0].y) == card.histogram.counts
