"""GGUF export: exported files load back in transformers' GGUF reader with the same logits and tokenizer."""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import gguf
import numpy as np
import pytest
import torch
from conftest import tiny_llama

from fnsft.errors import ExportError
from fnsft.models import setup_lora
from fnsft.models._gguf_export import _run_converter, convert_to_gguf

LLAMA_CPP_DIR = os.environ.get("LLAMA_CPP_DIR")  # read before the autouse fixture hides it from the tests
PROMPT_IDS = torch.tensor([[1, 5, 17, 42, 99, 3, 64, 120]])


@pytest.fixture(autouse=True)
def _no_llama_cpp(monkeypatch):
    """Tests decide themselves whether a llama.cpp converter is reachable."""
    monkeypatch.delenv("LLAMA_CPP_DIR", raising=False)


def write_source_gguf(path: Path, vocab: int = 128) -> Path:
    """A tensor-less GGUF holding only tokenizer and general.* metadata, as a tokenizer source for tiny models."""
    writer = gguf.GGUFWriter(path, "llama")
    writer.add_name("tiny source")
    writer.add_license("apache-2.0")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list([f"tok{i}" for i in range(vocab)])
    writer.add_token_types([gguf.TokenType.NORMAL] * vocab)
    writer.add_eos_token_id(1)
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q4_1)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


def reload(path: Path):
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name, dtype=torch.float32)
    return model.eval()


@torch.no_grad()
def logits(model, ids: torch.Tensor = PROMPT_IDS) -> torch.Tensor:
    return model(ids).logits


def tiny_gpt2():
    from transformers import GPT2Config, GPT2LMHeadModel

    return GPT2LMHeadModel(GPT2Config(n_layer=1, n_embd=16, n_head=2, vocab_size=64, n_positions=32)).eval()


@pytest.mark.parametrize(("outtype", "atol"), [("f32", 1e-5), ("f16", 1e-3), ("bf16", 1e-2)])
def test_tiny_llama_round_trip(tmp_path, outtype, atol):
    model = tiny_llama()  # 4 query heads, 2 KV heads: the Q and K permutations differ
    with torch.no_grad():  # sharper attention, so that a wrong Q/K row order shows in the logits (by ~0.06)
        for layer in model.model.layers:
            layer.self_attn.q_proj.weight.mul_(8)
            layer.self_attn.k_proj.weight.mul_(8)
    source = write_source_gguf(tmp_path / "source.gguf")
    out = convert_to_gguf(model, tmp_path / "out" / "tiny.gguf", outtype=outtype, source_gguf=source)

    assert out == tmp_path / "out" / "tiny.gguf"
    torch.testing.assert_close(logits(reload(out)), logits(model), atol=atol, rtol=0)
    reader = gguf.GGUFReader(out)
    assert reader.fields["general.name"].contents() == "tiny source"
    assert reader.fields["tokenizer.ggml.tokens"].contents()[:2] == ["tok0", "tok1"]
    assert reader.fields["general.file_type"].contents() == {"f32": 0, "f16": 1, "bf16": 32}[outtype]
    types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    assert types["blk.0.attn_q.weight"] == outtype.upper()
    assert types["blk.2.ffn_norm.weight"] == "F32"
    assert "output.weight" in types  # tiny_llama does not tie its embeddings
    assert sorted(p.name for p in out.parent.iterdir()) == ["tiny.gguf"]


def test_lora_adapters_are_merged_and_the_callers_model_is_untouched(tmp_path):
    base = tiny_llama()
    base_logits = logits(base)
    peft_model = setup_lora(copy.deepcopy(base), r=4, alpha=8).eval()
    torch.manual_seed(1)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.2)
    peft_logits = logits(peft_model)
    before = {name: tensor.clone() for name, tensor in peft_model.state_dict().items()}
    source = write_source_gguf(tmp_path / "source.gguf")

    out = convert_to_gguf(peft_model, tmp_path / "merged.gguf", outtype="f32", source_gguf=source)

    exported = logits(reload(out))
    torch.testing.assert_close(exported, peft_logits, atol=1e-5, rtol=0)
    assert (exported - base_logits).abs().max() > 100 * 1e-5
    after = peft_model.state_dict()
    assert after.keys() == before.keys()  # still wrapped: lora_A/lora_B and base_layer weights all present
    assert all(torch.equal(after[name], tensor) for name, tensor in before.items())
    assert torch.equal(logits(peft_model), peft_logits)


def word_tokenizer(vocab: int = 128):
    """A real fast tokenizer over the words tok0..tok{vocab-1}, the vocabulary of `write_source_gguf`."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.WordLevel({f"tok{i}": i for i in range(vocab)}, unk_token="tok0"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    return PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="tok1")


def test_a_peft_adapter_folder_is_loaded_merged_and_exported(tmp_path):
    base_dir, adapter_dir = tmp_path / "base", tmp_path / "adapter"
    tiny_llama().save_pretrained(base_dir)
    word_tokenizer().save_pretrained(base_dir)
    peft_model = setup_lora(tiny_llama(), r=4, alpha=8).eval()
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.2)
    peft_model.peft_config["default"].base_model_name_or_path = str(base_dir)
    peft_model.save_pretrained(adapter_dir)
    source = write_source_gguf(tmp_path / "source.gguf")

    out = convert_to_gguf(adapter_dir, tmp_path / "adapter.gguf", outtype="f32", source_gguf=source)

    torch.testing.assert_close(logits(reload(out)), logits(peft_model), atol=1e-5, rtol=0)


def test_llama3_rope_scaling_is_written_as_rope_freqs(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM
    from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS

    rope = {
        "rope_type": "llama3",
        "rope_theta": 500000.0,
        "factor": 32.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8192,
    }
    config = LlamaConfig(
        vocab_size=128,
        hidden_size=64,
        intermediate_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        max_position_embeddings=16384,
        rope_parameters=rope,
    )
    source = write_source_gguf(tmp_path / "source.gguf")
    out = convert_to_gguf(LlamaForCausalLM(config), tmp_path / "l3.gguf", source_gguf=source)

    tensor = next(t for t in gguf.GGUFReader(out).tensors if t.name == "rope_freqs.weight")
    factors = torch.from_numpy(np.array(tensor.data, dtype=np.float32))
    plain = 1.0 / (500000.0 ** (torch.arange(0, 32, 2, dtype=torch.float32) / 32))
    scaled, _ = ROPE_INIT_FUNCTIONS["llama3"](config, "cpu")
    torch.testing.assert_close(plain / factors, scaled, rtol=1e-5, atol=0)


def test_bad_outtype_names_the_allowed_values(tmp_path):
    with pytest.raises(ValueError, match="'f32', 'f16', 'bf16'"):
        convert_to_gguf(tiny_llama(), tmp_path / "x.gguf", outtype="q4_0")
    assert list(tmp_path.iterdir()) == []


def test_unsupported_architecture_without_converter_names_the_model_type(tmp_path):
    with pytest.raises(ExportError, match=r"model_type 'gpt2'.*convert_hf_to_gguf\.py.*LLAMA_CPP_DIR"):
        convert_to_gguf(tiny_gpt2(), tmp_path / "x.gguf")
    assert list(tmp_path.iterdir()) == []


def test_llama_without_tokenizer_source_says_what_is_needed(tmp_path):
    with pytest.raises(ExportError, match=r"source_gguf=.*convert_hf_to_gguf\.py"):
        convert_to_gguf(tiny_llama(), tmp_path / "x.gguf")
    assert list(tmp_path.iterdir()) == []


def test_packed_quantized_models_are_refused(tmp_path):
    model = tiny_llama()
    model.config.quantization_config = {"quant_method": "bitsandbytes", "load_in_4bit": True}
    with pytest.raises(ExportError, match="bitsandbytes-quantized.*quantization=None"):
        convert_to_gguf(model, tmp_path / "x.gguf", source_gguf=write_source_gguf(tmp_path / "source.gguf"))
    assert not (tmp_path / "x.gguf").exists()


def test_source_gguf_with_another_vocabulary_is_refused(tmp_path):
    source = write_source_gguf(tmp_path / "source.gguf", vocab=64)
    with pytest.raises(ExportError, match="64 tokens but the model's embedding has 128 rows"):
        convert_to_gguf(tiny_llama(), tmp_path / "x.gguf", source_gguf=source)
    assert not (tmp_path / "x.gguf").exists()


def test_a_failed_write_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, monkeypatch):
    source = write_source_gguf(tmp_path / "source.gguf")
    target = tmp_path / "x.gguf"
    target.write_bytes(b"previous export")

    def fail(self, *args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(
        gguf.GGUFWriter, "write_tensors_to_file", fail
    )  # after header and metadata are on disk
    with pytest.raises(OSError, match="disk full"):
        convert_to_gguf(tiny_llama(), target, source_gguf=source)
    assert target.read_bytes() == b"previous export"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.gguf", "x.gguf"]


FAKE_CONVERTER = """
import json, os, sys
folder, outfile, outtype = sys.argv[1], sys.argv[sys.argv.index("--outfile") + 1], sys.argv[-1]
with open(outfile, "w") as f:
    f.write("partial")
    if os.environ.get("FAKE_CONVERTER_FAILS"):
        sys.exit("boom: unsupported tokenizer")
config = json.load(open(os.path.join(folder, "config.json")))
with open(outfile, "w") as f:
    json.dump({"files": sorted(os.listdir(folder)), "name": os.path.basename(folder), "config": config, "outtype": outtype,
               "outdir": os.path.dirname(os.path.abspath(outfile))}, f)
"""


class StubTokenizer:
    def save_pretrained(self, folder: str) -> None:
        Path(folder, "tokenizer.json").write_text("{}")


@pytest.mark.parametrize("found_via", ["argument", "LLAMA_CPP_DIR"])
def test_other_architectures_go_through_llama_cpps_converter(tmp_path, monkeypatch, found_via):
    script = tmp_path / "llama.cpp" / "convert_hf_to_gguf.py"
    script.parent.mkdir()
    script.write_text(FAKE_CONVERTER)
    if found_via == "LLAMA_CPP_DIR":
        monkeypatch.setenv("LLAMA_CPP_DIR", str(script.parent))
    out_dir = tmp_path / "out"

    out = convert_to_gguf(
        tiny_gpt2(),
        out_dir / "gpt2.gguf",
        tokenizer=StubTokenizer(),
        outtype="bf16",
        converter_script=script if found_via == "argument" else None,
    )

    report = json.loads(out.read_text())
    assert report["files"] == ["config.json", "model.safetensors", "tokenizer.json"]
    assert report["name"] == "gpt2"  # llama.cpp names the model after the folder
    assert report["config"]["architectures"] == ["GPT2LMHeadModel"]
    assert report["config"]["tie_word_embeddings"] is True
    assert report["outtype"] == "bf16"
    assert report["outdir"] == str(out_dir)  # written beside the target, then renamed
    assert sorted(p.name for p in out_dir.iterdir()) == ["gpt2.gguf"]


def test_a_failing_converter_reports_its_error_and_leaves_nothing(tmp_path, monkeypatch):
    script = tmp_path / "convert_hf_to_gguf.py"
    script.write_text(FAKE_CONVERTER)
    monkeypatch.setenv("FAKE_CONVERTER_FAILS", "1")
    out_dir = tmp_path / "out"
    with pytest.raises(ExportError, match="boom: unsupported tokenizer"):
        convert_to_gguf(tiny_gpt2(), out_dir / "x.gguf", tokenizer=StubTokenizer(), converter_script=script)
    assert list(out_dir.iterdir()) == []


def test_the_converter_needs_the_tokenizer(tmp_path):
    script = tmp_path / "convert_hf_to_gguf.py"
    script.write_text(FAKE_CONVERTER)
    with pytest.raises(ExportError, match="pass tokenizer="):
        convert_to_gguf(tiny_gpt2(), tmp_path / "out" / "x.gguf", converter_script=script)
    assert list((tmp_path / "out").iterdir()) == []


@pytest.mark.integration
def test_embedded_model_round_trips_through_f32_gguf(embedded, tmp_path):
    from transformers import AutoTokenizer

    model, tokenizer = embedded
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids

    out = convert_to_gguf(model, tmp_path / "x.gguf", tokenizer=tokenizer, outtype="f32")

    names = {tensor.name for tensor in gguf.GGUFReader(out).tensors}
    assert "output.weight" not in names  # SmolLM2 ties its embeddings
    assert (logits(reload(out), ids) - logits(model, ids)).abs().max() <= 1e-4
    sentence = "Fine-tuning SmolLM2 with LoRA, then chatting in Ollama: naïve café, 42!"
    reloaded_tokenizer = AutoTokenizer.from_pretrained(str(tmp_path), gguf_file="x.gguf")
    assert reloaded_tokenizer(sentence).input_ids == tokenizer(sentence).input_ids


@pytest.mark.integration
def test_embedded_lora_model_exports_merged_weights_as_f16(embedded, tmp_path):
    model, tokenizer = embedded
    ids = tokenizer("The capital of France is", return_tensors="pt").input_ids
    peft_model = setup_lora(copy.deepcopy(model), r=4, alpha=8).eval()
    torch.manual_seed(0)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.03)
    peft_logits = logits(peft_model, ids)
    assert (peft_logits - logits(model, ids)).abs().max() > 1.0

    out = convert_to_gguf(peft_model, tmp_path / "lora.gguf")  # f16; tokenizer source found from the shape

    exported = logits(reload(out), ids)
    assert (exported - peft_logits).abs().max() <= 5e-2
    assert torch.equal(logits(peft_model, ids), peft_logits)
    assert any("lora_A" in name for name, _ in peft_model.named_parameters())


@pytest.mark.integration
@pytest.mark.skipif(
    not LLAMA_CPP_DIR, reason="set LLAMA_CPP_DIR to a llama.cpp checkout to compare with its converter"
)
def test_native_writer_matches_llama_cpps_converter(embedded, tmp_path):
    model, tokenizer = embedded
    native = gguf.GGUFReader(
        convert_to_gguf(model, tmp_path / "native.gguf", tokenizer=tokenizer, outtype="f32")
    )
    script = Path(LLAMA_CPP_DIR) / "convert_hf_to_gguf.py"
    _run_converter(script, model, tokenizer, tmp_path / "reference.gguf", "f32", "reference")
    reference = gguf.GGUFReader(tmp_path / "reference.gguf")

    ours = {tensor.name: tensor for tensor in native.tensors}
    assert ours.keys() == {tensor.name for tensor in reference.tensors}
    for tensor in reference.tensors:
        assert ours[tensor.name].tensor_type == tensor.tensor_type
        assert np.array_equal(ours[tensor.name].data, tensor.data), tensor.name
    for key, field in reference.fields.items():
        if key.startswith(("llama.", "tokenizer.")):
            assert native.fields[key].contents() == field.contents(), key
