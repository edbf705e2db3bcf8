"""The Hugging Face Trainer wiring of one run: model, data, networks (masked or selective), training, saving."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from .._files import write_json_atomically
from ..data import SAMPLE_DATA
from ..errors import TemplateError
from ..masking._hooks import NeuronMask, masked
from ..masking._selection import NetworkSelection
from ._checkpoints import checkpoint_callback, last_complete_checkpoint
from ._config import TrainingConfig
from ._progress import progress_callback
from ._report import EVALUATED, forgetting_report, measure_losses, model_card
from ._run_status import Heartbeat, is_main_process

KEEP_CHECKPOINTS = 2  # the newest complete checkpoints a run keeps

if TYPE_CHECKING:
    from ._integrations import NetworkTraining


@dataclass
class TrainingResult:
    """Where the run went, how it ended, its forgetting report and (in this process) the trained model."""

    run_dir: Path
    state: str
    report: dict = field(default_factory=dict)
    model: nn.Module | None = field(default=None, repr=False)


def network_selection(config: TrainingConfig, model: nn.Module) -> NetworkSelection | None:
    """The configured networks, checked once against the model; None for network_mode "none"."""
    if config.network_mode == "none":
        return None
    from .._resources import shipped_template
    from ..networks._templates import load_templates

    path = config.templates or shipped_template(model)
    networks = load_templates(path)
    if networks.granularity != "intermediate":
        raise TemplateError(
            f"{networks.name}: training with networks needs intermediate-neuron templates "
            f"(granularity 'intermediate', not {networks.granularity!r})."
        )
    return NetworkSelection.for_model(
        networks,
        model,
        config.components,
        random_control=config.random_control,
        seed=config.seed,
        source=str(path),
    )


def _checkpointing_argument() -> str:
    """transformers 5 renamed gradient_checkpointing to activation_checkpointing."""
    import inspect

    from transformers import TrainingArguments

    names = inspect.signature(TrainingArguments.__init__).parameters
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def _load(config: TrainingConfig):
    """The model and tokenizer to train: fp32 weights for a full fine-tune (mixed precision runs on top)."""
    from ..models._devices import resolve_device
    from ..models._loading import load_model

    device = resolve_device(config.device)  # a QLoRA run off CUDA was refused by run.preflight
    quantization = "4bit" if config.method == "qlora" else None
    dtype = "float32" if config.method == "full" else "auto"
    return load_model(config.model, device=device, dtype=dtype, quantization=quantization)


def _datasets(config: TrainingConfig, tokenizer):
    """(train set, held-out validation set or None, collator)."""
    from ..data import SFTDataCollator, build_tokenized_dataset, load_train_validation

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
        save_total_limit=None,  # rotation: fnsft.training._checkpoints (complete checkpoints only)
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


def _trainable_parameters(model: nn.Module, training: NetworkTraining | None) -> int:
    if training is not None:
        return training.trainable_entries()
    return sum(param.numel() for param in model.parameters() if param.requires_grad)


def _trainer(
    config: TrainingConfig,
    model: nn.Module,
    run_dir: Path,
    data: tuple,
    training: NetworkTraining | None,
    callback,
):
    """The Trainer of this run: the progress callback and, with networks, what fnsft.training._integrations gives any
    Trainer (selective updates, AdamW groups that never decay frozen entries, the forward mask)."""
    from ._selective import optimizer_groups

    train_set, validation, collator = data
    device = next(model.parameters()).device
    quiet = callback.reports_elsewhere
    if training is None:
        optimizer = torch.optim.AdamW(optimizer_groups(model, config.weight_decay), lr=config.learning_rate)
        wiring = {"callbacks": [], "optimizers": (optimizer, None)}
    else:
        wiring = training.trainer_kwargs()
    from transformers import Trainer

    return Trainer(
        model=model,
        args=_training_arguments(config, run_dir, device, validation is not None, quiet=quiet),
        train_dataset=train_set,
        eval_dataset=validation,
        data_collator=collator,
        **{**wiring, "callbacks": [callback, checkpoint_callback(KEEP_CHECKPOINTS), *wiring["callbacks"]]},
    )


def _base_report(config: TrainingConfig, networks: dict | None, steps: int, trainable: int) -> dict:
    """What every completed run reports, measured or not."""
    return {
        "evaluated": EVALUATED,
        "method": config.method,
        "network_mode": config.network_mode,
        "networks": networks,
        "steps": steps,
        "trainable_parameters": trainable,
    }


def _measure_masked(measure, model: nn.Module, mask: NeuronMask | None) -> dict | None:
    """The losses with the training's forward mask on (None without a mask or measurement)."""
    if mask is None or measure is None:
        return None
    with masked(model, mask):
        return measure(model)


def _phase(heartbeat: Heartbeat, doing: str) -> None:
    """Say in status.json what the run is doing before its first step (the page shows it)."""
    heartbeat.set("running", **{**heartbeat.extra, "phase": doing})


def fine_tune(
    config: TrainingConfig,
    run_dir: Path,
    checkpoint: str | None,
    heartbeat: Heartbeat,
    stop_event: threading.Event,
    progress,
) -> TrainingResult:
    """Load, prepare (LoRA or full, networks masked or selective), train, measure and save one run."""
    from ..analysis._drift import load_base_networks
    from ..analysis._drift import report_section as drift_report_section
    from ..models._loading import model_id, setup_lora
    from ._integrations import NetworkTraining

    _phase(heartbeat, "loading the model")
    model, tokenizer = _load(config)
    base_id = model_id(model)
    _phase(heartbeat, "tokenising the data")
    train_set, validation, collator = _datasets(config, tokenizer)
    selection = network_selection(config, model)
    networks = selection.description if selection else None
    drift_base = load_base_networks(config.templates, model) if config.drift else None
    measure = (
        (lambda m: measure_losses(m, tokenizer, validation, collator, config)) if config.evaluate else None
    )
    torch.manual_seed(config.seed)
    if config.method in ("lora", "qlora"):
        model = setup_lora(model, r=config.lora_r, alpha=config.lora_alpha, dropout=config.lora_dropout)
    else:
        model.requires_grad_(True)
    # after setup_lora, which starts as a no-op but for QLoRA casts the non-quantized weights to float32:
    # "before" must differ from "after" by the training alone
    _phase(heartbeat, "measuring the model before training" if measure else "starting the first step")
    before = measure(model) if measure else None
    training = NetworkTraining(selection, config.network_mode) if selection else None
    mask = training.mask if training else None
    masked_before = _measure_masked(measure, model, mask)
    callback = progress_callback(run_dir, heartbeat, stop_event, progress)
    trainer = _trainer(config, model, run_dir, (train_set, validation, collator), training, callback)
    try:
        trainer.train(resume_from_checkpoint=checkpoint)
        # accelerate leaves a mixed-precision autocast wrapper on forward: evaluate and return the model as saved
        model = trainer.accelerator.unwrap_model(trainer.model, keep_fp32_wrapper=False)
    finally:
        if training:
            training.detach()
    if measure and not callback.stop_requested:
        _phase(heartbeat, "measuring the model after training")
    masked_after = None if callback.stop_requested else _measure_masked(measure, model, mask)
    step = trainer.state.global_step
    if callback.stop_requested:
        (run_dir / "STOP").unlink(missing_ok=True)
        last = last_complete_checkpoint(run_dir / "checkpoints")
        heartbeat.set("stopped", step=step, checkpoint=str(last) if last else None)
        return TrainingResult(run_dir, "stopped", model=model)
    report = _base_report(config, networks, step, _trainable_parameters(model, training))
    if measure:
        report.update(forgetting_report(before, measure(model)))
        report["general_eval"] = str(config.general_eval or "shipped prompt set, eval split")
        report["target_records"] = len(validation) if validation is not None else 0
    if drift_base is not None:
        _phase(heartbeat, "rediscovering the networks on the fine-tuned model (drift)")
        report["drift"] = drift_report_section(drift_base, model, tokenizer)
    if masked_after is not None:
        report["with_training_mask"] = {
            "evaluated": f"with the {config.network_mode} mask of training applied",
            **forgetting_report(masked_before, masked_after),
        }
    _phase(heartbeat, "saving the adapter and the report")
    if is_main_process():
        if measure or drift_base is not None:
            write_json_atomically(report, run_dir / "forgetting_report.json")
        _save_outputs(model, tokenizer, config, (networks, training), report, base_id, run_dir)
    heartbeat.set("completed", step=step)
    return TrainingResult(run_dir, "completed", report, model)


def _save_outputs(model, tokenizer, config, trained_with: tuple, report, base_id, run_dir: Path) -> None:
    """final/: adapter or full model, tokenizer, model card, config and the networks trained with; merged/ when
    asked."""
    networks, training = trained_with
    final = run_dir / "final"
    model.save_pretrained(final)
    if training is not None:
        training.save(final)
    tokenizer.save_pretrained(final)
    (final / "README.md").write_text(model_card(config, networks, report, base_id))
    write_json_atomically(asdict(config), final / "fnsft_training.json")
    if config.merge:
        from ..models._loading import load_model

        # reload unquantized, so a QLoRA adapter merges into full-precision weights
        merged, _ = load_model(final, device=config.device)
        merged = merged.merge_and_unload()
        merged.save_pretrained(run_dir / "merged")
        tokenizer.save_pretrained(run_dir / "merged")
