"""A visitor's small continual-learning suite, run in the background: the choice checked against this server's
bounds, the suite file written into the visitor's own run folder, `fnsft-continual` started on it as a child
process (a crash or a kill cannot take the server down), and what the run folder says about it.

A suite counts as the visitor's heavy job and as the server's one background job (a suite and a training run
never run at once). Stop is SIGTERM: `fnsft-continual` ends at once, losing only the stage in progress, and
Resume reruns the same command in the same folder, which goes on from the last finished stage.
"""

from __future__ import annotations

import functools
import shutil
from dataclasses import asdict, dataclass, replace
from pathlib import Path

from .._files import write_json_atomically
from .._limits import LimitError, shown, whole
from ..continual import METHODS, OFFLINE_SUITE, SuiteConfig, load_suite, suite_from_dict
from ..continual.progress import SuiteProgress, suite_progress
from ..errors import FnsftError
from .heavy import SUITE_JOB
from .jobs import RESUMABLE_STATES, run_state
from .state import AppState
from .training_process import LAUNCH_FILE, ChildProcess
from .visitor import Visitor

SUITES = "continual"  # the runs folder's subfolder of suites
LOG_NAME = "continual.log"
MIN_TASKS, MAX_TASKS, MAX_SEEDS, MAX_STEPS, MAX_STAGES = 2, 4, 3, 16, 24
BOUNDS = (
    f"A small suite only: {MIN_TASKS}-{MAX_TASKS} tasks of the shipped offline suite (learned in its order), "
    f"1-{MAX_SEEDS} seeds, 1-{MAX_STEPS} steps per stage, and at most {MAX_STAGES} stages in all "
    "(methods × seeds × tasks). The other settings are the offline suite's. On a CPU one stage of the embedded "
    "model takes minutes."
)


@functools.cache
def offline_suite() -> SuiteConfig:
    return load_suite(OFFLINE_SUITE)


def task_names() -> list[str]:
    return [task.name for task in offline_suite().tasks]


@dataclass(frozen=True)
class SuiteChoice:
    """What a visitor asked for, within the bounds."""

    methods: list[str]
    tasks: list[str]
    seeds: list[int]
    steps: int


def check_choice(
    methods: list[str] | None, tasks: list[str] | None, seeds: object, steps: object
) -> SuiteChoice:
    """The visitor's choice, or a LimitError that says what to change (nothing has started yet)."""
    methods, tasks = list(methods or []), list(tasks or [])
    unknown = [name for name in methods if name not in METHODS] + [t for t in tasks if t not in task_names()]
    if unknown:
        raise LimitError(f"{shown(unknown[0])} is not a method or task of this suite; tick the boxes shown.")
    if not methods:
        raise LimitError("Choose at least one method.")
    if not MIN_TASKS <= len(set(tasks)) <= MAX_TASKS:
        raise LimitError(
            f"Choose {MIN_TASKS} to {MAX_TASKS} tasks (a suite learns a sequence); {len(set(tasks))} chosen."
        )
    count = whole("Seeds", seeds, 1, MAX_SEEDS)
    choice = SuiteChoice(
        methods=[name for name in METHODS if name in methods],
        tasks=[name for name in task_names() if name in tasks],
        seeds=list(range(count)),
        steps=whole("Steps per stage", steps, 1, MAX_STEPS),
    )
    stages = len(choice.methods) * count * len(choice.tasks)
    if stages > MAX_STAGES:
        raise LimitError(
            f"{len(choice.methods)} methods × {count} seeds × {len(choice.tasks)} tasks = {stages} stages; this "
            f"server runs at most {MAX_STAGES}. Choose fewer methods, seeds or tasks."
        )
    return choice


def suite_file(choice: SuiteChoice, model: str | None, device: str) -> dict:
    """The offline suite narrowed to the choice, for the loaded model, as the suite file's values (checked by
    the library as `fnsft-continual` will check them)."""
    suite = offline_suite()
    narrowed = replace(
        suite,
        name=f"app-{suite.name}",
        tasks=[task for task in suite.tasks if task.name in choice.tasks],
        methods=choice.methods,
        seeds=choice.seeds,
        steps=choice.steps,
        model=model,
        device=device,
    )
    values = {key: value for key, value in asdict(narrowed).items() if value is not None and key != "source"}
    suite_from_dict(values, Path(LAUNCH_FILE))
    return values


def launch(
    state: AppState, visitor: Visitor, methods: list[str] | None, tasks: list[str] | None, seeds, steps
) -> str:
    """Check the choice, write the suite file into a new run folder of the visitor's and start it; returns the
    folder's owner key (the page keeps it, so a reload finds the suite)."""
    loaded = state.require_model()
    choice = check_choice(methods, tasks, seeds, steps)
    if "networks-fixed" in choice.methods and state.shipped_networks is None:
        raise FnsftError("networks-fixed protects the model's shipped networks, and this model has none.")
    values = suite_file(choice, loaded.source, loaded.device)
    run_dir, key = state.jobs.new_run(SUITES)
    try:
        write_json_atomically(values, run_dir / LAUNCH_FILE)
        start(state, visitor, run_dir)
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)  # nothing ran in it
        raise
    return key


def start(state: AppState, visitor: Visitor, run_dir: Path) -> None:
    """`fnsft-continual` on the run folder's suite file, as the visitor's heavy job (a fresh run or a resume)."""
    argv = [*state.jobs.suite_command, "--config", str(run_dir / LAUNCH_FILE), "--output-dir", str(run_dir)]
    state.jobs.start(
        visitor, SUITE_JOB, lambda on_exit: ChildProcess(run_dir, argv, on_exit, LOG_NAME, SUITE_JOB)
    )
    visitor.suite_dir = run_dir


@dataclass
class SuiteSnapshot:
    """What a suite's run folder (and its process, while the server has it) says right now."""

    run_dir: Path
    state: str
    status: dict
    progress: SuiteProgress | None
    error: str | None = None

    @property
    def finished(self) -> bool:
        return self.state in ("completed", *RESUMABLE_STATES)

    @property
    def resumable(self) -> bool:
        return self.state in RESUMABLE_STATES

    @property
    def results(self) -> Path | None:
        path = self.run_dir / "results.json"
        return path if self.state == "completed" and path.is_file() else None


def view(state: AppState, run_dir: Path) -> SuiteSnapshot:
    process = state.jobs.live(run_dir)
    current, error, status = run_state(run_dir, process)
    if (
        current == "unknown" and process is None
    ):  # its process ended before writing anything, in an earlier app
        current = "interrupted"
    try:
        progress = suite_progress(run_dir, load_suite(run_dir / LAUNCH_FILE))
    except FnsftError:
        progress = None
    return SuiteSnapshot(run_dir, current, status, progress, error)


def resume(state: AppState, visitor: Visitor) -> None:
    """Rerun the visitor's stopped, failed or interrupted suite in its folder (from its last finished stage)."""
    if visitor.suite_dir is None or not view(state, visitor.suite_dir).resumable:
        raise FnsftError("You have no stopped suite to resume.")
    start(state, visitor, visitor.suite_dir)


def phase(snapshot: SuiteSnapshot) -> str:
    """Where a live suite is: the method, seed, stage and step of its status.json, or what it does between
    them ("" once it has ended)."""
    if snapshot.state == "finishing":
        return "writing the results"
    if snapshot.state not in ("starting", "running"):
        return ""
    status = snapshot.status if snapshot.state == "running" else {}  # a resumed suite's file is the old one's
    if not status.get("method"):
        return status.get("phase") or "loading the model and the tasks"
    stages = f"/{status['stages']}" if status.get("stages") else ""
    where = f"{status['method']} · seed {status.get('seed')} · stage {status.get('stage')}{stages} ({status.get('task')})"
    if status.get("steps"):
        where += f" · step {status.get('step', 0)}/{status['steps']}"
    return f"{where} · {status['phase']}" if status.get("phase") else where
