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
from ..reliability import reliability_notes
from .visitor import Visitor

USER_ERRORS = (FnsftError, ValueError)
UPLOAD, HUB = "Upload a file", "Hub dataset id"
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)+([\w.@+-]+)")
PYTHON_ADVICE = re.compile(r"\s*\(in Python: [^()]*(?:\([^()]*\)[^()]*)*\)|;?\s*pass \w+=\S*")
ERROR_PREFIX = re.compile(r"^\w*(Error|Exception): ")


def page_message(error: BaseException | str) -> str:
    """An error as a visitor should read it: server paths shortened to file names, no Python-only advice."""
    text = ABSOLUTE_PATH.sub(lambda match: match.group(1), ERROR_PREFIX.sub("", str(error)))
    return PYTHON_ADVICE.sub("", text).strip()


def user_errors(fn: Callable) -> Callable:
    """Show fnsft's errors (and bad settings) as a message in the page instead of a generic crash notice."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except USER_ERRORS as error:
                raise gr.Error(page_message(error)) from error

        return generator

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except USER_ERRORS as error:
            raise gr.Error(page_message(error)) from error

    return plain


def bind(fn: Callable, *values: Any) -> Callable:
    """`fn` with its first arguments fixed, keeping the signature and type hints Gradio reads to pass a
    gr.Request or a gr.Progress (a functools.partial hides them)."""
    signature = inspect.signature(fn)
    names = list(signature.parameters)[: len(values)]
    if inspect.isgeneratorfunction(fn):

        def bound(*args, **kwargs):
            yield from fn(*values, *args, **kwargs)
    else:

        def bound(*args, **kwargs):
            return fn(*values, *args, **kwargs)

    functools.update_wrapper(bound, fn)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[len(values) :])
    bound.__annotations__ = {key: hint for key, hint in fn.__annotations__.items() if key not in names}
    return bound


def heavy_job(
    trigger: Callable,
    state: Any,
    visitor: gr.State,
    job: str,
    check: Callable | None,
    run: Callable,
    inputs: list,
    outputs: list,
    api_name: str,
) -> Any:
    """Wire a heavy job (discovery, measure effect, loading a model) the same way everywhere.

    At submit, outside the queue: the settings are checked with `check(state, *inputs)` and the visitor's one
    heavy-job slot is claimed, so a bad request or a second job is refused at once. Then `run(visitor, *inputs)`
    waits in the shared queue of heavy jobs, one at a time for the whole server (Gradio shows the queue
    position), and the slot is released whatever happened.
    """

    @user_errors
    def claim(visitor_value: Visitor, request: gr.Request, *values: Any) -> None:
        state.visit(visitor_value, request)
        if check is not None:
            check(state, *values)
        visitor_value.reserve(job)

    def release(visitor_value: Visitor) -> None:
        visitor_value.release()

    return (
        trigger(claim, [visitor, *inputs], None, queue=False, api_visibility="private")
        .success(
            run, [visitor, *inputs], outputs, api_name=api_name, concurrency_id="heavy", concurrency_limit=1
        )
        .then(release, visitor, None, queue=False, api_visibility="private")
    )


def network_choices(networks: FunctionalNetworks | None) -> list[tuple[str, int]]:
    """(label, id) pairs for a network dropdown; empty before any networks exist."""
    if networks is None:
        return []
    return [(networks.label(c), c) for c in range(networks.num_components)]


def network_selector_update(networks: FunctionalNetworks | None) -> dict:
    """New choices for a network dropdown, clearing a selection that may name networks that are gone."""
    return gr.update(choices=network_choices(networks), value=[])


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
    notes = reliability_notes(networks)
    return (f"⚠️ {notes[0]}\n\n" if notes else "") + " · ".join(parts)


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
