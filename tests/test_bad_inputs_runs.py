"""The bad-input catalogue, continued: inputs that used to get past the flag parser (a run folder created before
the refusal, a raw traceback, a hang or silent nonsense). Each case asserts the exit code or error type, a
phrase of the one-line message, and that nothing was written."""

from __future__ import annotations

import json
import socket

import pytest
from test_bad_inputs import valid_template

from fnsft._limits import LimitError, check_training
from fnsft.analysis._evaluation import measure_effect
from fnsft.cli import app_main, build_templates_main, eval_main, train_main
from fnsft.data._texts import load_labelled_texts
from fnsft.errors import DatasetFormatError, FnsftError, MaskSelectionError, SettingError
from fnsft.models._devices import resolve_device
from fnsft.networks._templates import templates_from_dict
from fnsft.training import TrainingConfig

DEEP_JSON = "[" * 100_000 + "]" * 100_000


def write_inputs(folder) -> None:
    """The files the cases name: data without responses, a second record lacking text, deep nesting."""
    rows = [{"prompt": "a", "response": ""}, {"prompt": "b", "response": " "}]
    (folder / "empty.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    texts = [{"text": "one", "category": "a"}, {"txt": "two", "category": "a"}]
    (folder / "second.jsonl").write_text("\n".join(json.dumps(r) for r in texts))
    (folder / "deep.json").write_text(DEEP_JSON)
    (folder / "deep.yaml").write_text("- " * 100_000 + "x\n")
    (folder / "wrong.json").write_text('{"a": 1}')
    (folder / "nets.json").write_text(json.dumps(valid_template()))


TRAIN_CASES = {
    "--template bogus": (["--template", "bogus"], "'bogus' is not one of auto, chat, chatml, alpaca"),
    "--components 999": (["--network-mode", "freeze", "--components", "999"], "No shipped template for tiny"),
    "--templates missing": (
        ["--network-mode", "freeze", "--templates", "nope.json"],
        "nope.json: no such file",
    ),
    "--templates not one": (
        ["--network-mode", "lesion", "--templates", "wrong.json"],
        "not an fnsft template",
    ),
    "--model /nonexistent": (["--model", "/nonexistent"], "Model path '/nonexistent' does not exist"),
    "--lora-r 2**31-1": (
        ["--lora-r", "2147483647"],
        "2147483647 is out of range; expected an integer 1..1024",
    ),
    "empty responses": (
        ["--dataset", "empty.jsonl"],
        "none of its 2 prompt_response records has a non-empty",
    ),
    "--device foo": (["--device", "foo"], "'foo' is not a device name; expected 'auto', 'cpu'"),
    "--device cuda:abc": (["--device", "cuda:abc"], "'cuda:abc' is not a device name"),
    "--learning-rate 1e9": (["--learning-rate", "1e9"], "1e+09 is out of range; expected a number in (0, 1]"),
    "--warmup-ratio 1e9": (
        ["--warmup-ratio", "1e9"],
        "1e+09 is out of range; expected a number in [0, 1e+06]",
    ),
    "warmup >= steps": (["--max-steps", "5", "--warmup-ratio", "5"], "5 warm-up steps of a 5-step run"),
    "--warmup-ratio 2.5": (["--warmup-ratio", "2.5"], "2.5 is neither a fraction below 1 nor a whole number"),
    "--max-steps 0": (["--max-steps", "0"], "0 trains nothing; expected -1 (train for epochs) or 1.."),
    "--config /dev/zero": (
        ["--config", "/dev/zero"],
        "larger than 1,048,576 bytes; config files are at most",
    ),
    "--config deep.json": (["--config", "deep.json"], "nested 100000 levels deep; at most 64"),
    "--config deep.yaml": (["--config", "deep.yaml"], "nested more than 64 levels deep"),
    "--dataset deep.json": (["--dataset", "deep.json"], "nested 100000 levels deep; at most 64"),
}


def one_error(main, argv, capsys) -> tuple[int, str]:
    """(exit code, the one error line); any second line, traceback or none fails the test."""
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    lines = [line for line in capsys.readouterr().err.splitlines() if "error" in line]
    assert len(lines) == 1, lines
    return code, lines[0]


@pytest.mark.parametrize("case", sorted(TRAIN_CASES))
def test_training_is_refused_before_its_run_folder_exists(case, tiny_folder, tmp_path, monkeypatch, capsys):
    argv, message = TRAIN_CASES[case]
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    model = [] if "--model" in argv else ["--model", str(tiny_folder)]
    code, line = one_error(train_main, [*model, *argv, "--output-dir", "run", "--device", "cpu"][:], capsys)
    assert (code, message in line) == (2, True), line
    assert not (tmp_path / "run").exists()


READ_CASES = {  # data read by fnsft-eval and fnsft-build-templates after the model loads
    "eval record 2 lacks text": (
        eval_main,
        ["--templates", "nets.json", "--eval-data", "second.jsonl"],
        "record 2 has no 'text' field",
    ),
    "eval --random-draws 2**31-1": (
        eval_main,
        ["--random-draws", "2147483647"],
        "expected an integer 1..100",
    ),
    "build record 2 lacks text": (
        build_templates_main,
        ["--dataset", "second.jsonl"],
        "record 2 has no 'text'",
    ),
    "build deep data": (build_templates_main, ["--dataset", "deep.json"], "nested 100000 levels deep"),
}


@pytest.mark.parametrize("case", sorted(READ_CASES))
def test_bad_data_of_eval_and_discovery_is_one_line(case, tiny_folder, tmp_path, monkeypatch, capsys):
    main, argv, message = READ_CASES[case]
    monkeypatch.chdir(tmp_path)
    write_inputs(tmp_path)
    code, line = one_error(main, ["--model", str(tiny_folder), "--device", "cpu", *argv], capsys)
    assert (code, message in line) == (2, True), line


@pytest.fixture
def busy_port():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def test_the_app_refuses_before_serving(busy_port, tmp_path, monkeypatch, capsys):
    """Each refusal comes before the model loads or a server starts (the test would hang otherwise)."""
    (tmp_path / "file").write_text("x")
    cases = [
        (["--host", "999.999.999.999"], {}, 2, "--host '999.999.999.999' is not an address"),
        (["--port", str(busy_port)], {}, 1, f"port {busy_port} on 127.0.0.1 is in use"),
        ([], {"GRADIO_SERVER_PORT": "abc"}, 2, "GRADIO_SERVER_PORT: 'abc' is not an integer"),
        ([], {"FNSFT_ALLOW_MODEL_CHANGE": "maybe"}, 2, "FNSFT_ALLOW_MODEL_CHANGE: 'maybe' is not a boolean"),
        (["--runs-dir", str(tmp_path / "file")], {}, 2, "exists and is not a folder"),
        (["--port", "0"], {}, 2, "argument --port: 0 is out of range"),
    ]
    for argv, environment, expected, message in cases:
        with monkeypatch.context() as patch:
            for name, value in environment.items():
                patch.setenv(name, value)
            code, line = one_error(app_main, argv, capsys)
        assert (code, message in line) == (expected, True), (argv, line)


def test_a_library_bug_is_reported_as_one_with_its_traceback_behind_debug(monkeypatch, capsys):
    def broken(argv):
        raise KeyError("oops")

    monkeypatch.setattr("fnsft.cli._train", broken)
    code, line = one_error(train_main, [], capsys)
    assert (
        code == 3
        and "internal error (KeyError: 'oops'); this is a bug in fnsft" in line
        and "--debug" in line
    )
    assert train_main(["--debug"]) == 3
    assert "Traceback (most recent call last)" in capsys.readouterr().err


# ---------------------------------------------------------------- one training table, three surfaces

TRAINING_TABLE_CASES = [  # (setting, value, phrase): refused alike by flags, config files, TrainingConfig, app
    ("learning_rate", 1e9, "1e+09 is out of range; expected a number in (0, 1]"),
    ("learning_rate", 0, "0 is out of range; expected a number in (0, 1]"),
    ("batch_size", 0, "0 is out of range; expected an integer 1..65536"),
    ("max_length", 1, "1 is out of range; expected an integer 16..32768"),
    ("lora_r", 2147483647, "2147483647 is out of range; expected an integer 1..1024"),
    ("max_steps", 0, "0 trains nothing"),
    ("warmup_ratio", 1e9, "out of range; expected a number in [0, 1e+06]"),
    ("template", "bogus", "'bogus' is not one of auto, chat, chatml, alpaca"),
    ("device", "foo", "'foo' is not a device name"),
    ("method", "dora", "'dora' is not one of lora, full, qlora"),
]
APP_FIELDS = ("max_steps", "learning_rate", "batch_size", "max_length", "lora_r")


@pytest.mark.parametrize(("setting", "value", "phrase"), TRAINING_TABLE_CASES)
def test_one_training_table_refuses_alike_everywhere(setting, value, phrase, tmp_path, capsys):
    flag = ["--" + setting.replace("_", "-"), str(value)]
    assert one_error(train_main, [*flag, "--output-dir", str(tmp_path / "a")], capsys)[0] == 2
    config = tmp_path / "run.yaml"
    config.write_text(f"{setting}: {value}\n")
    code, line = one_error(train_main, ["--config", str(config), "--output-dir", str(tmp_path / "b")], capsys)
    assert (code, phrase in line) == (2, True), line
    with pytest.raises(FnsftError, match=f"{setting}: .*") as refused:
        TrainingConfig(**{setting: value})
    assert phrase in str(refused.value)
    if setting in APP_FIELDS:
        good = {"max_steps": 20, "epochs": 1.0, "learning_rate": 2e-4, "batch_size": 4, "max_length": 256}
        with pytest.raises(LimitError) as refused:
            check_training(**{**good, "lora_r": 8, setting: value})
        assert phrase in str(refused.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.yaml"]


# ---------------------------------------------------------------- Python API


def tiny_networks():
    return templates_from_dict(valid_template())


API_CASES = {
    "label(999)": (
        lambda: tiny_networks().label(999),
        MaskSelectionError,
        r"Unknown component ids \[999\]; .* 0..1",
    ),
    "label(-1)": (lambda: tiny_networks().label(-1), MaskSelectionError, r"Unknown component ids \[-1\]"),
    "label('0')": (lambda: tiny_networks().label("0"), MaskSelectionError, "'0' is not an integer; .* 0..1"),
    "top_categories(5)": (lambda: tiny_networks().top_categories(5), MaskSelectionError, r"ids \[5\]"),
    "measure_effect texts=[]": (
        lambda: measure_effect(None, None, tiny_networks(), [0], []),
        DatasetFormatError,
        "The list of texts is empty",
    ),
    "measure_effect random_draws": (
        lambda: measure_effect(None, None, tiny_networks(), [0], ["a"], random_draws=2**31 - 1),
        SettingError,
        "random_draws: 2147483647 is out of range; expected an integer 1..100",
    ),
    "measure_effect batch_size=0": (
        lambda: measure_effect(None, None, tiny_networks(), [0], ["a"], batch_size=0),
        SettingError,
        "batch_size: 0 is out of range",
    ),
    "texts record 2": (
        lambda: load_labelled_texts([{"text": "a"}, {"body": "b"}]),
        DatasetFormatError,
        "record 2 has no 'text' field",
    ),
    "texts category None": (
        lambda: load_labelled_texts([{"text": "a", "category": "x"}, {"text": "b", "category": None}]),
        DatasetFormatError,
        "record 2 has NoneType None as its 'category' field",
    ),
    "load_labelled_texts([])": (
        lambda: load_labelled_texts([]),
        DatasetFormatError,
        "list of texts is empty",
    ),
    "resolve_device cuda:abc": (
        lambda: resolve_device("cuda:abc"),
        SettingError,
        "'cuda:abc' is not a device",
    ),
    "resolve_device 5": (lambda: resolve_device(5.5), SettingError, "5.5 is not a device name"),
    "TrainingConfig template": (lambda: TrainingConfig(template="bogus"), FnsftError, "template: 'bogus'"),
    "TrainingConfig device": (
        lambda: TrainingConfig(device="foo"),
        FnsftError,
        "device: 'foo' is not a device",
    ),
    "TrainingConfig warmup": (
        lambda: TrainingConfig(max_steps=10, warmup_ratio=50),
        FnsftError,
        "50 warm-up steps of a 10-step run",
    ),
}


@pytest.mark.parametrize("case", sorted(API_CASES))
def test_api_entry_points_refuse_with_the_value_and_the_range(case):
    call, error, message = API_CASES[case]
    with pytest.raises(error, match=message):
        call()
