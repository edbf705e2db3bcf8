"""Running a suite: for every seed and method, the task sequence stage by stage, each stage scored on every task
and written atomically into the run folder, resumable from its last finished stage; then the single-task runs
forward transfer is measured against, and the suite's results."""

from __future__ import annotations

import logging
import os
import resource
import socket
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch import nn

from ..errors import ContinualConfigError
from ..networks._templates import write_json_atomically
from .checkpoint import (
    checkpoint_stage,
    last_checkpoint,
    load_checkpoint,
    remove_checkpoints,
    save_checkpoint,
)
from .config import SuiteConfig
from .learner import train_stage
from .methods import Method
from .registry import make_method
from .results import collect_results, read_json
from .scoring import general_loss, lm_eval_scores, score_task
from .tasks import TaskData, load_task

logger = logging.getLogger("fnsft.continual")
Progress = Callable[[dict], None]
SETTINGS_FILE = "suite.json"
COMPARED_AWAY = ("methods", "seeds", "output_dir", "device", "source")  # may change between resumed runs


def _comparable(settings):
    """Settings without their unset (None) entries, so a setting added later at its default changes nothing."""
    if isinstance(settings, dict):
        return {k: _comparable(v) for k, v in settings.items() if v is not None}
    if isinstance(settings, list):
        return [_comparable(item) for item in settings]
    return settings


def peak_memory_mb() -> float:
    """This process's peak resident memory so far (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class SuiteRun:
    """One suite in its folder: `run()` does whatever is not done yet and returns the results."""

    def __init__(self, suite: SuiteConfig, folder: Path, progress: Progress | None = None):
        self.suite = suite
        self.folder = folder
        self.progress = progress
        self.tasks: list[TaskData] = []
        self.model: nn.Module | None = None
        self.tokenizer = None
        self.base_weights: dict[str, torch.Tensor] = {}

    def _record(self, state: str, **status) -> None:
        """status.json with this process's id and host, so a reader can tell a live run from a killed one."""
        writer = {"pid": os.getpid(), "host": socket.gethostname()}
        write_json_atomically({"state": state, **writer, **status}, self.folder / "status.json")

    def _report(self, **status) -> None:
        self._record("running", **status)
        if self.progress:
            self.progress(status)

    def check_folder(self) -> None:
        """Refuse a folder that holds a suite with other settings (its stages would not be comparable)."""
        saved = read_json(self.folder / SETTINGS_FILE)
        current = _comparable({k: v for k, v in asdict(self.suite).items() if k not in COMPARED_AWAY})
        if saved is not None:
            earlier = _comparable({k: v for k, v in saved.items() if k not in COMPARED_AWAY})
            if earlier != current:
                changed = sorted(k for k in set(earlier) | set(current) if earlier.get(k) != current.get(k))
                raise ContinualConfigError(
                    f"{self.folder} holds a suite run with other settings ({', '.join(changed)}); "
                    "choose another --output-dir or restore those settings to resume it"
                )
        write_json_atomically(asdict(self.suite), self.folder / SETTINGS_FILE)

    def run(self) -> dict:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.check_folder()
        self.tasks = [load_task(spec) for spec in self.suite.tasks]  # bad data refused before the model loads
        self._load_model()
        self._score_base()
        for seed in self.suite.seeds:
            for name in self.suite.methods:
                self._sequence(make_method(name, self.suite, seed))
            for adapter in sorted(
                {make_method(name, self.suite, seed).adapter for name in self.suite.methods}
            ):
                self._single_task_runs(adapter, seed)
        results = collect_results(self.folder, self.suite)
        self._record("completed")
        return results

    def _load_model(self) -> None:
        from ..models._loading import load_model

        self.model, self.tokenizer = load_model(self.suite.model, device=self.suite.device, dtype="float32")
        self.base_weights = {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def _reset(self) -> nn.Module:
        self.model.load_state_dict(self.base_weights)
        self.model.requires_grad_(False)
        return self.model

    def _score(self, model: nn.Module, tasks: list[TaskData]) -> dict:
        scores = {
            task.name: score_task(model, self.tokenizer, task, self.suite.template, self.suite.max_length)
            for task in tasks
        }
        scored = {
            "scores": scores,
            "general_loss": general_loss(
                model, self.tokenizer, self.suite.general_texts, self.suite.max_length
            ),
        }
        if self.suite.lm_eval_tasks:
            scored["lm_eval"] = lm_eval_scores(
                model, self.tokenizer, self.suite.lm_eval_tasks, self.suite.lm_eval_limit
            )
        return scored

    def _score_base(self) -> None:
        path = self.folder / "base.json"
        if read_json(path) is None:
            self._report(phase="scoring the untrained model")
            write_json_atomically(self._score(self._reset(), self.tasks), path)

    def _sequence(self, method: Method) -> None:
        """Learn the tasks in order with `method`, from its last finished stage."""
        folder = self.folder / method.name / f"seed-{method.seed}"
        if read_json(folder / "sequence.json") is not None:
            return
        model, start = self._reset(), 0
        checkpoint = last_checkpoint(folder)
        if checkpoint is not None:
            method.state = load_checkpoint(checkpoint, model)
            start = checkpoint_stage(checkpoint) + 1
            logger.info("%s seed %d: resuming after stage %d", method.name, method.seed, start)
        for stage in range(start, len(self.tasks)):
            model = self._stage(model, method, stage, folder)
        write_json_atomically(
            {"method": method.name, "seed": method.seed, "stages": len(self.tasks)}, folder / "sequence.json"
        )
        remove_checkpoints(folder)

    def _stage(self, model: nn.Module, method: Method, stage: int, folder: Path) -> nn.Module:
        task = self.tasks[stage]
        where = {
            "method": method.name,
            "seed": method.seed,
            "stage": stage + 1,
            "stages": len(self.tasks),
            "task": task.name,
            "steps": self.suite.steps,
        }
        self._report(**where, step=0)
        started = time.perf_counter()

        def step_done(step: int, loss: float) -> None:
            logger.info(
                "%s seed %d stage %d/%d (%s): step %d/%d loss %.4f",
                method.name,
                method.seed,
                stage + 1,
                len(self.tasks),
                task.name,
                step,
                self.suite.steps,
                loss,
            )
            self._report(**where, step=step, loss=loss)

        model = train_stage(model, self.tokenizer, task, method, stage, step_done)
        trained = time.perf_counter()
        self._report(**where, step=self.suite.steps, phase="scoring every task")
        row = self._score(model, self.tasks)
        row.update(
            stage=stage,
            task=task.name,
            train_seconds=trained - started,
            score_seconds=time.perf_counter() - trained,
            peak_memory_mb=peak_memory_mb(),
            protected_neurons=(method.state.get("per_stage") or [None])[-1],
        )
        write_json_atomically(row, folder / f"stage-{stage}.json")
        save_checkpoint(folder, stage, model, method.state)
        return model

    def _single_task_runs(self, adapter: str, seed: int) -> None:
        """Each task after the first learned alone from the untrained model: forward transfer's reference."""
        if not self.suite.single_task_baselines:
            return
        for stage, task in enumerate(self.tasks[1:], start=1):
            path = self.folder / "single-task" / adapter / f"seed-{seed}" / f"{task.name}.json"
            if read_json(path) is not None:
                continue
            method = make_method("full" if adapter == "full" else "lora", self.suite, seed)
            self._report(method=f"single-task {adapter}", seed=seed, stage=stage + 1, task=task.name, step=0)
            model = train_stage(self._reset(), self.tokenizer, task, method, stage)
            write_json_atomically(
                score_task(model, self.tokenizer, task, self.suite.template, self.suite.max_length), path
            )


def run_suite(
    suite: SuiteConfig, output_dir: str | Path | None = None, progress: Progress | None = None
) -> dict:
    """Run (or resume) `suite` in `output_dir` (default: the config's, else runs/continual-<name>).

    The shipped offline suite, cut to two tasks, one method and two steps per stage on a tiny model:

    >>> import dataclasses
    >>> suite = fnsft.continual.load_suite(fnsft.continual.OFFLINE_SUITE)
    >>> suite = fnsft.continual.with_overrides(suite, methods="lora", seeds="0", tasks="sentiment,parity")
    >>> suite = dataclasses.replace(suite, model="tiny-model", steps=2, single_task_baselines=False)
    >>> results = fnsft.continual.run_suite(suite, "runs/cl")
    >>> run = results["methods"]["lora"]["seeds"][0]
    >>> len(run["accuracy"]), sorted(results["methods"]["lora"]["summary"])  # a 2 x 2 matrix, its summary
    (2, ['AA', 'BWT', 'FWT'])
    """
    folder = Path(output_dir or suite.output_dir or Path("runs") / f"continual-{suite.name}")
    return SuiteRun(suite, folder, progress).run()
