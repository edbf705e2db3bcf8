"""Each continual-learning method's defining identity, on a tiny random Llama."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from fnsft.continual.config import SuiteConfig, TaskSpec
from fnsft.continual.methods import FullFineTune, Method, lora_factors, lora_modules
from fnsft.continual.protection import (
    NetworkProtection,
    NetworkProtectionOutside,
    RandomNeuronControl,
    grow_random,
    sizes,
)
from fnsft.continual.regularizers import (
    EWC,
    LwF,
    OLoRA,
    distillation_loss,
    ewc_penalty,
    orthogonality_loss,
)
from fnsft.models import mlp_blocks

TASK = TaskSpec("t", "unused", ["text"], "label", {"a": "a"}, "{text}", 1, 1)


def suite(**settings) -> SuiteConfig:
    return SuiteConfig(name="test", tasks=[TASK, TASK], lora_r=4, lora_alpha=8, **settings)


def batch(seed: int = 0) -> dict[str, torch.Tensor]:
    ids = torch.randint(4, 120, (2, 10), generator=torch.Generator().manual_seed(seed))
    return {"input_ids": ids, "attention_mask": torch.ones_like(ids), "labels": ids}


def train_one_step(model, method: Method, stage: int = 1, lr: float = 1e-2):
    trained = method.prepare(model, stage)  # B starts at zero; the step moves B, so B @ A changes
    params = [p for p in trained.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    trained(**batch()).loss.backward()
    optimizer.step()
    return trained


def test_ewc_penalty_is_half_the_fisher_weighted_squared_distance():
    fisher = {"w": torch.tensor([1.0, 2.0, 0.0])}
    assert float(ewc_penalty(fisher, {"w": torch.tensor([1.0, 1.0, 5.0])})) == pytest.approx(0.5 * (1 + 2))


def test_ewc_penalty_and_its_gradient_are_zero_at_the_anchor(tiny_model):
    method = EWC(suite(ewc_lambda=10.0), seed=0)
    names = [n for n, _ in tiny_model.named_parameters() if n.endswith("proj.weight")]
    method.state["fisher"] = {n: torch.rand_like(dict(tiny_model.named_parameters())[n]) + 0.1 for n in names}
    model = method.prepare(tiny_model, stage=1)  # a fresh LoRA update is zero: the weights are the anchor
    penalty = method.penalty(model, batch(), stage=1)
    penalty.backward()
    assert float(penalty.detach()) == 0.0
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert grads and all(float(g.abs().max()) == 0.0 for g in grads)
    for module in lora_modules(model).values():
        torch.nn.init.normal_(lora_factors(module)[1], std=0.1)
    assert float(method.penalty(model, batch(), stage=1)) > 0


def test_lwf_distillation_is_zero_when_the_student_is_the_teacher():
    logits = torch.randn(2, 5, 11)
    mask = torch.ones(2, 5)
    assert float(distillation_loss(logits, logits.clone(), mask, 2.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(distillation_loss(logits + torch.randn_like(logits), logits, mask, 2.0)) > 0


def test_lwf_penalty_is_zero_at_the_start_of_a_stage_and_positive_after_a_step(tiny_model):
    method = LwF(suite(lwf_lambda=1.0), seed=0)
    model = method.prepare(tiny_model, stage=1)  # the fresh adapter changes nothing: student == teacher
    assert float(method.penalty(model, batch(), stage=1)) == pytest.approx(0.0, abs=1e-6)
    assert method.penalty(model, batch(), stage=0) is None  # nothing learned before the first task
    for module in lora_modules(model).values():
        torch.nn.init.normal_(lora_factors(module)[1], std=0.5)
    assert float(method.penalty(model, batch(), stage=1)) > 0


def test_orthogonality_loss_is_zero_for_orthogonal_subspaces_and_positive_otherwise():
    basis = torch.eye(6)
    assert float(orthogonality_loss([basis[:2]], basis[2:4])) == 0.0
    assert float(orthogonality_loss([basis[:2]], basis[1:3])) == pytest.approx(1.0)
    assert float(orthogonality_loss([], basis[:2])) == 0.0


def test_o_lora_keeps_each_task_subspace_and_penalises_overlap(tiny_model):
    method = OLoRA(suite(olora_lambda=1.0), seed=0)
    model = method.prepare(tiny_model, stage=0)
    assert method.penalty(model, batch(), stage=0) is None
    model = method.finish(model, None, None, stage=0)
    assert all(len(kept) == 1 for kept in method.state["subspaces"].values())
    model = method.prepare(model, stage=1)  # a random A overlaps the earlier one
    assert float(method.penalty(model, batch(), stage=1)) > 0


def _neuron_weights(model, protected: dict[int, np.ndarray]):
    """Per layer: (rows of gate/up for the protected neurons, columns of down) and the same for the others."""
    kept, others = [], []
    for block in mlp_blocks(model):
        ids = torch.as_tensor(protected.get(block.layer, np.zeros(0, np.int64)))
        rest = torch.as_tensor(np.setdiff1d(np.arange(block.intermediate_size), ids.numpy()))
        for up in block.up_projections:
            kept.append(up.weight[ids].clone())
            others.append(up.weight[rest].clone())
        kept.append(block.down_proj.weight[:, ids].clone())
        others.append(block.down_proj.weight[:, rest].clone())
    return kept, others


PROTECTED = {0: np.array([0, 5, 7]), 2: np.array([1, 2, 3, 40])}


@pytest.mark.parametrize("cls", [NetworkProtection, NetworkProtectionOutside])
def test_network_protection_leaves_protected_neurons_unchanged_after_a_step(tiny_model, cls):
    method = cls(suite(), seed=0)
    method.state["protected"] = PROTECTED
    kept_before, others_before = _neuron_weights(tiny_model, PROTECTED)
    attention_before = tiny_model.model.layers[0].self_attn.q_proj.weight.clone()
    model = train_one_step(tiny_model, method)
    method.update.remove()
    model = model.merge_and_unload()
    kept_after, others_after = _neuron_weights(model, PROTECTED)
    assert all(torch.equal(a, b) for a, b in zip(kept_before, kept_after, strict=True))
    assert any(not torch.equal(a, b) for a, b in zip(others_before, others_after, strict=True))
    attention_moved = not torch.equal(attention_before, model.model.layers[0].self_attn.q_proj.weight)
    assert attention_moved is (cls is NetworkProtection)  # "outside" trains only the other MLP neurons


def test_the_random_control_protects_as_many_neurons_per_layer_elsewhere(tiny_model):
    widths = {0: 48, 1: 48, 2: 48}
    grown = grow_random({0: np.array([1, 2])}, {0: 3, 2: 5}, widths, seed=3)
    assert sizes(grown) == {0: 5, 2: 5}
    assert set(grown[0]) >= {1, 2}

    control = RandomNeuronControl(suite(), seed=0)
    control._protect({0: np.array([0, 1, 2]), 1: np.array([4])}, tiny_model, stage=0)
    control._protect({0: np.array([2, 3]), 2: np.array([9, 10])}, tiny_model, stage=1)
    assert sizes(control.state["protected"]) == sizes(control.state["discovered"]) == {0: 4, 1: 1, 2: 2}
    assert not np.array_equal(control.state["protected"][0], control.state["discovered"][0])


def test_full_fine_tuning_trains_every_weight_and_lora_only_the_adapter(tiny_model):
    full = FullFineTune(suite(), seed=0).prepare(tiny_model, 0)
    assert all(p.requires_grad for p in full.parameters())
    lora = Method(suite(), seed=0).prepare(tiny_model, 0)
    trainable = {n for n, p in lora.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n for n in trainable)
