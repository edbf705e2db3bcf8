"""Bounds checked before any work starts: fast, short refusals that say what to change."""

from __future__ import annotations

import math
import time

import pytest

from fnsft._limits import (
    LimitError,
    check_discovery,
    check_prompt_length,
    check_threshold,
    check_training,
    context_length,
    parse_layer_spec,
)


def test_layer_specs_are_read_against_the_layer_count():
    assert parse_layer_spec("", 4) is None and parse_layer_spec(None, 4) is None
    assert parse_layer_spec("0-1, 3", 4) == [0, 1, 3]
    assert parse_layer_spec(" 2 ,2-3", 4) == [2, 3]


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("0-99999999", "Layer 99999999 does not exist: this model has layers 0-3"),
        ("4", "Layer 4 does not exist"),
        ("3-1", "runs backwards"),
        ("one", "Cannot read layers 'one'"),
        ("-2", "Cannot read layers"),
        ("0-1-2", "Cannot read layers"),
        ("9" * 5000, "Cannot read layers"),
    ],
)
def test_bad_layer_specs_are_refused_at_once_with_a_short_message(spec, message):
    started = time.perf_counter()
    with pytest.raises(LimitError, match=message) as error:
        parse_layer_spec(spec, 4)
    assert time.perf_counter() - started < 0.05
    assert len(str(error.value)) < 200


def test_a_huge_layer_list_is_quoted_briefly():
    spec = ",".join(["x"] * 10_000)
    with pytest.raises(LimitError) as error:
        parse_layer_spec(spec, 4)
    assert len(str(error.value)) < 200 and "…" in str(error.value)


def test_prompts_must_leave_room_for_the_new_tokens():
    check_prompt_length(8000, 192, 8192)
    check_prompt_length(10**6, 10, None)  # a config without a context length: nothing to check
    with pytest.raises(LimitError, match="10,000 tokens; with 48 new tokens .* 8,192 leaves room for 8,144"):
        check_prompt_length(10_000, 48, 8192)


def test_context_length_comes_from_the_config(tiny_model):
    assert context_length(tiny_model) == 256
    assert context_length(object()) is None


@pytest.mark.parametrize(
    ("rule", "value", "message"),
    [
        ("zscore", -1, "0 or more"),
        ("zscore", math.nan, "finite"),
        ("zscore", math.inf, "finite"),
        ("percentile", 0, "above 0 and below 100"),
        ("percentile", 100, "above 0 and below 100"),
        ("topk", 0.5, "whole number"),
        ("median", 1, "unknown"),
    ],
)
def test_thresholds_are_checked(rule, value, message):
    with pytest.raises(LimitError, match=message):
        check_threshold(rule, value)


def test_good_discovery_settings_pass_through():
    assert check_discovery(8, "percentile", 98, 1024) == (8, 98.0, 1024)
    assert check_threshold("zscore", 0) == 0.0 and check_threshold("topk", 50, 48 * 3) == 50.0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"components": 1}, "Networks .* from 2"),
        ({"max_tokens": 10**12}, "Token budget must be a whole number from 16 to 200,000"),
        ({"max_tokens": None}, "Token budget must be a number"),
    ],
)
def test_bad_discovery_settings_are_refused(settings, message):
    values = {"components": 8, "rule": "zscore", "threshold": 3, "max_tokens": 1024, **settings}
    with pytest.raises(LimitError, match=message):
        check_discovery(**values)


GOOD_TRAINING = {"max_steps": 20, "epochs": 1.0, "learning_rate": 2e-4, "batch_size": 4, "max_length": 256}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"max_steps": 0}, "max_steps: 0 trains nothing; expected -1"),
        ({"max_steps": -5}, "max_steps: -5 is out of range; expected an integer -1.."),
        ({"max_steps": 200_000}, "max_steps: 200000 is above this server's limit of 100000"),
        ({"max_steps": -1, "epochs": 0}, "this run would train nothing"),
        ({"learning_rate": 0}, r"learning_rate: 0 is out of range; expected a number in \(0, 1\]"),
        ({"learning_rate": 1e9}, r"learning_rate: 1e\+09 is out of range"),
        ({"learning_rate": math.nan}, "finite"),
        ({"batch_size": 0}, "batch_size: 0 is out of range; expected an integer 1..65536"),
        ({"batch_size": 513}, "batch_size: 513 is above this server's limit of 512"),
        ({"max_length": 4}, "max_length: 4 is out of range; expected an integer 16..32768"),
        ({"lora_r": 0}, "lora_r: 0 is out of range; expected an integer 1..1024"),
    ],
)
def test_bad_training_settings_are_refused(settings, message):
    with pytest.raises(LimitError, match=message):
        check_training(**{**GOOD_TRAINING, "lora_r": 8, **settings})


def test_good_training_settings_come_back_typed():
    checked = check_training(**{**GOOD_TRAINING, "max_steps": -1.0, "lora_r": 8})
    assert checked["max_steps"] == -1 and isinstance(checked["batch_size"], int)
