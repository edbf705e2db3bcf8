"""`train`: one fine-tuning run in its folder, admitted (refusals before any work), its status kept truthful."""

from __future__ import annotations

import errno
import threading
import traceback
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime
from pathlib import Path

from .._files import write_json_atomically
from ..analysis._drift import load_base_networks
from ..errors import DatasetFormatError, QuantizationUnavailableError, StorageError
from ._checkpoints import checkpoint_step, last_complete_checkpoint
from ._config import TrainingConfig
from ._loop import TrainingResult, fine_tune, network_selection
from ._progress import trim_progress
from ._run_folder import check_run_folder, claim_run_folder
from ._run_status import Heartbeat, is_main_process, try_write_status


def train(
    config: TrainingConfig,
    stop_event: threading.Event | None = None,
    progress: Callable[[dict], None] | None = None,
) -> TrainingResult:
    """Run one fine-tuning job into config.output_dir (runs/<timestamp> by default).

    Setting `stop_event` (or creating <run>/STOP) saves a checkpoint and ends the run as "stopped"; `progress`
    receives each progress row. Any error leaves status.json "failed" with its traceback, and is re-raised.

    >>> config = fnsft.TrainingConfig(
    ...     model="tiny-model", templates="my-networks.json", network_mode="freeze", components="0,3",
    ...     max_steps=2, max_length=64, eval_texts_per_category=1, output_dir="runs/my-run",
    ... )
    >>> result = fnsft.train(config)
    {'loss': ...}
    >>> result.state, sorted(path.name for path in result.run_dir.iterdir())
    ('completed', [...'final'...'status.json'...])
    >>> forgotten = result.report["forgotten"]  # the loss increase on general texts, after vs before
    """
    run_dir = Path(config.output_dir or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    checkpoint, lock = _admit(config, run_dir)  # a refusal raises here, having written nothing
    config.output_dir = str(run_dir)
    try:
        return _run_in_folder(config, run_dir, checkpoint, stop_event or threading.Event(), progress)
    finally:
        if lock is not None:
            lock.release()


def preflight(config: TrainingConfig, networks: bool = True) -> None:
    """Refuse what would fail after the model has loaded, before anything is written: QLoRA off CUDA, a model
    that does not exist, training data that cannot be read or has no response to train on, and (unless
    `networks` is False, for a caller that supplies its own) templates or network ids that do not fit the
    model (checked against its shapes, on the meta device)."""
    from ..data import SAMPLE_DATA, preview
    from ..models._devices import resolve_device

    device = resolve_device(config.device)
    if config.method == "qlora" and device.type != "cuda":
        raise QuantizationUnavailableError(
            f"method='qlora' trains on a 4-bit base model, which needs bitsandbytes on a CUDA GPU; this run is on "
            f"{device.type}. Use method='lora' (the same adapter on an unquantized base)."
        )
    data = preview(config.dataset or SAMPLE_DATA, 1)
    if data.n_conversations == 0:
        raise DatasetFormatError(
            f"{config.dataset or SAMPLE_DATA}: none of its {data.n_records} {data.format} records has a non-empty "
            "response; there is nothing to train on."
        )
    if config.model is not None or (networks and (config.network_mode != "none" or config.drift)):
        from ..models._loading import skeleton_model

        model = skeleton_model(config.model)
        if not networks:
            return
        network_selection(config, model)
        if config.drift:
            load_base_networks(config.templates, model)


def _admit(config: TrainingConfig, run_dir: Path):
    """(checkpoint to resume from or None, the folder's lock): the folder and the settings are checked (writing
    nothing), then rank 0 claims the folder."""
    if not is_main_process():
        preflight(config)
        checkpoint = last_complete_checkpoint(run_dir / "checkpoints", warn=False) if config.resume else None
        return (str(checkpoint) if checkpoint else None), None
    plan = check_run_folder(run_dir, config.resume, config.overwrite)
    preflight(config)
    lock = claim_run_folder(plan)
    return (str(plan.checkpoint) if plan.checkpoint else None), lock


def _run_in_folder(config, run_dir: Path, checkpoint: str | None, stop_event, progress) -> TrainingResult:
    """The run proper, its status kept truthful: a heartbeat while it runs, "failed" (when the disk allows)."""
    try:
        (run_dir / "STOP").unlink(missing_ok=True)  # a stale request must not stop this run
        if is_main_process():
            if checkpoint:
                trim_progress(run_dir, checkpoint_step(Path(checkpoint)))
            write_json_atomically(asdict(config), run_dir / "config.json")
        with Heartbeat(run_dir) as heartbeat:
            heartbeat.set("running", step=checkpoint_step(Path(checkpoint)) if checkpoint else 0)
            return fine_tune(config, run_dir, checkpoint, heartbeat, stop_event, progress)
    except BaseException as error:
        try_write_status(
            run_dir, "failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()
        )
        problem = _storage_problem(error)
        if problem:
            saved = last_complete_checkpoint(run_dir / "checkpoints", warn=False)
            then = (
                f"continue from {saved.name} with --resume true"
                if saved
                else "run again with --overwrite true (no checkpoint was completed)"
            )
            raise StorageError(f"{run_dir}: {problem}; free space or fix permissions, then {then}.") from None
        raise


STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def _storage_problem(error: BaseException) -> str | None:
    """A one-line description when `error` is the disk or the folder refusing a write, else None."""
    if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
        where = f" ({error.filename})" if error.filename else ""
        return f"cannot write{where}: {error.strerror or error}"
    if "No space left on device" in str(error):
        return "cannot write: no space left on device"
    if isinstance(error, RuntimeError) and "file write failed" in str(error):  # torch.save's own writer
        return f"cannot write: {str(error).splitlines()[0][:200]} (is the disk full?)"
    return None
