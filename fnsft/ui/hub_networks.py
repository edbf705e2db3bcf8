"""The Templates tab's Hub side: load networks by Hub repo id, and download networks as a save_pretrained folder
(zipped)."""

from __future__ import annotations

import dataclasses
import re
import shutil

import gradio as gr

from ..errors import TemplateError
from ..networks._functional_networks import FunctionalNetworks
from ..networks._templates import check_compatible
from .common import networks_markdown, user_errors
from .state import AppState
from .visitor import Visitor


@user_errors
def load_hub_networks(
    state: AppState, visitor: Visitor, repo_id: str, request: gr.Request = None
) -> tuple[str, int]:
    """Networks from a Hub repo id (or a cached one, offline) become the visitor's current ones."""
    state.visit(visitor, request)
    if not repo_id.strip():
        raise TemplateError("Give a Hub repo id (owner/name) holding networks saved with save_pretrained.")
    model = state.require_model().model
    with state.heavy.turn(visitor, "Hub networks"):  # a download and a parse: one heavy job at a time
        networks = FunctionalNetworks.from_pretrained(repo_id.strip())
        check_compatible(networks, model, repo_id.strip())
    visitor.set_networks(networks)
    return networks_markdown(networks), visitor.version


@user_errors
def export_networks_zip(
    state: AppState, visitor: Visitor, name: str, ids: list[int] | None, request: gr.Request = None
) -> str:
    """The chosen networks (all when none is chosen) as a zipped save_pretrained folder, to download."""
    networks = state.visit(visitor, request).require_networks()
    chosen = networks.select(ids) if ids else networks
    clean = re.sub(r"[^A-Za-z0-9._-]+", "-", name.strip()).strip("-.") or "networks"
    folder = state.work_dir / "exports" / visitor.key / clean
    shutil.rmtree(folder, ignore_errors=True)
    dataclasses.replace(chosen, name=clean).save_pretrained(folder)
    return shutil.make_archive(str(folder), "zip", folder)
