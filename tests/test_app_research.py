"""The research loop in the app: a visitor's own text, shaded by where a network fires."""

from __future__ import annotations

import html

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from test_app import app, discovered, mine  # noqa: F401  (fixtures)


def test_your_own_text_shows_where_a_network_fires(discovered):  # noqa: F811
    from fnsft.analysis._card_passes import text_activations

    client, state, _ = discovered
    text = "def add(a, b): return a + b <b>"
    client.predict(api_name="/explore")  # as the page does: the network dropdown gets its choices
    shown = client.predict(2, text, api_name="/own_text")
    loaded = state.require_model()
    tokens, values = text_activations(mine(client, state).networks, loaded.model, loaded.tokenizer, text)
    assert values.shape == (len(tokens), mine(client, state).networks.num_components)
    peak = tokens[int(np.argmax(values[:, 2]))]
    assert shown.startswith(f"<p><b>N2</b> fires most at <code>{html.escape(repr(peak))}</code>")
    assert shown.count("<span title=") == len(tokens) and "&gt;" in shown and shown.count("<b>") == 1
    with pytest.raises(AppError, match="Type a text first"):
        client.predict(2, "  ", api_name="/own_text")
    with pytest.raises(AppError, match="at most 4,000 here"):
        client.predict(2, "x" * 5000, api_name="/own_text")


def test_networks_are_found_by_category_or_token(discovered):  # noqa: F811
    from fnsft.networks._search import search_networks

    client, state, _ = discovered
    networks = mine(client, state).networks
    client.predict(api_name="/explore")
    labelled = next(c for c in range(networks.num_components) if networks.top_categories(c, 1))
    category = networks.top_categories(labelled, 1)[0]
    hits = search_networks(networks, category.upper())
    assert (labelled, f"category {category}") in hits and all(why.startswith("category") for _, why in hits)
    listing, chosen = client.predict(category, api_name="/search_networks")
    assert listing.count("\n- ") + 1 == len(hits) and chosen == hits[0][0]
    tops = networks.card(4).top_examples
    token = next(t.strip() for t in (e.tokens[e.position] for e in tops) if t.strip())
    assert any(c == 4 or why.startswith("category") for c, why in search_networks(networks, token))
    message, _ = client.predict("no-such-thing-xyz", api_name="/search_networks")
    assert message.startswith("No network has 'no-such-thing-xyz'")


def test_the_fine_tuned_model_answers_beside_the_base_after_a_run(app):  # noqa: F811
    from gradio_client import Client
    from test_app import state_is, training_settings, wait_for_training

    client, _ = app
    visitor = Client(client.src, verbose=False)
    with pytest.raises(AppError, match="no completed run of yours"):
        visitor.predict("Hi", api_name="/try_adapter")
    settings = training_settings(mode="none", ids=[], max_steps=2, learning_rate=0.5)
    visitor.predict(*settings, api_name="/start_training")
    wait_for_training(visitor, state_is("completed", "failed"))
    base, tuned = visitor.predict("What is Veltra?", api_name="/try_adapter")
    assert base and tuned and base != tuned  # a learning rate of 0.5 changes the model visibly
    visitor.close()
