"""The template schema, checked field by field before anything is built from a file.

Every failure is a TemplateError naming the file, the field (e.g. `components[2].neurons['5'][3]`) and the
expected form. Nothing is coerced: 1.9, true and "12" are not neuron ids, and no key may repeat. Files are bounded
in size and nesting (fnsft._files) before json.loads sees them, so no input reaches OverflowError,
RecursionError or an IndexError later on.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .._files import TooLarge, loads_json, read_bounded
from .._limits import LimitError
from ..choices import GRANULARITIES
from ..discovery._settings import DiscoverySettings, DiscoverySettingsError
from ..errors import TemplateError
from ._functional_networks import SplitHalf

MAX_TEMPLATE_BYTES = 256 * 2**20
MAX_DEPTH = 32
MAX_ID = 2**31 - 1
LAYER_KEY = re.compile(r"0|[1-9][0-9]{0,8}")


class Checker:
    """Checks for one file: each raises TemplateError('<file>: <field>: <problem>; expected <form>.')."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str, expected: str) -> None:
        raise TemplateError(f"{self.source}: {where}: {problem}; expected {expected}.")

    def require(self, condition: bool, where: str, problem: str, expected: str) -> None:
        if not condition:
            self.fail(where, problem, expected)

    def object(self, value: Any, where: str) -> dict:
        self.require(isinstance(value, dict), where, f"{_show(value)} is not an object", "a JSON object")
        return value

    def list(self, value: Any, where: str, nonempty: bool = False) -> list:
        self.require(isinstance(value, list), where, f"{_show(value)} is not a list", "a JSON list")
        self.require(bool(value) or not nonempty, where, "the list is empty", "at least one entry")
        return value

    def text(self, value: Any, where: str) -> str:
        self.require(isinstance(value, str), where, f"{_show(value)} is not text", "a string")
        return value

    def integer(self, value: Any, where: str, low: int = 0, high: int = MAX_ID) -> int:
        ok = isinstance(value, int) and not isinstance(value, bool)
        self.require(ok, where, f"{_show(value)} is not an integer", f"an integer {low}..{high}")
        self.require(low <= value <= high, where, f"{value} is out of range", f"an integer {low}..{high}")
        return value

    def number(self, value: Any, where: str, low: float = -math.inf, high: float = math.inf) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
        form = "a finite number" + (f" in [{low:g}, {high:g}]" if math.isfinite(low) else "")
        self.require(ok, where, f"{_show(value)} is not a finite number", form)
        self.require(low <= value <= high, where, f"{value:g} is out of range", form)
        return float(value)

    def ids(self, value: Any, where: str, width: int) -> np.ndarray:
        """A flat list of distinct integer neuron ids in 0..width-1, sorted."""
        values = self.list(value, where)
        for i, item in enumerate(values):
            if isinstance(item, bool) or not isinstance(item, int):
                self.integer(item, f"{where}[{i}]", 0, width - 1)
            if not 0 <= item < width:
                self.fail(f"{where}[{i}]", f"{item} is outside 0..{width - 1}", f"a neuron id below {width}")
        array = np.asarray(values, dtype=np.int64)
        unique = np.unique(array)
        self.require(len(unique) == len(array), where, "an id is listed twice", "each neuron id at most once")
        return unique


def _show(value: Any) -> str:
    text = (
        json.dumps(value)
        if isinstance(value, bool | int | float | str | type(None))
        else type(value).__name__
    )
    return text if len(text) <= 40 else text[:37] + "..."


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    """A JSON object whose keys are each given once (a repeated layer would otherwise win silently)."""
    data = dict(pairs)
    if len(data) != len(pairs):
        seen: set[str] = set()
        twice = next(key for key, _ in pairs if key in seen or seen.add(key))
        raise ValueError(f"key {twice!r} appears twice in one object; each key may appear once")
    return data


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def read_template_json(path: str | os.PathLike) -> Any:
    """The parsed JSON of a template file, refusing missing, oversized, too deeply nested or non-JSON files.

    A UTF-8 byte-order mark is skipped, as in data files."""
    source, file = str(path), Path(path)
    if not file.exists():
        raise TemplateError(f"{source}: no such file.")
    if not file.is_file():
        kind = "a folder" if file.is_dir() else "not a regular file (a pipe, socket or device)"
        raise TemplateError(f"{source}: is {kind}, not a template file.")
    try:
        data = read_bounded(file, MAX_TEMPLATE_BYTES, "template files")
        return loads_json(data, MAX_DEPTH, parse_constant=_refuse_constant, object_pairs_hook=_unique_keys)
    except TooLarge as error:
        raise TemplateError(f"{source}: {error}.") from None
    except UnicodeDecodeError as error:
        raise TemplateError(f"{source}: not valid JSON (not UTF-8 text: {error.reason}).") from None
    except OSError as error:
        raise TemplateError(f"{source}: cannot be read ({error.strerror or error}).") from None
    except (json.JSONDecodeError, ValueError, RecursionError) as error:
        raise TemplateError(f"{source}: not valid JSON ({error}).") from None


def check_shape(check: Checker, model: Any) -> dict:
    """model.shape: model_type, num_layers, one intermediate size per layer, hidden_size."""
    model = check.object(model, "model")
    for key in ("id", "revision"):
        if key in model:
            check.text(model[key], f"model.{key}")
    shape = check.object(model.get("shape"), "model.shape")
    check.text(shape.get("model_type"), "model.shape.model_type")
    layers = check.integer(shape.get("num_layers"), "model.shape.num_layers", 1, 100_000)
    sizes = check.list(shape.get("intermediate_sizes"), "model.shape.intermediate_sizes")
    check.require(
        len(sizes) == layers,
        "model.shape.intermediate_sizes",
        f"{len(sizes)} sizes for {layers} layers",
        "one size per layer (num_layers entries)",
    )
    for i, size in enumerate(sizes):
        check.integer(size, f"model.shape.intermediate_sizes[{i}]", 1)
    check.integer(shape.get("hidden_size"), "model.shape.hidden_size", 1)
    return shape


def check_neurons(check: Checker, raw: Any, where: str, widths: tuple[int, ...]) -> dict[int, np.ndarray]:
    """{"layer": [ids]} with canonical layer numbers in range and distinct ids within each layer's width."""
    raw = check.object(raw, where)
    sets = {}
    for key, ids in raw.items():
        check.require(
            bool(LAYER_KEY.fullmatch(key)),
            f"{where}",
            f"layer key {key!r} is not a layer number",
            '"0", "1", ...',
        )
        layer = int(key)
        check.require(
            layer < len(widths),
            f"{where}[{key!r}]",
            f"names layer {layer}, but the model has {len(widths)} layers",
            f"a layer 0..{len(widths) - 1}",
        )
        array = check.ids(ids, f"{where}[{key!r}]", widths[layer])
        if array.size:
            sets[layer] = array
    return sets


def _optional_measure(
    check: Checker, components: list, key: str, high: float = math.inf
) -> np.ndarray | None:
    """A per-component number given on every component or on none (a partial column is refused)."""
    present = [key in entry for entry in components]
    if not any(present):
        return None
    if not all(present):
        check.fail(
            f"components[{present.index(False)}].{key}",
            "missing while other components have it",
            f"{key} on every component or on none",
        )
    low = 0.0 if math.isfinite(high) else -math.inf
    values = [
        check.number(entry[key], f"components[{i}].{key}", low, high) for i, entry in enumerate(components)
    ]
    return np.asarray(values, dtype=np.float32)


def check_component(check: Checker, entry: Any, index: int, widths: tuple[int, ...]) -> dict[int, np.ndarray]:
    where = f"components[{index}]"
    entry = check.object(entry, where)
    component_id = check.integer(entry.get("id"), f"{where}.id", 0)
    check.require(
        component_id == index,
        f"{where}.id",
        f"id {component_id} at position {index}",
        "ids 0..n-1 in order, each once",
    )
    sets = check_neurons(check, entry.get("neurons"), f"{where}.neurons", widths)
    if "num_neurons" in entry:
        count = sum(len(ids) for ids in sets.values())
        given = check.integer(entry["num_neurons"], f"{where}.num_neurons", 0)
        check.require(
            given == count,
            f"{where}.num_neurons",
            f"{given} but the neurons listed are {count}",
            "the count of its neurons",
        )
    if "label" in entry:
        check.text(entry["label"], f"{where}.label")
    for i, name in enumerate(check.list(entry.get("top_categories", []), f"{where}.top_categories")):
        check.text(name, f"{where}.top_categories[{i}]")
    return sets


def check_categories(check: Checker, data: dict, components: int) -> tuple[list[str], np.ndarray | None]:
    """categories (distinct names) and category_response ([components x categories] finite numbers)."""
    categories = check.list(data.get("categories") or [], "categories")
    for i, name in enumerate(categories):
        check.text(name, f"categories[{i}]")
    check.require(
        len(set(categories)) == len(categories), "categories", "a name is listed twice", "distinct names"
    )
    response = data.get("category_response")
    if response is None:
        return categories, None
    rows = check.list(response, "category_response")
    check.require(
        len(rows) == components,
        "category_response",
        f"{len(rows)} rows for {components} components",
        "one row per component",
    )
    for i, row in enumerate(rows):
        check.list(row, f"category_response[{i}]")
        check.require(
            len(row) == len(categories),
            f"category_response[{i}]",
            f"{len(row)} values for {len(categories)} categories",
            "one value per entry of categories",
        )
        for j, value in enumerate(row):
            check.number(value, f"category_response[{i}][{j}]")
    return categories, np.asarray(rows, dtype=np.float32).reshape(components, len(categories))


def check_neuron_means(check: Checker, raw: Any, widths: tuple[int, ...]) -> dict[int, np.ndarray] | None:
    """neuron_means: {"layer": [one finite mean per neuron]} for every layer, or absent (older templates)."""
    if raw is None:
        return None
    raw = check.object(raw, "neuron_means")
    expected = [str(layer) for layer in range(len(widths))]
    check.require(
        sorted(raw, key=lambda key: (len(key), key)) == expected,
        "neuron_means",
        f"layers {sorted(raw)[:5]}...",
        f"one entry per layer, '0'..'{len(widths) - 1}'",
    )
    means = {}
    for layer, width in enumerate(widths):
        where = f"neuron_means['{layer}']"
        values = check.list(raw[str(layer)], where)
        check.require(len(values) == width, where, f"{len(values)} means", f"{width}, one per neuron")
        for i, value in enumerate(values):
            check.number(value, f"{where}[{i}]")
        means[layer] = np.asarray(values, dtype=np.float32)
    return means


def check_fnsft_template(check: Checker, data: dict) -> dict:
    """The fields of an fnsft-templates v1 file, checked; returns the values FunctionalNetworks is built from."""
    shape = check_shape(check, data.get("model"))
    granularity = data.get("granularity")
    check.require(
        granularity in GRANULARITIES,
        "granularity",
        f"{_show(granularity)} is not a granularity",
        "'intermediate' or 'mlp_output'",
    )
    threshold = check.object(data.get("threshold"), "threshold")
    if threshold.get("value") is not None:
        check.number(threshold["value"], "threshold.value")
    for key in ("decomposition", "data"):
        if data.get(key) is not None:
            check.object(data[key], key)
    if "name" in data:
        check.text(data["name"], "name")
    stability_threshold = check.number(data.get("stability_threshold", 0.8), "stability_threshold", 0.0, 1.0)
    components = check.list(data.get("components"), "components", nonempty=True)
    widths = (
        (shape["hidden_size"],) * shape["num_layers"]
        if granularity == "mlp_output"
        else tuple(shape["intermediate_sizes"])
    )
    neurons = [check_component(check, entry, i, widths) for i, entry in enumerate(components)]
    categories, response = check_categories(check, data, len(components))
    return {
        "neurons": neurons,
        "explained_variance": _optional_measure(check, components, "explained_variance"),
        "stability": _optional_measure(check, components, "stability", 1.0),
        "stability_threshold": stability_threshold,
        "categories": categories,
        "category_response": response,
        "neuron_means": check_neuron_means(check, data.get("neuron_means"), widths),
    }


def check_settings(check: Checker, raw: Any) -> DiscoverySettings | None:
    """discovery: the settings that found the networks, whole (absent in older templates)."""
    if raw is None:
        return None
    try:
        return DiscoverySettings.from_dict(check.object(raw, "discovery"))
    except (DiscoverySettingsError, LimitError) as error:
        check.fail("discovery", str(error), "the settings a discovery records (fnsft.DiscoverySettings)")


def check_split_half(check: Checker, data: dict) -> SplitHalf | None:
    """Per component split_half_iou (and split_half_correlation), with the tokens per half in split_half."""
    components = data["components"]
    iou = _optional_measure(check, components, "split_half_iou", 1.0)
    if iou is None:
        return None
    correlation = _optional_measure(check, components, "split_half_correlation", 1.0)
    summary = check.object(data.get("split_half", {}), "split_half")
    tokens = check.integer(summary.get("tokens_per_half", 0), "split_half.tokens_per_half")
    return SplitHalf(
        iou, np.full(len(iou), np.nan, np.float32) if correlation is None else correlation, tokens
    )


def check_sft_template(check: Checker, data: dict) -> tuple[list[dict[int, np.ndarray]], int, int]:
    """A FunctionalNetworksSFT file: (neuron sets per template in key order, number of layers, hidden size)."""
    layout = check.object(data.get("layout"), "layout")
    layers = check.list(layout.get("captured_layers_sorted"), "layout.captured_layers_sorted", nonempty=True)
    for i, layer in enumerate(layers):
        check.integer(layer, f"layout.captured_layers_sorted[{i}]", 0, 100_000)
    hidden = check.integer(layout.get("hidden_size"), "layout.hidden_size", 1)
    templates = check.object(data.get("templates"), "templates")
    check.require(bool(templates), "templates", "no templates", "at least one template")
    for key in templates:
        check.require(
            bool(LAYER_KEY.fullmatch(key)),
            "templates",
            f"key {key!r} is not a template number",
            '"0", "1", ...',
        )
    num_layers = max(layers) + 1
    ordered = sorted(templates, key=int)
    neurons = [
        check_neurons(check, templates[key], f"templates[{key!r}]", (hidden,) * num_layers) for key in ordered
    ]
    return neurons, num_layers, hidden
