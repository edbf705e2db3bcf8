"""The CLIs as a user runs them: files written, tables printed, bad input refused with exit code 2."""

from __future__ import annotations

import json

import pytest
from conftest import tiny_llama

from fnsft.cli import build_templates_main, eval_main, parse_dataset_spec
from fnsft.networks._templates import load_templates


@pytest.fixture
def tiny_folder(tmp_path, embedded_tokenizer):
    folder = tmp_path / "tiny-model"
    tiny_llama(vocab=len(embedded_tokenizer)).save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture
def texts_file(tmp_path):
    path = tmp_path / "texts.jsonl"
    rows = [
        {"text": f"Sentence number {i} about the {topic} of things.", "category": topic}
        for i in range(30)
        for topic in ("cats", "ships")
    ]
    path.write_text("\n".join(json.dumps(row) for row in rows))
    return path


def test_dataset_spec_parsing():
    assert parse_dataset_spec("data/a.jsonl:200") == ("data/a.jsonl", 200)
    assert parse_dataset_spec("data/a.jsonl") == ("data/a.jsonl", None)
    assert parse_dataset_spec("C:/x.json") == ("C:/x.json", None)


def test_cards_are_added_to_a_version_1_template(tiny_folder, texts_file, tmp_path, capsys):
    import numpy as np

    from fnsft.models._architectures import model_shape
    from fnsft.networks._functional_networks import FunctionalNetworks
    from fnsft.networks._templates import templates_to_dict

    shape = model_shape(tiny_llama())
    networks = FunctionalNetworks([{0: np.arange(5)}, {2: np.arange(7)}], shape, "tiny", "intermediate", {})
    old = templates_to_dict(networks) | {"schema_version": 1}
    source, output = tmp_path / "v1.json", tmp_path / "v2.json"
    source.write_text(json.dumps(old))
    argv = ["--model", str(tiny_folder), "--dataset", str(texts_file), "--max-tokens", "300"]
    assert build_templates_main([*argv, "--add-cards", str(source), "--output", str(output)]) == 0
    assert f"wrote {output}: cards for 2 networks" in capsys.readouterr().out
    loaded = load_templates(output)
    assert json.loads(output.read_text())["schema_version"] == 2 and len(loaded.cards) == 2
    assert loaded.mask_dict() == networks.mask_dict()
    assert sum(loaded.card(1).histogram.counts) == 300


def test_an_existing_output_file_is_replaced(tiny_folder, texts_file, tmp_path, capsys):
    output = tmp_path / "nets.json"
    output.write_text("an older file")
    argv = [
        "--model",
        str(tiny_folder),
        "--dataset",
        str(texts_file),
        "--components",
        "3",
        "--max-tokens",
        "300",
    ]
    assert build_templates_main([*argv, "--stability-runs", "0", "--output", str(output)]) == 0
    assert f"wrote {output}: 3 networks over 300 tokens" in capsys.readouterr().out
    assert load_templates(output).num_components == 3


def test_build_templates_then_eval(tiny_folder, texts_file, tmp_path, capsys):
    output = tmp_path / "nets.json"
    code = build_templates_main(
        [
            "--model",
            str(tiny_folder),
            "--dataset",
            f"{texts_file}:40",
            "--components",
            "3",
            "--threshold-rule",
            "topk",
            "--threshold",
            "6",
            "--max-tokens",
            "400",
            "--stability-runs",
            "1",
            "--output",
            str(output),
        ]
    )
    assert code == 0
    printed = capsys.readouterr().out
    assert f"wrote {output}: 3 networks over 400 tokens, 18 neuron slots" in printed
    networks = load_templates(output)
    assert networks.sizes().tolist() == [6, 6, 6]
    assert networks.categories == ["cats", "ships"]
    assert networks.name == "tiny-model-intermediate"
    assert len(networks.cards) == 3 and networks.card(2).top_examples[0].category in ("cats", "ships")

    report = tmp_path / "effect.json"
    code = eval_main(
        [
            "--model",
            str(tiny_folder),
            "--templates",
            str(output),
            "--components",
            "0,1",
            "--eval-data",
            str(texts_file),
            "--texts-per-category",
            "3",
            "--random-draws",
            "2",
            "--json",
            str(report),
        ]
    )
    assert code == 0
    table = capsys.readouterr().out
    assert "lesion of components [0, 1]: 12 neurons, 2 random draws" in table
    for category in ("all", "cats", "ships"):
        assert f"\n{category:<12}" in table
    data = json.loads(report.read_text())
    assert len(data["random"]) == 2 and set(data["baseline"]) == {"all", "cats", "ships"}


def test_bad_input_exits_2_with_a_message_and_writes_nothing(tiny_folder, texts_file, tmp_path, capsys):
    output = tmp_path / "nets.json"
    code = build_templates_main(
        [
            "--model",
            str(tiny_folder),
            "--dataset",
            str(texts_file),
            "--components",
            "500",
            "--max-tokens",
            "100",
            "--output",
            str(output),
        ]
    )
    assert code == 2
    assert "too few for num_components=500" in capsys.readouterr().err
    assert not output.exists()
    code = eval_main(["--model", str(tiny_folder), "--templates", str(tmp_path / "missing.json")])
    assert code == 2
    assert "no such file" in capsys.readouterr().err


def test_eval_with_one_random_draw_shows_no_spread(tiny_folder, texts_file, tmp_path, capsys):
    output = tmp_path / "nets.json"
    build = ["--model", str(tiny_folder), "--dataset", f"{texts_file}:40", "--components", "2"]
    build += ["--threshold-rule", "topk", "--threshold", "6", "--max-tokens", "200", "--output", str(output)]
    assert build_templates_main(build + ["--stability-runs", "0"]) == 0
    capsys.readouterr()
    evaluate = ["--model", str(tiny_folder), "--templates", str(output), "--components", "0"]
    evaluate += ["--eval-data", str(texts_file), "--texts-per-category", "2", "--random-draws", "1"]
    assert eval_main(evaluate) == 0
    table = capsys.readouterr().out
    rows = [line for line in table.splitlines() if line.startswith(("all ", "cats ", "ships "))]
    assert len(rows) == 3 and all("±n/a" in row and "within noise" in row for row in rows)
    assert "±0.000" not in table
