"""status.json of a run folder: written with the writer's process id, host and a heartbeat; read back truthfully.

A process killed with `kill -9` (or stopped by a full disk) cannot write "failed", so its status.json still says
"running". `read_run_status` therefore reports a live state as "interrupted" when the recorded process is gone
from this host, or when the heartbeat is older than STALE_AFTER seconds (any host).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from .._files import write_json_atomically

logger = logging.getLogger(__name__)

STATUS_FILE = "status.json"
LIVE_STATES = ("running", "stopping")
HEARTBEAT_SECONDS = 30.0
STALE_AFTER = 4 * HEARTBEAT_SECONDS


def is_main_process() -> bool:
    """Under torchrun / accelerate launch only the main process (accelerate's PartialState) writes the run
    folder."""
    from ..discovery._parallel import process_state

    return process_state().is_main_process


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def write_status(run_dir: Path, state: str, **extra) -> None:
    """Replace status.json (atomically) with `state`, this process's identity and a fresh heartbeat."""
    if not is_main_process():
        return
    record = {
        "state": state,
        "updated": _now(),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "heartbeat": time.time(),
        **extra,
    }
    write_json_atomically(record, Path(run_dir) / STATUS_FILE)


def try_write_status(run_dir: Path, state: str, **extra) -> bool:
    """write_status that logs one line instead of raising when the disk or folder refuses (a run ending badly)."""
    try:
        write_status(run_dir, state, **extra)
    except OSError as error:
        logger.error(
            "could not record %r in %s: %s", state, Path(run_dir) / STATUS_FILE, error.strerror or error
        )
        return False
    return True


def read_status(run_dir: Path) -> dict:
    """status.json as written ({"state": "unknown"} when missing or caught mid-write)."""
    try:
        data = json.loads((Path(run_dir) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {"state": "unknown"}
    return data if isinstance(data, dict) else {"state": "unknown"}


def process_alive(pid: int) -> bool:
    """Whether a process with this id exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except (OSError, ValueError, OverflowError):
        return False
    return True


@dataclass
class RunStatus:
    """What a run folder says about its run, with a dead writer's "running" turned into "interrupted"."""

    state: str
    step: int | None = None
    pid: int | None = None
    host: str | None = None
    heartbeat: float | None = None
    error: str | None = None
    recorded: dict = field(default_factory=dict)

    @property
    def live(self) -> bool:
        return self.state in LIVE_STATES


def _writer_gone(recorded: dict, now: float) -> bool:
    pid, host, beat = recorded.get("pid"), recorded.get("host"), recorded.get("heartbeat")
    if isinstance(beat, int | float) and now - beat > STALE_AFTER:
        return True
    if isinstance(pid, int) and host == socket.gethostname():
        return not process_alive(pid)
    return False


def read_run_status(run_dir: Path, now: float | None = None) -> RunStatus:
    """The run's state: a live state whose writer is gone (dead pid here, or a stale heartbeat) is "interrupted"."""
    recorded = read_status(run_dir)
    state = str(recorded.get("state", "unknown"))
    if state in LIVE_STATES and _writer_gone(recorded, time.time() if now is None else now):
        state = "interrupted"
    step = recorded.get("step")
    if step is None and state == "interrupted":
        rows = read_progress(run_dir)
        step = rows[-1].get("step") if rows else None
    return RunStatus(
        state=state,
        step=step if isinstance(step, int) else None,
        pid=recorded.get("pid"),
        host=recorded.get("host"),
        heartbeat=recorded.get("heartbeat"),
        error=recorded.get("error"),
        recorded=recorded,
    )


def read_progress(run_dir: Path) -> list[dict]:
    """The complete lines of progress.jsonl (a line still being written is skipped: readers poll live runs)."""
    path = Path(run_dir) / "progress.jsonl"
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


class Heartbeat:
    """Rewrites status.json every `interval` seconds with the current state and step, until stopped."""

    def __init__(self, run_dir: Path, interval: float = HEARTBEAT_SECONDS):
        self.run_dir = Path(run_dir)
        self.interval = interval
        self.state = "running"
        self.extra: dict = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="fnsft-heartbeat", daemon=True)

    def set(self, state: str, **extra) -> None:
        """Record a new state now (and keep beating with it)."""
        with self._lock:
            self.state, self.extra = state, extra
            write_status(self.run_dir, state, **extra)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            with self._lock:
                if not self._stop.is_set():
                    try_write_status(self.run_dir, self.state, **self.extra)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
