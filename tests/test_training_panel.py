"""The Fine-tune panel says what a run is doing between its steps, and why a chart is empty."""

from __future__ import annotations

import json

from fnsft.ui.jobs import JobSnapshot
from fnsft.ui.training_panel import PREPARING, no_drift, progress_html

ROW = {"step": 10, "max_steps": 10, "epoch": 1.0, "tokens_per_second": 100, "eta_seconds": 0}


def test_the_phases_before_and_after_the_steps_are_shown(tmp_path):
    before = progress_html(JobSnapshot(tmp_path, "running", [], {}))
    assert PREPARING in before and "ETA –" in before
    after = progress_html(
        JobSnapshot(tmp_path, "running", [ROW], {"phase": "measuring the model after training"})
    )
    assert "step 10/10 · measuring the model after training" in after and "ETA –" in after
    during = progress_html(
        JobSnapshot(tmp_path, "running", [{**ROW, "step": 3, "eta_seconds": 30}], {"phase": "x"})
    )
    assert "step 3/10 · epoch" in during and "ETA 30s" in during and "· x ·" not in during


def test_an_empty_drift_chart_says_why(tmp_path):
    assert "tick 'Measure drift'" in no_drift(JobSnapshot(tmp_path, "completed"))
    (tmp_path / "config.json").write_text(json.dumps({"drift": True}))
    assert no_drift(JobSnapshot(tmp_path, "stopped")) == (
        "Drift is measured when the run completes (this run is stopped); resume it to get it."
    )
