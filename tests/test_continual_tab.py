"""The Continual tab draws a suite's results: the mean matrix per method, the metrics with their spread, names
from the file shown as text."""

from __future__ import annotations

import json

import pytest

from fnsft.errors import EvidenceError
from fnsft.ui.continual_tab import load_results, matrix_figure, metrics_figure


def results() -> dict:
    run = {"accuracy": [[1.0, 0.5], [0.0, 1.0]]}
    other = {"accuracy": [[0.5, 0.5], [0.0, 0.5]]}
    spread = {"mean": -0.25, "std": 0.1, "n": 2}
    return {
        "suite": "s",
        "tasks": ["<b>one</b>", "two"],
        "methods": {
            "lora": {
                "seeds": {"0": run, "1": other},
                "summary": {"AA": spread, "BWT": spread, "FWT": spread},
            },
        },
    }


def test_the_heatmap_is_the_mean_matrix_over_seeds_with_task_names_escaped():
    figure = matrix_figure(results(), "lora")
    heat = figure.data[0]
    assert heat.z.tolist() == [[75.0, 50.0], [0.0, 75.0]]
    assert heat.y[0] == "&lt;b&gt;one&lt;/b&gt;"


def test_the_bar_chart_shows_each_metric_with_its_spread():
    bars = metrics_figure(results()).data
    assert [bar.name for bar in bars] == ["AA", "BWT", "FWT"]
    assert bars[1].y[0] == pytest.approx(-25.0) and bars[1].error_y.array[0] == pytest.approx(10.0)


def test_an_evidence_file_holding_results_loads_and_other_json_is_refused(tmp_path):
    path = tmp_path / "evidence.json"
    path.write_text(json.dumps({"command": "x", "results": results()}))
    assert load_results(path)["tasks"][1] == "two"
    path.write_text(json.dumps({"something": 1}))
    with pytest.raises(EvidenceError, match="no continual-learning results"):
        load_results(path)
