"""Shared fixtures: tiny random models for fast tests, the real embedded model for integration tests."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import pytest
import torch


def tiny_llama(seed: int = 0, layers: int = 3, intermediate: int = 48, hidden: int = 32, vocab: int = 128):
    """A randomly initialised Llama small enough for unit tests (milliseconds per forward pass)."""
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=vocab,
        hidden_size=hidden,
        intermediate_size=intermediate,
        num_hidden_layers=layers,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        pad_token_id=0,
        eos_token_id=1,
        bos_token_id=2,
    )
    model = LlamaForCausalLM(config).eval()
    return model


WORDS = [f"w{i}" for i in range(120)]


def word_tokenizer():
    """A word-level tokenizer built in memory (no files): ids 0-3 special, then w0..w119."""
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "</s>": 1, "<s>": 2, "<unk>": 3, **{w: i + 4 for i, w in enumerate(WORDS)}}
    core = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", bos_token="<s>", unk_token="<unk>"
    )


@pytest.fixture
def tiny_model():
    return tiny_llama()


@pytest.fixture(scope="session")
def embedded_model_folder():
    """The safetensors conversion of the embedded GGUF (made once per cache, ~30 s the first time)."""
    from fnsft.models._loading import converted_gguf_folder, embedded_gguf_path

    return converted_gguf_folder(embedded_gguf_path())


@pytest.fixture(scope="session")
def embedded_tokenizer(embedded_model_folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(embedded_model_folder))


@pytest.fixture(scope="session")
def embedded(embedded_model_folder):
    """(model, tokenizer) of the real embedded model through fnsft.load_model, shared by integration tests."""
    from fnsft import load_model

    return load_model()


@pytest.fixture(scope="session")
def tiny_folder(tmp_path_factory, embedded_tokenizer):
    """A saved tiny Llama with the embedded tokenizer: a model folder that trains in seconds."""
    folder = tmp_path_factory.mktemp("model") / "tiny"
    tiny_llama(vocab=len(embedded_tokenizer)).save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    return folder
