"""Integration: fnsft-train as a new user runs it, on the embedded model with the shipped networks lesioned."""

from __future__ import annotations

import json

import pytest
import torch

from fnsft.cli import train_main
from fnsft.training import read_progress, read_status

pytestmark = pytest.mark.integration


def test_fnsft_train_defaults_with_lesioned_networks(tmp_path, embedded):
    run = tmp_path / "run"
    code = train_main(
        [
            "--max-steps",
            "3",
            "--network-mode",
            "lesion",
            "--eval-texts-per-category",
            "1",
            "--output-dir",
            str(run),
        ]
    )
    assert code == 0
    assert read_status(run)["state"] == "completed"
    assert [r["step"] for r in read_progress(run) if r["loss"] is not None] == [1, 2, 3]
    report = json.loads((run / "forgetting_report.json").read_text())
    assert report["networks"]["template"] == "SmolLM2-135M-Instruct-intermediate"
    assert report["networks"]["neurons"] == 5807
    # with the networks lesioned the model is far worse, and the report says so
    assert report["with_training_mask"]["general_loss"]["all"] > report["general"]["all"]["after"] + 2

    from fnsft.models import load_model

    model, tokenizer = load_model(run / "final")
    ids = tokenizer("The capital of France is", return_tensors="pt")["input_ids"]
    base_model, _ = embedded
    assert not torch.allclose(model(input_ids=ids).logits, base_model(input_ids=ids).logits)
