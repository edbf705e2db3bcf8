"""The architecture table, proven on a tiny random model of every family it names.

Each test builds a 2-layer model from the family's config class (no download) whose MLP width differs from
4 * hidden wherever the config allows, so a width that is merely guessed cannot pass. Hooks on the down-projection
prove that its input is the intermediate neurons and that it alone produces the MLP output; weight slices from
`neuron_rows` are perturbed to prove they own exactly the selected neurons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import transformers
from torch import nn

from fnsft.errors import UnsupportedArchitectureError
from fnsft.models._architectures import (
    ARCHITECTURES,
    MLPBlock,
    architecture_spec,
    mlp_blocks,
    model_shape,
    model_type,
    neuron_rows,
    unwrap_model,
)

HIDDEN = 32
WIDTH = 40  # not 4 * HIDDEN, so the test fails if a family's width is guessed rather than read
LAYERS = 2
VOCAB = 128
NEURONS = torch.tensor([1, 3])
TOKEN_IDS = {"pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2}

# Llama-style config keywords shared by most families.
_STANDARD = {
    "vocab_size": VOCAB,
    "hidden_size": HIDDEN,
    "intermediate_size": WIDTH,
    "num_hidden_layers": LAYERS,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "max_position_embeddings": 64,
    **TOKEN_IDS,
}
_GPT2_STYLE = {
    "vocab_size": VOCAB,
    "n_embd": HIDDEN,
    "n_inner": WIDTH,
    "n_layer": LAYERS,
    "n_head": 4,
    "n_positions": 64,
    **TOKEN_IDS,
}


@dataclass(frozen=True)
class Family:
    """How to build a tiny model of one family and which MLP width it must report."""

    config: str
    model: str
    kwargs: dict[str, Any] = field(default_factory=lambda: dict(_STANDARD))
    width: int = WIDTH


FAMILIES: dict[str, Family] = {
    "llama": Family("LlamaConfig", "LlamaForCausalLM", {**_STANDARD, "mlp_bias": True}),
    "mistral": Family("MistralConfig", "MistralForCausalLM"),
    "qwen2": Family("Qwen2Config", "Qwen2ForCausalLM"),
    "qwen3": Family("Qwen3Config", "Qwen3ForCausalLM", {**_STANDARD, "head_dim": 8}),
    "gemma": Family("GemmaConfig", "GemmaForCausalLM", {**_STANDARD, "head_dim": 8}),
    "gemma2": Family("Gemma2Config", "Gemma2ForCausalLM", {**_STANDARD, "head_dim": 8}),
    "gemma3_text": Family("Gemma3TextConfig", "Gemma3ForCausalLM", {**_STANDARD, "head_dim": 8}),
    "stablelm": Family("StableLmConfig", "StableLmForCausalLM"),
    "olmo": Family("OlmoConfig", "OlmoForCausalLM"),
    "olmo2": Family("Olmo2Config", "Olmo2ForCausalLM"),
    "granite": Family("GraniteConfig", "GraniteForCausalLM"),
    "cohere": Family("CohereConfig", "CohereForCausalLM"),
    "smollm3": Family("SmolLM3Config", "SmolLM3ForCausalLM"),
    "phi3": Family("Phi3Config", "Phi3ForCausalLM"),
    "phi": Family("PhiConfig", "PhiForCausalLM"),
    "gpt2": Family("GPT2Config", "GPT2LMHeadModel", dict(_GPT2_STYLE)),
    "gpt_bigcode": Family("GPTBigCodeConfig", "GPTBigCodeForCausalLM", dict(_GPT2_STYLE)),
    "starcoder2": Family("Starcoder2Config", "Starcoder2ForCausalLM"),
    "gpt_neox": Family(
        "GPTNeoXConfig",
        "GPTNeoXForCausalLM",
        {k: v for k, v in _STANDARD.items() if k != "num_key_value_heads"},
    ),
    "gptj": Family("GPTJConfig", "GPTJForCausalLM", {**_GPT2_STYLE, "rotary_dim": 4}),
    "opt": Family(
        "OPTConfig",
        "OPTForCausalLM",
        {
            "vocab_size": VOCAB,
            "hidden_size": HIDDEN,
            "ffn_dim": WIDTH,
            "word_embed_proj_dim": HIDDEN,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": 4,
            "max_position_embeddings": 64,
            **TOKEN_IDS,
        },
    ),
    "falcon": Family(
        "FalconConfig",
        "FalconForCausalLM",
        {
            "vocab_size": VOCAB,
            "hidden_size": HIDDEN,
            "ffn_hidden_size": WIDTH,
            "num_hidden_layers": LAYERS,
            "num_attention_heads": 4,
            "bias": True,
            **TOKEN_IDS,
        },
    ),
    # Bloom's MLP width is fixed at 4 * hidden_size by the architecture; no config field changes it.
    "bloom": Family(
        "BloomConfig",
        "BloomForCausalLM",
        {"vocab_size": VOCAB, "hidden_size": HIDDEN, "n_layer": LAYERS, "n_head": 4, **TOKEN_IDS},
        width=4 * HIDDEN,
    ),
}


def test_every_table_entry_has_a_tiny_model() -> None:
    """A family added to the table without a test model here would go unproven."""
    assert set(FAMILIES) == set(ARCHITECTURES)


def build(family: str, seed: int = 0) -> nn.Module:
    """A tiny random *ForCausalLM of `family` in eval mode, skipping if transformers lacks the family."""
    spec = FAMILIES[family]
    config_cls = getattr(transformers, spec.config, None)
    model_cls = getattr(transformers, spec.model, None)
    if config_cls is None or model_cls is None:
        pytest.skip(f"transformers {transformers.__version__} has no {spec.config}/{spec.model}")
    torch.manual_seed(seed)
    config = config_cls(**spec.kwargs)
    assert config.model_type == family
    return model_cls(config).eval()


def input_ids(seed: int = 1) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(3, VOCAB, (2, 8), generator=generator)


def run_with_hooks(
    model: nn.Module,
    module: nn.Module,
    pre: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """(input, output) of `module` in one forward pass, the input optionally replaced by `pre(input)`."""
    seen: dict[str, torch.Tensor] = {}

    def pre_hook(_module: nn.Module, args: tuple) -> tuple | None:
        seen["input"] = args[0].detach().clone()
        if pre is None:
            return None
        return (pre(args[0]), *args[1:])

    def post_hook(_module: nn.Module, _args: tuple, output: torch.Tensor) -> None:
        seen["output"] = output.detach().clone()

    handles = [module.register_forward_pre_hook(pre_hook), module.register_forward_hook(post_hook)]
    try:
        with torch.no_grad():
            model(input_ids())
    finally:
        for handle in handles:
            handle.remove()
    return seen["input"], seen["output"]


def down_bias(block: MLPBlock) -> torch.Tensor | None:
    return getattr(getattr(block.down_proj, "base_layer", block.down_proj), "bias", None)


family_params = pytest.mark.parametrize("family", list(FAMILIES), ids=list(FAMILIES))


@family_params
def test_blocks_and_shape(family: str) -> None:
    """One block per layer, in order, each reading the configured MLP width."""
    model = build(family)
    blocks = mlp_blocks(model)
    width = FAMILIES[family].width
    assert [block.layer for block in blocks] == list(range(LAYERS))
    assert len({id(block.down_proj) for block in blocks}) == LAYERS
    assert all(block.intermediate_size == width for block in blocks)
    assert all(block.fused_gate_up == (family == "phi3") for block in blocks)
    shape = model_shape(model)
    assert shape.model_type == family
    assert shape.num_layers == LAYERS
    assert shape.intermediate_sizes == (width,) * LAYERS
    assert shape.hidden_size == HIDDEN
    assert shape.total_neurons == width * LAYERS
    assert type(shape).from_dict(shape.to_dict()) == shape


@family_params
def test_down_proj_input_is_the_neurons_and_controls_the_mlp_output(family: str) -> None:
    """The recorded site sees the intermediate neurons, and silencing them leaves only the down-proj bias."""
    model = build(family)
    block = mlp_blocks(model)[-1]
    width = FAMILIES[family].width
    captured, output = run_with_hooks(model, block.down_proj)
    assert captured.shape[-1] == width
    assert output.shape[-1] == HIDDEN
    assert captured.abs().sum() > 0

    _, silenced = run_with_hooks(model, block.down_proj, pre=torch.zeros_like)
    bias = down_bias(block)
    expected = torch.zeros_like(silenced) if bias is None else bias.detach().expand_as(silenced)
    assert torch.equal(silenced, expected)
    assert not torch.equal(output, expected)


@family_params
def test_neuron_rows_own_exactly_the_selected_neurons(family: str) -> None:
    """Slices from neuron_rows index the neuron dimension: up slices feed only those neurons, and zeroing the
    down-proj slice cuts those neurons off from the MLP output."""
    model = build(family)
    block = mlp_blocks(model)[-1]
    width = FAMILIES[family].width
    rows = neuron_rows(block, NEURONS)
    assert len(rows) == len(block.up_projections) + 1
    assert rows[-1][0] is block.down_proj
    for module, dim, ids in rows:
        fused_up = block.fused_gate_up and module is not block.down_proj
        assert module.weight.shape[dim] == (2 * width if fused_up else width)
        assert ids.dtype == torch.long
    others = torch.ones(width, dtype=torch.bool)
    others[NEURONS] = False

    # Perturbing an up/gate slice changes neurons 1 and 3 and no other neuron.
    baseline, _ = run_with_hooks(model, block.down_proj)
    generator = torch.Generator().manual_seed(2)
    for module, dim, ids in rows[:-1]:
        original = module.weight.detach().clone()
        with torch.no_grad():
            noise_shape = list(module.weight.shape)
            noise_shape[dim] = len(ids)
            module.weight.index_add_(dim, ids, 3 * torch.randn(noise_shape, generator=generator))
        perturbed, _ = run_with_hooks(model, block.down_proj)
        with torch.no_grad():
            module.weight.copy_(original)
        assert torch.allclose(perturbed[..., others], baseline[..., others], atol=1e-6)
        assert not torch.allclose(perturbed[..., NEURONS], baseline[..., NEURONS], atol=1e-3)

    def shake_selected(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[..., NEURONS] += 5.0
        return x

    def shake_other(x: torch.Tensor) -> torch.Tensor:
        x = x.clone()
        x[..., 0] += 5.0
        return x

    _, before = run_with_hooks(model, block.down_proj)
    _, shaken = run_with_hooks(model, block.down_proj, pre=shake_selected)
    assert not torch.allclose(shaken, before, atol=1e-3)  # the neurons matter before their slice is zeroed

    module, dim, ids = rows[-1]
    with torch.no_grad():
        module.weight.index_fill_(dim, ids, 0.0)
    _, cut = run_with_hooks(model, block.down_proj)
    _, cut_shaken = run_with_hooks(model, block.down_proj, pre=shake_selected)
    assert torch.allclose(cut_shaken, cut, atol=1e-6)
    _, cut_other = run_with_hooks(model, block.down_proj, pre=shake_other)
    assert not torch.allclose(cut_other, cut, atol=1e-3)  # other neurons still reach the output


def _is_lora(module: nn.Module) -> bool:
    return hasattr(module, "lora_A") and len(module.lora_A) > 0


@family_params
def test_lora_targets_match_attention_and_mlp(family: str) -> None:
    """setup_lora's default targets adapt the MLP projections and attention, and the table still reads through
    the PEFT wrapper."""
    from fnsft.models import setup_lora

    model = build(family)
    plain_shape = model_shape(model)
    peft_model = setup_lora(model, r=2, alpha=4, dropout=0.0)

    assert unwrap_model(peft_model) is model
    assert model_type(peft_model) == family
    assert architecture_spec(peft_model) is ARCHITECTURES[family]
    assert model_shape(peft_model) == plain_shape

    blocks = mlp_blocks(peft_model)
    assert len(blocks) == LAYERS
    for block in blocks:
        assert block.intermediate_size == FAMILIES[family].width
        assert _is_lora(block.down_proj), f"{family}: down-projection not adapted by {model.peft_config}"
        for up in block.up_projections:
            assert _is_lora(up), f"{family}: up/gate projection not adapted"
    lora_names = [name for name, module in peft_model.named_modules() if _is_lora(module)]
    attention = [name for name in lora_names if "attn" in name or "attention" in name]
    assert attention, f"{family}: no attention module adapted among {lora_names}"
    assert all(".mlp." not in name for name in attention)

    # The hook site through the LoRA wrapper still sees the neurons, and silencing them leaves only the bias.
    block = blocks[-1]
    captured, _ = run_with_hooks(peft_model, block.down_proj)
    assert captured.shape[-1] == FAMILIES[family].width
    _, silenced = run_with_hooks(peft_model, block.down_proj, pre=torch.zeros_like)
    bias = down_bias(block)
    expected = torch.zeros_like(silenced) if bias is None else bias.detach().expand_as(silenced)
    assert torch.allclose(silenced, expected, atol=1e-6)


class _MadeUpModel(nn.Module):
    """A model whose family fnsft has never heard of."""

    def __init__(self, kind: str = "made_up") -> None:
        super().__init__()
        self.config = transformers.PretrainedConfig()
        self.config.model_type = kind
        self.proj = nn.Linear(4, 4)


def _assert_says_how_to_add(error: pytest.ExceptionInfo, class_name: str, kind: str) -> None:
    message = str(error.value)
    assert class_name in message
    assert repr(kind) in message
    assert "ArchitectureSpec" in message
    assert "fnsft.models._architectures.ARCHITECTURES" in message
    assert "llama" in message  # lists what is supported


def test_unknown_model_type_says_how_to_add_it() -> None:
    model = _MadeUpModel()
    for call in (architecture_spec, mlp_blocks, model_shape):
        with pytest.raises(UnsupportedArchitectureError) as error:
            call(model)
        _assert_says_how_to_add(error, "_MadeUpModel", "made_up")


def test_unknown_transformers_family_says_how_to_add_it() -> None:
    """A real transformers model outside the table (Mamba) is refused with its class name."""
    config_cls = getattr(transformers, "MambaConfig", None)
    model_cls = getattr(transformers, "MambaForCausalLM", None)
    if config_cls is None or model_cls is None:
        pytest.skip("transformers has no Mamba")
    assert "mamba" not in ARCHITECTURES
    model = model_cls(config_cls(vocab_size=VOCAB, hidden_size=16, state_size=4, num_hidden_layers=1))
    with pytest.raises(UnsupportedArchitectureError) as error:
        mlp_blocks(model)
    _assert_says_how_to_add(error, "MambaForCausalLM", "mamba")


def test_known_type_without_its_blocks_is_refused() -> None:
    """A model claiming a known family but lacking its block list fails with a pointer to the spec."""
    model = _MadeUpModel("llama")
    with pytest.raises(UnsupportedArchitectureError, match="ArchitectureSpec in fnsft.models._architectures"):
        mlp_blocks(model)


def test_model_without_config_is_unknown() -> None:
    with pytest.raises(UnsupportedArchitectureError, match="model_type='unknown'"):
        architecture_spec(nn.Linear(2, 2))


def test_unwrap_model_through_peft_and_wrappers() -> None:
    """unwrap_model reaches the transformers model under PeftModel and its inner tuner, and leaves a plain
    model alone."""
    from fnsft.models import setup_lora

    model = build("llama")
    assert unwrap_model(model) is model
    peft_model = setup_lora(model, r=2, alpha=4, dropout=0.0)
    assert unwrap_model(peft_model) is model
    assert unwrap_model(peft_model.base_model) is model  # PEFT's inner tuner (LoraModel) too
    assert model_shape(peft_model.base_model) == model_shape(model)


class WordTokenizer:
    """Just enough tokenizer for capture: one id per word after a BOS (id 1), right padding with id 0."""

    pad_token_id = 0

    def __call__(self, texts, truncation=True, max_length=256, add_special_tokens=True):
        bos = [1] if add_special_tokens else []
        return {"input_ids": [bos + [3 + sum(map(ord, w)) % (VOCAB - 3) for w in t.split()] for t in texts]}


def test_capture_adds_no_second_bos_to_texts_that_carry_one() -> None:
    from fnsft.discovery._capture import capture_activations

    model = build("llama")
    texts = ["one two three", "four five"]
    assert len(capture_activations(model, WordTokenizer(), texts).text_index) == 7
    assert len(capture_activations(model, WordTokenizer(), texts, add_special_tokens=False).text_index) == 5


@family_params
def test_capture_records_each_texts_own_neurons_in_a_padded_batch(family: str) -> None:
    """Every family (OPT flattens batch and time inside its MLP): the captured rows of each text equal the
    down-proj input of that text run alone, whatever the padding of the batch it was captured in."""
    from fnsft.discovery._capture import capture_activations

    model = build(family)
    texts = ["one two three four five six", "seven eight", "nine ten eleven twelve"]
    captured = capture_activations(model, WordTokenizer(), texts, max_tokens=None)
    tokenizer = WordTokenizer()
    offsets = captured.layer_offsets
    blocks = mlp_blocks(model)
    for index, text in enumerate(texts):
        ids = torch.tensor(tokenizer([text])["input_ids"])
        seen: dict[int, torch.Tensor] = {}
        handles = [
            block.down_proj.register_forward_pre_hook(
                lambda module, args, layer=block.layer, seen=seen: seen.update({layer: args[0]})
            )
            for block in blocks
        ]
        with torch.no_grad():
            model(ids)
        for handle in handles:
            handle.remove()
        rows = torch.from_numpy(captured.text_index == index)
        for block in blocks:
            columns = slice(int(offsets[block.layer]), int(offsets[block.layer + 1]))
            alone = seen[block.layer].reshape(ids.shape[1], -1)
            torch.testing.assert_close(captured.matrix[rows, columns], alone, atol=1e-5, rtol=1e-4)
