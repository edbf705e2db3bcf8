"""fnsft's neuron ids read at TransformerLens' and nnsight's sites: the naming table, and (where TransformerLens is
installed) TransformerLens' `blocks.{L}.mlp.hook_post` at fnsft's neuron ids equals fnsft's capture."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_llama, word_tokenizer
from test_networks import CharTokenizer

from fnsft.discovery._capture import capture_activations
from fnsft.models._architectures import mlp_blocks
from fnsft.models._hook_names import hook_site_names


def resolve(model: torch.nn.Module, nnsight_path: str, layer: int) -> torch.nn.Module:
    """The module an nnsight path names (nnsight's envoys mirror the module tree; `model.` is the wrapper)."""
    path = nnsight_path.format(layer=layer).removeprefix("model.").rsplit(".", 1)[0]
    return model.get_submodule(path.replace("[", ".").replace("]", ""))


@pytest.mark.parametrize("family", ["llama", "gpt2"])
def test_the_nnsight_site_is_the_module_fnsft_hooks(family):
    from transformers import GPT2Config, GPT2LMHeadModel

    model = tiny_llama() if family == "llama" else GPT2LMHeadModel(GPT2Config(n_layer=2, n_embd=32, n_head=4))
    names = hook_site_names("intermediate", family)
    assert names["nnsight"].endswith(".input") and hook_site_names("mlp_output", family)["nnsight"].endswith(
        ".output"
    )
    for block in mlp_blocks(model):
        assert resolve(model, names["nnsight"], block.layer) is block.down_proj
    assert names["transformer_lens"].format(layer=2) == "blocks.2.mlp.hook_post"
    assert hook_site_names("mlp_output", family)["transformer_lens"] == "blocks.{layer}.hook_mlp_out"


def test_transformer_lens_hook_post_at_fnsft_neuron_ids_equals_fnsft_capture(tmp_path):
    bridge_module = pytest.importorskip("transformer_lens.model_bridge")
    model = tiny_llama(seed=2)
    folder = tmp_path / "tiny"
    model.save_pretrained(folder)
    word_tokenizer().save_pretrained(folder)  # TransformerLens reloads a tokenizer by its folder
    texts = ["def f(x): return x + 1", "The river flows into the sea."]
    captured = capture_activations(model, CharTokenizer(), texts, max_length=64)
    ids = torch.tensor(CharTokenizer()(texts[0])["input_ids"])[None]
    from transformers import AutoTokenizer

    bridge = bridge_module.TransformerBridge.boot_transformers(
        str(folder),
        hf_model=model,
        tokenizer=AutoTokenizer.from_pretrained(folder),  # it reads name_or_path
    )
    _, cache = bridge.run_with_cache(ids)
    name = hook_site_names("intermediate")["transformer_lens"]
    lens = torch.cat([cache[name.format(layer=layer)][0] for layer in range(3)], dim=-1)
    torch.testing.assert_close(lens, captured.matrix[: ids.shape[1]], rtol=1e-5, atol=1e-5)
