"""Strict value types for command-line flags and config files: one rule per kind of value, one-line refusals.

Each converter takes the flag's text (or a config file's parsed value) and returns the value, or raises
`argparse.ArgumentTypeError` with a message that names the value and the expected form. Config files go through
the same converters (`check_value`), so `batch_size: four` is refused exactly like `--batch-size four`.
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable
from typing import Any, NoReturn

TRUE_WORDS = ("true", "yes", "1")
FALSE_WORDS = ("false", "no", "0")
MAX_INT = 2**31 - 1  # ids, counts and seeds fit in int32 everywhere fnsft uses them
MAX_SEED = 2**32 - 1

Converter = Callable[[Any], Any]


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose refusals are one line on stderr and exit code 2 (no usage block); it lists
    --debug, which `fnsft._cli_run.run_command` takes out before parsing."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.add_argument("--debug", action="store_true", help="on an internal error, print its traceback")

    def error(self, message: str) -> NoReturn:
        print(f"{self.prog}: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(2)


def strict_bool(value: Any) -> bool:
    """true/false/yes/no/1/0 (any case), or a real bool; anything else is refused, never read as false."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise argparse.ArgumentTypeError(f"{value!r} is not a boolean; use true/false, yes/no or 1/0")


def _integer(value: Any) -> int:
    """An int from an int or its decimal text; bools, floats and other text are refused."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise argparse.ArgumentTypeError(f"{value!r} is not an integer")
    if isinstance(value, str):
        text = value.strip()
        digits = text[1:] if text[:1] in "+-" else text
        if not digits.isdigit() or not digits.isascii() or len(digits) > 19:
            raise argparse.ArgumentTypeError(f"{value!r} is not an integer")
        value = int(text)
    return value


def int_in_range(low: int, high: int = MAX_INT) -> Converter:
    """A converter for integers in [low, high]."""

    def convert(value: Any) -> int:
        number = _integer(value)
        if not low <= number <= high:
            raise argparse.ArgumentTypeError(f"{number} is out of range; expected an integer {low}..{high}")
        return number

    convert.__name__ = f"integer {low}..{high}"
    return convert


def float_in_range(
    low: float = -math.inf, high: float = math.inf, *, low_open: bool = False, high_open: bool = False
) -> Converter:
    """A converter for finite numbers between low and high, each end included unless marked open."""
    form = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"

    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise argparse.ArgumentTypeError(f"{value!r} is not a number")
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
        if not math.isfinite(number):
            raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
        if not low <= number <= high or (low_open and number == low) or (high_open and number == high):
            raise argparse.ArgumentTypeError(f"{number:g} is out of range; expected a number in {form}")
        return number

    convert.__name__ = "number"
    return convert


positive_int = int_in_range(1)
non_negative_int = int_in_range(0)
seed_int = int_in_range(0, MAX_SEED)
port_number = int_in_range(1, 65535)
finite_float = float_in_range()
non_negative_float = float_in_range(0.0)
positive_float = float_in_range(0.0, low_open=True)
fraction = float_in_range(0.0, 1.0, high_open=True)


def one_of(choices: tuple[str, ...]) -> Converter:
    """A converter for one of the named `choices` (exact text)."""

    def convert(value: Any) -> str:
        if not isinstance(value, str) or value not in choices:
            raise argparse.ArgumentTypeError(f"{value!r} is not one of {', '.join(choices)}")
        return value

    convert.__name__ = "choice"
    return convert


def text(value: Any) -> str:
    """A string setting; numbers and lists are refused rather than turned into text."""
    if not isinstance(value, str):
        raise argparse.ArgumentTypeError(f"{value!r} is not text")
    return value


def optional(convert: Converter) -> Converter:
    """`convert`, letting None (a config file's `null`) through."""

    def wrapped(value: Any) -> Any:
        return None if value is None else convert(value)

    wrapped.__name__ = getattr(convert, "__name__", "value")
    return wrapped


def check_value(name: str, value: Any, convert: Converter, where: str = "") -> Any:
    """`convert(value)`, with a refusal turned into a SettingError (a ValueError) naming where the value came
    from; Python entry points check their arguments with it too."""
    from .errors import SettingError

    try:
        return convert(value)
    except argparse.ArgumentTypeError as error:
        prefix = f"{where}: " if where else ""
        raise SettingError(f"{prefix}{name}: {error}") from None
