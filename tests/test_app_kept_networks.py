"""A reload brings a visitor's own networks back (the key lives in their browser); no other key finds them."""

from __future__ import annotations

import numpy as np
from gradio_client import Client
from test_app import DISCOVERY, app, mine  # noqa: F401  (app: a fixture)


def test_a_reload_restores_the_visitors_own_networks(app):  # noqa: F811
    client, state = app
    page = Client(client.src, verbose=False)
    page.predict(api_name="/sync")
    assert page.predict(api_name="/keep_networks") is None  # the shipped networks need no keeping
    page.predict(*DISCOVERY.values(), api_name="/discover")
    key = page.predict(api_name="/keep_networks")
    found = mine(page, state).networks
    reloaded = Client(client.src, verbose=False)  # a new session, as after a reload
    reloaded.predict(api_name="/sync")
    reloaded.predict(key, api_name="/restore_networks")
    back = mine(reloaded, state).networks
    assert back is not found and back.num_components == found.num_components == DISCOVERY["components"]
    assert np.array_equal(back.counts_per_layer(), found.counts_per_layer())
    assert np.array_equal(back.maps, found.maps)  # the maps came back too: rethresholding works
    reloaded.predict("percentile", 99.0, api_name="/rethreshold")
    assert mine(reloaded, state).networks.threshold["rule"] == "percentile"
    stranger = Client(client.src, verbose=False)
    stranger.predict(api_name="/sync")
    stranger.predict("a" * 32, api_name="/restore_networks")  # a guess finds nothing
    assert mine(stranger, state).networks is state.shipped_networks
    for each in (page, reloaded, stranger):
        each.close()
