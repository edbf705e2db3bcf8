"""Selective updates: train only the networks' neurons, or freeze exactly them and train everything else.

A neuron owns its rows of the up/gate projections (both halves of a fused gate_up, and their bias entries) and
its column of the down-projection (`architectures.neuron_rows`). Frozen entries get their gradient zeroed by a
hook, and the optimizer must not decay them (see `no_decay_parameter_names`): Adam/AdamW with gradients that are
always zero move nothing, so frozen entries stay bit-identical. Wholly frozen tensors get requires_grad=False.

With LoRA, a neuron's update is its rows of B for the up/gate projections and its columns of A for the
down-projection. Frozen entries of both factors are set to zero at the start and kept there, so the merged update
of a frozen neuron is exactly zero, whatever the shared factors (A of up/gate, B of down) learn.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import torch
from torch import nn

from ..choices import SELECTIVE_MODES
from ..errors import MaskSelectionError
from ..masking._selection import NetworkSelection
from ..models._architectures import MLPBlock, mlp_blocks, neuron_rows
from ..networks._functional_networks import NeuronSets


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


def _shared_lora_factors(block: MLPBlock) -> list[nn.Parameter]:
    """The LoRA factors every neuron of the block shares: A of the up/gate projections, B of the down one."""
    factors = [_lora_factor(up, "lora_A") for up in block.up_projections]
    factors.append(_lora_factor(block.down_proj, "lora_B"))
    return [factor for factor in factors if factor is not None]


def _layer_ids(networks: NeuronSets | NetworkSelection, blocks: list[MLPBlock]) -> dict[int, torch.Tensor]:
    """Neuron ids per layer as tensors, refusing layers or ids the model does not have (unless a selection
    was checked against the model when made)."""
    if isinstance(networks, NetworkSelection) and networks.checked_against_model:
        return {
            int(layer): torch.as_tensor(np.asarray(ids, dtype=np.int64))
            for layer, ids in networks.neuron_sets.items()
        }
    neuron_sets = networks.neuron_sets if isinstance(networks, NetworkSelection) else networks
    widths = {block.layer: block.intermediate_size for block in blocks}
    result = {}
    for layer, ids in neuron_sets.items():
        if int(layer) not in widths:
            raise MaskSelectionError(f"Layer {layer} is not in the model (layers 0..{len(blocks) - 1}).")
        array = np.asarray(ids, dtype=np.int64)
        bad = array[(array < 0) | (array >= widths[int(layer)])]
        if bad.size:
            raise MaskSelectionError(
                f"Layer {layer} has neurons 0..{widths[int(layer)] - 1}; the networks name {bad[:5].tolist()}."
            )
        result[int(layer)] = torch.as_tensor(array)
    return result


class SelectiveUpdate:
    """Restrict training to (mode="train_only") or away from (mode="freeze") the neurons of `networks`: neuron
    sets, or a NetworkSelection (checked against the model once, when made with `NetworkSelection.for_model`).

    Construct it after LoRA is attached and before the optimizer is built; build the optimizer with
    `optimizer_groups(model, weight_decay, update.no_decay_parameter_names())`.
    """

    def __init__(self, model: nn.Module, networks: NeuronSets | NetworkSelection, mode: str = "train_only"):
        if mode not in SELECTIVE_MODES:
            raise MaskSelectionError(
                f"selective mode {mode!r} is not supported; use one of {SELECTIVE_MODES}."
            )
        neuron_sets = networks.neuron_sets if isinstance(networks, NetworkSelection) else networks
        if not any(len(ids) for ids in neuron_sets.values()):
            raise MaskSelectionError("The networks hold no neurons: nothing to train or freeze selectively.")
        self.mode = mode
        self.model = model
        self._handles = []
        self.partially_frozen: dict[str, torch.Tensor] = {}  # parameter name -> keep mask (True = trainable)
        self.lora = any("lora_" in name for name, _ in model.named_parameters())
        keep = self._keep_masks(networks)
        if mode == "train_only":
            for name, param in model.named_parameters():
                if name not in keep:
                    param.requires_grad_(False)
        named = dict(model.named_parameters())
        for name, mask in keep.items():
            self._restrict(name, named[name], mask)
        if not any(param.requires_grad for param in model.parameters()):
            raise MaskSelectionError(
                "Nothing is left to train: the LoRA adapter does not cover the MLP projections of the networks' "
                "layers; target them (e.g. gate_proj, up_proj, down_proj)."
            )

    def _keep_masks(self, networks: NeuronSets | NetworkSelection) -> dict[str, torch.Tensor]:
        """Parameter name -> boolean mask of its trainable entries, for every tensor the MLP neurons own."""
        names = {id(param): name for name, param in self.model.named_parameters()}
        blocks = mlp_blocks(self.model)
        layer_ids = _layer_ids(networks, blocks)
        train_only = self.mode == "train_only"
        keep: dict[str, torch.Tensor] = {}
        for block in blocks:
            ids = layer_ids.get(block.layer, torch.zeros(0, dtype=torch.int64))
            for param, dim, index in _owned_slices(block, ids, self.lora):
                mask = keep.setdefault(
                    names[id(param)], torch.full_like(param, not train_only, dtype=torch.bool)
                )
                mask.index_fill_(dim, index.to(mask.device), train_only)
            layer_trains = len(ids) > 0 if train_only else len(ids) < block.intermediate_size
            for param in _shared_lora_factors(block) if self.lora else []:
                keep[names[id(param)]] = torch.full_like(param, layer_trains, dtype=torch.bool)
        return keep

    def _restrict(self, name: str, param: nn.Parameter, keep: torch.Tensor) -> None:
        """Freeze the entries of `param` outside `keep`: zero LoRA factors there, and mask their gradients."""
        if self.lora and "lora_" in name:
            with torch.no_grad():
                param.masked_fill_(~keep, 0)  # a frozen neuron's LoRA delta is exactly zero from the start
        param.requires_grad_(bool(keep.any()))
        if keep.all() or not keep.any():
            return
        frozen = ~keep
        self._handles.append(param.register_hook(lambda grad, frozen=frozen: grad.masked_fill(frozen, 0)))
        self.partially_frozen[name] = keep

    def no_decay_parameter_names(self) -> set[str]:
        """Parameters the optimizer must not weight-decay (decay would move their frozen entries)."""
        return set(self.partially_frozen)

    def trainable_entries(self) -> int:
        """How many weights training may change (the partially frozen tensors counted entry by entry)."""
        return sum(
            int(self.partially_frozen[name].sum()) if name in self.partially_frozen else param.numel()
            for name, param in self.model.named_parameters()
            if param.requires_grad
        )

    def frozen_snapshot(self) -> dict[str, torch.Tensor]:
        """Copies of the frozen entries of partially frozen tensors, to prove after training they did not move."""
        named = dict(self.model.named_parameters())
        return {name: named[name].detach()[~mask].clone() for name, mask in self.partially_frozen.items()}

    def remove(self) -> None:
        """Drop the gradient hooks (the frozen tensors keep requires_grad=False)."""
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
