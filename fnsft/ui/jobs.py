"""Background jobs (a training run or a continual-learning suite), one at a time on the server, whose state is
read back from their run folders.

The job runs as a child process (`training_process.py`), so its crash is not the server's. What the page shows
(progress, status, report, adapter) is read from the files the trainer writes into the run folder (with
`fnsft.training._run_status.read_run_status`, which tells an interrupted run from a live one), so a reloaded page sees the
same job, and so does a restarted app; the process itself adds only how it ended when it could not say so.
"""

from __future__ import annotations

import atexit
import hashlib
import hmac
import json
import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import FnsftError
from ..training._checkpoints import last_complete_checkpoint
from ..training._run_status import read_progress, read_run_status
from .training_process import SUITE_COMMAND, TRAIN_COMMAND, ChildProcess, TrainingProcess
from .visitor import Visitor

REPORT_FILE = "forgetting_report.json"
ADAPTER_DIR = "final"
FINISHED_STATES = ("completed", "stopped", "failed", "interrupted")
RESUMABLE_STATES = ("stopped", "failed", "interrupted")
RUN_NAME = re.compile(r"\d{8}-\d{6}-[A-Za-z0-9_-]{16}")  # a timestamp, then 96 random bits: not guessable
OWNER_FILE = ".owner"  # the SHA-256 of the owner's key; the key itself stays in the owner's browser


@dataclass
class JobSnapshot:
    """What the run folder says about a job right now."""

    run_dir: Path
    state: str
    rows: list[dict] = field(default_factory=list)
    status: dict = field(default_factory=dict)
    report: dict | None = None
    adapter_dir: Path | None = None
    checkpoint: Path | None = None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE_STATES and self.checkpoint is not None

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or caught mid-write
        return None


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def run_state(run_dir: Path, job: ChildProcess | None) -> tuple[str, str | None, dict]:
    """(state, error, status as recorded): the run folder's word, corrected by its live process when there is
    one (a resumed run's status.json says "stopped" until its new process writes; a killed one cannot write)."""
    status = read_run_status(run_dir)
    state, error = status.state, status.error
    if job is None:
        return state, error, status.recorded
    alive = job.alive
    own = status.pid == job.process.pid  # written by this very process, not by an earlier one of the run
    if alive and not own:
        state, error = "starting", None
    elif alive and state in FINISHED_STATES:  # recorded, but the process and the visitor's slot not yet gone
        state = "stopping" if state == "stopped" else "finishing"
    elif not alive and not (own and state in ("completed", "stopped", "failed")):
        state, error = job.outcome() or (state, error)
    return state, error, status.recorded


def snapshot(run_dir: Path, job: ChildProcess | None = None) -> JobSnapshot:
    """The state of the run in `run_dir`; `job`, when it is that run's process, fills in what files lack."""
    state, error, recorded = run_state(run_dir, job)
    adapter = run_dir / ADAPTER_DIR
    return JobSnapshot(
        run_dir=run_dir,
        state=state,
        rows=read_progress(run_dir),
        status=recorded,
        report=_read_json(run_dir / REPORT_FILE),
        adapter_dir=adapter if adapter.is_dir() else None,
        checkpoint=last_complete_checkpoint(run_dir / "checkpoints", warn=False),
        error=error,
    )


class TrainingJobs:
    """The registry of the app's background job (a training run or a continual suite): at most one runs at a time
    on the whole server."""

    def __init__(self, runs_dir: Path, command: tuple[str, ...] = TRAIN_COMMAND):
        self.runs_dir = runs_dir
        self.command = command  # what runs a training: fnsft-train, in a child process
        self.suite_command = SUITE_COMMAND  # what runs a continual suite: fnsft-continual
        self._lock = threading.Lock()
        self._job: ChildProcess | None = None
        atexit.register(self.close)  # a run must not outlive its server unseen: it stops with a checkpoint

    def close(self) -> None:
        """Stop the running job, if any (a training run saves a checkpoint, a suite keeps its finished stages; a
        restarted app offers to resume either)."""
        job = self._job
        if job is not None and job.alive:
            job.stop()

    def start(
        self, visitor: Visitor, job: str, make: Callable[[Callable[[], None]], ChildProcess]
    ) -> ChildProcess:
        """Claim `visitor`'s heavy-job slot for `job` and start the child process `make(on_exit)`, whose end
        frees the slot; refused while the visitor has another heavy job or the server another background job."""
        visitor.reserve(job)
        try:
            with self._lock:
                running = self._job
                if running is not None and running.alive:
                    raise FnsftError(
                        f"The server is {self._doing(running)}; one training or continual suite runs at a time "
                        "here. Start yours when it has finished."
                    )
                self._job = make(visitor.release)
                return self._job
        except BaseException:
            visitor.release()
            raise

    @staticmethod
    def _doing(running: ChildProcess) -> str:
        if isinstance(running, TrainingProcess):
            return f"training another run (at step {snapshot(running.run_dir, running).last.get('step', 0)})"
        return f"running another {running.what}"

    def new_run(self, under: str = "") -> tuple[Path, str]:
        """A fresh run folder (in the subfolder `under` of the runs folder), created and owned: (folder, owner
        key). The name carries 96 random bits, so no one finds a run by guessing; the key (kept by the owner's
        browser) is what proves a run is theirs."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = self.runs_dir / under / f"{stamp}-{secrets.token_urlsafe(12)}"
        key = secrets.token_urlsafe(24)
        run_dir.mkdir(parents=True)
        (run_dir / OWNER_FILE).write_text(_digest(key))
        return run_dir, key

    def find(self, name: object, key: object, under: str = "") -> Path | None:
        """The run folder called `name` (in `under`) when `key` is its owner's key, else None: a page's stored
        values are not trusted (another visitor's, a guessed or an old timestamp-only name all find nothing)."""
        if not isinstance(name, str) or not isinstance(key, str) or not RUN_NAME.fullmatch(name):
            return None
        owner = self.runs_dir / under / name / OWNER_FILE
        try:
            recorded = owner.read_text().strip()
        except OSError:
            return None
        return owner.parent if hmac.compare_digest(recorded, _digest(key)) else None

    def live(self, run_dir: Path) -> ChildProcess | None:
        """The process of `run_dir`, when the server's latest job is that run."""
        job = self._job
        return job if job is not None and job.run_dir == run_dir else None

    def stop(self, run_dir: Path | None) -> bool:
        """Ask `run_dir`'s running job to stop at its next step (a signal); False when it is not running."""
        job = self.live(run_dir) if run_dir is not None else None
        if job is None or not job.alive:
            return False
        job.stop()
        return True

    def view(self, run_dir: Path) -> JobSnapshot:
        return snapshot(run_dir, self.live(run_dir))
