"""Fine-tuning with functional networks, on the Hugging Face Trainer.

Network modes (`network_mode`), and what the saved model contains:
- "none": ordinary fine-tuning.
- "lesion" / "preserve" (forward masking): the networks are switched off (or only they are kept) by the masking
  hooks during training; the saved weights/adapter carry no mask, so apply the same template mask at inference to
  reproduce the training condition.
- "train_only" / "freeze" (selective updates): only the networks' neurons are updated, or exactly they are kept
  frozen; the saved model needs no hooks.
`random_control=True` swaps the networks for random neurons with the same count per layer.

A run folder holds config.json, status.json, progress.jsonl (one line per log/eval), checkpoints/,
forgetting_report.json, final/ (PEFT adapter or full model, tokenizer, README.md model card, fnsft_training.json)
and, with merge=True, merged/ (the adapter merged into its base model).
"""

from __future__ import annotations

import errno
import json
import logging
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .checkpoints import atomic_trainer_class, checkpoint_step, last_complete_checkpoint, remove_staging
from .cli_types import OneLineParser
from .data import LOSS_ON, SAMPLE_DATA
from .errors import (
    MaskSelectionError,
    QuantizationUnavailableError,
    StorageError,
    TemplateError,
    TrainingConfigError,
)
from .run_folder import RUN_OUTPUTS, check_run_folder, claim_run_folder
from .run_status import Heartbeat, is_main_process, read_progress, read_status, try_write_status
from .templates import write_json_atomically
from .training_rules import RULES, check_settings

logger = logging.getLogger(__name__)

NETWORK_MODES = ("none", "lesion", "preserve", "train_only", "freeze")
FORWARD_MASK_MODES = ("lesion", "preserve")
METHODS = ("lora", "full", "qlora")
CHECKPOINTING = ("auto", "on", "off")
__all__ = [
    "RUN_OUTPUTS",
    "TrainingConfig",
    "TrainingResult",
    "config_from_args",
    "forgetting_report",
    "is_main_process",
    "read_progress",
    "read_status",
    "response_loss",
    "train",
]
EVALUATED = "unmasked model (no forward hooks), as saved in final/"


@dataclass
class TrainingConfig:
    """Every setting of a run; the keys are the fnsft-train flags (dashes for underscores).

    model: None for the embedded model. dataset: None for assets/sample_sft.jsonl. templates: None for the
    shipped template of the model. components: "all", a list of network ids or
    comma-separated ids. warmup_ratio: a fraction of the
    steps below 1, else a step count. general_eval: None for the eval split of the shipped prompt set.
    gradient_checkpointing: "auto" turns it on for QLoRA on CUDA only. resume: continue from the last
    complete checkpoint in output_dir. overwrite: replace an earlier run in output_dir (without it, or resume,
    such a folder is refused). evaluate: measure the forgetting report before and after training. drift:
    rediscover the networks of `templates` on the fine-tuned model and report which were kept, moved or dissolved.
    """

    model: str | None = None
    dataset: str | None = None
    template: str = "auto"
    max_length: int = 256
    loss_on: str = "response"
    validation_fraction: float = 0.1
    method: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    templates: str | None = None
    components: str | list[int] = "all"
    network_mode: str = "none"
    random_control: bool = False
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation: int = 1
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    seed: int = 0
    output_dir: str | None = None
    logging_steps: int = 1
    eval_steps: int = 0
    save_steps: int = 50
    gradient_checkpointing: str = "auto"
    resume: bool = False
    overwrite: bool = False
    merge: bool = False
    general_eval: str | None = None
    eval_texts_per_category: int = 3
    evaluate: bool = True
    drift: bool = False
    device: str = "auto"

    def __post_init__(self):
        for name, value in check_settings({f.name: getattr(self, f.name) for f in fields(self)}).items():
            setattr(self, name, value)
        self._check_choice("method", METHODS)
        self._check_choice("network_mode", NETWORK_MODES)
        self._check_choice("loss_on", LOSS_ON)
        self._check_choice("gradient_checkpointing", CHECKPOINTING)
        if self.random_control and self.network_mode == "none":
            raise TrainingConfigError("random_control needs a network_mode other than 'none'.")
        if self.merge and self.method == "full":
            raise TrainingConfigError(
                "merge applies to LoRA/QLoRA adapters; a full fine-tune is already whole."
            )
        if self.max_steps <= 0 and self.epochs <= 0:
            raise TrainingConfigError("Set max_steps or epochs above zero: this run would train nothing.")

    def _check_choice(self, name: str, choices: tuple[str, ...]) -> None:
        if getattr(self, name) not in choices:
            raise TrainingConfigError(
                f"{name}={getattr(self, name)!r} is not supported; use one of {choices}."
            )

    def component_ids(self) -> list[int] | None:
        """The chosen network ids, or None for all of them."""
        if str(self.components).strip() == "all":
            return None
        parts = (
            self.components if isinstance(self.components, list | tuple) else str(self.components).split(",")
        )
        try:
            return [int(part) for part in parts if str(part).strip()]
        except ValueError:
            raise MaskSelectionError(
                f"components={self.components!r}: write 'all' or comma-separated network ids, e.g. '0,3'."
            ) from None


@dataclass
class TrainingResult:
    """Where the run went, how it ended, its forgetting report and (in this process) the trained model."""

    run_dir: Path
    state: str
    report: dict = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def _trim_progress(run_dir: Path, step: int) -> None:
    """Drop progress lines past the checkpoint a resumed run restarts from, so they are not written twice."""
    path = run_dir / "progress.jsonl"
    if path.is_file():
        kept = [json.dumps(row) + "\n" for row in read_progress(run_dir) if row["step"] <= step]
        path.write_text("".join(kept))


def _network_sets(config: TrainingConfig, model: nn.Module):
    """(neuron sets, description) for the configured networks, or (None, None)."""
    if config.network_mode == "none":
        return None, None
    from .cli import shipped_template
    from .masking import random_neuron_sets
    from .templates import load_templates

    networks = load_templates(config.templates or shipped_template(model), model)
    if networks.granularity != "intermediate":
        raise TemplateError(
            f"{networks.name}: training with networks needs intermediate-neuron templates "
            f"(granularity 'intermediate', not {networks.granularity!r})."
        )
    ids = networks.check_components(config.component_ids() or range(networks.num_components))
    sets = networks.union(ids)
    if config.random_control:
        sets = random_neuron_sets(sets, networks.layer_widths, config.seed)
    description = {
        "template": networks.name,
        "components": ids,
        "neurons": int(sum(len(v) for v in sets.values())),
        "random_control": config.random_control,
    }
    return sets, description


@torch.no_grad()
def response_loss(model: nn.Module, dataset, collator, batch_size: int = 8) -> float:
    """Mean loss over the labelled (response) tokens of a tokenised dataset."""
    if dataset is None or len(dataset) == 0:
        return float("nan")
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for start in range(0, len(dataset), batch_size):
        batch = collator([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
        batch = {k: v.to(device) for k, v in batch.items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        labels = batch["labels"][:, 1:]
        losses = torch.nn.functional.cross_entropy(
            logits[:, :-1].float().reshape(-1, logits.shape[-1]),
            labels.reshape(-1),
            ignore_index=-100,
            reduction="sum",
        )
        total += float(losses)
        count += int((labels != -100).sum())
    model.train(was_training)
    return total / max(count, 1)


def _general_losses(model, tokenizer, config: TrainingConfig) -> dict[str, float]:
    from .evaluation import loss_by_category, token_losses
    from .networks import DEFAULT_PROMPTS, load_labelled_texts, per_category

    source = config.general_eval or DEFAULT_PROMPTS
    texts = load_labelled_texts(source, split=None if config.general_eval else "eval")
    texts = per_category(texts, config.eval_texts_per_category)
    was_training = model.training
    model.eval()
    losses = loss_by_category(token_losses(model, tokenizer, texts.texts), texts.categories)
    model.train(was_training)
    return losses


def _measure(model, tokenizer, validation, collator, config) -> dict:
    return {
        "target_loss": response_loss(model, validation, collator),
        "general_loss": _general_losses(model, tokenizer, config),
    }


def forgetting_report(before: dict, after: dict) -> dict:
    """How much was learned (target loss decrease) and forgotten (general loss increase, per category)."""
    general = {
        category: {
            "before": before["general_loss"][category],
            "after": after["general_loss"][category],
            "increase": after["general_loss"][category] - before["general_loss"][category],
        }
        for category in before["general_loss"]
    }
    return {
        "target": {
            "before": before["target_loss"],
            "after": after["target_loss"],
            "gain": before["target_loss"] - after["target_loss"],
        },
        "general": general,
        "learned": before["target_loss"] - after["target_loss"],
        "forgotten": general["all"]["increase"],
    }


def _progress_callback(
    run_dir: Path, heartbeat: Heartbeat, stop_event: threading.Event, progress: Callable | None
):
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """One JSON line per log/eval in progress.jsonl; stops cleanly on request, saving a checkpoint.

        elapsed, tokens_per_second and eta_seconds count from the start of this session (a resumed run restarts
        them); tokens are the non-padding input tokens.
        """

        stop_requested = False

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


def _checkpointing_argument() -> str:
    """transformers 5 renamed gradient_checkpointing to activation_checkpointing."""
    import inspect

    from transformers import TrainingArguments

    names = inspect.signature(TrainingArguments.__init__).parameters
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def _networks_line(networks: dict | None) -> str:
    if not networks:
        return "none"
    text = (
        f"template {networks['template']}, components {networks['components']}, {networks['neurons']} neurons"
    )
    if networks["random_control"]:
        text += " (random control: random neurons of the same count per layer)"
    return text


def _model_card(config: TrainingConfig, networks: dict | None, report: dict, base_id: str) -> str:
    """README.md of final/: what was trained from what, how, and what it learned and forgot."""
    method = config.method
    if method != "full":
        method += f" (r={config.lora_r}, alpha={config.lora_alpha}, dropout={config.lora_dropout})"
    lines = [
        f"# {base_id} fine-tuned with fnsft",
        "",
        f"- base model: {base_id}",
        f"- method: {method}",
        f"- network mode: {config.network_mode}",
        f"- networks: {_networks_line(networks)}",
        f"- dataset: {config.dataset or SAMPLE_DATA.name} (loss on {config.loss_on}, max length {config.max_length})",
        f"- learning rate {config.learning_rate}, batch size {config.batch_size} x {config.gradient_accumulation} "
        f"accumulation, {report.get('steps')} steps (max_steps {config.max_steps}, epochs {config.epochs}), "
        f"warmup {config.warmup_ratio}, weight decay {config.weight_decay}, seed {config.seed}",
        f"- trainable parameters: {report.get('trainable_parameters')}",
    ]
    if config.network_mode in FORWARD_MASK_MODES:
        lines += ["", "Trained with the networks masked by forward hooks; the weights carry no mask."]
    if "target" in report:
        lines += ["", f"## Forgetting report ({EVALUATED})", "", *_report_table(report)]
    if "with_training_mask" in report:
        lines += [
            "",
            "## The same, with the training mask applied",
            "",
            *_report_table(report["with_training_mask"]),
        ]
    lines += ["", "Load it with `fnsft.load_model('<this folder>')`."]
    return "\n".join(lines) + "\n"


def _report_table(report: dict) -> list[str]:
    rows = [("target (held-out)", report["target"]["before"], report["target"]["after"])]
    rows += [(f"general: {name}", v["before"], v["after"]) for name, v in report["general"].items()]
    return [
        "| loss | before | after | change |",
        "| --- | ---: | ---: | ---: |",
        *(f"| {name} | {b:.4f} | {a:.4f} | {a - b:+.4f} |" for name, b, a in rows),
    ]


def train(
    config: TrainingConfig,
    stop_event: threading.Event | None = None,
    progress: Callable[[dict], None] | None = None,
) -> TrainingResult:
    """Run one fine-tuning job into config.output_dir (runs/<timestamp> by default).

    Setting `stop_event` (or creating <run>/STOP) saves a checkpoint and ends the run as "stopped"; `progress`
    receives each progress row. Any error leaves status.json "failed" with its traceback, and is re-raised.
    """
    run_dir = Path(config.output_dir or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    checkpoint, lock = _admit(config, run_dir)  # a refusal raises here, having written nothing
    config.output_dir = str(run_dir)
    try:
        return _run_in_folder(config, run_dir, checkpoint, stop_event or threading.Event(), progress)
    finally:
        if lock is not None:
            lock.release()


def _admit(config: TrainingConfig, run_dir: Path):
    """(checkpoint to resume from or None, the folder's lock): rank 0 checks and claims the folder."""
    if not is_main_process():
        checkpoint = last_complete_checkpoint(run_dir / "checkpoints", warn=False) if config.resume else None
        return (str(checkpoint) if checkpoint else None), None
    plan = check_run_folder(run_dir, config.resume, config.overwrite)
    lock = claim_run_folder(plan)
    return (str(plan.checkpoint) if plan.checkpoint else None), lock


def _run_in_folder(config, run_dir: Path, checkpoint: str | None, stop_event, progress) -> TrainingResult:
    """The run proper, its status kept truthful: a heartbeat while it runs, "failed" (when the disk allows)."""
    try:
        (run_dir / "STOP").unlink(missing_ok=True)  # a stale request must not stop this run
        if is_main_process():
            if checkpoint:
                _trim_progress(run_dir, checkpoint_step(Path(checkpoint)))
                remove_staging(run_dir / "checkpoints")
            write_json_atomically(asdict(config), run_dir / "config.json")
        with Heartbeat(run_dir) as heartbeat:
            heartbeat.set("running", step=checkpoint_step(Path(checkpoint)) if checkpoint else 0)
            return _train(config, run_dir, checkpoint, heartbeat, stop_event, progress)
    except BaseException as error:
        try_write_status(
            run_dir, "failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()
        )
        problem = _storage_problem(error)
        if problem:
            raise StorageError(
                f"{run_dir}: {problem}; free space or fix permissions, then continue with --resume true."
            ) from None
        raise


STORAGE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)


def _storage_problem(error: BaseException) -> str | None:
    """A one-line description when `error` is the disk or the folder refusing a write, else None."""
    if isinstance(error, OSError) and error.errno in STORAGE_ERRNOS:
        where = f" ({error.filename})" if error.filename else ""
        return f"cannot write{where}: {error.strerror or error}"
    if "No space left on device" in str(error):
        return "cannot write: no space left on device"
    return None


def _load(config: TrainingConfig):
    """The model and tokenizer to train: fp32 weights for a full fine-tune (mixed precision runs on top)."""
    from .devices import resolve_device
    from .models import load_model

    device = resolve_device(config.device)
    if config.method == "qlora" and device.type != "cuda":
        raise QuantizationUnavailableError(
            f"method='qlora' trains on a 4-bit base model, which needs bitsandbytes on a CUDA GPU; this run is on "
            f"{device.type}. Use method='lora' (the same adapter on an unquantized base)."
        )
    quantization = "4bit" if config.method == "qlora" else None
    dtype = "float32" if config.method == "full" else "auto"
    return load_model(config.model, device=device, dtype=dtype, quantization=quantization)


def _datasets(config: TrainingConfig, tokenizer):
    """(train set, held-out validation set or None, collator)."""
    from .data import SFTDataCollator, build_tokenized_dataset, load_train_validation

    train_records, validation_records = load_train_validation(
        config.dataset or SAMPLE_DATA, config.validation_fraction, config.seed
    )
    options = {"template": config.template, "max_length": config.max_length, "loss_on": config.loss_on}
    train_set = build_tokenized_dataset(train_records, tokenizer, **options)
    validation = (
        build_tokenized_dataset(validation_records, tokenizer, **options) if validation_records else None
    )
    return train_set, validation, SFTDataCollator.from_tokenizer(tokenizer)


def _training_arguments(
    config: TrainingConfig, run_dir: Path, device: torch.device, has_validation: bool, quiet: bool
):
    from transformers import TrainingArguments

    cuda = device.type == "cuda"
    bf16 = cuda and torch.cuda.is_bf16_supported()
    checkpointing = config.gradient_checkpointing == "on" or (
        config.gradient_checkpointing == "auto" and cuda and config.method == "qlora"
    )
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a fraction of the steps
        logging_steps=config.logging_steps,
        eval_strategy="steps" if config.eval_steps and has_validation else "no",
        eval_steps=config.eval_steps or None,
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        dataloader_pin_memory=cuda,
        **{_checkpointing_argument(): checkpointing},
        bf16=bf16,
        fp16=cuda and not bf16,
        include_num_input_tokens_seen="non_padding",
        disable_tqdm=quiet,
    )


def _trainable_parameters(model: nn.Module, selective) -> int:
    if selective is not None:
        return selective.trainable_entries()
    return sum(param.numel() for param in model.parameters() if param.requires_grad)


def _train(
    config: TrainingConfig,
    run_dir: Path,
    checkpoint: str | None,
    heartbeat: Heartbeat,
    stop_event: threading.Event,
    progress,
) -> TrainingResult:
    from .architectures import model_shape
    from .drift import load_base_networks
    from .drift import report_section as drift_report_section
    from .masking import apply_mask, build_mask
    from .models import model_id, setup_lora
    from .selective import SelectiveUpdate, optimizer_groups

    model, tokenizer = _load(config)
    base_id = model_id(model)
    train_set, validation, collator = _datasets(config, tokenizer)
    sets, networks = _network_sets(config, model)
    drift_base = load_base_networks(config.templates, model) if config.drift else None
    measure = (lambda m: _measure(m, tokenizer, validation, collator, config)) if config.evaluate else None
    torch.manual_seed(config.seed)
    if config.method in ("lora", "qlora"):
        model = setup_lora(model, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout)
    else:
        model.requires_grad_(True)
    # after setup_lora, which starts as a no-op but for QLoRA casts the non-quantized weights to float32:
    # "before" must differ from "after" by the training alone
    before = measure(model) if measure else None
    handle = selective = masked_before = None
    if config.network_mode in FORWARD_MASK_MODES:
        handle = apply_mask(
            model, build_mask(sets, model_shape(model).intermediate_sizes, config.network_mode)
        )
        masked_before = measure(model) if measure else None
    elif config.network_mode != "none":
        selective = SelectiveUpdate(model, sets, config.network_mode)
    device = next(model.parameters()).device
    no_decay = selective.no_decay_parameter_names() if selective else ()
    callback = _progress_callback(run_dir, heartbeat, stop_event, progress)
    trainer = atomic_trainer_class()(
        model=model,
        args=_training_arguments(config, run_dir, device, validation is not None, quiet=progress is not None),
        train_dataset=train_set,
        eval_dataset=validation,
        data_collator=collator,
        callbacks=[callback],
        optimizers=(
            torch.optim.AdamW(
                optimizer_groups(model, config.weight_decay, no_decay), lr=config.learning_rate
            ),
            None,
        ),
    )
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
        # accelerate leaves a mixed-precision autocast wrapper on forward: evaluate and return the model as saved
        model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
        masked_after = measure(model) if handle and measure and not callback.stop_requested else None
    finally:
        if handle:
            handle.remove()
        if selective:
            selective.remove()
    step = trainer.state.global_step
    if callback.stop_requested:
        (run_dir / "STOP").unlink(missing_ok=True)
        last = last_complete_checkpoint(run_dir / "checkpoints")
        heartbeat.set("stopped", step=step, checkpoint=str(last) if last else None)
        return TrainingResult(run_dir, "stopped", model=model)
    report = {
        "evaluated": EVALUATED,
        "method": config.method,
        "network_mode": config.network_mode,
        "networks": networks,
        "steps": step,
        "trainable_parameters": _trainable_parameters(model, selective),
    }
    if measure:
        report.update(forgetting_report(before, measure(model)))
        report["general_eval"] = str(config.general_eval or "shipped prompt set, eval split")
        report["target_records"] = len(validation) if validation is not None else 0
    if drift_base is not None:
        report["drift"] = drift_report_section(drift_base, model, tokenizer)
    if masked_after is not None:
        report["with_training_mask"] = {
            "evaluated": f"with the {config.network_mode} mask of training applied",
            **forgetting_report(masked_before, masked_after),
        }
    if is_main_process():
        if measure or drift_base is not None:
            write_json_atomically(report, run_dir / "forgetting_report.json")
        _save_outputs(model, tokenizer, config, networks, report, base_id, run_dir)
    heartbeat.set("completed", step=step)
    return TrainingResult(run_dir, "completed", report, model)


def _save_outputs(model, tokenizer, config, networks, report, base_id, run_dir: Path) -> None:
    """final/: adapter or full model, tokenizer, model card and config; merged/ when asked."""
    final = run_dir / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    (final / "README.md").write_text(_model_card(config, networks, report, base_id))
    write_json_atomically(asdict(config), final / "fnsft_training.json")
    if config.merge:
        from .models import load_model

        # reload unquantized, so a QLoRA adapter merges into full-precision weights
        merged, _ = load_model(final, device=config.device)
        merged = merged.merge_and_unload()
        merged.save_pretrained(run_dir / "merged")
        tokenizer.save_pretrained(run_dir / "merged")


def config_from_args(argv: list[str] | None = None) -> TrainingConfig:
    """TrainingConfig from fnsft-train flags and an optional --config YAML/JSON file (flags win).

    Flags and file values go through the same rules (fnsft.training_rules): a wrong type or range is refused.
    """
    parser = OneLineParser(prog="fnsft-train", description="Fine-tune with functional networks.")
    parser.add_argument("--config", default=None, help="YAML or JSON file whose keys are these flags")
    for item in fields(TrainingConfig):
        parser.add_argument(
            f"--{item.name.replace('_', '-')}",
            dest=item.name,
            default=None,
            type=RULES[item.name],
            help=f"default: {item.default}",
        )
    args = vars(parser.parse_args(argv))
    config_file = args.pop("config")
    values: dict[str, Any] = _read_config(config_file) if config_file else {}
    unknown = set(values) - {item.name for item in fields(TrainingConfig)}
    if unknown:
        raise TrainingConfigError(
            f"{config_file}: unknown keys {sorted(unknown)}; use the fnsft-train flag names."
        )
    values = check_settings(values, where=str(config_file))
    values.update({k: v for k, v in args.items() if v is not None})
    return TrainingConfig(**values)


def _read_config(path: str) -> dict:
    """The keys of a YAML/JSON config file, dashes turned into underscores."""
    import yaml

    try:
        text = Path(path).read_text()
        values = (yaml.safe_load(text) if path.endswith((".yaml", ".yml")) else json.loads(text)) or {}
    except (OSError, ValueError, yaml.YAMLError) as error:
        raise TrainingConfigError(f"Cannot read the config file {path}: {error}") from None
    if not isinstance(values, dict):
        raise TrainingConfigError(f"{path} must hold a mapping of flag names to values.")
    return {str(k).replace("-", "_"): v for k, v in values.items()}
