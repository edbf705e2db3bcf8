"""Admitting a run into its folder: nothing of an earlier run is deleted unless asked, nothing is written when refused.

`check_run_folder` decides before anything is written: a folder holding an earlier run is refused unless the
run resumes it (which needs a complete checkpoint) or overwrites it explicitly; a folder another live process
is writing is refused in every case; the folder must be writable. `claim_run_folder` then creates it, takes
its lock (held until the run ends, so a second process cannot write the same folder) and, for an explicit
overwrite only, removes the earlier run's outputs.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ..errors import RunFolderError
from ._checkpoints import last_complete_checkpoint, scan
from ._run_status import read_run_status

logger = logging.getLogger(__name__)

RUN_OUTPUTS = ("progress.jsonl", "forgetting_report.json", "checkpoints", "final", "merged")
EARLIER_RUN = ("config.json", "status.json", *RUN_OUTPUTS)
LOCK_FILE = ".fnsft.lock"


@dataclass
class RunFolderPlan:
    """What check_run_folder found: where to write, what to resume from, what an overwrite removes."""

    run_dir: Path
    checkpoint: Path | None
    earlier: list[str]
    overwrite: bool


def earlier_run(run_dir: Path) -> list[str]:
    """The names in run_dir that belong to an earlier run."""
    return [name for name in EARLIER_RUN if (run_dir / name).exists()]


def nearest_existing(path: Path) -> Path:
    path = path.absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_writable(target: Path, what: str = "output") -> None:
    """Refuse, before any long work, a location where the file or folder cannot be created."""
    base = nearest_existing(Path(target))
    if not base.is_dir():
        raise RunFolderError(f"{what} {target}: {base} exists and is not a folder.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".fnsft-probe-", dir=base)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise RunFolderError(
            f"{what} {target}: cannot write in {base} ({error.strerror or error}); choose a writable location."
        ) from None


def check_run_folder(run_dir: Path, resume: bool, overwrite: bool) -> RunFolderPlan:
    """Refuse (RunFolderError) any run that would lose or mix an earlier run's files; writes nothing."""
    if resume and overwrite:
        raise RunFolderError("resume and overwrite contradict each other; choose one.")
    if run_dir.exists() and not run_dir.is_dir():
        raise RunFolderError(f"output_dir {run_dir} is a file, not a folder.")
    status = read_run_status(run_dir)
    if status.live:
        raise RunFolderError(
            f"{run_dir} is being written by process {status.pid} on {status.host} (status {status.state!r}); "
            "stop it first or choose another output_dir."
        )
    earlier = earlier_run(run_dir)
    checkpoint = None
    if resume:
        checkpoint = last_complete_checkpoint(run_dir / "checkpoints")
        if checkpoint is None:
            _, incomplete = scan(run_dir / "checkpoints")
            names = ", ".join(p.name for p in incomplete)
            found = f" (only incomplete ones, skipped: {names})" if names else ""
            raise RunFolderError(
                f"resume=True but {run_dir / 'checkpoints'} holds no complete checkpoint{found}; "
                "point output_dir at the stopped run."
            )
    elif earlier and not overwrite:
        raise RunFolderError(
            f"{run_dir} holds an earlier run ({', '.join(earlier)}); pass --resume true to continue it, "
            "--overwrite true to replace it, or choose another --output-dir."
        )
    check_writable(run_dir, "output_dir")
    return RunFolderPlan(run_dir, checkpoint, earlier, overwrite)


class RunFolderLock:
    """An exclusive lock on the run folder for the life of a run (released by the OS if the process dies)."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / LOCK_FILE
        self._stream = None

    def acquire(self) -> None:
        try:
            import fcntl
        except ImportError:  # Windows: the live-status check in check_run_folder is the guard
            return
        stream = open(self.path, "a+")  # noqa: SIM115 - held open for the run's life
        try:
            fcntl.flock(stream, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            stream.close()
            if error.errno in (errno.EAGAIN, errno.EACCES, errno.EWOULDBLOCK):
                raise RunFolderError(
                    f"{self.path.parent} is being written by another run right now; wait for it or choose "
                    "another output_dir."
                ) from None
            raise
        self._stream = stream

    def release(self) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None


def claim_run_folder(plan: RunFolderPlan) -> RunFolderLock:
    """Create (if needed) and lock the folder, then check again under the lock that no other run wrote it
    meanwhile; for an explicit overwrite, remove the earlier run's outputs. A refused claim deletes nothing:
    the folder may be another process's."""
    plan.run_dir.mkdir(parents=True, exist_ok=True)
    lock = RunFolderLock(plan.run_dir)
    lock.acquire()
    arrived = [name for name in earlier_run(plan.run_dir) if name not in plan.earlier]
    if arrived and not plan.checkpoint:
        lock.release()
        raise RunFolderError(
            f"{plan.run_dir} was taken by another run while this one started ({', '.join(arrived)}); "
            "choose another output_dir."
        )
    if plan.overwrite and plan.earlier:
        logger.warning("overwrite=True: removing %s's earlier %s", plan.run_dir, ", ".join(plan.earlier))
        for name in plan.earlier:
            path = plan.run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    return lock
