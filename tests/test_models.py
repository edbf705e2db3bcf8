"""Device/dtype policy, model loading (folders, GGUF, embedded), quantization refusal, LoRA set-up."""

from __future__ import annotations

import pytest
import torch
from conftest import tiny_llama

import fnsft
from fnsft.errors import ModelLoadError, QuantizationUnavailableError
from fnsft.models import _devices as devices
from fnsft.models import load_model, model_id, setup_lora
from fnsft.models._devices import (
    cpu_has_native_bf16,
    default_dtype,
    get_optimal_device,
    matrix_dtype,
    resolve_device,
    resolve_dtype,
)
from fnsft.models._loading import quantization_config, resolve_model_source


def test_device_and_dtype_policy():
    assert get_optimal_device().type == ("cuda" if torch.cuda.is_available() else get_optimal_device().type)
    assert default_dtype(torch.device("cpu")) == torch.float32
    assert default_dtype(torch.device("mps")) == torch.float16
    assert resolve_dtype("bf16", torch.device("cpu")) == torch.bfloat16
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    with pytest.raises(ValueError, match="Unknown dtype 'float8'"):
        resolve_dtype("float8", torch.device("cpu"))


def test_the_discovery_matrix_is_float32_unless_bfloat16_is_asked_for(tmp_path, monkeypatch):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text("flags\t\t: fpu sse avx2 avx512f avx512bw\n")
    assert not cpu_has_native_bf16(cpuinfo)  # AVX-512 alone emulates bf16
    cpuinfo.write_text("flags\t\t: fpu avx512f avx512_bf16 amx_tile\n")
    assert cpu_has_native_bf16(cpuinfo)
    cpuinfo.write_text("flags\t\t: fpu amx_bf16\n")
    assert cpu_has_native_bf16(cpuinfo)
    assert not cpu_has_native_bf16(tmp_path / "absent")  # not Linux: float32
    assert matrix_dtype() == torch.float32 and matrix_dtype("bfloat16") == torch.bfloat16
    for native, dtype in ((True, torch.bfloat16), (False, torch.float32)):  # "auto": bf16 only in hardware
        monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda native=native: native)
        assert matrix_dtype("auto") == dtype


def test_cuda_and_quantization_are_refused_clearly_without_a_gpu():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    for mode in ("4bit", "8bit"):
        with pytest.raises(
            QuantizationUnavailableError, match=f"quantization='{mode}' needs bitsandbytes on a CUDA"
        ):
            quantization_config(mode, torch.device("cpu"), torch.float32)
    with pytest.raises(QuantizationUnavailableError):
        load_model("/nonexistent-is-never-reached", quantization="4bit")
    with pytest.raises(ValueError, match="'3bit' is not supported"):
        quantization_config("3bit", torch.device("cpu"), torch.float32)


def test_bad_sources_are_clear_errors(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_model_source(str(tmp_path / "missing.gguf"))
    with pytest.raises(ModelLoadError, match="holds no config.json"):
        resolve_model_source(tmp_path)
    with pytest.raises(ModelLoadError, match="does not exist"):
        resolve_model_source("./no/such/folder")


def test_load_a_local_folder(tmp_path, embedded_tokenizer):
    model = tiny_llama(vocab=len(embedded_tokenizer))
    model.save_pretrained(tmp_path / "tiny")
    embedded_tokenizer.save_pretrained(tmp_path / "tiny")
    loaded, tokenizer = load_model(tmp_path / "tiny")
    assert not loaded.training
    assert loaded.dtype == torch.float32
    assert model_id(loaded) == "tiny"
    assert tokenizer.pad_token is not None
    ids = torch.tensor([[5, 6, 7]])
    assert torch.allclose(loaded(input_ids=ids).logits, model(input_ids=ids).logits)


def test_setup_lora_adapts_attention_and_mlp(tiny_model):
    peft_model = setup_lora(tiny_model, r=4)
    names = {name for name, _ in peft_model.named_modules() if name.endswith("lora_A")}
    for target in ("q_proj", "v_proj", "gate_proj", "up_proj", "down_proj"):
        assert any(f".{target}.lora_A" in name for name in names), target
    trainable = sum(p.numel() for p in peft_model.parameters() if p.requires_grad)
    assert 0 < trainable < sum(p.numel() for p in peft_model.parameters()) / 2


def test_public_api_names():
    for name in (
        "ICAMask",
        "DatasetFormatter",
        "get_optimal_device",
        "setup_lora",
        "convert_to_gguf",
        "load_model",
    ):
        assert hasattr(fnsft, name), name


@pytest.mark.integration
def test_embedded_model_loads_offline_and_answers(embedded, embedded_model_folder):
    from fnsft.analysis._generation import GenerationSettings, generate_text

    model, tokenizer = embedded
    assert model.config.model_type == "llama"
    assert fnsft.model_shape(model).intermediate_sizes == (1536,) * 30
    assert model_id(model) == "SmolLM2-135M-Instruct"
    assert (embedded_model_folder / "model.safetensors").is_file()
    answer = generate_text(
        model, tokenizer, "What is the capital of France?", settings=GenerationSettings(20)
    )
    assert "Paris" in answer


def test_a_converted_model_folder_is_readable_by_other_users(tmp_path, embedded_tokenizer):
    from fnsft.models._loading import _save_plain_copy

    target = tmp_path / "models" / "converted"
    _save_plain_copy(tiny_llama(), embedded_tokenizer, target)
    assert target.stat().st_mode & 0o777 == 0o755
    assert all(path.stat().st_mode & 0o044 == 0o044 for path in target.iterdir())  # group and others read
