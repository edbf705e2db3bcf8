"""Networks in TRL's SFTTrainer: two steps on a tiny Llama in each mode, LoRA attached before or by
`peft_config=`; frozen entries unchanged bit for bit, lesioned neurons silent during training, nothing left on the
model after; adapter folders that carry their networks; and the README's TRL example, run as written."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import WORDS, tiny_llama, word_tokenizer

pytest.importorskip("trl")
from datasets import Dataset  # noqa: E402
from peft import LoraConfig, get_peft_model  # noqa: E402
from transformers import TrainerCallback  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402

from fnsft.models._architectures import mlp_blocks  # noqa: E402
from fnsft.networks._functional_networks import FunctionalNetworks  # noqa: E402
from fnsft.training._integrations import load_adapter, network_training  # noqa: E402

LORA = {"r": 4, "target_modules": ["gate_proj", "up_proj", "down_proj"], "task_type": "CAUSAL_LM"}


def tiny_networks() -> FunctionalNetworks:
    from fnsft.models._architectures import model_shape

    sets = [{0: np.arange(0, 8), 1: np.arange(4, 12)}, {2: np.arange(20, 30)}]
    return FunctionalNetworks(sets, model_shape(tiny_llama()), "base", "intermediate", {"rule": "topk"})


class Silence(TrainerCallback):
    """Records, during training, the largest |activation| each down-projection reads at the masked neurons."""

    def __init__(self, training):
        self.training, self.largest, self.seen, self.handles = training, 0.0, 0, []

    def on_train_begin(self, args, state, control, model=None, **kwargs):
        for block in mlp_blocks(model):
            zero = self.training.mask.scale[block.layer] == 0

            def record(module, inputs, zero=zero):
                self.largest = max(self.largest, inputs[0][..., zero].abs().max().item())
                self.seen += 1

            self.handles.append(block.down_proj.register_forward_pre_hook(record))

    def on_train_end(self, args, state, control, **kwargs):
        for handle in self.handles:
            handle.remove()


def mask_hooks(model) -> int:
    """Hooks on the down-projections, where fnsft's masks sit (the trainer hooks the embeddings itself)."""
    return sum(
        len(b.down_proj._forward_pre_hooks) + len(b.down_proj._forward_hooks) for b in mlp_blocks(model)
    )


@pytest.mark.parametrize("lora", ["before", "peft_config"])
@pytest.mark.parametrize("mode", ["train_only", "freeze", "lesion", "preserve"])
def test_two_sft_trainer_steps_in_each_mode(mode, lora, tmp_path):
    model = tiny_llama(seed=3)
    training = network_training(model, tiny_networks(), mode)
    if lora == "before":
        model = get_peft_model(model, LoraConfig(**LORA))
    data = Dataset.from_list([{"text": " ".join(WORDS[i : i + 12])} for i in range(0, 96, 6)])
    silence = Silence(training) if training.mask is not None else None
    kwargs = training.trainer_kwargs()
    trainer = SFTTrainer(
        model=model,
        args=SFTConfig(
            output_dir=str(tmp_path),
            max_steps=2,
            per_device_train_batch_size=4,
            max_length=16,
            report_to=[],
            learning_rate=0.05,
            weight_decay=0.5,
            bf16=False,
            save_strategy="no",
            use_cpu=True,
            disable_tqdm=True,
        ),
        train_dataset=data,
        processing_class=word_tokenizer(),
        peft_config=None if lora == "before" else LoraConfig(**LORA),
        callbacks=kwargs["callbacks"] + ([silence] if silence else []),
        optimizer_cls_and_kwargs=kwargs["optimizer_cls_and_kwargs"],
    )
    trained = trainer.model
    start = {name: p.detach().clone() for name, p in trained.named_parameters()}
    frozen = training.update.frozen_snapshot() if training.update else {}
    trainer.train()
    assert trainer.state.global_step == 2
    moved = [name for name, p in trained.named_parameters() if not torch.equal(p, start[name])]
    assert moved and all("lora_" in name for name in moved)  # LoRA trains, the base weights do not
    if training.update:
        assert frozen and all(
            torch.equal(dict(trained.named_parameters())[name].detach()[~keep], frozen[name])
            for name, keep in training.update.partially_frozen.items()
        )
        groups = trainer.optimizer.param_groups
        decayed = {id(p) for g in groups if g["weight_decay"] > 0 for p in g["params"]}
        named = dict(trained.named_parameters())
        assert not decayed & {id(named[name]) for name in training.update.partially_frozen}
    else:
        assert silence.seen >= 2 * 3 and silence.largest == 0.0  # two steps, three layers, all silent
    assert mask_hooks(trained) == 0  # the mask is gone
    assert all(not p._backward_hooks for p in trained.parameters())  # and the gradient hooks
    assert not getattr(trained.get_base_model(), "_fnsft_mask_dispatchers", {})


def test_an_adapter_folder_reloads_with_its_networks_and_the_training_mask(tmp_path, monkeypatch):
    base_folder = tmp_path / "base"
    tiny_llama(seed=3).save_pretrained(base_folder)
    word_tokenizer().save_pretrained(base_folder)
    from fnsft.models import load_model

    model, tokenizer = load_model(base_folder, device="cpu")
    networks = tiny_networks()
    training = network_training(model, networks, "lesion", components="1")
    peft_model = get_peft_model(model, LoraConfig(**LORA))
    adapter = tmp_path / "adapter"
    peft_model.save_pretrained(adapter)
    training.save(adapter)
    assert {"adapter_config.json", "fnsft_networks.json", "networks.safetensors"} <= set(os.listdir(adapter))
    loaded = load_adapter(adapter, device="cpu")
    assert loaded.mode == "lesion" and loaded.selection.ids == (1,) and loaded.handle.active
    assert loaded.handle.mask.masked_counts() == training.mask.masked_counts() == {2: 10}
    assert loaded.networks.neurons[1][2].tolist() == list(range(20, 30))
    ids = torch.tensor([[4, 5, 6, 7, 8]])
    seen = []
    hook = mlp_blocks(loaded.model)[2].down_proj.register_forward_pre_hook(lambda m, a: seen.append(a[0]))
    loaded.model(ids)
    assert seen[-1][..., 20:30].abs().max() == 0 and seen[-1][..., :20].abs().max() > 0
    loaded.handle.remove()
    loaded.model(ids)
    hook.remove()
    assert seen[-1][..., 20:30].abs().max() > 0


def test_the_readme_trl_example_runs_as_written(tmp_path, monkeypatch, embedded_model_folder):
    readme = (Path(__file__).parents[1] / "docs" / "ecosystem.md").read_text()
    code = re.search(r"<!-- trl-example -->\n```python\n(.*?)```", readme, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "ica_templates").symlink_to(Path(__file__).parents[1] / "ica_templates")
    scope: dict = {}
    exec(compile(code, "docs/ecosystem.md (TRL example)", "exec"), scope)
    assert scope["trainer"].state.global_step == 2
    loaded = load_adapter(tmp_path / "trl-run" / "final", device="cpu")
    assert loaded.mode == "freeze" and loaded.selection.ids == (0, 3) and loaded.handle is None
