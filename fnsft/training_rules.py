"""The type and range of every fine-tuning setting, shared by fnsft-train flags, config files and TrainingConfig.

One table, so `--batch-size four`, `batch_size: four` in run.yaml and `TrainingConfig(batch_size="four")` are
refused with the same message instead of failing later (or, for booleans, being read as false).
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from .cli_types import (
    Converter,
    check_value,
    float_in_range,
    fraction,
    int_in_range,
    non_negative_float,
    non_negative_int,
    optional,
    positive_float,
    positive_int,
    seed_int,
    strict_bool,
    text,
)
from .errors import TrainingConfigError


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
    """'auto', 'cpu', 'cuda:1'...: text, or a torch.device from Python callers."""
    return str(value) if type(value).__name__ == "device" else text(value)


RULES: dict[str, Converter] = {
    "model": optional(path_value),
    "dataset": optional(path_value),
    "template": text,
    "max_length": positive_int,
    "loss_on": text,
    "validation_fraction": fraction,
    "method": text,
    "lora_r": positive_int,
    "lora_alpha": positive_int,
    "lora_dropout": fraction,
    "templates": optional(path_value),
    "components": components_value,
    "network_mode": text,
    "random_control": strict_bool,
    "learning_rate": positive_float,
    "epochs": non_negative_float,
    "max_steps": int_in_range(-1),
    "batch_size": positive_int,
    "gradient_accumulation": positive_int,
    "warmup_ratio": non_negative_float,
    "weight_decay": float_in_range(0.0, 1.0),
    "seed": seed_int,
    "output_dir": optional(path_value),
    "logging_steps": positive_int,
    "eval_steps": non_negative_int,
    "save_steps": positive_int,
    "gradient_checkpointing": text,
    "resume": strict_bool,
    "overwrite": strict_bool,
    "merge": strict_bool,
    "general_eval": optional(path_value),
    "eval_texts_per_category": positive_int,
    "evaluate": strict_bool,
    "drift": strict_bool,
    "device": device_value,
}


def check_settings(values: dict[str, Any], where: str = "") -> dict[str, Any]:
    """Every value converted by its rule; the first that breaks one is refused as a TrainingConfigError."""
    checked = {}
    for name, value in values.items():
        try:
            checked[name] = check_value(name, value, RULES[name], where)
        except ValueError as error:
            raise TrainingConfigError(str(error)) from None
    return checked
