"""What every visitor of the app shares: one loaded model (loads serialised by a lock), its shipped networks, the
training jobs and the registry of visitors.

The model is shared because it is the expensive part, and it is read-only: masks are context-local
(`fnsft.masking.masked`), never installed on the model for everyone. Everything a visitor makes lives in their own
`Visitor` (see `visitor.py`). Loading a different model is the one server-wide action, so it can be switched off
(`--allow-model-change false`, the default on a Hugging Face Space).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
from torch import nn

from .._resources import shipped_template
from ..errors import FnsftError, ModelLoadError, TemplateError
from ..models._loading import EMBEDDED_MODEL_ID, load_model, model_id
from ..networks._functional_networks import FunctionalNetworks
from ..networks._templates import check_compatible, load_templates
from .common import HUB_ID
from .heavy import HeavyQueue
from .jobs import TrainingJobs
from .visitor import Visitor, Visitors

logger = logging.getLogger(__name__)


def on_a_space() -> bool:
    """True on a Hugging Face Space (it sets SPACE_ID), where visitors are strangers."""
    return bool(os.environ.get("SPACE_ID"))


@dataclass(frozen=True)
class LoadedModel:
    """A model with its tokenizer and what it was loaded from (None: the embedded model), so that a training job
    can load its own copy."""

    model: nn.Module
    tokenizer: Any
    source: str | None
    device: str = "auto"
    quantization: str | None = None


class AppState:
    """The shared model, its shipped networks, the training jobs and the visitors of one running app."""

    def __init__(
        self,
        runs_dir: str | Path = "runs",
        work_dir: str | Path | None = None,
        allow_model_change: bool = True,
        local_models: bool = True,
    ):
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self._load_error: str | None = None
        self.generation = 0  # counts model loads, so each visitor's networks are re-checked once per load
        self.shipped_networks: FunctionalNetworks | None = None
        self.allow_model_change = allow_model_change
        self.local_models = local_models
        self.owns_work_dir = work_dir is None
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="fnsft-app-"))
        self.jobs = TrainingJobs(Path(runs_dir))
        self.visitors = Visitors()
        self.heavy = HeavyQueue()

    def load(
        self, name: str | None, device: str = "auto", dtype: str = "auto", quantization: str | None = None
    ) -> LoadedModel:
        """Load a model for everyone, with the shipped networks that fit it (None when there are none)."""
        with self._lock:
            try:
                model, tokenizer = load_model(
                    name or None, device=device, dtype=dtype, quantization=quantization
                )
            except Exception as error:  # remembered, so the page can say why there is no model
                self._load_error = str(error)
                raise
            self._loaded = LoadedModel(model, tokenizer, name or None, device, quantization)
            self._load_error = None
            self.shipped_networks = _shipped_networks(model)
            self.generation += 1
            return self._loaded

    def change_model(
        self, name: str, device: str = "auto", dtype: str = "auto", quantization: str | None = None
    ) -> LoadedModel:
        """A visitor's request to load another model: refused unless this server allows it. A failure reads the
        same whether or not a server path exists, so the field cannot be used to probe the server's files."""
        if not self.allow_model_change:
            raise FnsftError(
                "This server keeps its model for every visitor; loading another model is switched off here."
            )
        name = name.strip()
        if not name or name == EMBEDDED_MODEL_ID:
            return self.load(name, device, dtype, quantization)
        if not self.local_models:
            if not HUB_ID.fullmatch(name):
                raise ModelLoadError(
                    f"Give a hub model id (owner/name) or leave the field empty for {EMBEDDED_MODEL_ID}."
                )
            if Path(name).expanduser().exists():  # a local folder of that name is not what a visitor may load
                raise self._not_loaded(name)
        try:
            return self.load(name, device, dtype, quantization)
        except ModelLoadError as error:
            logger.info("Could not load %r for a visitor: %s", name, error)
            raise self._not_loaded(name) from None

    def _not_loaded(self, name: str) -> ModelLoadError:
        """One message for every failed load of a visitor's name, whatever exists on the server."""
        where = "a model folder with config.json, a .gguf file or " if self.local_models else ""
        still = f" The model in use is still {model_id(self._loaded.model)}." if self._loaded else ""
        offline = (
            " (this server is offline: hub ids do not load)"
            if os.environ.get("HF_HUB_OFFLINE") == "1"
            else ""
        )
        return ModelLoadError(f"Could not load {name!r}: give {where}a hub model id{offline}.{still}")

    def load_in_background(self, name: str | None) -> threading.Thread:
        """Start loading at app start, so the page opens at once; requests wait on the lock meanwhile."""

        def run() -> None:
            try:
                self.load(name)
            except Exception as error:  # a background thread: log it, the page shows it
                logger.error("Could not load %s: %s", name or "the embedded model", error)

        thread = threading.Thread(target=run, name="fnsft-model-load", daemon=True)
        thread.start()
        return thread

    def require_model(self) -> LoadedModel:
        """The loaded model, waiting for a load in progress; a clear error when there is none."""
        with self._lock:
            if self._loaded is None:
                raise ModelLoadError(self._load_error or "No model is loaded yet: load one in the Model tab.")
            return self._loaded

    def visit(self, visitor: Visitor, request: Any = None) -> Visitor:
        """Register a request's visitor, bring their networks up to the loaded model and keep memory bounded.

        A new visitor starts from the shipped networks; after a model change, networks that no longer fit are
        replaced by the new model's shipped ones (with a note in `visitor.notice`)."""
        self.visitors.attach(visitor, getattr(request, "session_hash", None))
        if visitor.model_generation != self.generation and self._loaded is not None:
            self._refit(visitor, self._loaded.model)
        if visitor.notice and request is not None:
            gr.Warning(visitor.notice)
            visitor.notice = None
        self.visitors.trim(keep=visitor)
        return visitor

    def _refit(self, visitor: Visitor, model: nn.Module) -> None:
        first_visit = visitor.model_generation == -1
        visitor.model_generation = self.generation
        if first_visit or visitor.networks is None:
            visitor.set_networks(self.shipped_networks)
            return
        try:
            check_compatible(visitor.networks, model, f"networks {visitor.networks.name!r}")
        except TemplateError as error:
            visitor.notice = f"Your networks were replaced, since the model changed: {error}"
            visitor.set_networks(self.shipped_networks)

    def close(self) -> None:
        """Stop the app's background job (it keeps a checkpoint to resume from) and remove the app's temporary
        folder (exports, zips) when the app made it."""
        self.jobs.close()
        if self.owns_work_dir:
            shutil.rmtree(self.work_dir, ignore_errors=True)


def _shipped_networks(model: nn.Module) -> FunctionalNetworks | None:
    """The networks shipped for this model, or None when fnsft ships none (or they do not load)."""
    try:
        return load_templates(shipped_template(model), model)
    except FnsftError:
        return None
