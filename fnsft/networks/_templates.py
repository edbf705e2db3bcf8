"""Template files: functional networks as versioned JSON, written atomically, validated on load.

Schema "fnsft-templates" version 2 (version 1 plus an optional `cards` list, one network card per component;
version-1 files are still read). The FunctionalNetworksSFT layout
({"name", "layout": {"captured_layers_sorted", "hidden_size"}, "templates": {component: {layer: [channels]}}},
MLP-output channels) is read too, so its users can bring their templates.
"""

from __future__ import annotations

import os
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from torch import nn

from .._files import write_json_atomically
from ..errors import TemplateError
from ..models._architectures import ModelShape, model_shape
from ..models._hook_names import hook_site_names
from ._card_schema import check_cards
from ._functional_networks import FunctionalNetworks
from ._template_schema import (
    Checker,
    check_fnsft_template,
    check_settings,
    check_sft_template,
    check_split_half,
    read_template_json,
)

FORMAT_NAME = "fnsft-templates"
SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)


def _optional_list(values) -> list | None:
    return None if values is None else np.asarray(values).tolist()


def _rounded_means(means: dict[int, np.ndarray]) -> dict[str, list[float]]:
    """Neuron means to 4 significant digits (about 8 characters a neuron): precise enough to mean-ablate with."""
    return {
        str(layer): [float(f"{v:.4g}") for v in values.tolist()] for layer, values in sorted(means.items())
    }


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
        if networks.split_half is not None:
            entry["split_half_iou"] = round(float(networks.split_half.iou[c]), 4)
            if not np.isnan(networks.split_half.correlation[c]):
                entry["split_half_correlation"] = round(float(networks.split_half.correlation[c]), 4)
        entry["top_categories"] = networks.top_categories(c, 3)
        components.append(entry)
    cards = None if networks.cards is None else [card.to_dict() for card in networks.cards]
    return {
        "format": FORMAT_NAME,
        "schema_version": SCHEMA_VERSION,
        "name": networks.name,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "model": {
            "id": networks.model_id,
            **({} if networks.model_revision is None else {"revision": networks.model_revision}),
            "shape": networks.shape.to_dict(),
        },
        "hook_sites": hook_site_names(networks.granularity, networks.shape.model_type),
        "granularity": networks.granularity,
        "threshold": networks.threshold,
        **({} if networks.settings is None else {"discovery": networks.settings.to_dict()}),
        "decomposition": networks.decomposition,
        "data": networks.data,
        **({} if networks.split_half is None else {"split_half": networks.split_half.summary()}),
        "stability_threshold": networks.stability_threshold,
        "categories": networks.categories,
        "category_response": _optional_list(networks.category_response),
        "components": components,
        **({} if cards is None else {"cards": cards}),
        **({"neuron_means": _rounded_means(networks.neuron_means)} if networks.neuron_means else {}),
    }


def save_templates(networks: FunctionalNetworks, path: str | os.PathLike) -> Path:
    """Write `networks` as a template file; returns the path written.

    >>> print(fnsft.save_templates(networks, "my-networks.json"))
    my-networks.json
    """
    return write_json_atomically(templates_to_dict(networks), path)


def _require(condition: bool, source: str, message: str) -> None:
    if not condition:
        raise TemplateError(f"{source}: {message}")


def templates_from_dict(data: dict, source: str = "template") -> FunctionalNetworks:
    """Validate (fnsft.networks._template_schema, field by field) and read a template dict in either supported format."""
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
        type(version) is int and version in READABLE_VERSIONS,
        source,
        f"schema_version {version!r} is not supported by this fnsft (reads {READABLE_VERSIONS}); upgrade fnsft.",
    )
    for key in ("model", "granularity", "threshold", "components"):
        _require(key in data, source, f"missing required key {key!r}.")
    check = Checker(source)
    fields = check_fnsft_template(check, data)
    cards = check_cards(check, data.get("cards"), len(fields["neurons"])) if version >= 2 else None
    fields["settings"] = check_settings(check, data.get("discovery"))
    fields["split_half"] = check_split_half(check, data)
    return FunctionalNetworks(
        shape=ModelShape.from_dict(data["model"]["shape"]),
        model_id=str(data["model"].get("id", "unknown")),
        model_revision=data["model"].get("revision"),
        granularity=data["granularity"],
        threshold=dict(data["threshold"]),
        decomposition=dict(data.get("decomposition") or {}),
        data=dict(data.get("data") or {}),
        name=str(data.get("name", "networks")),
        cards=cards,
        **fields,
    )


def _from_functional_networks_sft(data: dict, source: str) -> FunctionalNetworks:
    """FunctionalNetworksSFT templates: MLP-output channels per captured layer (intermediate widths unknown)."""
    neurons, num_layers, hidden = check_sft_template(Checker(source), data)
    name = data.get("name")
    return FunctionalNetworks(
        neurons=neurons,
        shape=ModelShape("unknown", num_layers, (0,) * num_layers, hidden),
        model_id="unknown",
        granularity="mlp_output",
        threshold={"rule": "imported", "value": None},
        data={"imported_from": "FunctionalNetworksSFT", "original_name": name},
        name=name if isinstance(name, str) else "imported",
    )


def load_templates(path: str | os.PathLike, model: nn.Module | None = None) -> FunctionalNetworks:
    """Read a template file (bounded, strictly validated); with `model`, also refuse another model's shape.

    >>> networks = fnsft.load_templates("my-networks.json", model)
    >>> networks.num_components, networks.threshold["rule"]
    (4, 'topk')
    """
    source = str(path)
    networks = templates_from_dict(read_template_json(path), source)
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
    _warn_other_checkpoint(networks, model, source)


def _named(model_id: str, revision: str | None) -> str:
    return model_id if revision is None else f"{model_id}@{revision}"


def _same_id(a: str, b: str) -> bool:
    """One id, or the same name with and without its Hub namespace (a local copy of a Hub model)."""
    short = a.rsplit("/", 1)[-1] == b.rsplit("/", 1)[-1]
    return a == b or "unknown" in (a, b) or (short and ("/" not in a or "/" not in b))


def _warn_other_checkpoint(networks: FunctionalNetworks, model: nn.Module, source: str) -> None:
    """A checkpoint's networks fit any sibling of the same shape (a fine-tune, another revision): warn, naming
    both, where the recorded id or revision differs from the model's."""
    from ..models._loading import model_id, model_revision

    found = (networks.model_id, networks.model_revision)
    here = (model_id(model), model_revision(model))
    other_revision = None not in (found[1], here[1]) and found[1] != here[1]
    if not _same_id(found[0], here[0]) or other_revision:
        warnings.warn(
            f"{source} was found on {_named(*found)} and is applied to {_named(*here)}: same shape, but "
            "another checkpoint; its networks may differ (fnsft.drift measures how much).",
            UserWarning,
            stacklevel=3,
        )
