"""The regularisation baselines: EWC (Kirkpatrick et al. 2017), LwF (Li and Hoiem 2017) and O-LoRA (Wang et
al. 2023), each a Method that adds one penalty to the task's loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data import SFTDataCollator, build_tokenized_dataset
from .methods import Method, lora_factors, lora_modules, merge_adapter


def ewc_penalty(fisher: dict[str, torch.Tensor], deltas: dict[str, torch.Tensor]) -> torch.Tensor:
    """1/2 sum_i F_i (theta_i - theta*_i)^2 over the weights in `deltas` (theta - theta*): zero at the anchor,
    and so is its gradient."""
    terms = [(fisher[name].to(delta.device) * delta.pow(2)).sum() for name, delta in deltas.items()]
    return 0.5 * torch.stack(terms).sum() if terms else torch.zeros(())


class EWC(Method):
    """Elastic weight consolidation with a diagonal (empirical) Fisher summed over the tasks learned so far and
    anchored at the weights the last stage ended with ("online" EWC, Schwarz et al. 2018): a fresh LoRA update
    BA is exactly the distance from that anchor, so the penalty is lambda/2 sum F (scaling * B A)^2."""

    name = "ewc"

    def penalty(self, model, batch, stage):
        fisher = self.state.get("fisher")
        if not fisher:
            return None
        deltas = {}
        for name, module in lora_modules(model).items():
            if name + ".weight" in fisher:
                a, b, scaling = lora_factors(module)
                deltas[name + ".weight"] = scaling * (b @ a)
        return self.suite.ewc_lambda * ewc_penalty(fisher, deltas)

    def finish(self, model, task, tokenizer, stage):
        model = super().finish(model, task, tokenizer, stage)
        fisher = diagonal_fisher(model, tokenizer, task.train_records(), self.suite)
        summed = self.state.get("fisher") or {}
        self.state["fisher"] = {name: summed.get(name, 0) + value for name, value in fisher.items()}
        return model


def diagonal_fisher(model: nn.Module, tokenizer, records: list[dict], suite) -> dict[str, torch.Tensor]:
    """Mean squared gradient of the task loss per weight of the LoRA-targeted linear layers, over
    `suite.ewc_batches` batches of `records` (the empirical Fisher's diagonal)."""
    from ..models._architectures import architecture_spec

    targets = architecture_spec(model).lora_targets
    weights = {
        name: param
        for name, param in model.named_parameters()
        if name.endswith(".weight") and name.rsplit(".", 2)[-2] in targets
    }
    dataset = build_tokenized_dataset(records, tokenizer, suite.template, suite.max_length, cache=False)
    collate = SFTDataCollator.from_tokenizer(tokenizer)
    device = next(model.parameters()).device
    fisher = {name: torch.zeros_like(param, device="cpu") for name, param in weights.items()}
    for param in weights.values():
        param.requires_grad_(True)
    batches = 0
    for start in range(0, min(len(dataset), suite.ewc_batches * suite.batch_size), suite.batch_size):
        batch = collate([dataset[i] for i in range(start, min(start + suite.batch_size, len(dataset)))])
        model.zero_grad(set_to_none=True)
        model(**{k: v.to(device) for k, v in batch.items()}).loss.backward()
        for name, param in weights.items():
            fisher[name] += param.grad.detach().float().pow(2).cpu()
        batches += 1
    model.zero_grad(set_to_none=True)
    model.requires_grad_(False)
    return {name: value / max(batches, 1) for name, value in fisher.items()}


def distillation_loss(
    student: torch.Tensor, teacher: torch.Tensor, mask: torch.Tensor, temperature: float
) -> torch.Tensor:
    """T^2 * KL(teacher || student) of the temperature-softened next-token distributions, averaged over the
    positions `mask` keeps: zero exactly when the student's logits equal the teacher's."""
    log_student = F.log_softmax(student.float() / temperature, dim=-1)
    log_teacher = F.log_softmax(teacher.float() / temperature, dim=-1)
    per_position = (log_teacher.exp() * (log_teacher - log_student)).sum(-1)
    keep = mask.bool()
    return temperature**2 * per_position[keep].mean()


class LwF(Method):
    """Learning without forgetting: the new task's inputs are also fitted to the previous model's outputs on them
    (the stage's starting weights, read with the adapter switched off: no second copy of the model)."""

    name = "lwf"

    def penalty(self, model, batch, stage):
        if stage == 0:
            return None
        inputs = {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"]}
        with torch.no_grad(), model.disable_adapter():
            teacher = model(**inputs).logits
        student = model(**inputs).logits
        loss = distillation_loss(student, teacher, batch["attention_mask"], self.suite.lwf_temperature)
        return self.suite.lwf_lambda * loss


def orthogonality_loss(previous: list[torch.Tensor], current: torch.Tensor) -> torch.Tensor:
    """sum over earlier subspaces of |A_prev A_current^T| summed entrywise: zero when the current LoRA's rows
    are orthogonal to every earlier task's, positive otherwise (O-LoRA's L_orth)."""
    total = torch.zeros((), device=current.device)
    for earlier in previous:
        total = total + (earlier.to(current.device, current.dtype) @ current.T).abs().sum()
    return total


class OLoRA(Method):
    """O-LoRA: a new LoRA per task whose A (its input subspace) is pushed orthogonal to earlier tasks' A. The
    earlier adapters are merged into the weights, which gives the same outputs as keeping them frozen beside it."""

    name = "o-lora"

    def penalty(self, model, batch, stage):
        subspaces = self.state.get("subspaces")
        if not subspaces:
            return None
        terms = [
            orthogonality_loss(subspaces.get(name, []), lora_factors(module)[0])
            for name, module in lora_modules(model).items()
        ]
        return self.suite.olora_lambda * torch.stack(terms).sum()

    def finish(self, model, task, tokenizer, stage):
        subspaces = self.state.setdefault("subspaces", {})
        for name, module in lora_modules(model).items():
            subspaces.setdefault(name, []).append(lora_factors(module)[0].detach().cpu().clone())
        model.requires_grad_(False)
        return merge_adapter(model)
