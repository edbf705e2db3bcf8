"""The README model card of a networks folder: what the networks are, how they were found, how reliable they are
and how to load them, with the Hub's YAML metadata so the repo is listed under its base model."""

from __future__ import annotations

import re

from ..discovery._settings import recorded_settings
from ..models._hook_names import hook_site_names
from ._functional_networks import FunctionalNetworks

_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def _metadata(networks: FunctionalNetworks) -> str:
    lines = ["---", "library_name: fnsft", "tags:", "- fnsft", "- functional-networks", "- interpretability"]
    if _HUB_ID.fullmatch(networks.model_id):  # a folder name or a path is no base model the Hub knows
        lines.append(f"base_model: {networks.model_id}")
    return "\n".join([*lines, "---", ""])


def _recipe(networks: FunctionalNetworks) -> list[str]:
    settings, unknown = recorded_settings(networks)
    rows = [f"| {name} | {value} |" for name, value in settings.to_dict().items() if name not in unknown]
    tokens = networks.data.get("num_tokens")
    intro = f"Found by PCA + ICA over {tokens} tokens" if tokens else "Found by PCA + ICA"
    note = " (recorded in part: an older or imported template)" if unknown else ""
    return [f"{intro}, with these settings{note}:", "", "| setting | value |", "|---|---|", *rows, ""]


def _reliability(networks: FunctionalNetworks) -> list[str]:
    if networks.split_half is None:
        return [
            "Split-half reliability was not measured (discover with `split_half=True` to measure it).",
            "",
        ]
    summary = networks.split_half.summary()
    return [
        f"Split-half reliability ({summary['tokens_per_half']} tokens per half): {summary['reproduced']} of "
        f"{summary['networks']} networks reproduce (IoU >= 0.5 and map |correlation| >= 0.8); median IoU "
        f"{summary['median_iou']}, median map correlation {summary['median_correlation']}.",
        "",
    ]


def _table(networks: FunctionalNetworks) -> list[str]:
    rows = [f"| {c} | {networks.label(c)} |" for c in range(networks.num_components)]
    return ["| id | network |", "|---|---|", *rows, ""]


def model_card(networks: FunctionalNetworks, repo_id: str | None = None) -> str:
    """The README of a networks folder (`repo_id`: where it is shared, for the loading snippet)."""
    revision = f" (revision {networks.model_revision})" if networks.model_revision else ""
    sites = hook_site_names(networks.granularity, networks.shape.model_type)
    where = repo_id or "path/to/this/folder"
    return "\n".join(
        [
            _metadata(networks),
            f"# {networks.name}: functional networks of {networks.model_id}",
            "",
            f"{networks.num_components} functional networks (sets of co-activating MLP neurons, "
            f"{int(networks.sizes().sum())} neuron memberships in all) of `{networks.model_id}`{revision}, "
            f"{networks.shape.num_layers} layers, granularity `{networks.granularity}`, found with fnsft to "
            "lesion, preserve or fine-tune selectively.",
            "",
            "## How they were found",
            *_recipe(networks),
            "## Reliability",
            *_reliability(networks),
            "## Networks",
            *_table(networks),
            "## Hook sites",
            f"Neuron j of layer L is index j of: TransformerLens `{sites['transformer_lens']}`, nnsight "
            f"`{sites['nnsight']}` (fill in the layer).",
            "",
            "## Load",
            "```python",
            "from fnsft import FunctionalNetworks, NetworkSelection, apply_mask",
            "",
            f'networks = FunctionalNetworks.from_pretrained("{where}")',
            'handle = apply_mask(model, NetworkSelection.for_model(networks, model, "0").mask("lesion"))',
            "```",
            "",
        ]
    )
