"""Every `>>>` example in fnsft runs as a doctest, offline, on tiny models: one test per module that has examples.

Each docstring's examples start from a fresh copy of the same namespace, in a fresh working folder, with the
option flags ELLIPSIS and NORMALIZE_WHITESPACE, on one torch thread, with HF_HUB_OFFLINE=1 (conftest) and every
network connection refused (nothing downloads). No example is skipped. An example may use these names without
defining them (besides its module's own globals):

    fnsft      the package (`import fnsft`)
    model      a tiny random Llama (3 layers of 48 MLP neurons, hidden size 32), in eval mode
    tokenizer  a byte-level tokenizer of 259 tokens built in memory, with a chat template
    texts      24 short labelled records {"text", "category"}: 12 of category "code", 12 of "geography"
    batch      tokenizer(...) of two short texts, padded: `model(**batch)` runs
    ica        the fitted ICAMask that found `networks`
    networks   4 networks found on `model` over `texts` (topk: 8 neurons each), with their cards
               (no stability reruns: quick)

and these files in the working folder:

    tiny-model/       `model` and `tokenizer` saved: a model folder for load_model, TrainingConfig(model=...)
    my-networks.json  `networks` saved as a template
    base.gguf         a GGUF holding only `tokenizer` (what a base model's GGUF gives convert_to_gguf)
    ica_templates/    the shipped templates, as in a checkout of the repository

Modules without `>>>` in their source are not imported (so the Gradio app's heavy imports are not paid for
nothing); every `>>>` a module's source holds must be an example doctest finds, or the test fails.
"""

from __future__ import annotations

import contextlib
import copy
import doctest
import importlib
import io
import pkgutil
import shutil
import socket
from pathlib import Path

import pytest
import torch
from conftest import tiny_llama

import fnsft
from fnsft._resources import bundled

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
CHAT_TEMPLATE = (
    "{% for m in messages %}<s>{{ m['role'] }}\n{{ m['content'] }}</s>\n{% endfor %}"
    "{% if add_generation_prompt %}<s>assistant\n{% endif %}"
)
TEXTS = [{"text": f"def f{i}(x): return x * {i} + {i * 7}", "category": "code"} for i in range(12)] + [
    {"text": f"The river number {i} flows into the sea near town {i * 3}.", "category": "geography"}
    for i in range(12)
]


def _source(info: pkgutil.ModuleInfo) -> str:
    spec = info.module_finder.find_spec(info.name, None)
    return Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""


def _modules_with_examples() -> list[str]:
    found = pkgutil.walk_packages(fnsft.__path__, prefix="fnsft.")
    return sorted(info.name for info in found if ">>>" in _source(info))


def _is_example(line: str) -> bool:
    """A `>>>` line with code on it (doctest ignores a prompt holding only a comment)."""
    code = line.lstrip()
    statement = code[3:].strip()
    return code.startswith(">>>") and statement != "" and not statement.startswith("#")


def byte_tokenizer():
    """Every byte is a token (no merges), so any text tokenizes; ids 0-2 are pad, eos and bos."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = sorted(pre_tokenizers.ByteLevel.alphabet())
    vocab = {token: i for i, token in enumerate(["<pad>", "</s>", "<s>", *alphabet])}
    core = Tokenizer(models.BPE(vocab, []))
    core.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    core.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, pad_token="<pad>", eos_token="</s>", bos_token="<s>"
    )
    tokenizer.chat_template = CHAT_TEMPLATE
    return tokenizer


def write_tokenizer_gguf(tokenizer, path: Path) -> None:
    """A tensor-less GGUF carrying `tokenizer`'s vocabulary, as the GGUF of a base model would."""
    import gguf

    writer = gguf.GGUFWriter(path, "llama")
    writer.add_tokenizer_model("gpt2")
    writer.add_token_list(tokenizer.convert_ids_to_tokens(list(range(len(tokenizer)))))
    writer.add_token_types([gguf.TokenType.NORMAL] * len(tokenizer))
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@contextlib.contextmanager
def one_thread():
    """Tiny models run fastest on one thread: their matrices cost less than the threads' coordination (on a busy
    machine, many times less). The previous count comes back afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """(the names every example may use, the folder holding the files they may read), made once."""
    with one_thread():
        return _prepare(tmp_path_factory.mktemp("doctest-files"))


def _prepare(folder: Path) -> tuple[dict, Path]:
    tokenizer = byte_tokenizer()
    model = tiny_llama(vocab=len(tokenizer))
    ica = fnsft.ICAMask(num_components=4, threshold_rule="topk", threshold=8, stability_runs=0)
    networks = ica.compute_global_networks(model, tokenizer, TEXTS)
    model.save_pretrained(folder / "tiny-model")
    tokenizer.save_pretrained(folder / "tiny-model")
    fnsft.save_templates(networks, folder / "my-networks.json")
    write_tokenizer_gguf(tokenizer, folder / "base.gguf")
    (folder / "ica_templates").symlink_to(bundled("ica_templates"), target_is_directory=True)
    names = {
        "model": model,
        "tokenizer": tokenizer,
        "texts": TEXTS,
        "batch": tokenizer(["def f(x): return x", "The river flows."], return_tensors="pt", padding=True),
        "ica": ica,
        "networks": networks,
    }
    return names, folder


@pytest.fixture
def offline(monkeypatch):
    """Refuse every network connection: an example that tries to download fails instead."""

    def refuse(*args, **kwargs):
        raise OSError("doctests run offline: an example tried to open a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


@pytest.mark.parametrize("module_name", _modules_with_examples())
def test_the_examples_run(module_name, prepared, offline, tmp_path, monkeypatch):
    names, files = prepared
    module = importlib.import_module(module_name)
    tests = [test for test in doctest.DocTestFinder().find(module) if test.examples]
    source = Path(module.__file__).read_text(encoding="utf-8")
    prompts = sum(_is_example(line) for line in source.splitlines())
    assert sum(len(test.examples) for test in tests) == prompts, "an example doctest does not find"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    with one_thread():
        for number, test in enumerate(tests):
            folder = tmp_path / str(number)
            shutil.copytree(files, folder, symlinks=True)
            monkeypatch.chdir(folder)
            test.globs.update({"fnsft": fnsft, **copy.deepcopy(names)})
            torch.manual_seed(0)
            runner.run(test, out=report.write)
            test.globs.clear()  # drop the models before the next docstring's copy
    assert runner.failures == 0, report.getvalue()
    skipped = [
        example.source for test in tests for example in test.examples if example.options.get(doctest.SKIP)
    ]
    assert skipped == [], "a skipped example: make it run on the names above (see this file's docstring)"
