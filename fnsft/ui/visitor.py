"""What belongs to one visitor of the app: their networks, their heavy job, their training run and suite.

The model is shared (see `state.py`); everything a visitor makes lives in a `Visitor` held by the page's
`gr.State`, so two visitors on one server never see each other's networks. `Visitors` registers them by session
to bound memory across all of them: the discovery maps (the only large per-visitor arrays, needed for re-thresholding
alone) of the longest-idle visitors are dropped first.
"""

from __future__ import annotations

import threading
import time
import uuid
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..errors import FnsftError
from ..networks._functional_networks import FunctionalNetworks

MAP_BUDGET_BYTES = 512 * 2**20  # discovery maps kept across all visitors


class BusyError(FnsftError):
    """A visitor asked for a second heavy job while one of theirs is queued or running."""


@dataclass(eq=False)
class Visitor:
    """One browser session's own work. `version` changes whenever `networks` does, so dropdowns refresh."""

    networks: FunctionalNetworks | None = None
    version: int = 0
    model_generation: int = -1  # the loaded model the networks were last checked against
    run_dir: Path | None = None  # their training run
    suite_dir: Path | None = None  # their continual-learning suite
    job: str | None = None
    notice: str | None = None  # a message for the visitor's next page update
    failure: str | None = None  # why their last action failed, for its panel's status line
    session: str | None = None
    networks_key: str | None = None  # names their kept networks on the server (see kept_networks.py)
    kept_version: int = -1  # the version of the networks last kept
    key: str = field(default_factory=lambda: uuid.uuid4().hex)  # names the visitor's files on the server
    last_seen: float = field(default_factory=time.monotonic)
    cancel: threading.Event = field(default_factory=threading.Event, repr=False)  # Cancel of their heavy job
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __deepcopy__(self, memo: dict) -> Visitor:
        """Gradio deep-copies a State's value for each session; `new_visitor` already made a fresh one."""
        return self

    def set_networks(self, networks: FunctionalNetworks | None) -> None:
        self.networks = networks
        self.version += 1

    def require_networks(self) -> FunctionalNetworks:
        if self.networks is None:
            raise FnsftError("No networks yet: run a discovery or load a template in the Discover tab.")
        return self.networks

    def reserve(self, job: str) -> None:
        """Claim the visitor's one heavy-job slot (see `heavy.py`); a BusyError while it is taken."""
        with self._lock:
            if self.job is not None:
                raise BusyError(
                    f"Your {self.job} is still queued or running; one heavy job per visitor at a time. "
                    "Wait for it to finish."
                )
            self.job = job

    def release(self) -> None:
        with self._lock:
            self.job = None

    def map_bytes(self) -> int:
        maps = None if self.networks is None else self.networks.maps
        return 0 if maps is None else int(maps.nbytes)

    def drop_maps(self) -> None:
        """Free the discovery maps; the networks and their neuron sets stay (re-thresholding needs a rediscovery)."""
        if self.map_bytes():
            self.networks = replace(self.networks, maps=None)


def new_visitor() -> Visitor:
    """The factory `gr.State` calls once per session (a function: Gradio would serialise a dataclass type)."""
    return Visitor()


class Visitors:
    """The live visitors of one app by session id, with a memory budget for their discovery maps.

    References are weak: when Gradio drops a session's state, its visitor leaves the registry too."""

    def __init__(self, map_budget_bytes: int = MAP_BUDGET_BYTES):
        self.map_budget_bytes = map_budget_bytes
        self._by_session: weakref.WeakValueDictionary[str, Visitor] = weakref.WeakValueDictionary()
        self._lock = threading.Lock()

    def attach(self, visitor: Visitor, session: str | None) -> Visitor:
        """Register (or touch) the visitor of a request."""
        visitor.last_seen = time.monotonic()
        if session:
            visitor.session = session
            with self._lock:
                self._by_session[session] = visitor
        return visitor

    def get(self, session: str) -> Visitor | None:
        return self._by_session.get(session)

    def forget(self, visitor_or_session: Visitor | str | None) -> None:
        """Drop a visitor whose page closed (called by `demo.unload`)."""
        session = getattr(visitor_or_session, "session", visitor_or_session)
        with self._lock:
            self._by_session.pop(session, None)

    def __len__(self) -> int:
        return len(self._by_session)

    def map_bytes(self) -> int:
        return sum(visitor.map_bytes() for visitor in list(self._by_session.values()))

    def trim(self, keep: Visitor | None = None) -> list[Visitor]:
        """Drop maps of the longest-idle visitors (never `keep`'s) until all maps fit the budget."""
        dropped = []
        with self._lock:
            idle_first = sorted(self._by_session.values(), key=lambda visitor: visitor.last_seen)
        total = sum(visitor.map_bytes() for visitor in idle_first)
        for visitor in idle_first:
            if total <= self.map_budget_bytes:
                break
            if visitor is keep or not visitor.map_bytes():
                continue
            total -= visitor.map_bytes()
            visitor.drop_maps()
            dropped.append(visitor)
        return dropped
