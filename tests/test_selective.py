"""Selective updates: frozen entries do not move by a single bit; trainable ones do."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fnsft.architectures import mlp_blocks
from fnsft.errors import MaskSelectionError
from fnsft.models import setup_lora
from fnsft.selective import SelectiveUpdate, optimizer_groups

NETWORK = {0: np.array([1, 5, 9]), 2: np.array([0, 47])}
BATCH = torch.randint(3, 120, (4, 12))


def train_steps(model, update: SelectiveUpdate, steps: int = 5) -> None:
    optimizer = torch.optim.AdamW(
        optimizer_groups(model, weight_decay=0.1, no_decay=update.no_decay_parameter_names()), lr=0.05
    )
    model.train()
    for _ in range(steps):
        loss = model(input_ids=BATCH, labels=BATCH).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def snapshot(model) -> dict[str, torch.Tensor]:
    return {name: p.detach().clone() for name, p in model.named_parameters()}


@pytest.mark.parametrize("mode", ["train_only", "freeze"])
def test_full_fine_tuning_moves_exactly_the_allowed_entries(tiny_model, mode):
    before = snapshot(tiny_model)
    update = SelectiveUpdate(tiny_model, NETWORK, mode)
    frozen = update.frozen_snapshot()
    train_steps(tiny_model, update)
    after = dict(tiny_model.named_parameters())
    for name, values in frozen.items():
        assert torch.equal(after[name].detach()[~update.partially_frozen[name]], values), name
    block = mlp_blocks(tiny_model)[0]
    up = block.up_projections[0].weight.detach()
    down = block.down_proj.weight.detach()
    up_before = before["model.layers.0.mlp.gate_proj.weight"]
    down_before = before["model.layers.0.mlp.down_proj.weight"]
    network_rows_moved = not torch.equal(up[[1, 5, 9]], up_before[[1, 5, 9]])
    other_rows_moved = not torch.equal(up[[2, 3]], up_before[[2, 3]])
    assert network_rows_moved == (mode == "train_only")
    assert other_rows_moved == (mode == "freeze")
    assert (not torch.equal(down[:, [1, 5, 9]], down_before[:, [1, 5, 9]])) == (mode == "train_only")
    attention_moved = not torch.equal(
        after["model.layers.0.self_attn.q_proj.weight"], before["model.layers.0.self_attn.q_proj.weight"]
    )
    assert attention_moved == (mode == "freeze")
    if mode == "train_only":  # layer 1 holds no network neuron: its MLP is wholly frozen
        assert torch.equal(
            after["model.layers.1.mlp.up_proj.weight"], before["model.layers.1.mlp.up_proj.weight"]
        )
        assert not after["model.layers.1.mlp.up_proj.weight"].requires_grad


@pytest.mark.parametrize("mode", ["train_only", "freeze"])
def test_lora_update_of_frozen_neurons_is_exactly_zero(tiny_model, mode):
    peft_model = setup_lora(tiny_model, r=4, dropout=0.0)
    update = SelectiveUpdate(peft_model, NETWORK, mode)
    train_steps(peft_model, update)
    block = mlp_blocks(peft_model)[0]
    gate = block.up_projections[0]
    delta_up = gate.lora_B["default"].weight @ gate.lora_A["default"].weight  # (I, H)
    down = block.down_proj
    delta_down = down.lora_B["default"].weight @ down.lora_A["default"].weight  # (H, I)
    network = [1, 5, 9]
    others = [i for i in range(48) if i not in network]
    if mode == "train_only":
        assert torch.count_nonzero(delta_up[others]) == 0 and torch.count_nonzero(delta_down[:, others]) == 0
        assert torch.count_nonzero(delta_up[network]) > 0 and torch.count_nonzero(delta_down[:, network]) > 0
    else:
        assert (
            torch.count_nonzero(delta_up[network]) == 0 and torch.count_nonzero(delta_down[:, network]) == 0
        )
        assert torch.count_nonzero(delta_up[others]) > 0 and torch.count_nonzero(delta_down[:, others]) > 0


def test_empty_networks_and_bad_modes_are_refused(tiny_model):
    with pytest.raises(MaskSelectionError, match="hold no neurons"):
        SelectiveUpdate(tiny_model, {0: np.array([], dtype=int)}, "train_only")
    with pytest.raises(MaskSelectionError, match="'thaw' is not supported"):
        SelectiveUpdate(tiny_model, NETWORK, "thaw")
