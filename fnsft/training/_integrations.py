"""Networks in the trainers people use: one object gives a transformers `Trainer` or a TRL `SFTTrainer` what
training with networks needs, and `fnsft.train` uses the same one.

    >>> from datasets import Dataset
    >>> from peft import LoraConfig
    >>> from trl import SFTConfig, SFTTrainer
    >>> training = fnsft.training.network_training(model, networks, "freeze", components="0,3")
    >>> trainer = SFTTrainer(
    ...     model=model,
    ...     args=SFTConfig("out", max_steps=2, max_length=64, report_to=[], bf16=False, use_cpu=True),
    ...     train_dataset=Dataset.from_list([{"text": record["text"]} for record in texts]),
    ...     processing_class=tokenizer,
    ...     peft_config=LoraConfig(r=4, target_modules=["gate_proj", "up_proj", "down_proj"]),
    ...     **training.trainer_kwargs(),
    ... )
    >>> trainer.train().global_step
    {'train_runtime': ..., 'train_loss': ...}
    2
    >>> trainer.save_model("out")
    >>> print(training.save("out"))  # the adapter folder carries its networks
    out

It is a TrainerCallback: at the end of the trainer's construction (after `SFTTrainer(peft_config=...)` has
attached LoRA, or on a model LoRA was attached to before) it restricts the selective modes' updates
(fnsft.training._selective); the optimizer factory it hands the trainer builds AdamW groups that never decay frozen entries;
the lesion/preserve modes' forward mask is on from the start of training to its end, then removed.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn
from transformers import TrainerCallback

from ..choices import FORWARD_MASK_MODES, SELECTIVE_MODES
from ..errors import MaskSelectionError
from ..masking._hooks import MaskHandle, NeuronMask, apply_mask
from ..masking._selection import Components, NetworkSelection
from ..networks._functional_networks import FunctionalNetworks
from ._selective import SelectiveUpdate, optimizer_groups

TRAINING_MODES = (*SELECTIVE_MODES, *FORWARD_MASK_MODES)
TRAINED_WITH = "trained_with"  # the key of the selection record in a saved networks' data


class NetworkTraining(TrainerCallback):
    """One selection trained with in one mode: train_only / freeze (selective updates) or lesion / preserve
    (a forward mask). Pass `trainer_kwargs()` to the trainer; `detach()` undoes everything (also called when
    training ends)."""

    def __init__(self, selection: NetworkSelection, mode: str):
        if mode not in TRAINING_MODES:
            raise MaskSelectionError(f"mode={mode!r} is not a training mode; use one of {TRAINING_MODES}.")
        self.selection = selection
        self.mode = mode
        self.mask: NeuronMask | None = selection.mask(mode) if mode in FORWARD_MASK_MODES else None
        self.update: SelectiveUpdate | None = None
        self.model: nn.Module | None = None
        self._handle: MaskHandle | None = None
        self._args = None

    def attach(self, model: nn.Module) -> None:
        """Restrict `model`'s updates (selective modes): after LoRA is attached, before the optimizer is built."""
        self.model = model
        if self.mode in SELECTIVE_MODES and self.update is None:
            self.update = SelectiveUpdate(model, self.selection, self.mode)

    def build_optimizer(self, model: nn.Module, weight_decay: float, **adamw: Any) -> torch.optim.Optimizer:
        """AdamW whose groups never decay biases, norms or partially frozen tensors (decay would move their
        frozen entries)."""
        no_decay = self.update.no_decay_parameter_names() if self.update else ()
        return torch.optim.AdamW(optimizer_groups(model, weight_decay, no_decay), **adamw)

    def _trainer_optimizer(self, model: nn.Module, **_: Any) -> torch.optim.Optimizer:
        args = self._args
        return self.build_optimizer(
            model,
            args.weight_decay,
            lr=args.learning_rate,
            betas=(args.adam_beta1, args.adam_beta2),
            eps=args.adam_epsilon,
        )

    def trainer_kwargs(self) -> dict[str, Any]:
        """`callbacks` and `optimizer_cls_and_kwargs` for Trainer / SFTTrainer (a factory: transformers calls it
        with the model it trains, after LoRA is attached)."""
        return {"callbacks": [self], "optimizer_cls_and_kwargs": (lambda: self._trainer_optimizer, {})}

    def start(self, model: nn.Module) -> None:
        """Put the forward mask on (lesion / preserve modes)."""
        if self.mask is not None and self._handle is None:
            self._handle = apply_mask(model, self.mask)

    def detach(self) -> None:
        """Remove the forward mask and the gradient hooks: nothing of the training is left on the model."""
        if self._handle is not None:
            self._handle.remove()
            self._handle = None
        if self.update is not None:
            self.update.remove()

    def trainable_entries(self) -> int:
        if self.update is not None:
            return self.update.trainable_entries()
        return sum(param.numel() for param in self.model.parameters() if param.requires_grad)

    def save(self, folder: str | os.PathLike) -> Path:
        """Write the networks (save_pretrained layout, no README: the adapter's own card stays) and what was
        trained with them into `folder`, next to adapter_config.json."""
        record = {**self.selection.description, "mode": self.mode}
        networks = self.selection.networks
        return dataclasses.replace(networks, data={**networks.data, TRAINED_WITH: record}).save_pretrained(
            folder, card=False
        )

    # TrainerCallback events
    def on_init_end(self, args, state, control, model=None, **kwargs):
        self._args = args
        self.attach(model)

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        self._args = args
        self.start(model)

    def on_train_end(self, args, state, control, **kwargs):
        self.detach()


def network_training(
    model: nn.Module,
    networks: FunctionalNetworks | NetworkSelection,
    mode: str,
    components: Components = "all",
    *,
    random_control: bool = False,
    seed: int = 0,
) -> NetworkTraining:
    """What a Trainer or SFTTrainer needs to train `model` with `networks` (or a ready selection) in `mode`:
    train_only, freeze, lesion or preserve. The selection is checked against `model` here, once."""
    selection = (
        networks
        if isinstance(networks, NetworkSelection)
        else NetworkSelection.for_model(networks, model, components, random_control=random_control, seed=seed)
    )
    return NetworkTraining(selection, mode)


@dataclasses.dataclass
class TrainedAdapter:
    """An adapter loaded with the networks it was trained with; `handle` holds the training's forward mask
    (lesion / preserve runs; None otherwise): `handle.remove()` takes it off."""

    model: nn.Module
    tokenizer: Any
    networks: FunctionalNetworks
    selection: NetworkSelection
    mode: str
    handle: MaskHandle | None


def load_adapter(folder: str | os.PathLike, *, device: str = "auto", apply: bool = True) -> TrainedAdapter:
    """Load an adapter folder with the networks saved next to it (base model, adapter, networks, selection) and,
    for lesion / preserve runs, put the training's mask back on (`apply=False`: leave it off).

    >>> config = fnsft.TrainingConfig(
    ...     model="tiny-model", templates="my-networks.json", network_mode="lesion", components="0,3",
    ...     max_steps=2, max_length=64, evaluate=False, output_dir="runs/my-run",
    ... )
    >>> result = fnsft.train(config)
    {'loss': ...}
    >>> trained = fnsft.load_adapter("runs/my-run/final")
    >>> trained.mode, trained.selection.ids, trained.handle is not None  # the lesion is back on
    ('lesion', (0, 3), True)
    """
    from ..models._loading import load_model

    networks = FunctionalNetworks.from_pretrained(folder)
    record = networks.data.get(TRAINED_WITH)
    if not isinstance(record, dict) or record.get("mode") not in TRAINING_MODES:
        raise MaskSelectionError(f"{folder}: its networks do not record what was trained with them.")
    model, tokenizer = load_model(folder, device=device)
    selection = NetworkSelection.for_model(
        networks,
        model,
        record["components"],
        layers=record.get("layers"),
        random_control=bool(record.get("random_control")),
        seed=int(record.get("seed", 0)),
        source=str(folder),
    )
    mode = record["mode"]
    handle = apply_mask(model, selection.mask(mode)) if apply and mode in FORWARD_MASK_MODES else None
    return TrainedAdapter(model, tokenizer, networks, selection, mode, handle)
