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
forgetting_report.json, and final/ (PEFT adapter or full model, tokenizer, README.md model card).
"""

from __future__ import annotations

import argparse
import json
import os
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

from .errors import FnsftError
from .templates import write_json_atomically

NETWORK_MODES = ("none", "lesion", "preserve", "train_only", "freeze")
METHODS = ("lora", "full", "qlora")


@dataclass
class TrainingConfig:
    """Every setting of a run; the keys are the fnsft-train flags (dashes for underscores)."""

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
    components: str = "all"
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
    merge: bool = False
    general_eval: str | None = None
    eval_texts_per_category: int = 3
    evaluate: bool = True
    device: str = "auto"

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method={self.method!r} is not supported; use one of {METHODS}.")
        if self.network_mode not in NETWORK_MODES:
            raise ValueError(
                f"network_mode={self.network_mode!r} is not supported; use one of {NETWORK_MODES}."
            )
        if self.random_control and self.network_mode == "none":
            raise ValueError("random_control needs a network_mode other than 'none'.")


@dataclass
class TrainingResult:
    run_dir: Path
    state: str
    report: dict = field(default_factory=dict)


def _now() -> str:
    return datetime.now().isoformat(timespec="seconds")


def is_main_process() -> bool:
    """Under torchrun / accelerate launch only rank 0 writes the run folder."""
    return os.environ.get("RANK", "0") == "0"


def write_status(run_dir: Path, state: str, **extra) -> None:
    if not is_main_process():
        return
    write_json_atomically({"state": state, "updated": _now(), **extra}, run_dir / "status.json")


def read_status(run_dir: Path) -> dict:
    path = Path(run_dir) / "status.json"
    return json.loads(path.read_text()) if path.is_file() else {"state": "unknown"}


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


def _network_sets(config: TrainingConfig, model: nn.Module):
    """(neuron sets, description) for the configured networks, or (None, None)."""
    if config.network_mode == "none":
        return None, None
    from .cli import shipped_template
    from .masking import random_neuron_sets
    from .templates import load_templates

    networks = load_templates(config.templates or shipped_template(model), model)
    if networks.granularity != "intermediate":
        raise FnsftError(
            "Training with networks needs intermediate-neuron templates (granularity='intermediate')."
        )
    ids = (
        range(networks.num_components)
        if config.components == "all"
        else [int(c) for c in str(config.components).split(",")]
    )
    ids = networks.check_components(ids)
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


def _progress_callback(run_dir: Path, stop_event: threading.Event, progress: Callable | None):
    from transformers import TrainerCallback

    class ProgressCallback(TrainerCallback):
        """One JSON line per log/eval in progress.jsonl; stops cleanly on request, saving a checkpoint."""

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()
            self.start_step = state.global_step
            self.start_tokens = getattr(state, "num_input_tokens_seen", 0) or 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            elapsed = time.perf_counter() - self.started
            steps_done = max(state.global_step - self.start_step, 1)
            tokens = (getattr(state, "num_input_tokens_seen", 0) or 0) - self.start_tokens
            remaining = max(state.max_steps - state.global_step, 0)
            row = {
                "step": state.global_step,
                "max_steps": state.max_steps,
                "epoch": state.epoch,
                "loss": (logs or {}).get("loss"),
                "learning_rate": (logs or {}).get("learning_rate"),
                "eval_loss": (logs or {}).get("eval_loss"),
                "tokens_per_second": tokens / elapsed if elapsed > 0 else None,
                "elapsed": elapsed,
                "eta_seconds": elapsed / steps_done * remaining,
                "time": _now(),
            }
            if state.is_world_process_zero:
                with open(run_dir / "progress.jsonl", "a") as stream:
                    stream.write(json.dumps(row) + "\n")
            if progress is not None:
                progress(row)

        def on_step_end(self, args, state, control, **kwargs):
            if stop_event.is_set() or (run_dir / "STOP").exists():
                write_status(run_dir, "stopping", step=state.global_step)
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


def _last_checkpoint(run_dir: Path) -> str | None:
    checkpoints = sorted(
        (run_dir / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])
    )
    return str(checkpoints[-1]) if checkpoints else None


def _model_card(config: TrainingConfig, networks: dict | None, report: dict, base_id: str) -> str:
    lines = [
        f"# Fine-tuned {base_id} with fnsft",
        "",
        f"- base model: {base_id}",
        f"- method: {config.method}",
        f"- network mode: {config.network_mode}",
        f"- networks: {json.dumps(networks) if networks else 'none'}",
        f"- dataset: {config.dataset or 'assets/sample_sft.jsonl'}",
        f"- learning rate {config.learning_rate}, batch size {config.batch_size}, max_steps {config.max_steps}, "
        f"epochs {config.epochs}, seed {config.seed}",
    ]
    if "target" in report:
        lines += [
            "",
            "## Forgetting report (unmasked model)",
            f"- target held-out loss: {report['target']['before']:.4f} -> {report['target']['after']:.4f}",
            f"- general-text loss: {report['general']['all']['before']:.4f} -> "
            f"{report['general']['all']['after']:.4f}",
        ]
    if config.network_mode in ("lesion", "preserve"):
        lines += ["", "Trained with the networks masked by forward hooks; the weights carry no mask."]
    return "\n".join(lines) + "\n"


def train(
    config: TrainingConfig,
    stop_event: threading.Event | None = None,
    progress: Callable[[dict], None] | None = None,
) -> TrainingResult:
    """Run one fine-tuning job into config.output_dir (runs/<timestamp> by default)."""
    run_dir = Path(config.output_dir or Path("runs") / datetime.now().strftime("%Y%m%d-%H%M%S"))
    run_dir.mkdir(parents=True, exist_ok=True)
    config.output_dir = str(run_dir)
    write_json_atomically(asdict(config), run_dir / "config.json")
    write_status(run_dir, "running")
    stop_event = stop_event or threading.Event()
    try:
        result = _train(config, run_dir, stop_event, progress)
    except BaseException as error:
        write_status(
            run_dir, "failed", error=f"{type(error).__name__}: {error}", traceback=traceback.format_exc()
        )
        raise
    return result


def _train(config: TrainingConfig, run_dir: Path, stop_event: threading.Event, progress) -> TrainingResult:
    from transformers import Trainer, TrainingArguments

    from .data import SAMPLE_DATA, SFTDataCollator, build_tokenized_dataset, load_train_validation
    from .masking import apply_mask, build_mask
    from .models import load_model, model_id, setup_lora
    from .selective import SelectiveUpdate, optimizer_groups

    quantization = "4bit" if config.method == "qlora" else None
    model, tokenizer = load_model(config.model, device=config.device, quantization=quantization)
    base_id = model_id(model)
    train_records, validation_records = load_train_validation(
        config.dataset or SAMPLE_DATA, config.validation_fraction, config.seed
    )
    options = {"template": config.template, "max_length": config.max_length, "loss_on": config.loss_on}
    train_set = build_tokenized_dataset(train_records, tokenizer, **options)
    validation = (
        build_tokenized_dataset(validation_records, tokenizer, **options) if validation_records else None
    )
    collator = SFTDataCollator.from_tokenizer(tokenizer)
    sets, networks = _network_sets(config, model)
    measure = _measure if config.evaluate else (lambda *args: None)
    before = measure(model, tokenizer, validation, collator, config)
    torch.manual_seed(config.seed)
    if config.method in ("lora", "qlora"):
        model = setup_lora(model, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout)
    else:
        model.requires_grad_(True)
    handle, selective = None, None
    if config.network_mode in ("lesion", "preserve"):
        from .architectures import model_shape

        widths = model_shape(model).intermediate_sizes
        handle = apply_mask(model, build_mask(sets, widths, config.network_mode))
    elif config.network_mode in ("train_only", "freeze"):
        selective = SelectiveUpdate(model, sets, config.network_mode)
    device = next(model.parameters()).device
    checkpointing = config.gradient_checkpointing == "on" or (
        config.gradient_checkpointing == "auto" and device.type == "cuda" and config.method == "qlora"
    )
    arguments = TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation,
        learning_rate=config.learning_rate,
        num_train_epochs=config.epochs,
        max_steps=config.max_steps,
        warmup_steps=config.warmup_ratio,  # a float below 1 is a fraction of the steps
        logging_steps=config.logging_steps,
        eval_strategy="steps" if config.eval_steps and validation is not None else "no",
        eval_steps=config.eval_steps or None,
        save_steps=config.save_steps,
        save_total_limit=2,
        seed=config.seed,
        report_to=[],
        remove_unused_columns=False,
        dataloader_num_workers=0,
        **{_checkpointing_argument(): checkpointing},
        bf16=device.type == "cuda" and torch.cuda.is_bf16_supported(),
        include_num_input_tokens_seen=True,
        disable_tqdm=progress is not None,
    )
    no_decay = selective.no_decay_parameter_names() if selective else ()
    optimizer = torch.optim.AdamW(
        optimizer_groups(model, config.weight_decay, no_decay), lr=config.learning_rate
    )
    trainer = Trainer(
        model=model,
        args=arguments,
        train_dataset=train_set,
        eval_dataset=validation,
        data_collator=collator,
        callbacks=[_progress_callback(run_dir, stop_event, progress)],
        optimizers=(optimizer, None),
    )
    try:
        trainer.train(resume_from_checkpoint=_last_checkpoint(run_dir) if config.resume else None)
    finally:
        masked_after = measure(model, tokenizer, validation, collator, config) if handle else None
        if handle:
            handle.remove()
        if selective:
            selective.remove()
    stopped = trainer.state.global_step < trainer.state.max_steps and (
        stop_event.is_set() or (run_dir / "STOP").exists()
    )
    if stopped:
        (run_dir / "STOP").unlink(missing_ok=True)
        write_status(run_dir, "stopped", step=trainer.state.global_step, checkpoint=_last_checkpoint(run_dir))
        return TrainingResult(run_dir, "stopped")
    after = measure(model, tokenizer, validation, collator, config)
    report = {
        **(forgetting_report(before, after) if config.evaluate else {}),
        "evaluated": "unmasked model (no forward hooks)",
        "network_mode": config.network_mode,
        "networks": networks,
        "steps": trainer.state.global_step,
    }
    if masked_after is not None:
        report["with_training_mask"] = masked_after
    if is_main_process():
        if config.evaluate:
            write_json_atomically(report, run_dir / "forgetting_report.json")
        _save_outputs(model, tokenizer, config, networks, report, base_id, run_dir)
    write_status(run_dir, "completed", step=trainer.state.global_step)
    return TrainingResult(run_dir, "completed", report)


def _save_outputs(model, tokenizer, config, networks, report, base_id, run_dir: Path) -> None:
    final = run_dir / "final"
    model.save_pretrained(final)
    tokenizer.save_pretrained(final)
    (final / "README.md").write_text(_model_card(config, networks, report, base_id))
    write_json_atomically(asdict(config), final / "fnsft_training.json")
    if config.merge and hasattr(model, "merge_and_unload"):
        merged = model.merge_and_unload()
        merged.save_pretrained(run_dir / "merged")
        tokenizer.save_pretrained(run_dir / "merged")


def _flag_type(kind):
    if kind in ("bool", bool):
        return lambda text: str(text).lower() in ("1", "true", "yes", "on")
    return {"int": int, "float": float}.get(kind if isinstance(kind, str) else kind.__name__, str)


def config_from_args(argv: list[str] | None = None) -> TrainingConfig:
    """TrainingConfig from fnsft-train flags and an optional --config YAML/JSON file (flags win)."""
    parser = argparse.ArgumentParser(prog="fnsft-train", description="Fine-tune with functional networks.")
    parser.add_argument("--config", default=None, help="YAML or JSON file whose keys are these flags")
    for item in fields(TrainingConfig):
        kind = str(item.type).split(" ")[0].replace("|", "").strip()
        parser.add_argument(
            f"--{item.name.replace('_', '-')}",
            dest=item.name,
            default=None,
            type=_flag_type(kind),
            help=f"default: {item.default}",
        )
    args = vars(parser.parse_args(argv))
    config_file = args.pop("config")
    values: dict[str, Any] = _read_config(config_file) if config_file else {}
    unknown = set(values) - {item.name for item in fields(TrainingConfig)}
    if unknown:
        raise ValueError(f"{config_file}: unknown keys {sorted(unknown)}; use the fnsft-train flag names.")
    values.update({k: v for k, v in args.items() if v is not None})
    return TrainingConfig(**{k.replace("-", "_"): v for k, v in values.items()})


def _read_config(path: str) -> dict:
    text = Path(path).read_text()
    if path.endswith((".yaml", ".yml")):
        import yaml

        return {k.replace("-", "_"): v for k, v in (yaml.safe_load(text) or {}).items()}
    return {k.replace("-", "_"): v for k, v in json.loads(text).items()}
