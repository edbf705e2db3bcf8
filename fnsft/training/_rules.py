"""The type and range of every fine-tuning setting: one table for fnsft-train flags, config files, TrainingConfig
and the app.

`--batch-size four`, `batch_size: four` in run.yaml, `TrainingConfig(batch_size="four")` and the app's form are
refused with the same message, naming the value and the accepted range, instead of failing later (or, for
booleans, being read as false). A shared server (the app) adds `SERVER_BOUNDS` on top of the ranges.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .._value_types import (
    MAX_INT,
    Converter,
    check_value,
    float_in_range,
    fraction,
    int_in_range,
    non_negative_int,
    one_of,
    optional,
    positive_int,
    seed_int,
    strict_bool,
    text,
)
from ..choices import NETWORK_MODES, TRAINING_METHODS
from ..data import LOSS_ON, TEMPLATES
from ..errors import TrainingConfigError

CHECKPOINTING = ("auto", "on", "off")
MAX_LENGTH = 32_768
MAX_LORA_RANK = 1024
MAX_BATCH = 65_536
MAX_WARMUP_STEPS = 1_000_000
SERVER_BOUNDS = {"max_steps": 100_000, "epochs": 100, "batch_size": 512}  # the app on a shared server


def components_value(value: Any) -> str | list[int]:
    """'all', comma-separated ids as text, or a list of non-negative integer ids."""
    if isinstance(value, list | tuple):
        return [non_negative_int(item) for item in value]
    if isinstance(value, str):
        return value
    raise argparse.ArgumentTypeError(f"{value!r} is not 'all', comma-separated ids or a list of ids")


def path_value(value: Any) -> str:
    """A file, folder or hub id: text, or a path object from Python callers (kept as its text)."""
    return os.fspath(value) if isinstance(value, os.PathLike) else text(value)


def device_value(value: Any) -> str:
    """'auto', 'cpu', 'cuda', 'cuda:1', 'mps' (or a torch.device): refused when torch cannot read it."""
    name = str(value) if type(value).__name__ == "device" else text(value)
    if name != "auto":
        from ..errors import SettingError
        from ..models._devices import resolve_device

        try:
            resolve_device(name)
        except SettingError as error:
            raise argparse.ArgumentTypeError(str(error).removeprefix("device=").rstrip(".")) from None
    return name


def steps_value(value: Any) -> int:
    """-1 (train for `epochs`) or a step count; 0 would train nothing."""
    number = int_in_range(-1)(value)
    if number == 0:
        raise argparse.ArgumentTypeError(f"0 trains nothing; expected -1 (train for epochs) or 1..{MAX_INT}")
    return number


def warmup_value(value: Any) -> float:
    """A fraction of the steps below 1, or a whole number of warm-up steps."""
    number = float_in_range(0.0, MAX_WARMUP_STEPS)(value)
    if number >= 1 and not number.is_integer():
        raise argparse.ArgumentTypeError(
            f"{number:g} is neither a fraction below 1 nor a whole number of steps (1..{MAX_WARMUP_STEPS})"
        )
    return number


RULES: dict[str, Converter] = {
    "model": optional(path_value),
    "dataset": optional(path_value),
    "template": one_of(TEMPLATES),
    "max_length": int_in_range(16, MAX_LENGTH),
    "loss_on": one_of(LOSS_ON),
    "validation_fraction": fraction,
    "method": one_of(TRAINING_METHODS),
    "lora_r": int_in_range(1, MAX_LORA_RANK),
    "lora_alpha": int_in_range(1, 1_000_000),
    "lora_dropout": fraction,
    "templates": optional(path_value),
    "components": components_value,
    "network_mode": one_of(NETWORK_MODES),
    "random_control": strict_bool,
    "learning_rate": float_in_range(0.0, 1.0, low_open=True),
    "epochs": float_in_range(0.0, 10_000.0),
    "max_steps": steps_value,
    "batch_size": int_in_range(1, MAX_BATCH),
    "gradient_accumulation": int_in_range(1, MAX_BATCH),
    "warmup_ratio": warmup_value,
    "weight_decay": float_in_range(0.0, 1.0),
    "seed": seed_int,
    "output_dir": optional(path_value),
    "logging_steps": positive_int,
    "eval_steps": non_negative_int,
    "save_steps": positive_int,
    "gradient_checkpointing": one_of(CHECKPOINTING),
    "resume": strict_bool,
    "overwrite": strict_bool,
    "merge": strict_bool,
    "general_eval": optional(path_value),
    "eval_texts_per_category": int_in_range(1, 100_000),
    "evaluate": strict_bool,
    "drift": strict_bool,
    "device": device_value,
}


def check_settings(values: dict[str, Any], where: str = "", server: bool = False) -> dict[str, Any]:
    """Every value converted by its rule (and, on a shared server, within SERVER_BOUNDS); the first that breaks
    one is refused as a TrainingConfigError naming the setting, the value and the accepted range."""
    checked = {}
    for name, value in values.items():
        try:
            checked[name] = check_value(name, value, RULES[name], where)
        except ValueError as error:
            raise TrainingConfigError(str(error)) from None
        bound = SERVER_BOUNDS.get(name) if server else None
        if bound is not None and checked[name] > bound:
            raise TrainingConfigError(f"{name}: {checked[name]:g} is above this server's limit of {bound:g}")
    return checked


def check_together(settings: dict[str, Any]) -> None:
    """Refuse settings that are each in range but train nothing, or nothing at the set learning rate."""
    steps, epochs, warmup = settings["max_steps"], settings["epochs"], settings.get("warmup_ratio", 0.0)
    if steps == -1 and epochs <= 0:
        raise TrainingConfigError(
            "max_steps is -1 and epochs is 0: this run would train nothing; set either."
        )
    if steps > 0 and warmup >= 1 and warmup >= steps:
        raise TrainingConfigError(
            f"warmup_ratio: {warmup:g} warm-up steps of a {steps}-step run never reach the learning rate; "
            f"expected a fraction below 1 or fewer than {steps} steps"
        )
