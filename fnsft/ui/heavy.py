"""The heavy jobs of all visitors (discovery, effect measurements, cards, template imports, model loads), one at a
time on the shared model, in arrival order, and at most one per visitor.

Both rules are kept here, inside the job's own request, so they hold for the page and for API clients alike (a
chain of Gradio events is driven by the browser, so a check in an earlier event of the chain binds no API client).
A visitor's second job is refused at once; a job waiting its turn shows how many are ahead of it; Cancel stops a
waiting job at once and a running one at its next progress report (`Turn.check`).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any

from ..errors import FnsftError
from .visitor import Visitor

Progress = Callable[..., object]
WAITING_THREADS = (
    16  # requests of distinct visitors that may wait for their turn at once (Gradio queues the rest)
)
SUITE_JOB = "continual suite"
CHILD_JOBS = ("training", SUITE_JOB)  # jobs run as child processes, each with its own Stop


class Cancelled(FnsftError):
    """The visitor pressed Cancel: the job stopped and changed nothing."""


class Turn:
    """A job's turn: `checked(report)` wraps a library progress callback so that Cancel stops the work there."""

    def __init__(self, visitor: Visitor | None, job: str):
        self.visitor, self.job = visitor, job

    def check(self) -> None:
        if self.visitor is not None and self.visitor.cancel.is_set():
            raise Cancelled(f"Cancelled: your {self.job} stopped and changed nothing.")

    def checked(self, report: Callable[..., Any]) -> Callable[..., Any]:
        def checked_report(*args: Any, **kwargs: Any) -> Any:
            self.check()
            return report(*args, **kwargs)

        return checked_report


class HeavyQueue:
    """A first-come, first-served turn on the shared model."""

    def __init__(self) -> None:
        self._turns = threading.Condition()
        self._waiting: deque[object] = deque()
        self.last_seconds: dict[
            str, float
        ] = {}  # how long each kind of job last took: the next one's estimate

    def __len__(self) -> int:
        return len(self._waiting)

    @staticmethod
    def cancel(visitor: Visitor) -> bool:
        """Ask the visitor's heavy job to stop; False when they have none."""
        if visitor.job is None or visitor.job in CHILD_JOBS:
            return False
        visitor.cancel.set()
        return True

    @contextlib.contextmanager
    def turn(self, visitor: Visitor | None, job: str, progress: Progress | None = None) -> Iterator[Turn]:
        """Claim `visitor`'s one heavy-job slot (a BusyError at once when it is taken; None: a job that holds no
        slot, such as measuring one card's effect), wait for the model's turn, run, then free both."""
        if visitor is not None:
            visitor.reserve(job)
            visitor.cancel.clear()
        ticket, turn = object(), Turn(visitor, job)
        try:
            self._wait(ticket, turn, progress)
            if progress is not None and job in self.last_seconds:
                progress(
                    0.0, desc=f"Your {job} started; the last one here took {self.last_seconds[job]:.0f} s"
                )
            started = time.monotonic()
            yield turn
            self.last_seconds[job] = time.monotonic() - started
        finally:
            with self._turns:
                if ticket in self._waiting:
                    self._waiting.remove(ticket)
                self._turns.notify_all()
            if visitor is not None:
                visitor.release()

    def _wait(self, ticket: object, turn: Turn, progress: Progress | None) -> None:
        shown = None
        with self._turns:
            self._waiting.append(ticket)
            while self._waiting[0] is not ticket:
                turn.check()
                ahead = self._waiting.index(ticket)
                if progress is not None and ahead != shown:
                    progress(0.0, desc=f"Your {turn.job} waits: {ahead} heavy job(s) of this server ahead")
                    shown = ahead
                self._turns.wait(timeout=1.0)
