"""Background training jobs, one at a time on the server, whose state is read back from their run folders.

The job runs in a thread with its own stop flag. What the page shows (progress, status, report, adapter) is read
from the files the trainer writes into the run folder (with `fnsft.training._run_status.read_run_status`, which tells an
interrupted run from a live one), so a reloaded page sees the same job, and so does a restarted app.
"""

from __future__ import annotations

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

REPORT_FILE = "forgetting_report.json"
ADAPTER_DIR = "final"
FINISHED_STATES = ("completed", "stopped", "failed", "interrupted")
RESUMABLE_STATES = ("stopped", "failed", "interrupted")
RUN_NAME = re.compile(r"\d{8}-\d{6}-[A-Za-z0-9_-]{16}")  # a timestamp, then 96 random bits: not guessable
OWNER_FILE = ".owner"  # the SHA-256 of the owner's key; the key itself stays in the owner's browser


@dataclass
class TrainingJob:
    """A training thread, its stop flag and its run folder."""

    run_dir: Path
    thread: threading.Thread
    stop_event: threading.Event
    error: str | None = None

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


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


def snapshot(run_dir: Path, job: TrainingJob | None = None) -> JobSnapshot:
    """The state of the run in `run_dir`; `job`, when it is that run's live thread, fills in what files lack."""
    status = read_run_status(run_dir)
    state = status.state
    if job is not None and job.alive and (state == "unknown" or state in FINISHED_STATES):
        state = "starting"  # a resumed run's status.json still says "stopped" until its trainer writes anew
    elif job is not None and not job.alive and state not in FINISHED_STATES:
        state = "failed" if job.error else "stopped"
    adapter = run_dir / ADAPTER_DIR
    return JobSnapshot(
        run_dir=run_dir,
        state=state,
        rows=read_progress(run_dir),
        status=status.recorded,
        report=_read_json(run_dir / REPORT_FILE),
        adapter_dir=adapter if adapter.is_dir() else None,
        checkpoint=last_complete_checkpoint(run_dir / "checkpoints", warn=False),
        error=(job.error if job is not None else None) or status.error,
    )


class TrainingJobs:
    """The registry of the app's training job: at most one runs at a time on the whole server."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = runs_dir
        self._lock = threading.Lock()
        self._job: TrainingJob | None = None

    def start(
        self,
        run_dir: Path,
        target: Callable[[threading.Event], object],
        on_exit: Callable[[], None] | None = None,
    ) -> TrainingJob:
        """Run target(stop_event) in a thread, then on_exit(); refuses while another job is still running."""
        with self._lock:
            running = self._job
            if running is not None and running.alive:
                step = snapshot(running.run_dir, running).last.get("step", 0)
                raise FnsftError(
                    f"The server is training another run (at step {step}); one training runs at a time here. "
                    "Start yours when it has finished."
                )
            stop_event = threading.Event()

            def run() -> None:
                try:
                    target(stop_event)
                except Exception as error:  # the page shows it; the thread must not die silently
                    job.error = str(error)
                finally:
                    if on_exit is not None:
                        on_exit()

            thread = threading.Thread(target=run, name="fnsft-training", daemon=True)
            job = self._job = TrainingJob(run_dir, thread, stop_event)
            thread.start()
            return job

    def new_run(self) -> tuple[Path, str]:
        """A fresh run folder, created and owned: (folder, owner key). The name carries 96 random bits, so no
        one finds a run by guessing; the key (kept by the owner's browser) is what proves a run is theirs."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        run_dir = self.runs_dir / f"{stamp}-{secrets.token_urlsafe(12)}"
        key = secrets.token_urlsafe(24)
        run_dir.mkdir(parents=True)
        (run_dir / OWNER_FILE).write_text(_digest(key))
        return run_dir, key

    def find(self, name: object, key: object) -> Path | None:
        """The run folder called `name` when `key` is its owner's key, else None: a page's stored values are
        not trusted (another visitor's, a guessed or an old timestamp-only name all find nothing)."""
        if not isinstance(name, str) or not isinstance(key, str) or not RUN_NAME.fullmatch(name):
            return None
        owner = self.runs_dir / name / OWNER_FILE
        try:
            recorded = owner.read_text().strip()
        except OSError:
            return None
        return owner.parent if hmac.compare_digest(recorded, _digest(key)) else None

    def live(self, run_dir: Path) -> TrainingJob | None:
        """The live thread of `run_dir`, when the job running now is that run."""
        job = self._job
        return job if job is not None and job.run_dir == run_dir else None

    def stop(self, run_dir: Path | None) -> bool:
        """Ask `run_dir`'s running job to stop at its next step; False when it is not running."""
        job = self.live(run_dir) if run_dir is not None else None
        if job is None or not job.alive:
            return False
        job.stop_event.set()
        return True

    def view(self, run_dir: Path) -> JobSnapshot:
        return snapshot(run_dir, self.live(run_dir))
