"""The Discover tab's thorough discovery: its time estimated before the work starts, progress by phase, networks
with a split-half check at the end, and Cancel (on the tiny model, with a small budget)."""

from __future__ import annotations

import time

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from test_app import app, mine  # noqa: F401  (app: a fixture)


@pytest.fixture
def small(monkeypatch):
    """The thorough preset with a tiny model's budget (the test is about the job, not the networks)."""
    from fnsft.ui import thorough

    settings = thorough.THOROUGH.replace(
        num_components=4, max_tokens=512, sketch_tokens=256, stability_runs=1
    )
    monkeypatch.setattr(thorough, "THOROUGH", settings)
    return settings


def descriptions_until_done(job, stop_when=None) -> list[str]:
    """The progress descriptions a job shows, in order, until it ends (or `stop_when(description)`)."""
    seen: list[str] = []
    while not job.done():
        for unit in job.status().progress_data or []:
            if unit.desc and (not seen or seen[-1] != unit.desc):
                seen.append(unit.desc)
                if stop_when is not None and stop_when(unit.desc):
                    return seen
        time.sleep(0.1)
    return seen


def test_a_thorough_discovery_says_its_cost_first_then_its_phases(app, small):  # noqa: F811
    from fnsft.ui.thorough import JOB, estimate, forward_tokens

    client, state = app
    visitor = Client(client.src, verbose=False)
    job = visitor.submit(api_name="/thorough_discovery")
    seen = descriptions_until_done(job)
    summary = job.result()  # (the version output is a State, which clients do not get)
    networks = mine(visitor, state).networks
    assert "**4 networks**" in summary and networks.split_half is not None
    assert networks.data["num_tokens"] == 512 and networks.settings.streaming
    assert (
        seen[0].startswith("Thorough discovery: at least ") and f"{forward_tokens(small):,} tokens" in seen[0]
    )
    phases = [description.split(" · ")[0] for description in seen[1:]]
    assert phases.index("Recording activations") < phases.index("Split-half reliability, second half")
    assert estimate(state, small).startswith("about ")  # the next one says what this one took
    assert state.heavy.last_seconds[JOB] > 0
    visitor.close()


def test_cancel_stops_a_thorough_discovery_and_keeps_the_networks(app, small):  # noqa: F811
    client, state = app
    visitor = Client(client.src, verbose=False)
    visitor.predict(api_name="/sync")
    before = mine(visitor, state).networks
    job = visitor.submit(api_name="/thorough_discovery")
    descriptions_until_done(job, stop_when=lambda description: description.startswith("Recording"))
    visitor.predict(api_name="/cancel_discover")
    with pytest.raises(AppError, match="Cancelled: your thorough discovery stopped and changed nothing"):
        job.result()
    assert mine(visitor, state).networks is before and mine(visitor, state).job is None
    visitor.close()
