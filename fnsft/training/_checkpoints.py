"""Checkpoints that appear only when complete, and the choice of the one a resumed run continues from.

The Trainer writes `checkpoint-N` in place, so a crash or a full disk mid-save leaves a folder without
trainer_state.json that blocks resuming. Here each checkpoint is written into a hidden staging folder beside
the others and renamed to `checkpoint-N` once whole; resume takes the newest complete `checkpoint-<int>`, warns
about incomplete ones by name and ignores every other name (`checkpoint-10-old`, staging leftovers).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import shutil
from pathlib import Path

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")
STAGING_PREFIX = ".saving-"
STATE_FILE = "trainer_state.json"  # written last by the Trainer: its presence marks a whole checkpoint


def checkpoint_step(path: Path) -> int | None:
    """The step of a `checkpoint-<int>` folder, None for any other name."""
    match = CHECKPOINT_NAME.fullmatch(path.name)
    return int(match.group(1)) if match and path.is_dir() else None


def is_complete(path: Path) -> bool:
    """A checkpoint is complete when its trainer state was written and reads back."""
    try:
        return isinstance(json.loads((path / STATE_FILE).read_text()), dict)
    except (OSError, ValueError):
        return False


def scan(root: Path) -> tuple[list[Path], list[Path]]:
    """(complete checkpoints oldest first, incomplete ones) among the `checkpoint-<int>` folders of root."""
    if not root.is_dir():
        return [], []
    named = sorted((p for p in root.iterdir() if checkpoint_step(p) is not None), key=checkpoint_step)
    return [p for p in named if is_complete(p)], [p for p in named if not is_complete(p)]


def last_complete_checkpoint(root: Path, warn: bool = True) -> Path | None:
    """The newest complete checkpoint under root; incomplete ones newer than it are named in a warning."""
    complete, incomplete = scan(root)
    newest = complete[-1] if complete else None
    skipped = [p.name for p in incomplete if newest is None or checkpoint_step(p) > checkpoint_step(newest)]
    if skipped and warn:
        logger.warning("skipping incomplete checkpoints (no readable %s): %s", STATE_FILE, ", ".join(skipped))
    return newest


def remove_staging(root: Path) -> list[str]:
    """Delete leftovers of saves that never finished (their content was never a checkpoint)."""
    leftovers = [p for p in root.glob(STAGING_PREFIX + "*") if p.is_dir()] if root.is_dir() else []
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True)
    if leftovers:
        logger.warning("removed unfinished checkpoint saves: %s", ", ".join(p.name for p in leftovers))
    return [p.name for p in leftovers]


def rotate(root: Path, keep: int | None) -> None:
    """Keep the `keep` newest complete checkpoints (strict names only: a user's own folders are left alone)."""
    if not keep or keep <= 0:
        return
    complete, _ = scan(root)
    for path in complete[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def publish(staged: Path, final: Path) -> None:
    """Move a finished save to its final name (replacing an older copy at that step)."""
    if final.exists():
        shutil.rmtree(final)
    os.replace(staged, final)


@functools.cache
def atomic_trainer_class():
    """transformers.Trainer whose checkpoints are written into a staging folder, then renamed into place."""
    from transformers import Trainer

    class AtomicCheckpointTrainer(Trainer):
        _staging: Path | None = None

        def _get_output_dir(self, trial) -> str:
            return str(self._staging) if self._staging is not None else super()._get_output_dir(trial)

        def _save_checkpoint(self, model, trial) -> None:
            root = Path(super()._get_output_dir(trial))
            name = f"checkpoint-{self.state.global_step}"
            self._staging = root / f"{STAGING_PREFIX}{name}"
            shutil.rmtree(self._staging, ignore_errors=True)
            try:
                super()._save_checkpoint(model, trial)  # writes <staging>/<name>; rotates nothing there
                if self.args.should_save:
                    publish(self._staging / name, root / name)
                    shutil.rmtree(self._staging, ignore_errors=True)
                    rotate(root, self.args.save_total_limit)
            finally:
                self._staging = None

    return AtomicCheckpointTrainer
