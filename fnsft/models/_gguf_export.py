"""Export a fine-tuned model (plain or LoRA) to a GGUF file for llama.cpp and Ollama.

Llama-family models are written natively with gguf-py's GGUFWriter: tensors under llama.cpp's names, the Q/K rows
permuted as llama.cpp's `convert_hf_to_gguf.py` does, and the architecture metadata from the config. A GGUF also
carries the tokenizer (vocabulary, merges, special ids, chat template), which fnsft does not rebuild from a Hugging
Face tokenizer: it copies those fields from a source GGUF, found automatically for models shaped like the embedded
SmolLM2. Every other case goes through llama.cpp's own converter script when one is available.
"""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import gguf
import torch
from torch import nn

from .._files import atomic_path
from ..errors import ExportError, ModelLoadError
from ._architectures import model_type, unwrap_model
from ._loading import embedded_gguf_path, load_model

logger = logging.getLogger(__name__)

GGUFFields = dict[str, tuple[Any, gguf.GGUFValueType, gguf.GGUFValueType | None]]

OUTTYPES: dict[str, tuple[gguf.GGMLQuantizationType, gguf.LlamaFileType]] = {
    "f32": (gguf.GGMLQuantizationType.F32, gguf.LlamaFileType.ALL_F32),
    "f16": (gguf.GGMLQuantizationType.F16, gguf.LlamaFileType.MOSTLY_F16),
    "bf16": (gguf.GGMLQuantizationType.BF16, gguf.LlamaFileType.MOSTLY_BF16),
}
NATIVE_MODEL_TYPES = ("llama", "mistral")
CONVERTER_NAME = "convert_hf_to_gguf.py"

# general.* fields of a source GGUF that describe its own file rather than the model; the writer sets them anew.
_FILE_SPECIFIC_KEYS = frozenset(
    {"general.architecture", "general.file_type", "general.quantization_version", "general.alignment"}
)
# Config attributes that must equal the source GGUF's `llama.*` fields for its tokenizer to be borrowed unasked.
_SHAPE_KEYS = {
    "embedding_length": "hidden_size",
    "block_count": "num_hidden_layers",
    "feed_forward_length": "intermediate_size",
    "attention.head_count": "num_attention_heads",
    "attention.head_count_kv": "num_key_value_heads",
}


def convert_to_gguf(
    model_or_path: nn.Module | str | os.PathLike,
    output_path: str | os.PathLike,
    *,
    tokenizer: Any = None,
    outtype: str = "f16",
    source_gguf: str | os.PathLike | None = None,
    converter_script: str | os.PathLike | None = None,
) -> Path:
    """Write `model_or_path` as a GGUF file at `output_path` and return that path.

    model_or_path: a loaded model (plain transformers or PEFT), or anything `fnsft.load_model` accepts (model
    folder, PEFT adapter folder, `.gguf` file). LoRA adapters are merged into the exported weights. The caller's
    PEFT model is left untouched: the merge runs on a deep copy, which needs memory for a second copy of the model.
    tokenizer: the model's tokenizer; used to confirm the embedded tokenizer matches, and needed by the converter.
    outtype: "f32", "f16" or "bf16" for the matrices; norms and biases stay f32, as in llama.cpp.
    source_gguf: a GGUF whose `tokenizer.*` and descriptive `general.*` fields are copied (the embedded model's
    GGUF is used without asking when the model has its shape and vocabulary; a `.gguf` input is its own source).
    converter_script: llama.cpp's convert_hf_to_gguf.py (else $LLAMA_CPP_DIR/convert_hf_to_gguf.py), run on a
    temporary Hugging Face folder when no tokenizer source fits or the architecture has no native writer.

    The file appears only when complete: it is written under a temporary name in the same folder, then renamed.

    A fine-tuned SmolLM2 (`fnsft.convert_to_gguf("runs/my-run/final", "my-run.gguf")`) needs no source; another
    model names the GGUF of its base:

    >>> print(fnsft.convert_to_gguf("tiny-model", "tiny.gguf", source_gguf="base.gguf"))
    tiny.gguf
    """
    if outtype not in OUTTYPES:
        raise ValueError(
            f"outtype={outtype!r} is not supported; use one of {', '.join(map(repr, OUTTYPES))}."
        )
    output = Path(output_path)
    if output.is_dir():
        raise ValueError(
            f"output_path {output} is a folder; give a file path such as {output / 'model.gguf'}."
        )
    owned = not isinstance(model_or_path, nn.Module)
    if owned:
        if source_gguf is None and str(model_or_path).endswith(".gguf"):
            source_gguf = model_or_path
        model, loaded_tokenizer = load_model(model_or_path, device="cpu", dtype=torch.float32)
        tokenizer = tokenizer if tokenizer is not None else loaded_tokenizer
    else:
        model = model_or_path
    base = unwrap_model(model)
    # fnsft's GGUF-loaded models carry a "gguf" quantization marker but hold plain weights
    method = _quantization_method(base.config)
    if method not in (None, "gguf"):
        raise ExportError(
            f"Cannot export a {method}-quantized model: its weights are packed. Load the base model unquantized "
            "(quantization=None), attach the trained adapter and export that."
        )
    kind = model_type(model)
    script = _converter_script(converter_script)
    source = _tokenizer_source(base, tokenizer, source_gguf) if kind in NATIVE_MODEL_TYPES else None
    if source is None and script is None:
        if kind not in NATIVE_MODEL_TYPES:
            raise ExportError(
                f"fnsft has no native GGUF writer for model_type {kind!r} (only {', '.join(NATIVE_MODEL_TYPES)}). "
                f"Pass converter_script='path/to/llama.cpp/{CONVERTER_NAME}' or set LLAMA_CPP_DIR to a llama.cpp "
                "checkout."
            )
        raise ExportError(
            "A GGUF must carry the tokenizer, and fnsft found no source for it. Pass source_gguf= a GGUF file of "
            "the base model (its tokenizer.* fields are copied), or converter_script='path/to/llama.cpp/"
            f"{CONVERTER_NAME}' (or set LLAMA_CPP_DIR) to let llama.cpp's converter build it."
        )
    merged = _merged(model, owned)
    with atomic_path(output) as temp:
        if source is not None:
            _write_llama(merged, source, temp, outtype)
        else:
            logger.info("Exporting %s through %s", kind, script)
            _run_converter(script, merged, tokenizer, temp, outtype, output.stem)
    return output


def _quantization_method(config: Any) -> str | None:
    quantization = getattr(config, "quantization_config", None)
    if isinstance(quantization, dict):
        return quantization.get("quant_method")
    method = getattr(quantization, "quant_method", None)
    return None if method is None else str(getattr(method, "value", method))


def _converter_script(explicit: str | os.PathLike | None) -> Path | None:
    """The llama.cpp converter to fall back on: the explicit path (which must exist), else $LLAMA_CPP_DIR's."""
    if explicit is not None:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ExportError(
                f"converter_script {path} does not exist; give the path of llama.cpp's {CONVERTER_NAME}."
            )
        return path
    root = os.environ.get("LLAMA_CPP_DIR")
    if root and (Path(root).expanduser() / CONVERTER_NAME).is_file():
        return Path(root).expanduser() / CONVERTER_NAME
    return None


def _tokenizer_source(
    model: nn.Module, tokenizer: Any, source_gguf: str | os.PathLike | None
) -> GGUFFields | None:
    """Metadata of a GGUF whose tokenizer fits `model`: the given one (checked), else the embedded one if it matches."""
    rows = model.get_input_embeddings().weight.shape[0]
    if source_gguf is not None:
        if not Path(source_gguf).is_file():
            raise ExportError(f"source_gguf {source_gguf} does not exist.")
        fields = _gguf_fields(Path(source_gguf))
        if "tokenizer.ggml.tokens" not in fields:
            raise ExportError(f"{source_gguf} holds no tokenizer (no tokenizer.ggml.tokens field) to copy.")
        count = len(fields["tokenizer.ggml.tokens"][0])
        if count != rows:
            raise ExportError(
                f"{source_gguf} has {count} tokens but the model's embedding has {rows} rows; give the GGUF of the "
                "model's own base, or use llama.cpp's converter (converter_script=) for a changed vocabulary."
            )
        return fields
    try:
        fields = _gguf_fields(embedded_gguf_path())
    except ModelLoadError:
        return None
    return fields if _same_model(fields, model, tokenizer, rows) else None


def _same_model(fields: GGUFFields, model: nn.Module, tokenizer: Any, rows: int) -> bool:
    """Whether `model` (and `tokenizer`, when given) has the shape and vocabulary of the GGUF described by `fields`."""
    arch = fields["general.architecture"][0]
    for key, attribute in _SHAPE_KEYS.items():
        if fields.get(f"{arch}.{key}", (None,))[0] != getattr(model.config, attribute, None):
            return False
    tokens = fields.get("tokenizer.ggml.tokens", ([],))[0]
    if len(tokens) != rows:
        return False
    return tokenizer is None or (
        len(tokenizer) == rows and tokenizer.convert_ids_to_tokens(list(range(rows))) == tokens
    )


def _gguf_fields(path: Path) -> GGUFFields:
    stat = path.stat()
    return _read_gguf_fields(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=4)
def _read_gguf_fields(path: str, size: int, mtime_ns: int) -> GGUFFields:
    """{key: (value, type, array item type)} of a GGUF, cached: parsing a 50k-token vocabulary takes seconds."""
    fields = {}
    for key, field in gguf.GGUFReader(path).fields.items():
        vtype = field.types[0]
        fields[key] = (field.contents(), vtype, field.types[1] if vtype == gguf.GGUFValueType.ARRAY else None)
    return fields


def _merged(model: nn.Module, owned: bool) -> nn.Module:
    """The plain transformers model with any PEFT adapters merged in, never changing a caller's model."""
    while isinstance(model, nn.parallel.DistributedDataParallel):
        model = model.module
    if hasattr(model, "merge_and_unload"):
        return (model if owned else copy.deepcopy(model)).merge_and_unload()
    return unwrap_model(model)


def _permute(weights: torch.Tensor, n_head: int) -> torch.Tensor:
    """llama.cpp's Q/K row order: each head's rotate-half pairs (i, i + d/2) become adjacent rows (2i, 2i + 1)."""
    return (
        weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
        .swapaxes(1, 2)
        .reshape(weights.shape)
    )


def _rope(config: Any) -> tuple[float, dict]:
    """(rope theta, scaling parameters) from transformers 5 `rope_parameters` or 4.x `rope_theta`/`rope_scaling`."""
    params = dict(getattr(config, "rope_parameters", None) or getattr(config, "rope_scaling", None) or {})
    theta = params.get("rope_theta", getattr(config, "rope_theta", None) or 10000.0)
    return float(theta), params


def _llama3_rope_factors(config: Any) -> torch.Tensor:
    """The per-frequency divisors llama.cpp reads from `rope_freqs.weight` for Llama 3.1+ "llama3" RoPE scaling."""
    theta, params = _rope(config)
    dim = _head_dim(config)
    freqs = 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim))
    factor = params.get("factor", 8.0)
    low, high = params.get("low_freq_factor", 1.0), params.get("high_freq_factor", 4.0)
    old_context = params.get("original_max_position_embeddings") or getattr(
        config, "original_max_position_embeddings", 8192
    )
    factors = []
    for freq in freqs.tolist():
        wavelen = 2 * math.pi / freq
        if wavelen < old_context / high:
            factors.append(1.0)
        elif wavelen > old_context / low:
            factors.append(factor)
        else:
            smooth = (old_context / wavelen - low) / (high - low)
            factors.append(1 / ((1 - smooth) / factor + smooth))
    return torch.tensor(factors, dtype=torch.float32)


def _head_dim(config: Any) -> int:
    return getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads


def _write_llama(model: nn.Module, source: GGUFFields, path: Path, outtype: str) -> None:
    """Write a Llama/Mistral model as llama.cpp's `llama` architecture, tokenizer fields copied from `source`."""
    config = model.config
    if getattr(config, "hidden_act", "silu") != "silu":
        raise ExportError(f"llama.cpp's llama architecture uses SiLU; this model uses {config.hidden_act!r}.")
    theta, rope = _rope(config)
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    if rope_type not in ("default", "linear", "llama3"):
        raise ExportError(
            f"RoPE scaling {rope_type!r} has no native GGUF export; use llama.cpp's converter (converter_script=)."
        )
    qtype, file_type = OUTTYPES[outtype]
    heads, kv_heads = config.num_attention_heads, config.num_key_value_heads or config.num_attention_heads
    state = model.state_dict()
    embed = model.get_input_embeddings().weight
    writer = gguf.GGUFWriter(path, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    try:
        _copy_fields(writer, source)
        writer.add_context_length(config.max_position_embeddings)
        writer.add_embedding_length(config.hidden_size)
        writer.add_block_count(config.num_hidden_layers)
        writer.add_feed_forward_length(config.intermediate_size)
        writer.add_head_count(heads)
        writer.add_head_count_kv(kv_heads)
        writer.add_rope_freq_base(theta)
        writer.add_layer_norm_rms_eps(config.rms_norm_eps)
        writer.add_vocab_size(embed.shape[0])
        writer.add_rope_dimension_count(_head_dim(config))
        writer.add_key_length(_head_dim(config))
        writer.add_value_length(_head_dim(config))
        if rope_type == "linear":
            writer.add_rope_scaling_type(gguf.RopeScalingType.LINEAR)
            writer.add_rope_scaling_factor(rope["factor"])
        writer.add_file_type(file_type)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)

        names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config.num_hidden_layers)
        lm_head = state.get("lm_head.weight")
        for name, tensor in state.items():
            if name == "lm_head.weight" and lm_head is not None and torch.equal(lm_head, embed):
                continue  # tied: llama.cpp reuses token_embd when `output` is absent
            stem, _, suffix = name.rpartition(".")
            gguf_name = names.get_name(stem)
            if gguf_name is None:
                raise ExportError(f"{name} has no llama.cpp tensor name; this model is not a plain Llama.")
            data = tensor.detach().to("cpu", torch.float32)
            if stem.endswith("self_attn.q_proj"):
                data = _permute(data, heads)
            elif stem.endswith("self_attn.k_proj"):
                data = _permute(data, kv_heads)
            _add_tensor(writer, f"{gguf_name}.{suffix}", data, qtype)
        if rope_type == "llama3":
            rope_freqs = gguf.TENSOR_NAMES[gguf.MODEL_TENSOR.ROPE_FREQS] + ".weight"
            _add_tensor(writer, rope_freqs, _llama3_rope_factors(config), qtype)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
    finally:
        writer.close()


def _copy_fields(writer: gguf.GGUFWriter, fields: GGUFFields) -> None:
    """Copy the tokenizer and the descriptive general.* fields (name, license, ...) with their GGUF types."""
    for key, (value, vtype, sub_type) in fields.items():
        if key.startswith("tokenizer.") or (key.startswith("general.") and key not in _FILE_SPECIFIC_KEYS):
            writer.add_key_value(key, value, vtype, sub_type)


def _add_tensor(
    writer: gguf.GGUFWriter, name: str, data: torch.Tensor, qtype: gguf.GGMLQuantizationType
) -> None:
    """Add one tensor; 1-D tensors, norms and biases stay f32 as llama.cpp's kernels expect."""
    if data.dim() <= 1 or name.endswith("_norm.weight") or not name.endswith(".weight"):
        qtype = gguf.GGMLQuantizationType.F32
    array = gguf.quants.quantize(data.contiguous().numpy(), qtype)
    writer.add_tensor(name, array, raw_dtype=qtype)


def _run_converter(
    script: Path, model: nn.Module, tokenizer: Any, target: Path, outtype: str, name: str
) -> None:
    """Save `model` as a temporary Hugging Face folder `name` beside `target`; run llama.cpp's converter on it."""
    from safetensors.torch import save_file

    if tokenizer is None:
        raise ExportError(
            "llama.cpp's converter reads the tokenizer files: pass tokenizer= (the model's tokenizer)."
        )
    with tempfile.TemporaryDirectory(prefix=".fnsft-export-", dir=target.parent) as scratch:
        folder = os.path.join(scratch, name)  # the converter names the model after its folder
        os.mkdir(folder)
        state = model.state_dict()
        tensors: dict[str, torch.Tensor] = {}
        seen: set[int] = set()
        for key, tensor in state.items():
            if tensor.data_ptr() in seen:
                continue  # a tied copy (lm_head = embeddings); the config says it is tied
            seen.add(tensor.data_ptr())
            tensors[key] = tensor.detach().cpu().contiguous()
        save_file(tensors, os.path.join(folder, "model.safetensors"), metadata={"format": "pt"})
        config = model.config.to_dict()
        config.pop("quantization_config", None)  # only the "gguf" marker reaches here; the weights are plain
        config["architectures"] = config.get("architectures") or [type(model).__name__]
        if "lm_head.weight" in state and "lm_head.weight" not in tensors:
            config["tie_word_embeddings"] = True
        Path(folder, "config.json").write_text(json.dumps(config, indent=2, default=str))
        tokenizer.save_pretrained(folder)
        command = [sys.executable, str(script), folder, "--outfile", str(target), "--outtype", outtype]
        result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise ExportError(
            f"llama.cpp's converter failed (exit {result.returncode}): {' '.join(command)}\n"
            f"{(result.stderr or result.stdout)[-2000:]}"
        )
    if not target.is_file():
        raise ExportError(f"llama.cpp's converter exited cleanly but wrote no file at {target}.")
