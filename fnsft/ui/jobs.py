"""One background training job at a time, whose state is read back from its run folder.

The job runs in a thread with its own stop flag. What the page shows (progress, status, report, adapter) is read
from the files the trainer writes into the run folder, so a reloaded page or a second tab sees the same job,
and so does a restarted app for a finished run.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from ..errors import FnsftError
from ..training import read_progress

STATUS_FILE = "status.json"
REPORT_FILE = "forgetting_report.json"
ADAPTER_DIR = "final"
FINISHED_STATES = ("completed", "stopped", "failed", "interrupted")
LIVE_STATES = ("running", "stopping")


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
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def last(self) -> dict:
        return self.rows[-1] if self.rows else {}


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):  # not written yet, or caught mid-write
        return None


def snapshot(run_dir: Path, job: TrainingJob | None = None) -> JobSnapshot:
    """The state of the run in `run_dir`; `job`, when it is that run's live thread, fills in what files lack."""
    status = _read_json(run_dir / STATUS_FILE) or {}
    error = job.error if job is not None else None
    state = status.get("state") or ("running" if job is not None and job.alive else "unknown")
    if job is not None and not job.alive and state not in FINISHED_STATES:
        state = "failed" if error else "stopped"
    if job is None and state in LIVE_STATES:  # its app ended before it did
        state = "interrupted"
    adapter = run_dir / ADAPTER_DIR
    return JobSnapshot(
        run_dir=run_dir,
        state=state,
        rows=read_progress(run_dir),
        status=status,
        report=_read_json(run_dir / REPORT_FILE),
        adapter_dir=adapter if adapter.is_dir() else None,
        error=error or status.get("error"),
    )


class TrainingJobs:
    """The registry of the app's training job: at most one runs at a time."""

    def __init__(self, runs_dir: Path):
        self.runs_dir = runs_dir
        self._lock = threading.Lock()
        self._job: TrainingJob | None = None

    def start(self, run_dir: Path, target: Callable[[threading.Event], object]) -> TrainingJob:
        """Run target(stop_event) in a thread; refuses while another job is still running."""
        with self._lock:
            if self._job is not None and self._job.alive:
                raise FnsftError(
                    f"A training job is already running ({self._job.run_dir.name}); stop it or wait for it."
                )
            stop_event = threading.Event()

            def run() -> None:
                try:
                    target(stop_event)
                except Exception as error:  # the page shows it; the thread must not die silently
                    job.error = f"{type(error).__name__}: {error}"

            thread = threading.Thread(target=run, name="fnsft-training", daemon=True)
            job = self._job = TrainingJob(run_dir, thread, stop_event)
            thread.start()
            return job

    def new_run_dir(self) -> Path:
        """A fresh, timestamped run folder name under runs_dir (not created yet)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        candidates = (self.runs_dir / (stamp if n == 0 else f"{stamp}-{n}") for n in range(1000))
        return next(path for path in candidates if not path.exists())

    def stop(self) -> bool:
        """Ask the running job to stop at its next step; False when none runs."""
        job = self._job
        if job is None or not job.alive:
            return False
        job.stop_event.set()
        return True

    def latest(self) -> JobSnapshot | None:
        """The live job's run, else the most recent run folder, else None."""
        job = self._job
        if job is not None:
            return snapshot(job.run_dir, job)
        runs = sorted(
            (path for path in self.runs_dir.glob("*") if (path / STATUS_FILE).is_file()),
            key=lambda path: (path / STATUS_FILE).stat().st_mtime,
        )
        return snapshot(runs[-1]) if runs else None
