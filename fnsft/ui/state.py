"""What every session of the app shares: one loaded model (loads serialised by a lock) and the current networks.

The model is shared rather than per session because it is the expensive part; requests stay isolated because
masks are context-local (`fnsft.masking.masked`), never installed on the model for everyone.
"""

from __future__ import annotations

import logging
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from ..errors import FnsftError, ModelLoadError, TemplateError
from ..functional_networks import FunctionalNetworks
from ..models import load_model
from ..templates import check_compatible
from .jobs import TrainingJobs

logger = logging.getLogger(__name__)


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
    """The loaded model, the current functional networks and the training jobs of one running app."""

    def __init__(self, runs_dir: str | Path = "runs", work_dir: str | Path | None = None):
        self._lock = threading.Lock()
        self._loaded: LoadedModel | None = None
        self._load_error: str | None = None
        self.networks: FunctionalNetworks | None = None
        self.networks_version = 0
        self.work_dir = Path(work_dir or tempfile.mkdtemp(prefix="fnsft-app-"))
        self.jobs = TrainingJobs(Path(runs_dir))

    def load(
        self, name: str | None, device: str = "auto", dtype: str = "auto", quantization: str | None = None
    ) -> tuple[LoadedModel, str | None]:
        """Load a model for everyone; returns it and a note when the current networks no longer fit it."""
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
            return self._loaded, self._drop_unfit_networks(model)

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

    def set_networks(self, networks: FunctionalNetworks | None) -> None:
        self.networks = networks
        self.networks_version += 1

    def require_networks(self) -> FunctionalNetworks:
        if self.networks is None:
            raise FnsftError("No networks yet: run a discovery or load a template in the Discover tab.")
        return self.networks

    def _drop_unfit_networks(self, model: nn.Module) -> str | None:
        if self.networks is None:
            return None
        try:
            check_compatible(self.networks, model, f"networks {self.networks.name!r}")
        except TemplateError as error:
            self.set_networks(None)
            return f"The current networks were cleared: {error}"
        return None
