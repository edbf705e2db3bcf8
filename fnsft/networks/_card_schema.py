"""The `cards` field of a version-2 template, checked field by field and bounded in size (a card is a few kB),
so a file cannot smuggle in megabytes of examples or anything `NetworkCard.from_dict` would trip over."""

from __future__ import annotations

from itertools import pairwise
from typing import Any

from ._cards import NetworkCard
from ._template_schema import Checker

MAX_TEXT, MAX_WINDOW, MAX_EXAMPLES, MAX_INTERVALS, MAX_BINS, MAX_PAIRS = 400, 64, 100, 20, 200, 100


def _text(check: Checker, value: Any, where: str, limit: int = MAX_TEXT) -> str:
    check.text(value, where)
    check.require(len(value) <= limit, where, f"{len(value)} characters", f"at most {limit} characters")
    return value


def _bounded(check: Checker, value: Any, where: str, limit: int) -> list:
    check.list(value, where)
    check.require(len(value) <= limit, where, f"{len(value)} entries", f"at most {limit} entries")
    return value


def _example(check: Checker, entry: Any, where: str) -> None:
    entry = check.object(entry, where)
    tokens = _bounded(check, entry.get("tokens"), f"{where}.tokens", MAX_WINDOW)
    for i, token in enumerate(tokens):
        _text(check, token, f"{where}.tokens[{i}]", 100)
    values = _bounded(check, entry.get("values"), f"{where}.values", MAX_WINDOW)
    check.require(len(values) == len(tokens), f"{where}.values", "not one per token", "one value per token")
    for i, value in enumerate(values):
        check.number(value, f"{where}.values[{i}]")
    check.integer(entry.get("position"), f"{where}.position", 0, max(len(tokens) - 1, 0))
    check.number(entry.get("activation"), f"{where}.activation")
    check.integer(entry.get("text_index"), f"{where}.text_index")
    if entry.get("category") is not None:
        _text(check, entry["category"], f"{where}.category")


def _histogram(check: Checker, entry: Any, where: str) -> None:
    entry = check.object(entry, where)
    edges = _bounded(check, entry.get("edges"), f"{where}.edges", MAX_BINS + 1)
    counts = _bounded(check, entry.get("counts"), f"{where}.counts", MAX_BINS)
    check.require(len(counts) >= 1, f"{where}.counts", "no bins", "at least one bin")
    check.require(
        len(edges) == len(counts) + 1, f"{where}.edges", "not one more than counts", "bins + 1 edges"
    )
    for i, edge in enumerate(edges):
        check.number(edge, f"{where}.edges[{i}]")
    check.require(
        all(a <= b for a, b in pairwise(edges)), f"{where}.edges", "not in order", "ascending edges"
    )
    for i, count in enumerate(counts):
        check.integer(count, f"{where}.counts[{i}]")
    check.number(entry.get("threshold"), f"{where}.threshold")
    check.number(entry.get("share_above"), f"{where}.share_above", 0.0, 1.0)


def _effect(check: Checker, entry: Any, where: str) -> None:
    entry = check.object(entry, where)
    for side in ("suppressed", "promoted"):
        for i, pair in enumerate(_bounded(check, entry.get(side), f"{where}.{side}", MAX_PAIRS)):
            check.require(
                isinstance(pair, list) and len(pair) == 2,
                f"{where}.{side}[{i}]",
                "not a pair",
                "[token, change]",
            )
            _text(check, pair[0], f"{where}.{side}[{i}][0]", 100)
            check.number(pair[1], f"{where}.{side}[{i}][1]")
    check.integer(entry.get("num_positions"), f"{where}.num_positions")


def check_card(check: Checker, entry: Any, index: int) -> NetworkCard:
    where = f"cards[{index}]"
    entry = check.object(entry, where)
    component = check.integer(entry.get("component"), f"{where}.component")
    check.require(
        component == index, f"{where}.component", f"{component} at position {index}", "ids in order"
    )
    _text(check, entry.get("label"), f"{where}.label")
    _text(check, entry.get("activation"), f"{where}.activation")
    for i, example in enumerate(
        _bounded(check, entry.get("top_examples"), f"{where}.top_examples", MAX_EXAMPLES)
    ):
        _example(check, example, f"{where}.top_examples[{i}]")
    intervals = _bounded(check, entry.get("quantile_examples"), f"{where}.quantile_examples", MAX_INTERVALS)
    for i, interval in enumerate(intervals):
        part = f"{where}.quantile_examples[{i}]"
        interval = check.object(interval, part)
        for key in ("low", "high"):
            check.number(interval.get(key), f"{part}.{key}")
        check.number(interval.get("share"), f"{part}.share", 0.0, 1.0)
        for j, example in enumerate(
            _bounded(check, interval.get("examples"), f"{part}.examples", MAX_EXAMPLES)
        ):
            _example(check, example, f"{part}.examples[{j}]")
    _histogram(check, entry.get("histogram"), f"{where}.histogram")
    categories = check.object(entry.get("category_activation", {}), f"{where}.category_activation")
    check.require(len(categories) <= MAX_PAIRS, f"{where}.category_activation", "too many", f"<= {MAX_PAIRS}")
    for name, value in categories.items():
        check.number(value, f"{where}.category_activation[{name[:40]!r}]")
    if entry.get("logit_effect") is not None:
        _effect(check, entry["logit_effect"], f"{where}.logit_effect")
    return NetworkCard.from_dict(entry)


def check_cards(check: Checker, value: Any, components: int) -> list[NetworkCard] | None:
    """A list of one card per component, or None when the file has none."""
    if value is None:
        return None
    cards = check.list(value, "cards")
    check.require(
        len(cards) == components,
        "cards",
        f"{len(cards)} cards for {components} components",
        "one per component",
    )
    return [check_card(check, entry, i) for i, entry in enumerate(cards)]
