"""How a method learns one stage of a sequence: the parameters it trains, the loss it adds, what it keeps when
the stage ends. `Method` is plain sequential fine-tuning; the regularisers and network protections subclass it.

LoRA methods attach a fresh adapter at every stage and merge it into the weights when the stage ends, so every
stage starts from the weights the sequence has reached and the next stage's update starts at exactly zero.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from .config import SuiteConfig
    from .tasks import TaskData


class Method:
    """Sequential fine-tuning with a fresh LoRA adapter per stage (merged when the stage ends).

    Subclasses change one thing: `prepare` (what trains), `penalty` (a loss added to the task's), `finish`
    (what is kept for later stages, in `state`)."""

    name = "lora"
    adapter = (
        "lora"  # "lora" or "full": also which single-task baseline its forward transfer is measured against
    )

    def __init__(self, suite: SuiteConfig, seed: int):
        self.suite = suite
        self.seed = seed
        self.state: dict[str, Any] = {}  # what later stages need; saved with each stage's checkpoint

    @property
    def learning_rate(self) -> float:
        return self.suite.full_learning_rate if self.adapter == "full" else self.suite.learning_rate

    def prepare(self, model: nn.Module, stage: int) -> nn.Module:
        """The model to train at `stage`: with a fresh LoRA adapter (only it trains), or whole."""
        if self.adapter == "full":
            model.requires_grad_(True)
            return model
        from ..models._loading import setup_lora

        torch.manual_seed(self.seed * 1000 + stage)  # the adapter's A starts the same for every method
        return setup_lora(model, r=self.suite.lora_r, alpha=self.suite.lora_alpha, dropout=0.0)

    def no_decay(self) -> set[str]:
        """Parameters the optimizer must not weight-decay (none here: the learner uses no decay anyway)."""
        return set()

    def penalty(self, model: nn.Module, batch: dict[str, torch.Tensor], stage: int) -> torch.Tensor | None:
        """A loss added to the task's loss at every step (None: nothing added)."""
        return None

    def finish(self, model: nn.Module, task: TaskData, tokenizer, stage: int) -> nn.Module:
        """The plain model after the stage (the adapter merged into its weights)."""
        model.requires_grad_(False)
        return merge_adapter(model)


class FullFineTune(Method):
    """Sequential full fine-tuning: every weight trains at every stage."""

    name = "full"
    adapter = "full"


def merge_adapter(model: nn.Module) -> nn.Module:
    """The base model with the LoRA adapter's update added to its weights (a plain model is returned as is)."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def lora_modules(model: nn.Module) -> dict[str, nn.Module]:
    """LoRA-adapted modules by the name they have in the plain model (PEFT's wrapper prefix removed)."""
    found = {}
    for name, module in model.named_modules():
        if hasattr(module, "lora_A") and module.lora_A:
            found[name.removeprefix("base_model.model.")] = module
    return found


def lora_factors(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(A, B, scaling) of a LoRA module's active adapter: its update is scaling * B @ A."""
    key = next(iter(module.lora_A))
    return module.lora_A[key].weight, module.lora_B[key].weight, float(module.scaling[key])
