"""The app trains in a child process (`fnsft-train`): `kill -9` of it leaves the server answering and the panel
saying what happened; Stop (a signal) -> Resume -> complete works. Steps are released by a gate file the test
holds (tests/gated_train.py), so how far a run gets never depends on the machine's speed."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest
from gradio_client import Client
from test_app import app, mine, state_is, training_settings, wait_for_training  # noqa: F401  (app: a fixture)

from fnsft.training import read_progress

GATED_TRAIN = (sys.executable, str(Path(__file__).with_name("gated_train.py")))


@pytest.fixture
def gate(app, monkeypatch, tmp_path):  # noqa: F811
    """The gate file of the app's runs: it holds how many steps a run may complete (none while it is missing)."""
    _, state = app
    path = tmp_path / "gate"
    monkeypatch.setenv("FNSFT_TEST_GATE", str(path))
    monkeypatch.setattr(state.jobs, "command", GATED_TRAIN)
    return path


def untrained(**changes) -> list:
    return training_settings(mode="none", ids=[], **changes)


def test_a_killed_training_process_takes_nothing_else_down(app, gate):  # noqa: F811
    client, state = app
    gate.write_text("1")
    client.predict(*untrained(max_steps=5), api_name="/start_training")
    wait_for_training(client, lambda panel: panel[2].startswith("step 1/5"))
    run_dir = mine(client, state).run_dir
    pid = json.loads((run_dir / "status.json").read_text())["pid"]
    assert pid != os.getpid() and pid == state.jobs.live(run_dir).process.pid  # the run is its own process
    os.kill(pid, signal.SIGKILL)
    panel = wait_for_training(client, state_is("failed", "interrupted", "stopped", "completed"), timeout=60)
    assert 'data-state="failed"' in panel[0] and "step 1/5" in panel[0]
    assert "error: The training process was killed (SIGKILL) before it finished" in panel[2]
    assert panel[-1]["active"] is False  # the page stops polling
    assert client.predict(api_name="/model_summary")  # the server answers this page...
    stranger = Client(client.src, verbose=False)
    assert stranger.predict(api_name="/training_status")[0] == "No training yet."  # ...and a new one
    stranger.close()
    gate.write_text("100")  # the visitor's slot is free again: a new run starts and completes
    client.predict(*untrained(max_steps=2), api_name="/start_training")
    panel = wait_for_training(client, state_is("completed", "failed"))
    assert 'data-state="completed"' in panel[0], panel[2]


def test_stop_resume_complete_through_the_app(app, gate):  # noqa: F811
    client, state = app
    gate.write_text("2")
    client.predict(*untrained(max_steps=4), api_name="/start_training")
    wait_for_training(client, lambda panel: "step 2/4" in panel[2])
    client.predict(api_name="/stop_training")  # SIGTERM: the run ends its current step and saves it
    panel = wait_for_training(client, state_is("stopped", "failed", "completed"))
    assert 'data-state="stopped"' in panel[0] and panel[9].endswith("checkpoint-3.zip"), panel[2]
    run_dir = mine(client, state).run_dir
    assert json.loads((run_dir / "status.json").read_text())["state"] == "stopped"  # the child said so itself
    gate.write_text("100")
    resumed = client.predict(api_name="/resume_training")
    assert 'data-state="starting"' in resumed[0] and resumed[-1]["active"] is True  # the panel follows it
    panel = wait_for_training(client, state_is("completed", "failed"))
    assert 'data-state="completed"' in panel[0] and "step 4/4" in panel[0], panel[2]
    steps = [row["step"] for row in read_progress(run_dir)]
    assert steps == sorted(steps) and set(steps) == {1, 2, 3, 4}  # resumed from step 3, nothing done twice
    assert "target (held out)" in {row[0] for row in panel[3]["data"]} and (run_dir / "final").is_dir()
