"""Helpers every tab shares: turning fnsft's errors into messages, network choices, small input parsers."""

from __future__ import annotations

import functools
import html
import inspect
import logging
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from ..discovery._reliability import reliability_notes
from ..errors import DatasetFormatError, FnsftError
from ..networks._functional_networks import FunctionalNetworks
from .heavy import WAITING_THREADS
from .visitor import Visitor

logger = logging.getLogger(__name__)
USER_ERRORS = (FnsftError, ValueError)
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]!|~])")  # emphasis, links, images, tables
AUTOLINK = re.compile(r"://|www\.|@", re.IGNORECASE)  # what GitHub-flavoured Markdown turns into links
UPLOAD, HUB = "Upload a file", "Hub dataset id"
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
ABSOLUTE_PATH = re.compile(r"(?<![\w.])/(?:[\w.@+-]+/)+([\w.@+-]+)")
PYTHON_ADVICE = re.compile(r"\s*\(in Python: [^()]*(?:\([^()]*\)[^()]*)*\)|;?\s*pass \w+=\S*")
ERROR_PREFIX = re.compile(r"^\w*(Error|Exception): ")


def page_message(error: BaseException | str) -> str:
    """An error as a visitor should read it: server paths shortened to file names, no Python-only advice."""
    text = ABSOLUTE_PATH.sub(lambda match: match.group(1), ERROR_PREFIX.sub("", str(error)))
    return PYTHON_ADVICE.sub("", text).strip()


def escape_markdown(text: object) -> str:
    """Text from a file or a visitor, shown literally in Markdown: HTML escaped, and Markdown's punctuation too,
    so a link, image or tag written into a template name stays text and the page fetches nothing."""
    escaped = MARKDOWN_SPECIAL.sub(r"\\\1", html.escape(str(text), quote=False))
    return AUTOLINK.sub(_unlinked, escaped)


def _unlinked(match: re.Match) -> str:
    """The start of a bare URL or e-mail address, with one character as an entity: shown alike, never linked."""
    found = match.group(0)
    return {"://": "&#58;//", "@": "&#64;"}.get(found, found[:-1] + "&#46;")


def failure_message(error: BaseException) -> str:
    """What a visitor reads when an action fails: the library's own message for a refusal, a short account
    (the details in the server log) for anything unexpected."""
    if isinstance(error, gr.Error):
        return str(error.message)
    if isinstance(error, USER_ERRORS):
        return page_message(error)
    logger.error("Unexpected error in an app action", exc_info=error)
    return (
        f"Something went wrong on the server ({type(error).__name__}: {page_message(error)}). "
        "Nothing was changed; the server log has the details."
    )


def _refusal(error: BaseException, args: tuple) -> gr.Error:
    """The gr.Error for the page (a short notice; API clients get it as their error), its message kept on the
    visitor for the panel's status line."""
    message = failure_message(error)
    visitor = next((value for value in args if isinstance(value, Visitor)), None)
    if visitor is not None:
        visitor.failure = message
    return gr.Error(html.escape(message, quote=False), print_exception=False)


def user_errors(fn: Callable) -> Callable:
    """Turn every error of an action into a message in the page (never Gradio's generic one) and remember it for
    the panel's status line (see `action`)."""
    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def generator(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except Exception as error:
                raise _refusal(error, args) from error

        return generator

    @functools.wraps(fn)
    def plain(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            raise _refusal(error, args) from error

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


def browser_ticket(name: str) -> tuple[str, str]:
    """(keep, recall): JS that keeps a run's ticket ({"run": name, "key": owner key}) in the browser's
    localStorage under `name`, and JS that reads it back, after the visitor's state, for a page's load event (like
    gr.BrowserState, which reaches a load event too late: its value is still null there); so a reload finds the
    visitor's run and nothing else."""
    keep = f"(ticket) => {{ if (ticket) localStorage.setItem('{name}', JSON.stringify(ticket)); }}"
    recall = f"(visitor, ticket) => [visitor, JSON.parse(localStorage.getItem('{name}') || 'null')]"
    return keep, recall


def status_line(panel: str) -> gr.Markdown:
    """A panel's status line (#<panel>-status): what went wrong with its last action, until the next one."""
    return gr.Markdown("", elem_id=f"{panel}-status", elem_classes="status-line")


def failure_status(visitor: Visitor) -> str:
    """The status line after a failed action: its message (the visitor's latest: two failing at once both show
    the last), and a mark on whatever results are still shown."""
    message = visitor.failure or "the action failed."
    return f"⚠️ **Not done:** {escape_markdown(message)} (results below, if any, are from before)"


def action(
    triggers: Any,
    fn: Callable,
    inputs: list,
    outputs: list,
    *,
    visitor: gr.State,
    status: gr.Markdown,
    api_name: str,
    heavy: bool = False,
    reset_on_failure: Sequence = (),
    **kwargs: Any,
) -> Any:
    """Wire one action of a panel: its status line clears at once, the action runs (a heavy one in the heavy
    queue, see `heavy.py`), and a refusal or error is written into the status line, where it stays until the
    next action (`reset_on_failure`: inputs emptied then, such as an upload box that did not load)."""
    triggers = triggers if isinstance(triggers, list) else [triggers]
    gr.on(triggers, None, None, status, js="() => ''", queue=False, api_visibility="private")
    if heavy:
        kwargs |= {"concurrency_id": "heavy", "concurrency_limit": WAITING_THREADS}
    event = gr.on(triggers, fn, inputs, outputs, api_name=api_name, **kwargs)
    reset = list(reset_on_failure)
    event.failure(
        (lambda value: (failure_status(value), *([None] * len(reset)))) if reset else failure_status,
        visitor,
        [status, *reset] if reset else status,
        queue=False,
        api_visibility="private",
    )
    return event


def cancel_job(button: gr.Button, state: Any, *, visitor: gr.State, status: gr.Markdown, panel: str) -> None:
    """Wire a Cancel button to the visitor's heavy job: it stops waiting at once, and running at its next progress
    report; the job's own failure then says it was cancelled."""

    @user_errors
    def cancel(visitor_value: Visitor, request: gr.Request = None) -> None:
        state.visit(visitor_value, request)
        if not state.heavy.cancel(visitor_value):
            raise FnsftError("No generation, discovery, measurement or card computation of yours is running.")
        gr.Info("Cancelling at the next step…")

    action(button.click, cancel, visitor, None, api_name=f"cancel_{panel}", visitor=visitor, status=status)


def network_choices(networks: FunctionalNetworks | None) -> list[tuple[str, int]]:
    """(label, id) pairs for a network dropdown; empty before any networks exist."""
    if networks is None:
        return []
    return [(networks.label(c), c) for c in range(networks.num_components)]


def network_selector_update(networks: FunctionalNetworks | None) -> dict:
    """New choices for a network dropdown, clearing a selection that may name networks that are gone."""
    return gr.update(choices=network_choices(networks), value=[])


def show_warnings(messages: list[str]) -> None:
    """Notices of the library (they may quote a file's text, so shown as text)."""
    for message in messages:
        gr.Warning(html.escape(message, quote=False))


def networks_markdown(networks: FunctionalNetworks) -> str:
    """A one-paragraph account of a network set: how many, how big, how stable, from what data."""
    sizes = networks.sizes()
    parts = [
        f"**{networks.num_components} networks** ({escape_markdown(networks.name)}, {networks.granularity} "
        f"neurons, model {escape_markdown(networks.model_id)})",
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
        parts.append(f"categories: {escape_markdown(', '.join(networks.categories))}")
    notes = reliability_notes(networks)
    return (f"⚠️ {escape_markdown(notes[0])}\n\n" if notes else "") + " · ".join(parts)


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
