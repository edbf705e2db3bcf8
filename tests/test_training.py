"""Training runs end to end on a tiny model: progress lines, report, adapter, stop/resume, failures, config."""

from __future__ import annotations

import json
import threading

import pytest
import torch
from conftest import tiny_llama

from fnsft.errors import DatasetFormatError
from fnsft.training import TrainingConfig, config_from_args, read_progress, read_status, train

PROGRESS_FIELDS = {
    "step",
    "max_steps",
    "epoch",
    "loss",
    "learning_rate",
    "eval_loss",
    "tokens_per_second",
    "eta_seconds",
}


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory, embedded_tokenizer):
    folder = tmp_path_factory.mktemp("model") / "tiny"
    tiny_llama(vocab=len(embedded_tokenizer)).save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def general_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("general") / "general.jsonl"
    rows = [{"text": f"A short general sentence number {i}.", "category": c} for i in range(4) for c in "ab"]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


def config(tmp_path, tiny_folder, general_file, **overrides) -> TrainingConfig:
    values = dict(
        model=str(tiny_folder),
        output_dir=str(tmp_path / "run"),
        max_steps=4,
        batch_size=2,
        learning_rate=1e-2,
        general_eval=str(general_file),
        eval_texts_per_category=2,
        save_steps=2,
        max_length=64,
    )
    values.update(overrides)
    return TrainingConfig(**values)


def test_lora_run_writes_progress_report_and_a_loadable_adapter(tmp_path, tiny_folder, general_file):
    result = train(config(tmp_path, tiny_folder, general_file))
    assert result.state == "completed"
    assert read_status(result.run_dir)["state"] == "completed"
    rows = read_progress(result.run_dir)
    assert [r["step"] for r in rows if r["loss"] is not None] == [1, 2, 3, 4]
    assert set(rows[0]) >= PROGRESS_FIELDS
    report = json.loads((result.run_dir / "forgetting_report.json").read_text())
    assert set(report["general"]) == {"all", "a", "b"}
    assert report["learned"] == pytest.approx(report["target"]["before"] - report["target"]["after"])
    assert report["target"]["gain"] > 0  # lr 1e-2 on a tiny model learns the sample set
    final = result.run_dir / "final"
    assert (final / "adapter_config.json").is_file() and (final / "README.md").is_file()
    assert "network mode: none" in (final / "README.md").read_text()

    from fnsft.models import load_model

    reloaded, tokenizer = load_model(final)
    base, _ = load_model(tiny_folder)
    ids = torch.tensor([[5, 6, 7, 8]])
    assert not torch.allclose(reloaded(input_ids=ids).logits, base(input_ids=ids).logits)


def test_forward_masked_run_records_both_views(tmp_path, tiny_folder, general_file):
    import numpy as np

    from fnsft.architectures import model_shape
    from fnsft.functional_networks import FunctionalNetworks
    from fnsft.templates import save_templates

    shape = model_shape(tiny_llama())
    networks = FunctionalNetworks(
        [{0: np.arange(8)}, {2: np.arange(4)}],
        shape,
        "tiny",
        "intermediate",
        {"rule": "topk", "value": 8},
        name="tiny-nets",
    )
    template = save_templates(networks, tmp_path / "nets.json")
    result = train(
        config(
            tmp_path,
            tiny_folder,
            general_file,
            network_mode="lesion",
            templates=str(template),
            components="0",
        )
    )
    report = json.loads((result.run_dir / "forgetting_report.json").read_text())
    assert report["networks"] == {
        "template": "tiny-nets",
        "components": [0],
        "neurons": 8,
        "random_control": False,
    }
    assert report["evaluated"].startswith("unmasked")
    assert "with_training_mask" in report


def test_stop_saves_a_checkpoint_and_resume_finishes(tmp_path, tiny_folder, general_file):
    stop = threading.Event()

    def stop_after_first_step(row):
        if row["step"] >= 1:
            stop.set()

    first = train(
        config(tmp_path, tiny_folder, general_file, max_steps=6),
        stop_event=stop,
        progress=stop_after_first_step,
    )
    assert first.state == "stopped"
    status = read_status(first.run_dir)
    assert status["state"] == "stopped" and 1 <= status["step"] < 6
    assert status["checkpoint"].endswith(f"checkpoint-{status['step']}")
    resumed = train(config(tmp_path, tiny_folder, general_file, max_steps=6, resume=True))
    assert resumed.state == "completed"
    steps = [r["step"] for r in read_progress(resumed.run_dir) if r["loss"] is not None]
    assert steps == [1, 2, 3, 4, 5, 6]


def test_a_crash_leaves_a_readable_failed_status(tmp_path, tiny_folder, general_file):
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"colour": "red"}) + "\n")
    with pytest.raises(DatasetFormatError):
        train(config(tmp_path, tiny_folder, general_file, dataset=str(bad)))
    status = read_status(tmp_path / "run")
    assert status["state"] == "failed"
    assert "DatasetFormatError" in status["error"] and "colour" in status["error"]
    assert "Traceback" in status["traceback"]


def test_config_file_and_flags(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("max-steps: 7\nnetwork_mode: freeze\nlearning_rate: 0.001\n")
    loaded = config_from_args(["--config", str(path), "--max-steps", "9"])
    assert (loaded.max_steps, loaded.network_mode, loaded.learning_rate) == (9, "freeze", 0.001)
    path.write_text("max_stepz: 3\n")
    with pytest.raises(ValueError, match=r"unknown keys \['max_stepz'\]"):
        config_from_args(["--config", str(path)])
    with pytest.raises(ValueError, match="network_mode='sideways'"):
        TrainingConfig(network_mode="sideways")
    with pytest.raises(ValueError, match="random_control needs"):
        TrainingConfig(random_control=True)
