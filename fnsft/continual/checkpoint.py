"""The one checkpoint a running sequence keeps: the weights and the method's state after its last finished
stage, so an interrupted sequence resumes there. A checkpoint is complete once its marker is written (last),
older ones are removed after that, and the sequence's last one goes when the sequence is done."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..networks._templates import write_json_atomically

PREFIX = "checkpoint-stage-"
MARKER = "complete.json"


def _stage(path: Path) -> int:
    return int(path.name.removeprefix(PREFIX))


def _checkpoints(folder: Path) -> list[Path]:
    found = [p for p in folder.glob(f"{PREFIX}*") if p.name.removeprefix(PREFIX).isdigit()]
    return sorted(found, key=_stage)


def last_checkpoint(folder: Path) -> Path | None:
    """The complete checkpoint of the latest stage, or None."""
    complete = [path for path in _checkpoints(folder) if (path / MARKER).is_file()]
    return complete[-1] if complete else None


def checkpoint_stage(path: Path) -> int:
    return _stage(path)


def save_checkpoint(folder: Path, stage: int, model: nn.Module, method_state: dict) -> Path:
    target = folder / f"{PREFIX}{stage}"
    shutil.rmtree(target, ignore_errors=True)  # an incomplete one from an interrupted save
    target.mkdir(parents=True)
    torch.save(model.state_dict(), target / "model.pt")
    torch.save(_tensors(method_state), target / "method.pt")
    write_json_atomically({"stage": stage}, target / MARKER)
    for older in _checkpoints(folder):
        if older != target:
            shutil.rmtree(older, ignore_errors=True)
    return target


def load_checkpoint(path: Path, model: nn.Module) -> dict:
    """Put the checkpoint's weights into `model`; return the method's state."""
    model.load_state_dict(torch.load(path / "model.pt", map_location="cpu", weights_only=True))
    return torch.load(path / "method.pt", map_location="cpu", weights_only=True)


def _tensors(value):
    """The state with numpy arrays as tensors, so it loads with torch.load(weights_only=True)."""
    if isinstance(value, np.ndarray):
        return torch.from_numpy(value)
    if isinstance(value, dict):
        return {key: _tensors(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_tensors(item) for item in value]
    return value


def remove_checkpoints(folder: Path) -> None:
    for path in _checkpoints(folder):
        shutil.rmtree(path, ignore_errors=True)
