"""The Continual tab runs a visitor's small suite in the background: `fnsft-continual` as a child process on a
suite file the library accepts, the visitor's alone, stopped and resumed from its last finished stage, its
results drawn in the tab; a choice out of bounds is refused before anything starts. One test runs the real
command on a tiny model, its stages released by a gate file (tests/gated_continual.py)."""

from __future__ import annotations

import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import gradio as gr
import pytest

from fnsft.continual import load_suite
from fnsft.continual.progress import SuiteProgress
from fnsft.ui.continual_tab import (
    IDLE,
    restore_suite,
    resume_suite,
    show_suite,
    start_suite,
    stop_suite,
    suite_status,
)
from fnsft.ui.state import AppState
from fnsft.ui.visitor import Visitor

GATED_CONTINUAL = (sys.executable, str(Path(__file__).with_name("gated_continual.py")))
SLEEPER = (
    sys.executable,
    "-c",
    "import time; time.sleep(120)",
)  # stands in for the command where no model runs


@pytest.fixture
def state(tiny_folder, tmp_path):
    app_state = AppState(runs_dir=tmp_path / "runs", work_dir=tmp_path / "work")
    app_state.load(str(tiny_folder))
    yield app_state
    app_state.jobs.close()


def wait_for(state: AppState, visitor: Visitor, done: Callable[[str], bool], timeout: float = 120) -> tuple:
    """Poll the visitor's panel, as the page's timer does, until its progress HTML satisfies `done`."""
    deadline = time.monotonic() + timeout
    while True:
        panel = suite_status(state, visitor)
        if done(panel[0]) or time.monotonic() > deadline:
            return panel
        time.sleep(0.2)


def ended(html: str) -> bool:
    return any(f'data-state="{word}"' in html for word in ("completed", "stopped", "failed", "interrupted"))


def test_a_suite_runs_from_a_checked_file_as_its_visitors_alone(state, tiny_folder):
    state.jobs.suite_command = SLEEPER
    owner, stranger = Visitor(), Visitor()
    panel = start_suite(state, owner, ["ewc", "lora"], ["sentiment", "passage-kind"], 2.0, 3.0)
    run_dir = owner.suite_dir
    assert run_dir.parent == state.jobs.runs_dir / "continual"
    suite = load_suite(run_dir / "launch.json")  # what fnsft-continual reads, with its own checks
    assert suite.methods == ["lora", "ewc"] and suite.seeds == [0, 1] and suite.steps == 3
    assert [task.name for task in suite.tasks] == ["passage-kind", "sentiment"]  # the offline suite's order
    assert suite.model == str(tiny_folder)
    process = state.jobs.live(run_dir).process
    assert process.args[-4:] == ["--config", str(run_dir / "launch.json"), "--output-dir", str(run_dir)]
    assert 'data-state="starting"' in panel[0] and "loading the model" in panel[0] and panel[2].active
    assert owner.job == "continual suite"
    ticket = panel[-1]
    assert IDLE in suite_status(state, stranger)[0]
    with pytest.raises(gr.Error):
        stop_suite(state, stranger)
    assert stranger.failure == "No continual suite of yours is running."
    assert IDLE in restore_suite(state, stranger, {**ticket, "key": "not-the-key"})[0]
    with pytest.raises(gr.Error):
        resume_suite(state, stranger)
    assert stranger.failure == "You have no stopped suite to resume."
    with pytest.raises(gr.Error):
        start_suite(state, stranger, ["lora"], ["sentiment", "parity"], 1, 1)
    assert "running another continual suite" in stranger.failure and stranger.job is None
    assert process.poll() is None  # nothing the stranger did touched it
    reloaded = Visitor()  # the owner's page after a reload: its ticket finds the suite
    assert 'data-state="starting"' in restore_suite(state, reloaded, ticket)[0]
    stop_suite(state, owner)
    panel = wait_for(state, owner, ended, timeout=30)
    assert 'data-state="stopped"' in panel[0] and panel[1]["visible"] and not panel[2].active
    assert owner.job is None  # the slot is free again
    # A restarted app has no process: a "running" written by one that is gone reads as interrupted, resumable.
    record = {"state": "running", "pid": process.pid, "host": socket.gethostname(), "method": "lora"}
    (run_dir / "status.json").write_text(json.dumps(record))
    restarted = AppState(runs_dir=state.jobs.runs_dir, work_dir=state.work_dir)
    panel = restore_suite(restarted, Visitor(), ticket)
    assert 'data-state="interrupted"' in panel[0] and panel[1]["visible"]


def test_the_estimate_is_the_measured_time_per_stage_times_what_is_left():
    done = SuiteProgress(2, 4, 0, 3, stage_seconds=(10.0, 20.0), train_seconds=(4.0, 6.0))
    assert done.remaining_seconds == 2 * 15.0 + 3 * 5.0 and done.fraction == 2 / 7
    assert SuiteProgress(0, 4, 0, 3).remaining_seconds is None  # nothing measured yet: no estimate


@pytest.mark.parametrize(
    ("methods", "tasks", "seeds", "steps", "message"),
    [
        (["lora"], ["sentiment"], 1, 2, "Choose 2 to 4 tasks (a suite learns a sequence); 1 chosen."),
        ([], ["sentiment", "parity"], 1, 2, "Choose at least one method."),
        (["lora"], ["sentiment", "parity"], 4, 2, "Seeds must be a whole number from 1 to 3, got 4."),
        (["lora"], ["sentiment", "parity"], 1, 17, "Steps per stage must be a whole number from 1 to 16"),
        (
            ["lora", "ewc", "lwf", "o-lora", "networks"],
            ["sentiment", "parity", "passage-kind"],
            2,
            2,
            "5 methods × 2 seeds × 3 tasks = 30 stages; this server runs at most 24",
        ),
        (["networks-fixed"], ["sentiment", "parity"], 1, 2, "this model has none"),
    ],
)
def test_a_choice_out_of_bounds_is_refused_before_anything_starts(
    state, methods, tasks, seeds, steps, message
):
    visitor = Visitor()
    with pytest.raises(gr.Error):
        start_suite(state, visitor, methods, tasks, seeds, steps)
    assert message in visitor.failure
    assert visitor.suite_dir is None and visitor.job is None
    assert (
        not (state.jobs.runs_dir / "continual").exists() and state.jobs._job is None
    )  # no folder, no process


def test_a_suite_stops_resumes_from_its_finished_stage_and_fills_the_tab(state, tmp_path, monkeypatch):
    gate = tmp_path / "gate"
    monkeypatch.setenv("FNSFT_TEST_GATE", str(gate))
    state.jobs.suite_command = GATED_CONTINUAL
    gate.write_text("1")  # stage 1 trains; stage 2 waits
    owner = Visitor()
    start_suite(state, owner, ["lora"], ["passage-kind", "sentiment"], 1, 2)
    panel = wait_for(state, owner, lambda html: "stage 2/2 (sentiment) · step 0/2" in html or ended(html))
    assert 'data-state="running"' in panel[0] and "lora · seed 0" in panel[0], panel[0]
    assert "stages 1/2, single-task runs 0/1" in panel[0] and " left (from the 1 stage(s) done)" in panel[0]
    run_dir = owner.suite_dir
    finished = run_dir / "lora" / "seed-0"
    first_stage = (finished / "stage-0.json").read_bytes()
    assert (finished / "checkpoint-stage-0" / "complete.json").is_file()
    stop_suite(state, owner)  # SIGTERM: the child ends at once; the server goes on
    panel = wait_for(state, owner, ended, timeout=30)
    assert 'data-state="stopped"' in panel[0] and panel[1]["visible"], panel[0]
    assert not (finished / "stage-1.json").exists()
    gate.write_text("100")
    assert 'data-state="starting"' in resume_suite(state, owner)[0]
    panel = wait_for(state, owner, ended)
    assert 'data-state="completed"' in panel[0], (run_dir / "continual.log").read_text()[-2000:]
    assert (finished / "stage-0.json").read_bytes() == first_stage  # resumed after it, not redone
    caption, method, heatmap, table, _chart = panel[3:]
    assert "passage-kind → sentiment" in caption and method["value"] == "lora"
    assert len(heatmap.data[0].z) == 2 and table[0][0] == "lora"
    results = json.loads((run_dir / "results.json").read_text())
    assert table[0][2] == f"{results['methods']['lora']['summary']['AA']['mean'] * 100:+.1f} ± 0.0"
    assert "app-offline" in show_suite(owner)[0] and "app-offline" not in show_suite(Visitor())[0]
