"""Progress of a running fine-tune: one JSON line per log/eval, heartbeat, and clean stop on request."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from ._run_status import Heartbeat, read_progress


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def trim_progress(run_dir: Path, step: int) -> None:
    """Drop progress lines past the checkpoint a resumed run restarts from, so they are not written twice."""
    path = run_dir / "progress.jsonl"
    if path.is_file():
        kept = [json.dumps(row) + "\n" for row in read_progress(run_dir) if row["step"] <= step]
        path.write_text("".join(kept))


def progress_callback(
    run_dir: Path, heartbeat: Heartbeat, stop_event: threading.Event, progress: Callable | None
):
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """One JSON line per log/eval in progress.jsonl; stops cleanly on request, saving a checkpoint.

        elapsed, tokens_per_second and eta_seconds count from the start of this session (a resumed run restarts
        them); tokens are the non-padding input tokens.
        """

        stop_requested = False
        reports_elsewhere = progress is not None  # the caller shows progress: no tqdm bar of the Trainer

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()
            self.start_step = state.global_step
            self.start_tokens = state.num_input_tokens_seen or 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            logs = logs or {}
            elapsed = time.perf_counter() - self.started
            steps_done = max(state.global_step - self.start_step, 1)
            tokens = (state.num_input_tokens_seen or 0) - self.start_tokens
            row = {
                "step": state.global_step,
                "max_steps": state.max_steps,
                "epoch": state.epoch,
                "loss": logs.get("loss"),
                "learning_rate": logs.get("learning_rate"),
                "eval_loss": logs.get("eval_loss"),
                "tokens_per_second": tokens / elapsed if elapsed > 0 else None,
                "elapsed": elapsed,
                "eta_seconds": elapsed / steps_done * max(state.max_steps - state.global_step, 0),
                "time": _now(),
            }
            if state.is_world_process_zero:
                with open(run_dir / "progress.jsonl", "a") as stream:
                    stream.write(json.dumps(row) + "\n")
                if not self.stop_requested:
                    heartbeat.set("running", step=state.global_step)
            if progress is not None:
                progress(row)
            return self._check_stop(state, control)

        def on_step_end(self, args, state, control, **kwargs):
            return self._check_stop(state, control)

        def _check_stop(self, state, control):
            """Checked after each step and each log (so a request made from `progress` ends this very step)."""
            if state.global_step < state.max_steps and (stop_event.is_set() or (run_dir / "STOP").exists()):
                if not self.stop_requested:
                    heartbeat.set("stopping", step=state.global_step)
                self.stop_requested = True
                control.should_save = True
                control.should_training_stop = True
            return control

    return ProgressCallback()
