"""The one table that knows where each model family keeps its MLP.

Every other module asks this one for a model's decoder blocks: the down-projection (whose *input* is the
intermediate, post-activation neurons that fnsft records and masks, and whose *output* is the MLP output),
the up/gate projections (whose output rows are the same neurons, for selective updates) and the width.
Adding a family is one `ArchitectureSpec` line in `ARCHITECTURES`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ..errors import UnsupportedArchitectureError


@dataclass(frozen=True)
class ArchitectureSpec:
    """Where one family keeps its blocks and MLP modules, as attribute paths.

    layers: path from the model (with or without LM head) to the list of decoder blocks; several tried in order.
    down_proj: path from a block to the module whose input is the intermediate neurons.
    up_projections: paths from a block to the modules whose outputs are the intermediate neurons (gate and up).
    fused_gate_up: the single up projection stacks gate and up rows ([gate; up]), as in Phi-3.
    lora_targets: module names LoRA adapts by default (attention and MLP).

    A new family's spec goes into `ARCHITECTURES` under the `model_type` of its config; the Llama one reads:

    >>> fnsft.models.ARCHITECTURES["llama"] == fnsft.ArchitectureSpec(
    ...     layers=("model.layers", "layers"),
    ...     down_proj="mlp.down_proj",
    ...     up_projections=("mlp.gate_proj", "mlp.up_proj"),
    ...     lora_targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
    ... )
    True
    """

    layers: tuple[str, ...]
    down_proj: str
    up_projections: tuple[str, ...]
    lora_targets: tuple[str, ...]
    fused_gate_up: bool = False


_LLAMA_LIKE = ArchitectureSpec(
    layers=("model.layers", "layers"),
    down_proj="mlp.down_proj",
    up_projections=("mlp.gate_proj", "mlp.up_proj"),
    lora_targets=("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"),
)

ARCHITECTURES: dict[str, ArchitectureSpec] = {
    **{
        name: _LLAMA_LIKE
        for name in (
            "llama",
            "mistral",
            "qwen2",
            "qwen3",
            "gemma",
            "gemma2",
            "gemma3_text",
            "stablelm",
            "olmo",
            "olmo2",
            "granite",
            "cohere",
            "smollm3",
        )
    },
    "phi3": ArchitectureSpec(
        layers=("model.layers", "layers"),
        down_proj="mlp.down_proj",
        up_projections=("mlp.gate_up_proj",),
        lora_targets=("qkv_proj", "o_proj", "gate_up_proj", "down_proj"),
        fused_gate_up=True,
    ),
    "phi": ArchitectureSpec(
        layers=("model.layers", "layers"),
        down_proj="mlp.fc2",
        up_projections=("mlp.fc1",),
        lora_targets=("q_proj", "k_proj", "v_proj", "dense", "fc1", "fc2"),
    ),
    "gpt2": ArchitectureSpec(
        layers=("transformer.h", "h"),
        down_proj="mlp.c_proj",
        up_projections=("mlp.c_fc",),
        lora_targets=("c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"),
    ),
    "gpt_bigcode": ArchitectureSpec(
        layers=("transformer.h", "h"),
        down_proj="mlp.c_proj",
        up_projections=("mlp.c_fc",),
        lora_targets=("c_attn", "attn.c_proj", "c_fc", "mlp.c_proj"),
    ),
    "starcoder2": ArchitectureSpec(
        layers=("model.layers", "layers"),
        down_proj="mlp.c_proj",
        up_projections=("mlp.c_fc",),
        lora_targets=("q_proj", "k_proj", "v_proj", "o_proj", "c_fc", "c_proj"),
    ),
    "gpt_neox": ArchitectureSpec(
        layers=("gpt_neox.layers", "layers"),
        down_proj="mlp.dense_4h_to_h",
        up_projections=("mlp.dense_h_to_4h",),
        lora_targets=("query_key_value", "attention.dense", "dense_h_to_4h", "dense_4h_to_h"),
    ),
    "gptj": ArchitectureSpec(
        layers=("transformer.h", "h"),
        down_proj="mlp.fc_out",
        up_projections=("mlp.fc_in",),
        lora_targets=("q_proj", "k_proj", "v_proj", "out_proj", "fc_in", "fc_out"),
    ),
    "opt": ArchitectureSpec(
        layers=("model.decoder.layers", "decoder.layers"),
        down_proj="fc2",
        up_projections=("fc1",),
        lora_targets=("q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"),
    ),
    "falcon": ArchitectureSpec(
        layers=("transformer.h", "h"),
        down_proj="mlp.dense_4h_to_h",
        up_projections=("mlp.dense_h_to_4h",),
        lora_targets=("query_key_value", "self_attention.dense", "dense_h_to_4h", "dense_4h_to_h"),
    ),
    "bloom": ArchitectureSpec(
        layers=("transformer.h", "h"),
        down_proj="mlp.dense_4h_to_h",
        up_projections=("mlp.dense_h_to_4h",),
        lora_targets=("query_key_value", "self_attention.dense", "dense_h_to_4h", "dense_4h_to_h"),
    ),
}


@dataclass(frozen=True)
class MLPBlock:
    """One decoder block's MLP as fnsft sees it."""

    layer: int
    down_proj: nn.Module
    up_projections: tuple[nn.Module, ...]
    intermediate_size: int
    fused_gate_up: bool = False


def _is_peft_tuner(model: nn.Module) -> bool:
    """PEFT's inner tuner (`peft_model.base_model`, e.g. LoraModel) keeps the transformers model as `.model`."""
    try:
        from peft.tuners.tuners_utils import BaseTuner
    except ImportError:
        return False
    return isinstance(model, BaseTuner)


def unwrap_model(model: nn.Module) -> nn.Module:
    """The plain transformers model under PEFT (PeftModel or its tuner) and DDP-style `.module` wrappers."""
    while True:
        if hasattr(model, "get_base_model"):
            model = model.get_base_model()
        elif _is_peft_tuner(model):
            model = model.model
        elif isinstance(model, nn.parallel.DistributedDataParallel):
            model = model.module
        else:
            return model


def model_type(model: nn.Module) -> str:
    config = getattr(unwrap_model(model), "config", None)
    return getattr(config, "model_type", None) or "unknown"


def architecture_spec(model: nn.Module) -> ArchitectureSpec:
    """The table entry for `model`, or an error that says how to add one."""
    kind = model_type(model)
    try:
        return ARCHITECTURES[kind]
    except KeyError:
        raise UnsupportedArchitectureError(
            f"fnsft does not know where {type(unwrap_model(model)).__name__} (model_type={kind!r}) keeps its MLP. "
            f"Supported model types: {', '.join(sorted(ARCHITECTURES))}. To add it, put an ArchitectureSpec for "
            f"{kind!r} in fnsft.models._architectures.ARCHITECTURES naming its decoder-block list, the MLP down-projection "
            "and the up/gate projections."
        ) from None


def _get_path(root: nn.Module, path: str) -> nn.Module | None:
    node = root
    for part in path.split("."):
        node = getattr(node, part, None)
        if node is None:
            return None
    return node


def _base_layer(module: nn.Module) -> nn.Module:
    """The wrapped Linear/Conv1D under a PEFT LoRA layer (which keeps it as `base_layer`)."""
    return getattr(module, "base_layer", module)


def is_conv1d(module: nn.Module) -> bool:
    """GPT-2 style Conv1D stores weight as (in, out), the transpose of nn.Linear."""
    return type(_base_layer(module)).__name__ == "Conv1D"


def _input_width(module: nn.Module) -> int:
    base = _base_layer(module)
    if is_conv1d(base):
        return int(base.weight.shape[0])
    width = getattr(base, "in_features", None)
    if width is None:
        raise UnsupportedArchitectureError(f"Cannot tell the input width of {type(base).__name__}.")
    return int(width)


def output_width(module: nn.Module) -> int:
    base = _base_layer(module)
    if is_conv1d(base):
        return int(base.weight.shape[1])
    return int(base.out_features)


def mlp_blocks(model: nn.Module) -> list[MLPBlock]:
    """Every decoder block's MLP, in layer order, for plain, PEFT-wrapped and quantized models."""
    spec = architecture_spec(model)
    base = unwrap_model(model)
    layers = next((found for path in spec.layers if (found := _get_path(base, path)) is not None), None)
    if layers is None:
        raise UnsupportedArchitectureError(
            f"{type(base).__name__} has model_type {model_type(model)!r} but none of the block lists "
            f"{spec.layers} exists on it; its ArchitectureSpec in fnsft.models._architectures needs updating."
        )
    blocks = []
    for index, layer in enumerate(layers):
        down = _get_path(layer, spec.down_proj)
        ups = tuple(_get_path(layer, path) for path in spec.up_projections)
        if down is None or any(up is None for up in ups):
            raise UnsupportedArchitectureError(
                f"Layer {index} of {type(base).__name__} lacks {spec.down_proj} or one of {spec.up_projections}."
            )
        blocks.append(MLPBlock(index, down, ups, _input_width(down), spec.fused_gate_up))
    return blocks


@dataclass(frozen=True)
class ModelShape:
    """What a template must agree with to apply to a model: family, depth and per-layer widths."""

    model_type: str
    num_layers: int
    intermediate_sizes: tuple[int, ...]
    hidden_size: int

    @property
    def total_neurons(self) -> int:
        return sum(self.intermediate_sizes)

    def to_dict(self) -> dict:
        return {
            "model_type": self.model_type,
            "num_layers": self.num_layers,
            "intermediate_sizes": list(self.intermediate_sizes),
            "hidden_size": self.hidden_size,
        }

    @classmethod
    def from_dict(cls, data: dict) -> ModelShape:
        return cls(
            str(data["model_type"]),
            int(data["num_layers"]),
            tuple(int(v) for v in data["intermediate_sizes"]),
            int(data["hidden_size"]),
        )


def model_shape(model: nn.Module) -> ModelShape:
    """The model's layer count, widths and family, as templates record them.

    >>> fnsft.model_shape(model)  # a tiny Llama: 3 layers of 48 MLP neurons, hidden size 32
    ModelShape(model_type='llama', num_layers=3, intermediate_sizes=(48, 48, 48), hidden_size=32)
    """
    blocks = mlp_blocks(model)
    return ModelShape(
        model_type=model_type(model),
        num_layers=len(blocks),
        intermediate_sizes=tuple(block.intermediate_size for block in blocks),
        hidden_size=output_width(blocks[0].down_proj),
    )


def hook_site(block: MLPBlock, site: str, transform: Callable[[torch.Tensor], torch.Tensor | None]):
    """Attach `transform` at a block's neuron site, for capture and masking alike: the down-projection's input
    ("intermediate" neurons, a pre-hook) or its output ("mlp_output" channels, a forward hook). `transform` gets
    the activation and returns its replacement, or None to leave it; returns the removable handle."""
    if site == "intermediate":

        def pre_hook(module, args):
            replaced = transform(args[0])
            return None if replaced is None else (replaced, *args[1:])

        return block.down_proj.register_forward_pre_hook(pre_hook)
    return block.down_proj.register_forward_hook(lambda module, args, output: transform(output))


def neuron_rows(block: MLPBlock, neurons: torch.Tensor) -> list[tuple[nn.Module, int, torch.Tensor]]:
    """(module, dimension, indices) for every weight slice that belongs to `neurons` of this block.

    The up/gate projections own the neurons as output rows (columns for Conv1D); the down-projection owns them as
    input columns (rows for Conv1D). A fused gate_up projection owns rows j and I + j.
    """
    width = block.intermediate_size
    slices = []
    for up in block.up_projections:
        ids = torch.cat([neurons, neurons + width]) if block.fused_gate_up else neurons
        slices.append((up, 1 if is_conv1d(up) else 0, ids))
    slices.append((block.down_proj, 0 if is_conv1d(block.down_proj) else 1, neurons))
    return slices
