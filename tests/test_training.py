"""Training runs end to end on a tiny model (real tokenizer, hidden size 32): progress lines, forgetting report,
saved adapter / full model, forward masking, selective updates, stop/resume, failures, config files; and one
integration run on the embedded model with the shipped networks lesioned."""

from __future__ import annotations

import errno
import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import tiny_llama

from fnsft.errors import (
    DatasetFormatError,
    MaskSelectionError,
    QuantizationUnavailableError,
    RunFolderError,
    StorageError,
    TrainingConfigError,
)
from fnsft.masking import apply_mask, build_mask
from fnsft.masking._hooks import random_neuron_sets
from fnsft.models import load_model
from fnsft.models._architectures import mlp_blocks, model_shape
from fnsft.networks._functional_networks import FunctionalNetworks
from fnsft.networks._templates import save_templates
from fnsft.training import TrainingConfig, config_from_args, read_progress, read_status, train
from fnsft.training._checkpoints import MARKER_FILE, scan

PROGRESS_FIELDS = {
    "step",
    "max_steps",
    "epoch",
    "loss",
    "learning_rate",
    "eval_loss",
    "tokens_per_second",
    "elapsed",
    "eta_seconds",
}
NETWORK = {0: np.arange(8)}  # component 0 of the tiny template; component 1 is {2: 0..3}
PROBE = torch.tensor([[5, 6, 7, 8, 9, 10]])


@pytest.fixture(scope="module")
def general_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("general") / "general.jsonl"
    rows = [{"text": f"A short general sentence number {i}.", "category": c} for i in range(4) for c in "ab"]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    networks = FunctionalNetworks(
        [NETWORK, {2: np.arange(4)}],
        model_shape(tiny_llama()),
        "tiny",
        "intermediate",
        {"rule": "topk", "value": 8},
        name="tiny-nets",
    )
    return save_templates(networks, tmp_path_factory.mktemp("nets") / "nets.json")


@pytest.fixture
def make_config(tmp_path, tiny_folder, general_file):
    def make(**overrides) -> TrainingConfig:
        values = dict(
            model=str(tiny_folder),
            output_dir=str(tmp_path / "run"),
            max_steps=4,
            batch_size=2,
            learning_rate=1e-2,
            general_eval=str(general_file),
            eval_texts_per_category=2,
            save_steps=2,
            eval_steps=2,
            max_length=64,
        )
        values.update(overrides)
        return TrainingConfig(**values)

    return make


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory, tiny_folder, general_file):
    """One plain LoRA run (merged too), shared by the tests that read its outputs."""
    config = TrainingConfig(
        model=str(tiny_folder),
        output_dir=str(tmp_path_factory.mktemp("lora") / "run"),
        max_steps=4,
        batch_size=2,
        learning_rate=1e-2,
        general_eval=str(general_file),
        eval_texts_per_category=2,
        save_steps=2,
        eval_steps=2,
        max_length=64,
        merge=True,
    )
    return train(config)


def losses(run_dir) -> list[float]:
    return [row["loss"] for row in read_progress(run_dir) if row["loss"] is not None]


def logits(model) -> torch.Tensor:
    with torch.no_grad():
        return model.eval()(input_ids=PROBE).logits


def test_progress_lines_have_every_field(lora_run):
    assert lora_run.state == "completed" and read_status(lora_run.run_dir)["state"] == "completed"
    rows = read_progress(lora_run.run_dir)
    assert all(set(row) >= PROGRESS_FIELDS for row in rows)
    training = [row for row in rows if row["loss"] is not None]
    assert [row["step"] for row in training] == [1, 2, 3, 4]
    assert all(row["max_steps"] == 4 and row["tokens_per_second"] > 0 for row in training)
    assert training[-1]["eta_seconds"] == 0 and training[1]["learning_rate"] == pytest.approx(1e-2)
    assert [row["step"] for row in rows if row["eval_loss"] is not None] == [2, 4]


def test_forgetting_report(lora_run):
    report = json.loads((lora_run.run_dir / "forgetting_report.json").read_text())
    assert report == json.loads(json.dumps(lora_run.report))
    assert report["evaluated"].startswith("unmasked model")
    assert set(report["general"]) == {"all", "a", "b"}
    for numbers in report["general"].values():
        assert numbers["increase"] == pytest.approx(numbers["after"] - numbers["before"])
    assert report["target"]["gain"] == pytest.approx(report["target"]["before"] - report["target"]["after"])
    assert report["target"]["gain"] > 0  # lr 1e-2 on a tiny model learns the sample set
    assert report["learned"] == report["target"]["gain"]
    assert report["forgotten"] == report["general"]["all"]["increase"]
    assert (report["network_mode"], report["networks"], report["steps"]) == ("none", None, 4)
    assert "with_training_mask" not in report


def test_saved_adapter_and_merged_model_reproduce_the_trained_logits(lora_run, tiny_folder):
    final = lora_run.run_dir / "final"
    assert (final / "adapter_config.json").is_file() and (final / "adapter_model.safetensors").is_file()
    assert json.loads((final / "fnsft_training.json").read_text())["max_steps"] == 4
    card = (final / "README.md").read_text()
    assert "network mode: none" in card and "| target (held-out) |" in card
    trained = logits(lora_run.model)
    reloaded, _ = load_model(final)
    merged, _ = load_model(lora_run.run_dir / "merged")
    base, _ = load_model(tiny_folder)
    torch.testing.assert_close(logits(reloaded), trained)
    torch.testing.assert_close(logits(merged), trained, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(logits(base), trained)


def test_stop_saves_a_checkpoint_and_resume_reproduces_the_uninterrupted_run(make_config, lora_run):
    stop = threading.Event()

    def stop_at_step_two(row):
        if row["step"] >= 2:
            stop.set()

    first = train(make_config(), stop_event=stop, progress=stop_at_step_two)
    assert first.state == "stopped"
    status = read_status(first.run_dir)
    assert status["state"] == "stopped" and status["step"] == 2
    assert status["checkpoint"].endswith("checkpoint-2")
    assert not (first.run_dir / "final").exists()
    resumed = train(make_config(resume=True))
    assert resumed.state == "completed"
    steps = [row["step"] for row in read_progress(resumed.run_dir) if row["loss"] is not None]
    assert steps == [1, 2, 3, 4]
    assert losses(resumed.run_dir) == pytest.approx(losses(lora_run.run_dir), rel=1e-5)
    torch.testing.assert_close(logits(resumed.model), logits(lora_run.model))


def test_a_stop_file_stops_the_run_and_only_an_explicit_overwrite_replaces_it(make_config):
    config = make_config(eval_steps=0, evaluate=False)
    stop_file = Path(config.output_dir) / "STOP"
    result = train(config, progress=lambda row: stop_file.touch())
    assert result.state == "stopped" and read_status(result.run_dir)["step"] == 1
    assert not stop_file.exists()  # removed, so a resumed run is not stopped again
    before = sorted(p.name for p in result.run_dir.rglob("*"))
    with pytest.raises(
        RunFolderError, match=r"holds an earlier run \(config.json, status.json, progress.jsonl"
    ):
        train(make_config(eval_steps=0, evaluate=False, max_steps=2))
    assert sorted(p.name for p in result.run_dir.rglob("*")) == before  # refused: nothing deleted or written
    fresh = train(make_config(eval_steps=0, evaluate=False, max_steps=2, save_steps=5, overwrite=True))
    assert [row["step"] for row in read_progress(fresh.run_dir)] == [
        1,
        2,
        2,
    ]  # the earlier run's lines are gone
    assert not (fresh.run_dir / "checkpoints" / "checkpoint-1").exists()


def test_a_save_that_fails_midway_is_never_resumed_from_and_resume_finishes(
    make_config, lora_run, monkeypatch, caplog
):
    """Disk full while checkpoint-4 is written: one StorageError, status "failed", checkpoint-4 left unmarked;
    it, a half-written checkpoint-3 and a stray checkpoint-10-old are passed over; resume continues from
    checkpoint-2, rewrites checkpoint-4 whole and reproduces the uninterrupted run."""
    from transformers import Trainer

    real = Trainer._save_rng_state

    def disk_full_at_step_4(self, output_dir):
        if self.state.global_step == 4:
            raise OSError(errno.ENOSPC, "No space left on device", str(Path(output_dir) / "rng_state.pth"))
        return real(self, output_dir)

    monkeypatch.setattr(Trainer, "_save_rng_state", disk_full_at_step_4)
    with pytest.raises(
        StorageError, match=r"cannot write \(.*rng_state.pth\): No space left on device"
    ) as error:
        train(make_config())
    assert error.value.__suppress_context__  # one line, no chained traceback
    run_dir = Path(make_config().output_dir)
    status = read_status(run_dir)
    assert status["state"] == "failed" and "No space left" in status["error"]
    assert status["pid"] == os.getpid() and status["heartbeat"] > 0
    checkpoints = run_dir / "checkpoints"
    assert sorted(p.name for p in checkpoints.iterdir()) == ["checkpoint-2", "checkpoint-4"]
    assert [p.name for p in scan(checkpoints)[0]] == ["checkpoint-2"]  # checkpoint-4 is not complete
    monkeypatch.undo()
    (checkpoints / "checkpoint-3").mkdir()
    (checkpoints / "checkpoint-3" / "adapter_model.safetensors").write_bytes(b"half")
    (checkpoints / "checkpoint-10-old").mkdir()
    resumed = train(make_config(resume=True))
    assert (
        f"skipping incomplete checkpoints (no readable {MARKER_FILE}): checkpoint-3, checkpoint-4"
        in caplog.text
    )
    assert resumed.state == "completed" and read_status(run_dir)["state"] == "completed"
    assert [row["step"] for row in read_progress(run_dir) if row["loss"] is not None] == [1, 2, 3, 4]
    assert losses(run_dir) == pytest.approx(losses(lora_run.run_dir), rel=1e-5)
    assert sorted(p.name for p in checkpoints.iterdir()) == [
        "checkpoint-10-old",  # strays and incomplete folders are not rotated away
        "checkpoint-2",
        "checkpoint-3",
        "checkpoint-4",
    ]
    assert [p.name for p in scan(checkpoints)[0]] == ["checkpoint-2", "checkpoint-4"]


def test_resume_without_a_checkpoint_is_refused_and_writes_nothing(make_config, tmp_path):
    with pytest.raises(TrainingConfigError, match="holds no complete checkpoint; point output_dir"):
        train(make_config(resume=True))
    assert not (tmp_path / "run").exists()


def test_forward_mask_silences_the_neurons_gradients(tiny_model):
    batch = torch.randint(3, 120, (2, 10), generator=torch.Generator().manual_seed(1))
    plain = tiny_model(input_ids=batch, labels=batch).loss
    handle = apply_mask(tiny_model, build_mask(NETWORK, model_shape(tiny_model).intermediate_sizes, "lesion"))
    masked = tiny_model(input_ids=batch, labels=batch).loss
    masked.backward()
    handle.remove()
    assert not torch.isclose(plain, masked)
    block = mlp_blocks(tiny_model)[0]
    ids = NETWORK[0]
    assert torch.count_nonzero(block.down_proj.weight.grad[:, ids]) == 0
    assert all(torch.count_nonzero(up.weight.grad[ids]) == 0 for up in block.up_projections)
    assert torch.count_nonzero(block.down_proj.weight.grad[:, 8:]) > 0


def test_full_fine_tune_with_lesioned_networks(make_config, template, tiny_folder):
    result = train(
        make_config(
            method="full", network_mode="lesion", templates=str(template), components="0", eval_steps=0
        )
    )
    base, _ = load_model(tiny_folder)
    ids, others = NETWORK[0], np.arange(8, 48)
    trained, original = mlp_blocks(result.model)[0], mlp_blocks(base)[0]
    for new, old in zip(trained.up_projections, original.up_projections, strict=True):
        assert torch.equal(new.weight[ids], old.weight[ids])  # masked all along: zero gradient, no decay
        assert not torch.equal(new.weight[others], old.weight[others])
    assert torch.equal(trained.down_proj.weight[:, ids], original.down_proj.weight[:, ids])
    report = result.report
    assert report["networks"] == {
        "template": "tiny-nets",
        "components": [0],
        "neurons": 8,
        "random_control": False,
    }
    assert report["evaluated"].startswith("unmasked")
    masked = report["with_training_mask"]
    assert masked["evaluated"].startswith("with the lesion mask")
    assert set(masked["general"]) == set(report["general"]) and "gain" in masked["target"]
    assert masked["target"]["before"] != report["target"]["before"]
    final = result.run_dir / "final"
    assert (final / "model.safetensors").is_file() and not (final / "adapter_config.json").exists()
    assert "template tiny-nets, components [0], 8 neurons" in (final / "README.md").read_text()
    reloaded, _ = load_model(final)
    torch.testing.assert_close(logits(reloaded), logits(result.model))


def test_lora_train_only_random_control(make_config, template):
    result = train(
        make_config(
            network_mode="train_only",
            random_control=True,
            templates=str(template),
            components=[0],
            evaluate=False,
            eval_steps=0,
            lora_r=4,
        )
    )
    assert not (result.run_dir / "forgetting_report.json").exists()
    assert result.report["networks"]["random_control"] and result.report["networks"]["neurons"] == 8
    control = random_neuron_sets(NETWORK, (48,) * 3, seed=0)[0]
    # per layer-0 neuron: r entries of B in gate and up, r of A in down; shared: A of gate/up, B of down
    assert result.report["trainable_parameters"] == 8 * 4 * 3 + 3 * 4 * 32
    block = mlp_blocks(result.model)[0]
    down = block.down_proj
    delta = (down.lora_B["default"].weight @ down.lora_A["default"].weight).detach()
    assert torch.nonzero(delta.any(dim=0)).flatten().tolist() == control.tolist()


def test_drift_report_rediscovers_the_networks_on_the_fine_tuned_model(
    make_config, tiny_folder, tmp_path, capsys
):
    from fnsft.discovery._ica_mask import ICAMask

    base_model, tokenizer = load_model(tiny_folder)
    finder = ICAMask(num_components=4, threshold_rule="topk", threshold=6, stability_runs=0, max_length=64)
    networks = finder.compute_global_networks(base_model, tokenizer, max_tokens=400)
    template = save_templates(networks, tmp_path / "found.json")
    # a learning rate too small to move any weight's ranking: every network must come back unchanged
    result = train(make_config(method="full", templates=str(template), drift=True, learning_rate=1e-9))
    section = json.loads((result.run_dir / "forgetting_report.json").read_text())["drift"]
    assert section["base_networks"] == networks.name
    assert section["counts"] == {"kept": 4, "moved": 0, "dissolved": 0, "empty": 0, "new": 0}
    assert [entry["iou"] for entry in section["networks"]] == [1.0] * 4
    printed = capsys.readouterr().out
    assert "drift: 4 kept, 0 moved, 0 dissolved, 0 empty, 0 new" in printed
    assert "     N0  kept          N0   1.00" in printed


def test_unreadable_training_data_is_refused_before_the_run_folder_exists(make_config, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"colour": "red"}) + "\n")
    with pytest.raises(DatasetFormatError, match="colour"):
        train(make_config(dataset=str(bad)))
    assert not (tmp_path / "run").exists()


def test_a_crash_leaves_a_readable_failed_status(make_config, tmp_path, monkeypatch):
    import fnsft.training._loop as loop

    def crash(config, tokenizer):
        raise RuntimeError("tokeniser exploded")

    monkeypatch.setattr(loop, "_datasets", crash)
    with pytest.raises(RuntimeError, match="exploded"):
        train(make_config())
    status = read_status(tmp_path / "run")
    assert status["state"] == "failed"
    assert "RuntimeError" in status["error"] and "exploded" in status["error"]
    assert "Traceback" in status["traceback"]


def test_qlora_needs_cuda(make_config, tmp_path):
    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(QuantizationUnavailableError, match="Use method='lora'"):
        train(make_config(method="qlora"))
    assert not (tmp_path / "run").exists()  # refused before anything was written


def test_config_file_and_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("max-steps: 7\nnetwork_mode: freeze\nlearning_rate: 0.001\ncomponents: [0, 3]\n")
    loaded = config_from_args(["--config", str(path), "--max-steps", "9", "--merge", "true"])
    assert (loaded.max_steps, loaded.network_mode, loaded.learning_rate) == (9, "freeze", 0.001)
    assert loaded.merge is True and loaded.component_ids() == [0, 3]
    assert config_from_args(["--components", "1,2"]).component_ids() == [1, 2]
    path.write_text("max_stepz: 3\n")
    with pytest.raises(TrainingConfigError, match=r"unknown keys \['max_stepz'\]"):
        config_from_args(["--config", str(path)])
    path.write_text("max_steps: [3\n")
    with pytest.raises(TrainingConfigError, match="Cannot read the config file"):
        config_from_args(["--config", str(path)])
    json_path = tmp_path / "run.json"
    json_path.write_text(json.dumps({"method": "full", "seed": 3}))
    assert (config_from_args(["--config", str(json_path)]).method, 3) == ("full", 3)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"network_mode": "sideways"}, "network_mode: 'sideways' is not one of none, lesion"),
        ({"random_control": True}, "random_control needs"),
        ({"method": "full", "merge": True}, "merge applies to LoRA"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"loss_on": "prompt"}, "loss_on: 'prompt' is not one of"),
        ({"batch_size": 0}, r"batch_size: 0 is out of range; expected an integer 1\.\.65536"),
        ({"batch_size": "four"}, "batch_size: 'four' is not an integer"),
        ({"resume": "y"}, "resume: 'y' is not a boolean; use true/false, yes/no or 1/0"),
        ({"resume": True, "overwrite": True}, None),
    ],
)
def test_bad_settings_are_refused(settings, message):
    if message is None:  # valid on its own; the contradiction is refused when the run starts
        with pytest.raises(TrainingConfigError, match="resume and overwrite contradict each other"):
            train(TrainingConfig(**settings, output_dir="never-created"))
        assert not Path("never-created").exists()
        return
    with pytest.raises(TrainingConfigError, match=message):
        TrainingConfig(**settings)


def test_unreadable_components_are_refused():
    with pytest.raises(MaskSelectionError, match="comma-separated network ids"):
        TrainingConfig(components="zero,one").component_ids()


@pytest.mark.integration
def test_embedded_model_with_the_shipped_networks_lesioned(tmp_path, embedded):
    """A few LoRA steps on the real model with its shipped networks switched off (small settings: CPU budget)."""
    general = tmp_path / "general.jsonl"
    rows = [
        {"text": "def add(a, b):\n    return a + b\n\nprint(add(2, 3))", "category": "code"},
        {"text": "Once upon a time a fox lived at the edge of a quiet forest.", "category": "stories"},
    ]
    general.write_text("\n".join(json.dumps(row) for row in rows))
    config = config_from_args(
        ["--network-mode", "lesion", "--max-steps", "3", "--batch-size", "2", "--max-length", "96"]
        + [
            "--validation-fraction",
            "0.03",
            "--general-eval",
            str(general),
            "--output-dir",
            str(tmp_path / "run"),
        ]
    )
    result = train(config)
    assert result.state == "completed"
    assert [row["step"] for row in read_progress(result.run_dir) if row["loss"] is not None] == [1, 2, 3]
    report = json.loads((result.run_dir / "forgetting_report.json").read_text())
    assert report["networks"]["template"] == "SmolLM2-135M-Instruct-intermediate"
    assert report["networks"]["neurons"] == 5924
    # the networks matter: with them lesioned the model is far worse, and the report says so
    assert report["with_training_mask"]["general"]["all"]["after"] > report["general"]["all"]["after"] + 2
    model, tokenizer = load_model(result.run_dir / "final")
    torch.testing.assert_close(logits(model), logits(result.model))
    base_model, _ = embedded
    assert not torch.allclose(logits(model), logits(base_model))


def test_before_its_first_step_a_run_says_what_it_is_doing(make_config, monkeypatch):
    import fnsft.training._run_status as run_status

    phases = []
    original = run_status.write_status

    def recording(run_dir, state, **extra):
        if "phase" in extra and (not phases or phases[-1] != extra["phase"]):
            phases.append(extra["phase"])
        original(run_dir, state, **extra)

    monkeypatch.setattr(run_status, "write_status", recording)
    train(make_config(max_steps=1))
    assert phases[:3] == ["loading the model", "tokenising the data", "measuring the model before training"]
    assert phases[-1] == "saving the adapter and the report"  # and after the steps, what comes after them
