"""Selective updates: frozen entries do not move by a single bit; trainable ones do.

The expectations are written per neuron (its up/gate rows, both halves of a fused gate_up, its bias entries and
its down-projection column), independently of the masks SelectiveUpdate builds for itself.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import tiny_llama

from fnsft.errors import MaskSelectionError
from fnsft.masking._hooks import random_neuron_sets
from fnsft.models import setup_lora
from fnsft.models._architectures import MLPBlock, mlp_blocks
from fnsft.training._selective import SelectiveUpdate, optimizer_groups

NETWORK = {0: np.array([1, 5, 9]), 2: np.array([0, 47])}  # layer 1 holds no network neuron
WIDTH, HIDDEN = 48, 32
BATCH = torch.randint(3, 120, (4, 12), generator=torch.Generator().manual_seed(0))
MODES = ["train_only", "freeze"]


def llama_with_mlp_bias():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=128,
        hidden_size=HIDDEN,
        intermediate_size=WIDTH,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        mlp_bias=True,
    )
    return LlamaForCausalLM(config)


def phi3_fused_gate_up():
    from transformers import Phi3Config, Phi3ForCausalLM

    torch.manual_seed(0)
    config = Phi3Config(
        vocab_size=128,
        hidden_size=HIDDEN,
        intermediate_size=WIDTH,
        num_hidden_layers=3,
        num_attention_heads=4,
        num_key_value_heads=2,
        pad_token_id=0,
    )
    return Phi3ForCausalLM(config)


MODELS = {"llama": tiny_llama, "llama-mlp-bias": llama_with_mlp_bias, "phi3-fused": phi3_fused_gate_up}


def train_steps(model, update: SelectiveUpdate, steps: int = 4, weight_decay: float = 0.1) -> None:
    """AdamW at a high learning rate, with weight decay on: any leak would show."""
    groups = optimizer_groups(model, weight_decay=weight_decay, no_decay=update.no_decay_parameter_names())
    optimizer = torch.optim.AdamW(groups, lr=0.05)
    model.train()
    for _ in range(steps):
        model(input_ids=BATCH, labels=BATCH).loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def snapshot(model) -> dict[int, torch.Tensor]:
    """Copies of every parameter, keyed by the parameter's id."""
    return {id(p): p.detach().clone() for p in model.parameters()}


def unchanged(param: torch.nn.Parameter, before: dict[int, torch.Tensor]) -> bool:
    return torch.equal(param.detach(), before[id(param)])


def trainable_neurons(layer: int, mode: str) -> np.ndarray:
    """Which neurons of `layer` the update may change."""
    network = np.isin(np.arange(WIDTH), NETWORK.get(layer, []))
    return network if mode == "train_only" else ~network


def by_neuron(block: MLPBlock, rows: torch.Tensor) -> np.ndarray:
    """Fold a per-row flag of an up projection onto neurons (a fused gate_up owns rows j and I + j)."""
    rows = rows.reshape(2, WIDTH) if block.fused_gate_up else rows[None]
    assert torch.equal(rows[0], rows[-1]), "the two halves of a fused gate_up must move together"
    return rows[0].numpy()


def rows_moved(param: torch.nn.Parameter, before: dict[int, torch.Tensor], dim: int) -> torch.Tensor:
    """Per slice along `dim` (0: rows, 1: columns; vectors entry by entry): did any entry change?"""
    changed = param.detach() != before[id(param)]
    return changed.any(dim=1 - dim) if changed.ndim == 2 else changed


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", MODELS)
def test_full_fine_tuning_moves_exactly_the_allowed_entries(kind, mode):
    model = MODELS[kind]()
    model.requires_grad_(True)
    before = snapshot(model)
    update = SelectiveUpdate(model, NETWORK, mode)
    train_steps(model, update)
    for block in mlp_blocks(model):
        expected = trainable_neurons(block.layer, mode)
        owned = [p for up in block.up_projections for p in (up.weight, up.bias) if p is not None]
        for param in owned:
            assert (by_neuron(block, rows_moved(param, before, 0)) == expected).all(), block.layer
        assert (rows_moved(block.down_proj.weight, before, 1).numpy() == expected).all(), block.layer
        if block.down_proj.bias is not None:  # shared by all neurons: trains only when everything else does
            assert unchanged(block.down_proj.bias, before) == (mode == "train_only")
    attention = [p for name, p in model.named_parameters() if "self_attn" in name]
    assert all(unchanged(p, before) for p in attention) == (mode == "train_only")
    assert unchanged(model.get_input_embeddings().weight, before) == (mode == "train_only")


def lora_deltas(block: MLPBlock) -> tuple[list[torch.Tensor], torch.Tensor]:
    """Merged LoRA updates of the block: per up projection (rows = neurons) and of the down one (cols)."""

    def delta(module) -> torch.Tensor:
        return (module.lora_B["default"].weight @ module.lora_A["default"].weight).detach()

    return [delta(up) for up in block.up_projections], delta(block.down_proj)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("kind", ["llama", "phi3-fused"])
def test_lora_update_of_frozen_neurons_is_exactly_zero(kind, mode):
    peft_model = setup_lora(MODELS[kind](), r=4, dropout=0.0)
    update = SelectiveUpdate(peft_model, NETWORK, mode)
    train_steps(peft_model, update)
    for block in mlp_blocks(peft_model):  # layer 1 (no network neuron) included
        expected = trainable_neurons(block.layer, mode)
        ups, down = lora_deltas(block)
        for up in ups:
            assert (by_neuron(block, up.ne(0).any(dim=1)) == expected).all(), block.layer
        assert (down.ne(0).any(dim=0).numpy() == expected).all(), block.layer
    attention_b = [p for name, p in peft_model.named_parameters() if "self_attn" in name and "lora_B" in name]
    assert any(bool(p.ne(0).any()) for p in attention_b) == (mode == "freeze")  # B starts at zero


def test_trainable_entries_count_the_networks_weights_exactly():
    model = tiny_llama()
    update = SelectiveUpdate(model, NETWORK, "train_only")
    neurons = sum(len(ids) for ids in NETWORK.values())
    assert update.trainable_entries() == neurons * 3 * HIDDEN  # gate row, up row, down column


def test_random_control_has_the_same_size_per_layer_and_trains_other_neurons():
    control = random_neuron_sets(NETWORK, (WIDTH,) * 3, seed=0)
    assert {layer: len(ids) for layer, ids in control.items()} == {0: 3, 2: 2}
    assert not any(np.isin(control[layer], NETWORK[layer]).any() for layer in NETWORK)
    model = tiny_llama()
    before = snapshot(model)
    train_steps(model, SelectiveUpdate(model, control, "train_only"))
    rows = rows_moved(mlp_blocks(model)[0].up_projections[0].weight, before, 0)
    assert torch.nonzero(rows).flatten().tolist() == control[0].tolist()


def test_empty_networks_unknown_neurons_and_bad_modes_are_refused(tiny_model):
    with pytest.raises(MaskSelectionError, match="hold no neurons"):
        SelectiveUpdate(tiny_model, {0: np.array([], dtype=int)}, "train_only")
    with pytest.raises(MaskSelectionError, match="'thaw' is not supported"):
        SelectiveUpdate(tiny_model, NETWORK, "thaw")
    with pytest.raises(MaskSelectionError, match="Layer 7 is not in the model"):
        SelectiveUpdate(tiny_model, {7: np.array([1])}, "train_only")
    with pytest.raises(MaskSelectionError, match=r"neurons 0..47; the networks name \[48\]"):
        SelectiveUpdate(tiny_model, {0: np.array([3, 48])}, "freeze")


def test_lora_without_mlp_targets_has_nothing_to_train_only(tiny_model):
    peft_model = setup_lora(tiny_model, r=4, target_modules=["q_proj", "v_proj"])
    with pytest.raises(MaskSelectionError, match="does not cover the MLP projections"):
        SelectiveUpdate(peft_model, NETWORK, "train_only")
