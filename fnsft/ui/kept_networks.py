"""A visitor's own networks (discovered, imported, rethresholded) kept on the server for a reload.

A page lives in one browser tab; a reload used to start again from the shipped networks. Now each change of a
visitor's networks is written as a networks folder (maps included, so rethresholding still works) under a name
derived from a random key that only their browser holds (localStorage, like the training run's ticket), and a
reloaded page asks for it back. Folders older than KEEP_SECONDS are removed.
"""

from __future__ import annotations

import hashlib
import html
import secrets
import shutil
import time
from pathlib import Path

import gradio as gr

from ..errors import FnsftError
from ..networks._hub import from_pretrained, save_pretrained
from ..networks._templates import check_compatible
from .state import AppState
from .visitor import Visitor

KEEP_SECONDS = 6 * 3600  # as long as the app keeps uploads and outputs
STORE_KEY = "(key) => { if (key) localStorage.setItem('fnsft-networks', key); }"
RECALL_KEY = "(visitor, key) => [visitor, localStorage.getItem('fnsft-networks')]"


def _folder(state: AppState, key: str) -> Path:
    return state.work_dir / "kept-networks" / hashlib.sha256(key.encode()).hexdigest()


def _prune(state: AppState) -> None:
    cutoff = time.time() - KEEP_SECONDS
    for folder in (state.work_dir / "kept-networks").glob("*"):
        if folder.stat().st_mtime < cutoff:
            shutil.rmtree(folder, ignore_errors=True)


def keep(state: AppState, visitor: Visitor, request: gr.Request = None) -> str | None:
    """Write the visitor's networks when they are their own (not the shipped ones, not already kept); returns
    the key their browser keeps (None: nothing to keep)."""
    networks = state.visit(visitor, request).networks
    if networks is None or networks is state.shipped_networks or visitor.kept_version == visitor.version:
        return None
    visitor.networks_key = visitor.networks_key or secrets.token_urlsafe(24)
    folder = _folder(state, visitor.networks_key)
    shutil.rmtree(folder, ignore_errors=True)
    save_pretrained(networks, folder, card=False)
    visitor.kept_version = visitor.version
    _prune(state)
    return visitor.networks_key


def restore(state: AppState, visitor: Visitor, key: object, request: gr.Request = None) -> int:
    """After a reload: the networks this browser kept, when its key finds them and they fit the loaded model
    (else the shipped ones stay, with a notice saying why). Returns the networks' version."""
    state.visit(visitor, request)
    if not isinstance(key, str) or not key or visitor.networks_key is not None:
        return visitor.version
    folder = _folder(state, key)
    if not folder.is_dir():
        gr.Warning(
            "Your networks from before the reload are gone (kept for 6 hours); the shipped ones are shown."
        )
        return visitor.version
    try:
        networks = from_pretrained(folder)
        check_compatible(networks, state.require_model().model, f"networks {networks.name!r}")
    except FnsftError as error:
        gr.Warning(
            html.escape(f"Your networks from before the reload were not restored: {error}", quote=False)
        )
        return visitor.version
    visitor.networks_key = key
    visitor.set_networks(networks)
    visitor.kept_version = visitor.version
    gr.Info("Your networks from before the reload are back.")
    return visitor.version
