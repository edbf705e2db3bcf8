"""The bad-input catalogue: malformed templates, nonsense flags, mistyped config files, broken data files and
reused run folders. Each case must end in one clear refusal (the exact message part is asserted) and write
nothing; none may reach a traceback, a silent coercion or a deleted file."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from conftest import tiny_llama

from fnsft._value_types import OneLineParser, port_number
from fnsft.cli import build_templates_main, eval_main, train_main
from fnsft.data import load_train_validation
from fnsft.data._texts import load_labelled_texts
from fnsft.errors import DatasetFormatError, TemplateError
from fnsft.models._architectures import model_shape
from fnsft.networks import _template_schema as template_schema
from fnsft.networks._functional_networks import FunctionalNetworks
from fnsft.networks._templates import load_templates, templates_to_dict

# ---------------------------------------------------------------- templates


def valid_template() -> dict:
    networks = FunctionalNetworks(
        [{0: np.arange(4), 2: np.array([5, 47])}, {1: np.arange(3)}],
        model_shape(tiny_llama()),
        "tiny",
        "intermediate",
        {"rule": "topk", "value": 4},
        explained_variance=np.array([0.5, 0.25]),
        stability=np.array([0.9, 0.4]),
        categories=["code", "math"],
        category_response=np.array([[1.0, -1.0], [0.0, 2.0]]),
    )
    return templates_to_dict(networks)


def edit(path: str, value):
    """A mutation setting the field at a dotted path ('components.0.neurons.0') to value."""

    def mutate(data: dict) -> dict:
        *parents, last = path.split(".")
        node = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is DELETE:
            del node[last]
        else:
            node[last] = value
        return data

    return mutate


DELETE = object()
NEST = {"a": 0}
for _ in range(60):
    NEST = {"a": NEST}

TEMPLATE_CASES = {
    "id 2**70": (
        edit("components.0.neurons.0", [2**70]),
        r"neurons\['0'\]\[0\]: 1180591620717411303424 is outside 0..47",
    ),
    "id 1.9": (
        edit("components.0.neurons.0", [1.9]),
        r"neurons\['0'\]\[0\]: 1.9 is not an integer; expected an integer 0..47",
    ),
    "id true": (edit("components.0.neurons.0", [True]), r"\[0\]: true is not an integer"),
    "id as text": (edit("components.0.neurons.0", ["12"]), r'\[0\]: "12" is not an integer'),
    "negative id": (edit("components.0.neurons.0", [-1]), r"\[0\]: -1 is outside 0..47"),
    "duplicate id": (edit("components.0.neurons.0", [1, 1]), r"neurons\['0'\]: an id is listed twice"),
    "ids not a list": (edit("components.0.neurons.0", 3), r"neurons\['0'\]: 3 is not a list"),
    "nested ids": (edit("components.0.neurons.0", [[1]]), r"\[0\]: list is not an integer"),
    "layer out of range": (
        edit("components.0.neurons.7", [1]),
        r"neurons\['7'\]: names layer 7, but the model has 3",
    ),
    "layer key 01": (edit("components.0.neurons.01", [1]), r"neurons: layer key '01' is not a layer number"),
    "layer key -1": (edit("components.0.neurons.-1", [1]), r"layer key '-1' is not a layer number"),
    "neurons a list": (
        edit("components.0.neurons", [[1]]),
        r"components\[0\].neurons: list is not an object",
    ),
    "component a string": (edit("components.1", "N1"), r'components\[1\]: "N1" is not an object'),
    "component a number": (edit("components.1", 7), r"components\[1\]: 7 is not an object"),
    "component id missing": (edit("components.0.id", DELETE), r"components\[0\].id: null is not an integer"),
    "component id repeated": (edit("components.1.id", 0), r"components\[1\].id: id 0 at position 1"),
    "component id as text": (edit("components.1.id", "1"), r'components\[1\].id: "1" is not an integer'),
    "num_neurons wrong": (
        edit("components.0.num_neurons", 99),
        r"num_neurons: 99 but the neurons listed are 6",
    ),
    "label a number": (edit("components.0.label", 5), r"components\[0\].label: 5 is not text"),
    "top_categories text": (
        edit("components.0.top_categories", "code"),
        r'top_categories: "code" is not a list',
    ),
    "stability on one": (
        edit("components.1.stability", DELETE),
        r"components\[1\].stability: missing while other",
    ),
    "stability 1.5": (edit("components.0.stability", 1.5), r"components\[0\].stability: 1.5 is out of range"),
    "variance as text": (
        edit("components.0.explained_variance", "high"),
        r'explained_variance: "high" is not a finite',
    ),
    "no components": (edit("components", []), r"components: the list is empty; expected at least one entry"),
    "components an object": (edit("components", {}), r"components: dict is not a list"),
    "categories x response": (
        edit("categories", ["code", "math", "art"]),
        r"category_response\[0\]: 2 values for 3",
    ),
    "response rows": (edit("category_response", [[1.0, 2.0]]), r"category_response: 1 rows for 2 components"),
    "response as text": (
        edit("category_response.0", ["x", 1.0]),
        r'category_response\[0\]\[0\]: "x" is not a finite',
    ),
    "response without categories": (
        edit("categories", []),
        r"category_response\[0\]: 2 values for 0 categories",
    ),
    "category repeated": (edit("categories", ["code", "code"]), r"categories: a name is listed twice"),
    "category a number": (edit("categories", [1, 2]), r"categories\[0\]: 1 is not text"),
    "num_layers as text": (
        edit("model.shape.num_layers", "3"),
        r'model.shape.num_layers: "3" is not an integer',
    ),
    "num_layers 0": (edit("model.shape.num_layers", 0), r"model.shape.num_layers: 0 is out of range"),
    "hidden_size float": (
        edit("model.shape.hidden_size", 32.0),
        r"model.shape.hidden_size: 32.0 is not an integer",
    ),
    "sizes per layer": (
        edit("model.shape.intermediate_sizes", [48, 48]),
        r"intermediate_sizes: 2 sizes for 3 layers",
    ),
    "size as text": (
        edit("model.shape.intermediate_sizes", ["48", 48, 48]),
        r'intermediate_sizes\[0\]: "48" is not',
    ),
    "shape missing": (edit("model.shape", DELETE), r"model.shape: null is not an object"),
    "model id number": (edit("model.id", 5), r"model.id: 5 is not text"),
    "name a list": (edit("name", ["x"]), r"name: list is not text"),
    "granularity": (
        edit("granularity", "neurons"),
        r"granularity: \"neurons\" is not a granularity; expected 'intermediate' or",
    ),
    "threshold text": (edit("threshold", "3"), r'threshold: "3" is not an object'),
    "threshold value text": (edit("threshold.value", "3"), r'threshold.value: "3" is not a finite number'),
    "stability_threshold text": (
        edit("stability_threshold", "0.8"),
        r'stability_threshold: "0.8" is not a finite',
    ),
    "decomposition a list": (edit("decomposition", [1]), r"decomposition: list is not an object"),
    "schema_version true": (edit("schema_version", True), r"schema_version True is not supported"),
    "schema_version text": (edit("schema_version", "1"), r"schema_version '1' is not supported"),
    "deep nesting": (edit("decomposition", NEST), r"nested 62 levels deep; at most 32"),
}

RAW_CASES = {
    "Infinity": (
        '{"format": "fnsft-templates", "x": Infinity}',
        r"not valid JSON \(Infinity is not a JSON number",
    ),
    "NaN": ('{"format": "fnsft-templates", "x": NaN}', r"not valid JSON \(NaN is not a JSON number"),
    "a list": ("[1, 2]", r"the file must hold a JSON object"),
    "empty file": ("", r"not valid JSON \(Expecting value"),
    "5000-digit id": ('{"x": ' + "9" * 5000 + "}", r"not valid JSON \(Exceeds the limit"),
    "deep lists": ("[" * 100_000 + "]" * 100_000, r"nested 100000 levels deep"),
    "SFT hidden as text": (
        json.dumps({"layout": {"captured_layers_sorted": [0], "hidden_size": "32"}, "templates": {"0": {}}}),
        r'layout.hidden_size: "32" is not an integer',
    ),
    "SFT layer as text": (
        json.dumps({"layout": {"captured_layers_sorted": ["a"], "hidden_size": 32}, "templates": {"0": {}}}),
        r'captured_layers_sorted\[0\]: "a" is not an integer',
    ),
    "SFT key": (
        json.dumps({"layout": {"captured_layers_sorted": [0], "hidden_size": 32}, "templates": {"x": {}}}),
        r"templates: key 'x' is not a template number",
    ),
    "SFT float id": (
        json.dumps(
            {"layout": {"captured_layers_sorted": [0], "hidden_size": 32}, "templates": {"0": {"0": [1.5]}}}
        ),
        r"templates\['0'\]\['0'\]\[0\]: 1.5 is not an integer",
    ),
}


@pytest.mark.parametrize("case", sorted(TEMPLATE_CASES))
def test_malformed_template_field_is_refused_by_name(case, tmp_path):
    mutate, message = TEMPLATE_CASES[case]
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(mutate(copy.deepcopy(valid_template()))))
    with pytest.raises(TemplateError, match=message) as refused:
        load_templates(path)
    assert str(refused.value).startswith(f"{path}: ")


@pytest.mark.parametrize("case", sorted(RAW_CASES))
def test_malformed_template_text_is_refused(case, tmp_path):
    text, message = RAW_CASES[case]
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(TemplateError, match=message):
        load_templates(path)


def test_template_files_that_are_not_files_or_too_big_are_refused(tmp_path, monkeypatch):
    valid = tmp_path / "ok.json"
    valid.write_text(json.dumps(valid_template()))
    assert (
        load_templates(valid).label(0) == "N0 · 6 neurons · code"
    )  # the base loads (math, -1.0, names nothing)
    with pytest.raises(TemplateError, match="is a folder, not a template file"):
        load_templates(tmp_path)
    (tmp_path / "bin.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(TemplateError, match="not valid JSON \\(not UTF-8 text"):
        load_templates(tmp_path / "bin.json")
    monkeypatch.setattr(template_schema, "MAX_TEMPLATE_BYTES", 100)
    with pytest.raises(TemplateError, match=r"bytes; template files are at most 100 bytes"):
        load_templates(valid)


# ---------------------------------------------------------------- CLI flags

FLAG_CASES = {
    "train --resume y": (
        train_main,
        ["--resume", "y"],
        "argument --resume: 'y' is not a boolean; use true/false",
    ),
    "train --overwrite maybe": (
        train_main,
        ["--overwrite", "maybe"],
        "argument --overwrite: 'maybe' is not a",
    ),
    "train --evaluate 2": (train_main, ["--evaluate", "2"], "argument --evaluate: '2' is not a boolean"),
    "train --batch-size four": (
        train_main,
        ["--batch-size", "four"],
        "argument --batch-size: 'four' is not an",
    ),
    "train --batch-size 0": (train_main, ["--batch-size", "0"], "argument --batch-size: 0 is out of range"),
    "train --learning-rate nan": (train_main, ["--learning-rate", "nan"], "'nan' is not a finite number"),
    "train --learning-rate 0": (
        train_main,
        ["--learning-rate", "0"],
        "0 is out of range; expected a number in (0",
    ),
    "train --epochs inf": (
        train_main,
        ["--epochs", "inf"],
        "argument --epochs: 'inf' is not a finite number",
    ),
    "train --seed -1": (train_main, ["--seed", "-1"], "argument --seed: -1 is out of range"),
    "train --max-steps -2": (train_main, ["--max-steps", "-2"], "argument --max-steps: -2 is out of range"),
    "train --max-steps 1.5": (
        train_main,
        ["--max-steps", "1.5"],
        "argument --max-steps: '1.5' is not an integer",
    ),
    "train --validation-fraction 1": (
        train_main,
        ["--validation-fraction", "1"],
        "expected a number in [0, 1)",
    ),
    "train --lora-dropout 2": (
        train_main,
        ["--lora-dropout", "2"],
        "argument --lora-dropout: 2 is out of range",
    ),
    "train --no-such-flag": (train_main, ["--no-such-flag"], "unrecognized arguments: --no-such-flag"),
    "eval --texts-per-category -1": (eval_main, ["--texts-per-category", "-1"], "-1 is out of range"),
    "eval --random-draws 0": (
        eval_main,
        ["--random-draws", "0"],
        "argument --random-draws: 0 is out of range",
    ),
    "eval --components 0,x": (eval_main, ["--components", "0,x"], "'0,x' is not 'all' or comma-separated"),
    "eval --seed 2**40": (eval_main, ["--seed", str(2**40)], "1099511627776 is out of range"),
    "eval --json /proc": (
        eval_main,
        ["--json", "/proc/x.json"],
        "argument --json: output /proc/x.json: cannot",
    ),
    "eval --mode sideways": (
        eval_main,
        ["--mode", "sideways"],
        "argument --mode: invalid choice: 'sideways'",
    ),
    "build --threshold nan": (build_templates_main, ["--threshold", "nan"], "'nan' is not a finite number"),
    "build --threshold inf": (build_templates_main, ["--threshold", "inf"], "'inf' is not a finite number"),
    "build --stability-runs -1": (build_templates_main, ["--stability-runs", "-1"], "-1 is out of range"),
    "build --components 0": (build_templates_main, ["--components", "0"], "num_components=0 is out of range"),
    "build --max-tokens 0": (build_templates_main, ["--max-tokens", "0"], "max_tokens=0 is out of range"),
    "build --max-length x": (build_templates_main, ["--max-length", "x"], "'x' is not an integer"),
    "build --dataset f:0": (
        build_templates_main,
        ["--dataset", "f.jsonl:0"],
        "count after ':' must be at least 1",
    ),
    "build topk 2.5": (
        build_templates_main,
        ["--threshold-rule", "topk", "--threshold", "2.5"],
        "Top-k (neurons per network) must be a whole number",
    ),
    "build --output /proc": (
        build_templates_main,
        ["--output", "/proc/x.json"],
        "output /proc/x.json: cannot write",
    ),
}


def one_line_exit(main, argv, capsys) -> tuple[int, str]:
    """(exit code, the single stderr line) of a CLI refusal; a second line fails the test."""
    try:
        code = main(argv)
    except SystemExit as exit:
        code = exit.code
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1, lines
    return code, lines[0]


@pytest.mark.parametrize("case", sorted(FLAG_CASES))
def test_nonsense_flag_exits_2_with_one_line_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    main, argv, message = FLAG_CASES[case]
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "out"
    extra = ["--output-dir", str(folder)] if main is train_main else []
    code, line = one_line_exit(main, argv + extra, capsys)
    assert code == 2
    assert message in line
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("port", "message"), [("99999", "99999 is out of range"), ("0", "0 is out"), ("web", "'web'")]
)
def test_port_numbers_outside_1_to_65535_are_refused(port, message, capsys):
    parser = OneLineParser(prog="fnsft-app")
    parser.add_argument("--port", type=port_number)
    assert parser.parse_args(["--port", "7860"]).port == 7860
    with pytest.raises(SystemExit) as exit:
        parser.parse_args(["--port", port])
    assert exit.value.code == 2
    assert f"fnsft-app: error: argument --port: {message}" in capsys.readouterr().err


# ---------------------------------------------------------------- config files

CONFIG_CASES = {
    "batch_size: four": ("batch_size: four", "batch_size: 'four' is not an integer"),
    "batch_size: 2.5": ("batch_size: 2.5", "batch_size: 2.5 is not an integer"),
    "batch_size: true": ("batch_size: true", "batch_size: True is not an integer"),
    "resume: y": ("resume: y", "resume: 'y' is not a boolean"),
    "merge: 2": ("merge: 2", "merge: 2 is not a boolean"),
    "learning_rate: .nan": ("learning_rate: .nan", "learning_rate: nan is not a finite number"),
    "learning_rate: fast": ("learning_rate: fast", "learning_rate: 'fast' is not a number"),
    "epochs: -1": ("epochs: -1", "epochs: -1 is out of range"),
    "seed: -3": ("seed: -3", "seed: -3 is out of range"),
    "warmup_ratio: -0.1": ("warmup_ratio: -0.1", "warmup_ratio: -0.1 is out of range"),
    "components: [0, x]": ("components: [0, x]", "components: 'x' is not an integer"),
    "components: 5": ("components: 5", "components: 5 is not 'all', comma-separated ids or a list"),
    "model: [a]": ("model: [a]", "model: ['a'] is not text"),
    "a list": ("- batch_size", "must hold a mapping of flag names to values"),
    "unknown key": ("max_stepz: 3", "unknown keys ['max_stepz']"),
    "broken YAML": ("max_steps: [3", "Cannot read the config file"),
}


@pytest.mark.parametrize("case", sorted(CONFIG_CASES))
def test_config_file_values_follow_the_flag_rules(case, tmp_path, capsys):
    text, message = CONFIG_CASES[case]
    path = tmp_path / "run.yaml"
    path.write_text(text + "\n")
    code, line = one_line_exit(
        train_main, ["--config", str(path), "--output-dir", str(tmp_path / "run")], capsys
    )
    assert code == 2
    assert message in line
    assert [p.name for p in tmp_path.iterdir()] == ["run.yaml"]


# ---------------------------------------------------------------- data files

DATA_CASES = {
    "empty.jsonl": (b"", "holds no records"),
    "header-only.csv": (b"a,b\n", "holds no records"),
    "number.json": (b"5", "expected a list of records"),
    "ints.json": (b"[1, 2]", "item 0 is a int, not a record"),
    "broken.jsonl": (b'{"text": "a"}\n{oops\n', "line 2: not valid JSON"),
    "binary.jsonl": (b"\xff\xfe", "line 1: not valid JSON"),
    "notes.txt": (b"x", "unsupported file type"),
}


@pytest.mark.parametrize("name", sorted(DATA_CASES))
def test_broken_data_files_are_refused(name, tmp_path):
    content, message = DATA_CASES[name]
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises((DatasetFormatError, ValueError), match=message):
        load_labelled_texts(path)
    if name != "empty.jsonl" and name != "header-only.csv":  # the trainer's loader refuses them the same way
        with pytest.raises(DatasetFormatError, match=message):
            load_train_validation(path, 0.1, 0)
