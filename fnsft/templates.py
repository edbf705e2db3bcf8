"""Template files: functional networks as versioned JSON, written atomically, validated on load.

Schema "fnsft-templates" version 1. The FunctionalNetworksSFT layout
({"name", "layout": {"captured_layers_sorted", "hidden_size"}, "templates": {component: {layer: [channels]}}},
MLP-output channels) is read too, so its users can bring their templates.
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from scipy.optimize import linear_sum_assignment
from torch import nn

from .architectures import ModelShape, model_shape
from .errors import TemplateError
from .functional_networks import FunctionalNetworks
from .resources import SHIPPED_TEMPLATES_DIR as SHIPPED_TEMPLATES_DIR  # re-exported

FORMAT_NAME = "fnsft-templates"
SCHEMA_VERSION = 1


def _optional_list(values) -> list | None:
    return None if values is None else np.asarray(values).tolist()


def templates_to_dict(networks: FunctionalNetworks) -> dict:
    components = []
    sizes = networks.sizes()
    for c, sets in enumerate(networks.neurons):
        entry = {
            "id": c,
            "label": networks.label(c),
            "num_neurons": int(sizes[c]),
            "neurons": {str(layer): ids.tolist() for layer, ids in sorted(sets.items())},
        }
        if networks.explained_variance is not None:
            entry["explained_variance"] = float(networks.explained_variance[c])
        if networks.stability is not None:
            entry["stability"] = float(networks.stability[c])
        entry["top_categories"] = networks.top_categories(c, 3)
        components.append(entry)
    return {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "name": networks.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {"id": networks.model_id, "shape": networks.shape.to_dict()},
        "granularity": networks.granularity,
        "threshold": networks.threshold,
        "decomposition": networks.decomposition,
        "data": networks.data,
        "stability_threshold": networks.stability_threshold,
        "categories": networks.categories,
        "category_response": _optional_list(networks.category_response),
        "components": components,
    }


def write_json_atomically(data: dict, path: str | os.PathLike) -> Path:
    """Write JSON to a temp file beside `path`, then rename: readers never see half a file."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=target.name + ".", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            json.dump(data, stream, indent=1)
            stream.write("\n")
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    return target


def save_templates(networks: FunctionalNetworks, path: str | os.PathLike) -> Path:
    """Write `networks` as a template file; returns the path written."""
    return write_json_atomically(templates_to_dict(networks), path)


def _require(condition: bool, source: str, message: str) -> None:
    if not condition:
        raise TemplateError(f"{source}: {message}")


def _neuron_sets(raw: dict, widths: tuple[int, ...], source: str, component) -> dict[int, np.ndarray]:
    _require(isinstance(raw, dict), source, f"component {component} neurons must map layer -> list of ids.")
    sets = {}
    for layer_key, ids in raw.items():
        try:
            layer = int(layer_key)
            array = np.asarray(ids, dtype=np.int64)
        except (TypeError, ValueError):
            raise TemplateError(
                f"{source}: component {component} has a non-integer layer or neuron id."
            ) from None
        _require(
            0 <= layer < len(widths),
            source,
            f"component {component} names layer {layer}, but the model has {len(widths)} layers.",
        )
        _require(array.ndim == 1, source, f"component {component} layer {layer} must be a flat list of ids.")
        if array.size:
            _require(
                array.min() >= 0 and array.max() < widths[layer],
                source,
                f"component {component} layer {layer} has neuron ids outside 0..{widths[layer] - 1}.",
            )
            sets[layer] = np.unique(array)
    return sets


def templates_from_dict(data: dict, source: str = "template") -> FunctionalNetworks:
    """Validate and read a template dict in either supported format."""
    _require(isinstance(data, dict), source, "the file must hold a JSON object.")
    if "templates" in data and "layout" in data:
        return _from_functional_networks_sft(data, source)
    _require(
        data.get("format") == FORMAT_NAME,
        source,
        f'not an fnsft template (expected "format": "{FORMAT_NAME}", or the FunctionalNetworksSFT layout).',
    )
    version = data.get("schema_version")
    _require(
        version == SCHEMA_VERSION,
        source,
        f"schema_version {version!r} is not supported by this fnsft (reads {SCHEMA_VERSION}); upgrade fnsft.",
    )
    for key in ("model", "granularity", "threshold", "components"):
        _require(key in data, source, f"missing required key {key!r}.")
    try:
        shape = ModelShape.from_dict(data["model"]["shape"])
    except (KeyError, TypeError, ValueError):
        raise TemplateError(
            f"{source}: model.shape must give model_type, num_layers, intermediate_sizes, hidden_size."
        ) from None
    _require(
        data["granularity"] in ("intermediate", "mlp_output"),
        source,
        f"granularity {data['granularity']!r} must be 'intermediate' or 'mlp_output'.",
    )
    _require(
        len(shape.intermediate_sizes) == shape.num_layers, source, "intermediate_sizes must list every layer."
    )
    components = data["components"]
    _require(isinstance(components, list) and components, source, "components must be a non-empty list.")
    widths = (
        (shape.hidden_size,) * shape.num_layers
        if data["granularity"] == "mlp_output"
        else shape.intermediate_sizes
    )
    neurons = [
        _neuron_sets(entry.get("neurons"), widths, source, entry.get("id", i))
        for i, entry in enumerate(components)
    ]

    def per_component(key):
        values = [entry.get(key) for entry in components]
        return None if any(v is None for v in values) else np.asarray(values, dtype=np.float32)

    response = data.get("category_response")
    return FunctionalNetworks(
        neurons=neurons,
        shape=shape,
        model_id=str(data["model"].get("id", "unknown")),
        granularity=data["granularity"],
        threshold=dict(data["threshold"]),
        decomposition=dict(data.get("decomposition") or {}),
        data=dict(data.get("data") or {}),
        explained_variance=per_component("explained_variance"),
        stability=per_component("stability"),
        stability_threshold=float(data.get("stability_threshold", 0.8)),
        categories=list(data.get("categories") or []),
        category_response=None if response is None else np.asarray(response, dtype=np.float32),
        name=str(data.get("name", "networks")),
    )


def _from_functional_networks_sft(data: dict, source: str) -> FunctionalNetworks:
    """FunctionalNetworksSFT templates: MLP-output channels per captured layer (intermediate widths unknown)."""
    layout = data["layout"]
    try:
        layers = [int(layer) for layer in layout["captured_layers_sorted"]]
        hidden = int(layout["hidden_size"])
    except (KeyError, TypeError, ValueError):
        raise TemplateError(f"{source}: layout needs captured_layers_sorted and hidden_size.") from None
    _require(
        bool(layers) and isinstance(data["templates"], dict) and data["templates"],
        source,
        "layout and templates must be non-empty.",
    )
    num_layers = max(layers) + 1
    shape = ModelShape("unknown", num_layers, (0,) * num_layers, hidden)
    neurons = [
        _neuron_sets(raw, (hidden,) * num_layers, source, key)
        for key, raw in sorted(data["templates"].items(), key=lambda item: int(item[0]))
    ]
    return FunctionalNetworks(
        neurons=neurons,
        shape=shape,
        model_id="unknown",
        granularity="mlp_output",
        threshold={"rule": "imported", "value": None},
        data={"imported_from": "FunctionalNetworksSFT", "original_name": data.get("name")},
        name=str(data.get("name", "imported")),
    )


def load_templates(path: str | os.PathLike, model: nn.Module | None = None) -> FunctionalNetworks:
    """Read a template file; with `model`, also refuse one made for another model shape."""
    source = str(path)
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise TemplateError(f"{source}: no such file.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise TemplateError(f"{source}: not valid JSON ({error}).") from None
    networks = templates_from_dict(data, source)
    if model is not None:
        check_compatible(networks, model, source)
    return networks


def check_compatible(networks: FunctionalNetworks, model: nn.Module, source: str = "template") -> None:
    """Raise TemplateError unless the template's shape fits `model` (family, layers, widths)."""
    shape = model_shape(model)
    expected = networks.shape
    problems = []
    if expected.num_layers != shape.num_layers:
        problems.append(f"{expected.num_layers} layers vs the model's {shape.num_layers}")
    if expected.hidden_size != shape.hidden_size:
        problems.append(f"hidden size {expected.hidden_size} vs {shape.hidden_size}")
    if networks.granularity == "intermediate" and expected.intermediate_sizes != shape.intermediate_sizes:
        problems.append(
            f"intermediate widths {sorted(set(expected.intermediate_sizes))} vs "
            f"{sorted(set(shape.intermediate_sizes))}"
        )
    if expected.model_type not in ("unknown", shape.model_type):
        problems.append(f"architecture {expected.model_type!r} vs {shape.model_type!r}")
    if problems:
        raise TemplateError(
            f"{source} was made for another model ({networks.model_id}): {'; '.join(problems)}. "
            "Build templates for this model with fnsft-build-templates or ICAMask.compute_global_networks."
        )


def match_components(a: FunctionalNetworks, b: FunctionalNetworks) -> list[tuple[int, int, float]]:
    """One-to-one matching of a's components to b's by IoU of neuron sets, best first: (a_id, b_id, iou)."""
    sets_a = [set(a.flat_ids(c).tolist()) for c in range(a.num_components)]
    sets_b = [set(b.flat_ids(c).tolist()) for c in range(b.num_components)]
    iou = np.array([[len(x & y) / max(len(x | y), 1) for y in sets_b] for x in sets_a])
    rows, cols = linear_sum_assignment(-iou)
    pairs = [(int(r), int(c), float(iou[r, c])) for r, c in zip(rows, cols, strict=False)]
    return sorted(pairs, key=lambda pair: -pair[2])
