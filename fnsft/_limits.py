"""Bounds on what one request may ask for, checked before any work starts.

A shared server (the app on a Space) must refuse an oversized or nonsensical request in milliseconds with a short
message, instead of expanding a layer range into millions of ids, running a prompt past the model's context or
starting a job whose settings fail after minutes. The CLI can use the same checks.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from .choices import THRESHOLD_RULES
from .errors import FnsftError

SHOWN_INPUT = 40  # characters of a bad input echoed back in a message, so an error stays short
LAYER_PART = re.compile(r"(\d{1,9})(?:-(\d{1,9}))?")
MAX_COMPONENTS = 256
MAX_DISCOVERY_TOKENS = 200_000


class LimitError(FnsftError, ValueError):
    """A request is out of bounds: too big for the model or the server, or not a valid setting."""


def shown(text: str) -> str:
    """A user's input as quoted in a message: at most SHOWN_INPUT characters."""
    text = str(text)
    return repr(text if len(text) <= SHOWN_INPUT else text[:SHOWN_INPUT] + "…")


def parse_layer_spec(text: str | None, num_layers: int) -> list[int] | None:
    """'0-9, 20' -> [0..9, 20] for a model with `num_layers` layers; empty means every layer (None).

    Each part is read as bounds and checked against the layer count before any list is built, so the work and
    the message stay bounded whatever was typed.
    """
    if text is None or not text.strip():
        return None
    layers: set[int] = set()
    for part in text.replace(" ", "").split(","):
        match = LAYER_PART.fullmatch(part)
        if match is None:
            raise LimitError(f"Cannot read layers {shown(text)}; write e.g. '0-9, 20'.")
        first = int(match.group(1))
        last = int(match.group(2) or first)
        if first > last:
            raise LimitError(f"Layer range {shown(part)} runs backwards; write it low-high, e.g. '2-5'.")
        if last >= num_layers:
            raise LimitError(
                f"Layer {last} does not exist: this model has layers 0-{num_layers - 1}; change 'Only layers'."
            )
        layers.update(range(first, last + 1))
    return sorted(layers)


def context_length(model: Any) -> int | None:
    """The most positions the model takes (from its config), or None when the config does not say."""
    config = getattr(model, "config", None)
    for name in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, name, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_prompt_length(prompt_tokens: int, max_new_tokens: int, context: int | None) -> None:
    """Refuse a prompt that leaves no room for `max_new_tokens` in the model's context."""
    if context is None:
        return
    room = context - max_new_tokens
    if prompt_tokens > room:
        raise LimitError(
            f"The prompt has {prompt_tokens:,} tokens; with {max_new_tokens} new tokens this model's context of "
            f"{context:,} leaves room for {max(room, 0):,}. Shorten the prompt."
        )


def finite(name: str, value: Any) -> float:
    """`value` as a finite float, or a LimitError naming the setting."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise LimitError(f"{name} must be a number, got {shown(value)}.") from None
    if not math.isfinite(number):
        raise LimitError(f"{name} must be a finite number, got {number}.")
    return number


def whole(name: str, value: Any, low: int, high: int) -> int:
    """`value` as an int in [low, high], or a LimitError that gives the range."""
    number = finite(name, value)
    if number != int(number) or not low <= number <= high:
        raise LimitError(f"{name} must be a whole number from {low:,} to {high:,}, got {number:g}.")
    return int(number)


MAX_SEED = 2**32 - 1  # numpy's and torch's generators both take seeds in [0, 2**32)


def check_seed(value: Any) -> int:
    """A random seed numpy and torch both accept, refused before any work rather than deep inside it."""
    return whole("Seed", value, 0, MAX_SEED)


def check_threshold(rule: str, value: Any, num_neurons: int | None = None) -> float:
    """A discovery threshold that means something: z-score >= 0, percentile in (0, 100), top-k >= 1."""
    if rule not in THRESHOLD_RULES:
        raise LimitError(f"Threshold rule {shown(rule)} is unknown; use one of {', '.join(THRESHOLD_RULES)}.")
    number = finite("The threshold", value)
    if rule == "zscore" and number < 0:
        raise LimitError(f"A z-score threshold must be 0 or more, got {number:g}.")
    if rule == "percentile" and not 0 < number < 100:
        raise LimitError(f"A percentile threshold must be above 0 and below 100, got {number:g}.")
    if rule == "topk":
        return float(whole("Top-k (neurons per network)", number, 1, num_neurons or 10**9))
    return number


def check_discovery(
    components: Any, rule: str, threshold: Any, max_tokens: Any, num_neurons: int | None = None
) -> tuple[int, float, int]:
    """(components, threshold, token budget) of a discovery request, each within bounds."""
    return (
        whole("Networks (ICA components)", components, 2, MAX_COMPONENTS),
        check_threshold(rule, threshold, num_neurons),
        whole("Token budget", max_tokens, 16, MAX_DISCOVERY_TOKENS),
    )


def check_training(
    max_steps: Any, epochs: Any, learning_rate: Any, batch_size: Any, max_length: Any, lora_r: Any
) -> dict[str, Any]:
    """The app's numeric training settings, checked by the one training table (fnsft.training._rules) with the
    shared server's bounds on top; a form's whole-valued floats (4.0) count as integers."""
    from .errors import TrainingConfigError
    from .training._rules import check_settings, check_together

    values = {
        "max_steps": max_steps,
        "epochs": epochs,
        "learning_rate": learning_rate,
        "batch_size": batch_size,
        "max_length": max_length,
        "lora_r": lora_r,
    }
    integers = ("max_steps", "batch_size", "max_length", "lora_r")
    values.update({k: int(v) for k, v in values.items() if k in integers and _whole_float(v)})
    try:
        checked = check_settings(values, server=True)
        check_together(checked)
    except TrainingConfigError as error:
        raise LimitError(str(error)) from None
    return checked


def _whole_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


def check_choice(name: str, value: Any, choices: Iterable[str]) -> str:
    """`value` when it is one of `choices`, else a LimitError listing them."""
    options = list(choices)
    if value not in options:
        raise LimitError(f"{name} {shown(value)} is not available; choose one of {', '.join(options)}.")
    return value
