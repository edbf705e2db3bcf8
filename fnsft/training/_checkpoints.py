"""Checkpoints that count only when complete, and the choice of the one a resumed run continues from.

The Trainer writes `checkpoint-N` in place, so a crash or a full disk mid-save leaves a partial folder. A
callback (the Trainer's public `on_save` hook, called once the whole checkpoint is written) adds a small marker
file; resume takes the newest `checkpoint-<int>` that has it, warns about unmarked ones by name and ignores every
other name (`checkpoint-10-old`). A resumed run rewrites an unmarked checkpoint in place when it reaches that step.
Rotation is done here, not by the Trainer, because the Trainer's own counts partial folders and any name that ends
in a number.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

from .._files import write_json_atomically

logger = logging.getLogger(__name__)

CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")
MARKER_FILE = "fnsft-checkpoint.json"  # written after the Trainer finished the checkpoint: marks it whole


def checkpoint_step(path: Path) -> int | None:
    """The step of a `checkpoint-<int>` folder, None for any other name."""
    match = CHECKPOINT_NAME.fullmatch(path.name)
    return int(match.group(1)) if match and path.is_dir() else None


def is_complete(path: Path) -> bool:
    """A checkpoint is complete when its marker was written and reads back."""
    try:
        return isinstance(json.loads((path / MARKER_FILE).read_text()), dict)
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
        logger.warning(
            "skipping incomplete checkpoints (no readable %s): %s", MARKER_FILE, ", ".join(skipped)
        )
    return newest


def rotate(root: Path, keep: int | None) -> None:
    """Keep the `keep` newest complete checkpoints (strict names only: a user's own folders are left alone)."""
    if not keep or keep <= 0:
        return
    complete, _ = scan(root)
    for path in complete[:-keep]:
        shutil.rmtree(path, ignore_errors=True)


def checkpoint_callback(keep: int | None):
    """A TrainerCallback that marks each checkpoint complete once written, then keeps the `keep` newest."""
    from transformers import TrainerCallback

    class CompleteCheckpoints(TrainerCallback):
        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                root = Path(args.output_dir)
                marker = {"step": state.global_step}
                write_json_atomically(marker, root / f"checkpoint-{state.global_step}" / MARKER_FILE)
                rotate(root, keep)

    return CompleteCheckpoints()
