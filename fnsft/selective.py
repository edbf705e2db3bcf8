"""Selective updates: train only the networks' neurons, or freeze exactly them and train everything else.

A neuron owns its rows of the up/gate projections (and their bias entries) and its column of the
down-projection (`architectures.neuron_rows`). Frozen entries get their gradient zeroed by a hook, and the
optimizer must not decay them (see `no_decay_parameter_names`): Adam/AdamW with gradients that are always zero
move nothing, so frozen entries stay bit-identical. Wholly frozen tensors get requires_grad=False.

With LoRA, the update of a neuron is its rows of B for up/gate projections (B starts at zero, so frozen rows
stay zero) and its columns of A for the down-projection (zeroed at the start and kept at zero), so the merged
update of a frozen neuron is exactly zero.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from .architectures import MLPBlock, mlp_blocks, neuron_rows
from .errors import MaskSelectionError
from .functional_networks import NeuronSets

SELECTIVE_MODES = ("train_only", "freeze")


def _lora_factor(module: nn.Module, name: str) -> nn.Parameter | None:
    factors = getattr(module, name, None)
    if not factors:
        return None
    return next(iter(factors.values())).weight


def _owned_slices(
    block: MLPBlock, ids: torch.Tensor, lora: bool
) -> list[tuple[nn.Parameter, int, torch.Tensor]]:
    """(parameter, dimension, indices) of every trainable tensor slice that belongs to neurons `ids`."""
    slices = []
    for module, dim, index in neuron_rows(block, ids):
        is_down = module is block.down_proj
        if lora:
            # LoRA B is (out, r): up/gate neurons are rows of B. LoRA A is (r, in): down-proj neurons are columns.
            factor = _lora_factor(module, "lora_A" if is_down else "lora_B")
            if factor is not None:
                slices.append((factor, 1 if is_down else 0, index))
            continue
        base = getattr(module, "base_layer", module)
        slices.append((base.weight, dim, index))
        if not is_down and getattr(base, "bias", None) is not None:
            slices.append((base.bias, 0, index))
    return slices


class SelectiveUpdate:
    """Restrict training to (mode="train_only") or away from (mode="freeze") the neurons in `neuron_sets`."""

    def __init__(self, model: nn.Module, neuron_sets: NeuronSets, mode: str = "train_only"):
        if mode not in SELECTIVE_MODES:
            raise MaskSelectionError(
                f"selective mode {mode!r} is not supported; use one of {SELECTIVE_MODES}."
            )
        if not any(len(ids) for ids in neuron_sets.values()):
            raise MaskSelectionError("The networks hold no neurons: nothing to train or freeze selectively.")
        self.mode = mode
        self.model = model
        self._handles = []
        self.partially_frozen: dict[str, torch.Tensor] = {}  # parameter name -> keep mask (1 = trainable)
        lora = any("lora_" in name for name, _ in model.named_parameters())
        names = {id(p): n for n, p in model.named_parameters()}
        keep: dict[int, torch.Tensor] = {}
        params: dict[int, nn.Parameter] = {}
        for block in mlp_blocks(model):
            ids = torch.as_tensor(np.asarray(neuron_sets.get(block.layer, []), dtype=np.int64))
            for param, dim, index in _owned_slices(block, ids, lora):
                params[id(param)] = param
                mask = keep.setdefault(id(param), torch.full_like(param, mode == "freeze", dtype=torch.bool))
                mask.index_fill_(dim, index.to(mask.device), mode == "train_only")
            if lora:  # the factor shared by all neurons (A of up/gate, B of down) trains in both modes
                shared = [_lora_factor(up, "lora_A") for up in block.up_projections]
                for param in [*shared, _lora_factor(block.down_proj, "lora_B")]:
                    if param is not None:
                        params[id(param)] = param
                        keep[id(param)] = torch.ones_like(param, dtype=torch.bool)
        owned_ids = set(params)
        if mode == "train_only":
            for param in model.parameters():
                if id(param) not in owned_ids:
                    param.requires_grad_(False)
        for key, mask in keep.items():
            param = params[key]
            if mask.all():
                param.requires_grad_(True)
                continue
            if not mask.any():
                param.requires_grad_(False)
                continue
            param.requires_grad_(True)
            if lora and names[key].find("lora_A") >= 0:
                with torch.no_grad():
                    param.mul_(mask.to(param.dtype))  # frozen down-proj columns of A start (and stay) at zero
            scale = mask.to(param.dtype)
            self._handles.append(param.register_hook(lambda grad, scale=scale: grad * scale.to(grad.device)))
            self.partially_frozen[names[key]] = mask

    def no_decay_parameter_names(self) -> set[str]:
        """Parameters the optimizer must not weight-decay (decay would move their frozen entries)."""
        return set(self.partially_frozen)

    def frozen_snapshot(self) -> dict[str, torch.Tensor]:
        """Copies of the frozen entries, to prove after training that they did not move."""
        named = dict(self.model.named_parameters())
        return {name: named[name].detach()[~mask].clone() for name, mask in self.partially_frozen.items()}

    def remove(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()


def optimizer_groups(model: nn.Module, weight_decay: float, no_decay: Iterable[str] = ()) -> list[dict]:
    """AdamW parameter groups: no decay for biases, norms and partially frozen tensors."""
    skip = set(no_decay)
    decay, plain = [], []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        if name in skip or param.ndim < 2 or "norm" in name.lower():
            plain.append(param)
        else:
            decay.append(param)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": plain, "weight_decay": 0.0}]
