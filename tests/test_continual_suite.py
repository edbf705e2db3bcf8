"""Suite configs refused before any model loads, resume after an interruption, and one command-line run on a
tiny model."""

from __future__ import annotations

import json

import pytest
import torch
import yaml

from fnsft.cli import continual_main
from fnsft.continual import OFFLINE_SUITE, load_suite, run_suite, suite_from_dict
from fnsft.errors import ContinualConfigError


def write_tasks(folder):
    """Two tiny labelled tasks as local JSON Lines files."""
    for name, labels in (("colours", ("red", "blue")), ("shapes", ("round", "square"))):
        records = [{"text": f"item {i} {name}", "label": labels[i % 2]} for i in range(12)]
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def config(folder, model, **changes) -> dict:
    task = {
        "text_fields": "text",
        "label_field": "label",
        "instruction": "Answer: {text}",
        "train_size": 4,
        "test_size": 2,
    }
    return {
        "name": "tiny",
        "model": str(model),
        "methods": ["lora"],
        "seeds": [0],
        "steps": 2,
        "batch_size": 2,
        "max_length": 48,
        "general_texts": 1,
        "network_components": 2,
        "network_tokens": 64,
        "tasks": [
            {**task, "name": "colours", "data": "colours.jsonl", "label_map": {"red": "red", "blue": "blue"}},
            {
                **task,
                "name": "shapes",
                "data": "shapes.jsonl",
                "label_map": {"round": "round", "square": "square"},
            },
        ],
        **changes,
    }


def write_config(folder, model, **changes):
    write_tasks(folder)
    path = folder / "suite.yaml"
    path.write_text(yaml.safe_dump(config(folder, model, **changes)))
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"methods": ["lora", "magic"]}, "methods: ['magic'] unknown"),
        ({"seeds": [1, 1]}, "distinct seeds"),
        ({"steps": 0}, "steps"),
        ({"colour": "red"}, "unknown keys ['colour']"),
        ({"tasks": []}, "at least two tasks"),
        ({"lm_eval_tasks": [""]}, "is not a task name or a list of lm-eval task names"),
    ],
)
def test_bad_suite_settings_are_refused_with_one_line(tmp_path, change, message):
    with pytest.raises(ContinualConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        suite_from_dict(config(tmp_path, "m", **change), tmp_path / "suite.yaml")


@pytest.mark.parametrize(
    ("task_change", "message"),
    [
        ({"instruction": "no placeholder"}, "must be text holding {text}"),
        ({"label_map": {}}, "non-empty mapping"),
        ({"train_size": -1}, "train_size"),
        ({"flavour": 1}, "unknown keys"),
    ],
)
def test_bad_tasks_are_refused_naming_the_task(tmp_path, task_change, message):
    values = config(tmp_path, "m")
    values["tasks"][1].update(task_change)
    with pytest.raises(Exception, match="task 2") as caught:
        suite_from_dict(values, tmp_path / "suite.yaml")
    assert message in str(caught.value)


def test_the_cli_refuses_a_bad_config_before_loading_a_model(tmp_path, monkeypatch, capsys):
    import fnsft.models._loading

    monkeypatch.setattr(
        fnsft.models._loading, "load_model", lambda *a, **k: pytest.fail("the model was loaded")
    )
    path = write_config(tmp_path, "m", methods=["ewc", "nope"])
    assert continual_main(["--config", str(path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "nope" in error
    write_config(tmp_path, "m")
    missing = tmp_path / "suite.yaml"
    missing.write_text(missing.read_text().replace("colours.jsonl", "absent.jsonl"))
    assert continual_main(["--config", str(missing), "--output-dir", str(tmp_path / "out")]) == 2
    assert "absent.jsonl" in capsys.readouterr().err


def test_the_shipped_offline_suite_has_four_tasks_whose_data_ships():
    from fnsft.continual.tasks import load_task

    suite = load_suite(OFFLINE_SUITE)
    assert len(suite.tasks) >= 4 and len(suite.seeds) == 3
    for spec in suite.tasks:
        task = load_task(spec)
        assert len(task.train) == spec.train_size and len(task.test) == spec.test_size
        assert not {e.prompt for e in task.train} & {e.prompt for e in task.test}


def test_the_generated_tasks_are_the_shipped_files(tmp_path):
    from fnsft._resources import bundled
    from fnsft.continual.synthetic import write_synthetic_tasks

    for path in write_synthetic_tasks(tmp_path):
        assert path.read_bytes() == bundled(f"continual/{path.name}").read_bytes()


def test_the_generated_tasks_hold_no_repeated_text():
    from fnsft.continual.synthetic import GENERATED

    for make in GENERATED.values():
        texts = [record["text"] for record in make()]
        assert len(set(texts)) == len(texts) == 240


def test_resume_skips_the_stages_already_finished(tmp_path, tiny_folder, monkeypatch):
    import fnsft.continual.suite as suite_module

    suite = load_suite(write_config(tmp_path, tiny_folder, single_task_baselines=False))
    real = suite_module.train_stage
    calls = []

    def interrupted(model, tokenizer, task, method, stage, progress=None):
        calls.append(stage)
        if stage == 1 and len(calls) == 2:
            raise KeyboardInterrupt
        return real(model, tokenizer, task, method, stage, progress)

    monkeypatch.setattr(suite_module, "train_stage", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_suite(suite, tmp_path / "run")
    finished = tmp_path / "run" / "lora" / "seed-0"
    assert (finished / "stage-0.json").is_file() and not (finished / "stage-1.json").exists()
    first_stage = (finished / "stage-0.json").read_bytes()
    results = run_suite(suite, tmp_path / "run")
    assert calls == [0, 1, 1]  # the second run trained stage 1 only
    assert (finished / "stage-0.json").read_bytes() == first_stage
    assert len(results["methods"]["lora"]["seeds"][0]["accuracy"]) == 2
    assert not list(finished.glob("checkpoint-*"))  # a finished sequence keeps no weights


def test_a_resumed_folder_with_other_settings_is_refused(tmp_path, tiny_folder):
    suite = load_suite(write_config(tmp_path, tiny_folder))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "suite.json").write_text(json.dumps({"name": "tiny", "steps": 99}))
    with pytest.raises(ContinualConfigError, match="other settings"):
        run_suite(suite, tmp_path / "run")


def test_the_cli_runs_a_suite_end_to_end_on_a_tiny_model(tmp_path, tiny_folder, capsys):
    path = write_config(tmp_path, tiny_folder, methods=["lora", "ewc", "lwf", "o-lora", "networks"])
    out = tmp_path / "run"
    assert continual_main(["--config", str(path), "--output-dir", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| networks |" in printed and "colours -> shapes" in printed
    results = json.loads((out / "results.json").read_text())
    for name in ("lora", "ewc", "lwf", "o-lora", "networks"):
        run = results["methods"][name]["seeds"]["0"]
        assert len(run["accuracy"]) == 2 and all(0 <= a <= 1 for row in run["accuracy"] for a in row)
        assert run["AA"] == pytest.approx(sum(row[-1] for row in run["accuracy"]) / 2)
        assert run["FWT"] is not None and run["single_task"][1] is not None
    protected = results["methods"]["networks"]["seeds"]["0"]["protected_neurons"]
    assert all(isinstance(count, int) for count in protected)  # networks discovered after every stage
    assert results["methods"]["lora"]["seeds"]["0"]["protected_neurons"] == [None, None]
    assert json.loads((out / "status.json").read_text())["state"] == "completed"


@pytest.mark.parametrize("name", ["standard-order1", "standard-order2", "standard-order3", "long-chain"])
def test_the_standard_benchmark_configs_ship_and_need_the_hub(name, monkeypatch):
    from fnsft._resources import bundled
    from fnsft.continual.tasks import load_task
    from fnsft.errors import DatasetFormatError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    suite = load_suite(bundled(f"continual/{name}.yaml"))
    assert len(suite.tasks) == (15 if name == "long-chain" else 4)
    plain = next(task for task in suite.tasks if task.config is None)
    with pytest.raises(DatasetFormatError, match="offline"):
        load_task(plain)


def test_the_command_line_picks_a_sub_sequence_of_tasks_and_refuses_unknown_ones():
    from fnsft.continual import with_overrides

    suite = load_suite(OFFLINE_SUITE)
    chosen = with_overrides(suite, tasks="sentiment,passage-kind", methods="lora", seeds="4")
    assert [t.name for t in chosen.tasks] == ["sentiment", "passage-kind"]
    assert chosen.methods == ["lora"] and chosen.seeds == [4]
    with pytest.raises(ContinualConfigError, match="at least two distinct tasks"):
        with_overrides(suite, tasks="sentiment,nope")


def test_lm_eval_tasks_are_refused_without_the_package(tmp_path, tiny_folder, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "lm_eval" else real(name, *a)
    )
    with pytest.raises(ContinualConfigError, match="lm_eval_tasks needs the lm-eval package"):
        load_suite(write_config(tmp_path, tiny_folder, lm_eval_tasks=["hellaswag"]))
    assert load_suite(write_config(tmp_path, tiny_folder, lm_eval_tasks=[])).lm_eval_tasks == []  # none: fine


def test_lm_eval_tasks_are_scored_after_every_stage_on_the_model_in_memory(
    tmp_path, tiny_folder, monkeypatch
):
    """A stand-in lm_eval package (the real one reads its tasks' data from the Hub) records what it is given."""
    import importlib.machinery
    import sys
    import types

    seen = []

    class HFLM:
        def __init__(self, pretrained, tokenizer, batch_size):
            self.model = pretrained

    def simple_evaluate(model, tasks, limit):
        seen.append((model.model, tasks, limit))
        return {"results": {"toy": {"alias": "toy", "acc,none": 0.25 * len(seen)}}}

    harness = types.ModuleType("lm_eval")
    harness.__spec__ = importlib.machinery.ModuleSpec("lm_eval", None)
    harness.simple_evaluate = simple_evaluate
    huggingface = types.ModuleType("lm_eval.models.huggingface")
    huggingface.HFLM = HFLM
    monkeypatch.setitem(sys.modules, "lm_eval", harness)
    monkeypatch.setitem(sys.modules, "lm_eval.models", types.ModuleType("lm_eval.models"))
    monkeypatch.setitem(sys.modules, "lm_eval.models.huggingface", huggingface)
    suite = load_suite(
        write_config(
            tmp_path, tiny_folder, lm_eval_tasks=["toy"], lm_eval_limit=5, single_task_baselines=False
        )
    )
    run_suite(suite, tmp_path / "run")
    stages = [
        json.loads((tmp_path / "run" / "lora" / "seed-0" / f"stage-{t}.json").read_text()) for t in (0, 1)
    ]
    base = json.loads((tmp_path / "run" / "base.json").read_text())
    assert [s["lm_eval"] for s in (base, *stages)] == [{"toy": {"acc,none": v}} for v in (0.25, 0.5, 0.75)]
    assert [(tasks, limit) for _, tasks, limit in seen] == [(["toy"], 5)] * 3
    assert all(isinstance(model, torch.nn.Module) for model, _, _ in seen)
