"""Helpers every tab shares: turning fnsft's errors into messages, network choices, small input parsers."""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..errors import DatasetFormatError, FnsftError
from ..functional_networks import FunctionalNetworks

USER_ERRORS = (FnsftError, ValueError)
UPLOAD, HUB = "Upload a file", "Hub dataset id"
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def user_errors(fn: Callable) -> Callable:
    """Show fnsft's errors (and bad settings) as a message in the page instead of a generic crash notice."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except USER_ERRORS as error:
                raise gr.Error(str(error)) from error

        return generator

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as error:
            raise gr.Error(str(error)) from error

    return plain


def network_choices(networks: FunctionalNetworks | None) -> list[tuple[str, int]]:
    """(label, id) pairs for a network dropdown; empty before any networks exist."""
    if networks is None:
        return []
    return [(networks.label(c), c) for c in range(networks.num_components)]


def network_selector_update(networks: FunctionalNetworks | None) -> dict:
    """New choices for a network dropdown, clearing a selection that may name networks that are gone."""
    return gr.update(choices=network_choices(networks), value=[])


def parse_layers(text: str | None) -> list[int] | None:
    """'0-9, 20' -> [0..9, 20]; empty means every layer."""
    if not text or not text.strip():
        return None
    layers: list[int] = []
    for part in text.replace(" ", "").split(","):
        first, _, last = part.partition("-")
        try:
            start, stop = int(first), int(last or first)
        except ValueError:
            raise ValueError(f"Cannot read layers {text!r}; write e.g. '0-9, 20'.") from None
        layers.extend(range(start, stop + 1))
    return sorted(set(layers))


def show_warnings(messages: list[str]) -> None:
    for message in messages:
        gr.Warning(message)


def networks_markdown(networks: FunctionalNetworks) -> str:
    """A one-paragraph account of a network set: how many, how big, how stable, from what data."""
    sizes = networks.sizes()
    parts = [
        f"**{networks.num_components} networks** ({networks.name}, {networks.granularity} neurons, "
        f"model {networks.model_id})",
        f"sizes {int(sizes.min())}–{int(sizes.max())} neurons (median {int(np.median(sizes))})",
    ]
    stable = networks.stable()
    if stable is not None:
        parts.append(f"{int(stable.sum())}/{len(stable)} stable (≥ {networks.stability_threshold:g})")
    if "num_tokens" in networks.data:
        parts.append(
            f"from {networks.data['num_tokens']} tokens of {networks.data.get('num_texts_used')} texts"
        )
    if networks.categories:
        parts.append(f"categories: {', '.join(networks.categories)}")
    return " · ".join(parts)


def chosen_source(
    source: str, upload: str | None, hub_id: str, shipped: Any, file_types: Sequence[str]
) -> Any:
    """What a data radio (shipped data / upload / hub id) points at: `shipped`, the uploaded path or the id."""
    if source == UPLOAD:
        if not upload:
            raise DatasetFormatError(f"Choose a {', '.join(file_types)} file to upload first.")
        return upload
    if source == HUB:
        name = hub_id.strip()
        # The data loaders also read local paths; a page must not reach the server's files through this field.
        if not HUB_ID.fullmatch(name) or Path(name).exists():
            raise DatasetFormatError(f"{name!r} is not a hub dataset id (owner/name, needs internet access).")
        return name
    return shipped


def source_fields(source: str) -> tuple[dict, dict]:
    """Show the upload field or the hub id field that the chosen data source needs."""
    return gr.update(visible=source == UPLOAD), gr.update(visible=source == HUB)
