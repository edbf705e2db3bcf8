"""The app's long runs as child processes: a training run (`fnsft-train`) or a continual-learning suite
(`fnsft-continual`), each with the visitor's settings and run folder.

The server never trains in its own process, so a run that crashes, runs out of memory or is killed with
`kill -9` cannot take the server (or another visitor's page) with it; the page reads the run's status and
progress files, as it would for a run started from the command line. Stop is a signal: `fnsft-train` saves a
checkpoint on SIGTERM and records "stopped" (see `fnsft._cli_run.stop_on_signals`); `fnsft-continual` ends at
once and resumes from its last finished stage.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path

from ..training import TrainingConfig

LAUNCH_FILE = "launch.json"  # the settings the child was started with (config.json is the run's own record)
LOG_FILE = "train.log"  # the child's stdout and stderr
TRAIN_COMMAND = (sys.executable, "-m", "fnsft.cli", "fnsft-train")
SUITE_COMMAND = (sys.executable, "-m", "fnsft.cli", "fnsft-continual")


def child_environment() -> dict[str, str]:
    """The server's environment, with this very fnsft first on the path (the child must run the server's code,
    wherever the server was started from) and no progress bars in the log."""
    package_root = str(Path(__file__).resolve().parents[2])  # the folder that holds fnsft/
    path = os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "TQDM_DISABLE": "1"}


def last_log_line(log: Path) -> str | None:
    """The last non-empty line the child wrote (its one-line error when it failed before recording one)."""
    try:
        lines = log.read_text(errors="replace").splitlines()
    except OSError:
        return None
    line = next((line.strip() for line in reversed(lines) if line.strip()), None)
    return line.removeprefix("error: ") if line else None


class ChildProcess:
    """One command run in `run_dir` as a child of the server, its output in `log_name`: started, signalled to
    stop, waited for (never left a zombie), and described. `what` names it in messages ("training")."""

    def __init__(
        self,
        run_dir: Path,
        argv: Sequence[str],
        on_exit: Callable[[], None] | None = None,
        log_name: str = LOG_FILE,
        what: str = "training",
    ):
        self.run_dir, self.what = Path(run_dir), what
        self.log = self.run_dir / log_name
        with open(self.log, "ab") as log:  # the child holds its own copy of the handle
            self.process = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=child_environment(),
                cwd=self.run_dir,
            )
        self.stop_requested = False
        self._on_exit = on_exit
        self._waiter = threading.Thread(target=self._wait, name=f"fnsft-{what}-waiter", daemon=True)
        self._waiter.start()

    def _wait(self) -> None:
        self.process.wait()
        if self._on_exit is not None:
            self._on_exit()

    @property
    def alive(self) -> bool:
        """Until the process has ended and its exit has been handled (the visitor's slot freed)."""
        return self._waiter.is_alive()

    def stop(self) -> None:
        """SIGTERM (what the command does with it is its own: see the module's docstring)."""
        self.stop_requested = True
        self.process.send_signal(signal.SIGTERM)

    def outcome(self) -> tuple[str, str | None] | None:
        """(state, error) when the process has ended without recording a final state itself, else None: a
        stop that came while it started up, a signal that killed it, or an error before its status existed."""
        code = self.process.poll()
        if code is None:
            return None
        if self.stop_requested and code in (0, -signal.SIGTERM):
            return "stopped", None
        if code < 0:
            name = signal.Signals(-code).name
            return "failed", (
                f"The {self.what} process was killed ({name}) before it finished; the server was not affected. "
                "Resume from the last checkpoint if there is one, or start again."
            )
        return "failed", last_log_line(self.log) or f"The {self.what} process ended with exit code {code}."


class TrainingProcess(ChildProcess):
    """One `fnsft-train` child, started from a TrainingConfig written into its run folder."""

    def __init__(
        self,
        config: TrainingConfig,
        on_exit: Callable[[], None] | None = None,
        command: tuple[str, ...] = TRAIN_COMMAND,
    ):
        run_dir = Path(config.output_dir)
        settings = {key: value for key, value in asdict(config).items() if value is not None}
        (run_dir / LAUNCH_FILE).write_text(json.dumps(settings, indent=1))
        super().__init__(run_dir, [*command, "--config", str(run_dir / LAUNCH_FILE)], on_exit)
