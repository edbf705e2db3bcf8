"""AA, BWT and FWT against matrices worked out by hand, and the seed summaries."""

from __future__ import annotations

import pytest

from fnsft.continual.metrics import (
    average_accuracy,
    backward_transfer,
    forward_transfer,
    paired_difference,
    spread,
    summarise,
)

# a[t][T]: rows are tasks, columns the stage after which they were scored
MATRIX = [
    [0.8, 0.6, 0.5],
    [0.1, 0.9, 0.7],
    [0.0, 0.2, 0.6],
]
SINGLE_TASK = [None, 0.8, 0.5]


def test_average_accuracy_is_the_mean_of_the_last_column():
    assert average_accuracy(MATRIX) == pytest.approx((0.5 + 0.7 + 0.6) / 3)


def test_backward_transfer_compares_the_last_stage_with_just_after_learning():
    assert backward_transfer(MATRIX) == pytest.approx(((0.5 - 0.8) + (0.7 - 0.9)) / 2)  # -0.25: forgetting


def test_forward_transfer_compares_the_diagonal_with_single_task_runs_after_the_first_task():
    assert forward_transfer(MATRIX, SINGLE_TASK) == pytest.approx(((0.9 - 0.8) + (0.6 - 0.5)) / 2)


def test_no_forgetting_gives_zero_backward_transfer():
    assert backward_transfer([[1.0, 1.0], [0.0, 0.5]]) == 0.0


def test_summary_holds_all_three_and_fwt_needs_single_task_runs():
    assert summarise(MATRIX, None) == {"AA": pytest.approx(0.6), "BWT": pytest.approx(-0.25), "FWT": None}
    with pytest.raises(ValueError, match="single-task"):
        forward_transfer(MATRIX, [None, 0.8, None])


def test_a_matrix_that_is_not_square_is_refused():
    with pytest.raises(ValueError, match="square"):
        average_accuracy([[0.1, 0.2]])


def test_paired_difference_uses_shared_seeds_only():
    result = paired_difference({0: 0.5, 1: 0.7, 2: 0.9}, {0: 0.4, 1: 0.4})
    assert result["per_seed"] == {0: pytest.approx(0.1), 1: pytest.approx(0.3)}
    assert result["mean"] == pytest.approx(0.2)
    assert result["std"] == pytest.approx(0.1414213, rel=1e-5)
    assert spread([None]) == {"mean": None, "std": None, "n": 0}


def test_the_stage_table_shows_each_tasks_learned_and_final_accuracy_averaged_over_seeds():
    from fnsft.continual.report import stage_lines

    def run(first_kept: float, protected: int | None) -> dict:
        return {
            "accuracy": [[1.0, first_kept], [0.0, 0.5]],
            "general_loss": [3.0, 3.5],
            "protected_neurons": [protected, protected],
        }

    results = {
        "tasks": ["a", "b"],
        "methods": {
            "networks": {"seeds": {"0": run(0.5, 100), "1": run(0.0, 200)}},
            "lora": {"seeds": {"0": run(0.0, None)}},
        },
    }
    lines = stage_lines(results)
    assert lines[2] == "| networks | 100 / 50 | 25 / 50 | 3.50 | 150 |"
    assert lines[3] == "| lora | 100 / 50 | 0 / 50 | 3.50 | — |"
