"""The research loop in the app: a visitor's own text, shaded by where a network fires."""

from __future__ import annotations

import html

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from test_app import app, discovered, mine, plot  # noqa: F401  (fixtures)
from test_app import values as plotly_values


def test_your_own_text_shows_where_a_network_fires(discovered):  # noqa: F811
    from fnsft.analysis._card_passes import text_activations

    client, state, _ = discovered
    text = "def add(a, b): return a + b <b>"
    client.predict(api_name="/explore")  # as the page does: the network dropdown gets its choices
    shown, every = client.predict(2, text, api_name="/own_text")
    loaded = state.require_model()
    tokens, values = text_activations(mine(client, state).networks, loaded.model, loaded.tokenizer, text)
    assert values.shape == (len(tokens), mine(client, state).networks.num_components)
    peak = tokens[int(np.argmax(values[:, 2]))]
    assert shown.startswith(f"<p><b>N2</b> fires most at <code>{html.escape(repr(peak))}</code>")
    assert shown.count("<span title=") == len(tokens) and "&gt;" in shown and shown.count("<b>") == 1
    heatmap = plot(every)["data"][0]  # every network at every token
    assert heatmap["y"] == [f"N{c}" for c in range(values.shape[1])] and len(
        plotly_values(heatmap["x"])
    ) == len(tokens)
    assert np.allclose(plotly_values(heatmap["z"]).astype(float), values.T, atol=1e-5)
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


def test_generation_says_its_time_and_cancel_stops_it_within_a_step(discovered, monkeypatch):  # noqa: F811
    import time

    from test_app import DECODING

    from fnsft.ui import compare

    def slow_steps(*args, **kwargs):  # a big model's pace, on the tiny one: 0.2 s a step
        for texts in compare_stream(*args, **kwargs):
            time.sleep(0.2)
            yield texts

    compare_stream = compare.stream_comparison
    monkeypatch.setattr(compare, "stream_comparison", slow_steps)
    client, state, _ = discovered
    settings = {**DECODING, "max_new_tokens": 200}  # the tiny model has room for 256 tokens in all
    job = client.submit(
        [0], "lesion", 1.0, "zero", "", "Tell me about rivers.", *settings.values(), api_name="/compare"
    )
    while len(job.outputs()) < 3 and not job.done():  # the empty start, then the first steps
        time.sleep(0.05)
    assert "up to 200 tokens per side: about" in job.outputs()[-1][2]
    asked = time.monotonic()
    client.predict(api_name="/cancel_compare")
    baseline, masked, info = job.result()
    assert time.monotonic() - asked < 10  # 200 steps would take 40 s
    steps = int(info.split("Cancelled after ")[1].split()[0])
    assert steps < 200 and mine(client, state).job is None
    with pytest.raises(AppError, match="No generation, discovery"):
        client.predict(api_name="/cancel_compare")  # nothing left to cancel


def test_a_top_example_opens_its_full_text(discovered):  # noqa: F811
    from fnsft.data._texts import corpus_text

    client, state, _ = discovered
    client.predict(api_name="/explore")
    example = mine(client, state).networks.card(1).top_examples[0]
    text, shaded, every = client.predict(1, 1, api_name="/example_text")
    assert text == corpus_text(example.text_index, example.tokens)[:4000]
    assert len(text) > len("".join(example.tokens))  # the whole text, not the card's window
    assert shaded.startswith("<p><b>N1</b> fires most at") and plot(every)["data"][0]["type"] == "heatmap"
    with pytest.raises(AppError, match="This card has top examples 1 to"):
        client.predict(1, 99, api_name="/example_text")
    assert corpus_text(example.text_index, ["not in that text"]) is None
