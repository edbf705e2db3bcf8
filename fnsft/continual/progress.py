"""How far a suite's run folder has come: the stages and single-task runs finished out of all it will make, and an
estimate of the time left from the stages measured so far (files only, so a reader outside the run can ask)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .config import SuiteConfig
from .registry import CLASSES
from .results import read_json


@dataclass(frozen=True)
class SuiteProgress:
    """Finished work of a suite. `stage_seconds`: training plus scoring seconds of each finished stage;
    `train_seconds`: the training part alone (a single-task run trains one stage and scores one task)."""

    stages_done: int
    stages: int
    single_done: int
    singles: int
    stage_seconds: tuple[float, ...] = ()
    train_seconds: tuple[float, ...] = ()

    @property
    def fraction(self) -> float:
        total = self.stages + self.singles
        return (self.stages_done + self.single_done) / total if total else 1.0

    @property
    def remaining_seconds(self) -> float | None:
        """Mean measured time per stage times what is left; None before any stage was measured."""
        if not self.stage_seconds:
            return None
        per_stage = sum(self.stage_seconds) / len(self.stage_seconds)
        per_single = sum(self.train_seconds) / len(self.train_seconds)
        left = (self.stages - self.stages_done) * per_stage + (self.singles - self.single_done) * per_single
        return max(left, 0.0)


def single_task_runs(suite: SuiteConfig) -> list[tuple[str, int, str]]:
    """(adapter, seed, task) of every single-task run forward transfer needs (none when they are switched off)."""
    if not suite.single_task_baselines:
        return []
    adapters = sorted({CLASSES[name].adapter for name in suite.methods})
    later = [task.name for task in suite.tasks[1:]]
    return [(adapter, seed, task) for seed in suite.seeds for adapter in adapters for task in later]


def suite_progress(folder: Path, suite: SuiteConfig) -> SuiteProgress:
    """What `folder` holds of `suite`'s stages (read from the stage files the run writes atomically)."""
    stages = []
    for name in suite.methods:
        for seed in suite.seeds:
            for stage in range(len(suite.tasks)):
                found = read_json(folder / name / f"seed-{seed}" / f"stage-{stage}.json")
                if found is not None:
                    stages.append(found)
    singles = single_task_runs(suite)
    single_done = sum(
        (folder / "single-task" / adapter / f"seed-{seed}" / f"{task}.json").is_file()
        for adapter, seed, task in singles
    )
    return SuiteProgress(
        stages_done=len(stages),
        stages=len(suite.methods) * len(suite.seeds) * len(suite.tasks),
        single_done=single_done,
        singles=len(singles),
        stage_seconds=tuple(s.get("train_seconds", 0.0) + s.get("score_seconds", 0.0) for s in stages),
        train_seconds=tuple(s.get("train_seconds", 0.0) for s in stages),
    )
