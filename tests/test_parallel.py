"""Data-parallel discovery: two CPU processes (gloo) find the networks one process finds."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from conftest import tiny_llama
from test_networks import CharTokenizer

from fnsft.discovery._capture import capture_activations
from fnsft.discovery._parallel import Processes, join_process_group_from_environment, leave_process_group
from fnsft.discovery._streaming import BatchGroups
from fnsft.errors import DecompositionError
from fnsft.networks._matching import match_components
from fnsft.networks._templates import load_templates

BIN = Path(sys.executable).parent
PLANTED = {" of": (0, range(32, 40)), ",": (1, range(8, 16)), ".": (2, range(16, 24))}


@pytest.fixture(scope="module")
def planted_folder(tmp_path_factory, embedded_tokenizer):
    """A tiny Llama with three groups of 8 neurons, each reading one frequent token's embedding."""
    model = tiny_llama(vocab=len(embedded_tokenizer))
    with torch.no_grad():
        for word, (layer, rows) in PLANTED.items():
            token = embedded_tokenizer(word, add_special_tokens=False)["input_ids"][0]
            direction = model.model.embed_tokens.weight[token] / model.model.embed_tokens.weight[token].norm()
            mlp = model.model.layers[layer].mlp
            mlp.gate_proj.weight[list(rows)] = 40 * direction
            mlp.up_proj.weight[list(rows)] = 40 * direction
    folder = tmp_path_factory.mktemp("planted-model")
    model.save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    return folder


def _build(folder, output, launcher: list[str]) -> str:
    """fnsft-build-templates on the planted model, streaming with a sketch smaller than its 144 neurons, of a
    sample of half the tokens."""
    settings = ["--max-tokens", "2048", "--components", "4", "--sketch-rows", "40", "--sketch-tokens", "1024"]
    settings += ["--batch-size", "2"]  # the corpus's texts are long: enough batches for two processes
    topk = ["--threshold-rule", "topk", "--threshold", "8", "--streaming", "true"]
    done = subprocess.run(
        [*launcher, str(BIN / "fnsft-build-templates"), "--model", str(folder), *settings, *topk]
        + ["--output", str(output)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_torchrun_two_processes_find_the_networks_of_one(planted_folder, tmp_path):
    _build(planted_folder, tmp_path / "one.json", [])
    two = ["--standalone", "--nproc_per_node", "2"]
    two_output = _build(planted_folder, tmp_path / "two.json", [str(BIN / "torchrun"), *two, "--no-python"])
    assert two_output.count("wrote ") == 1  # only the first process writes
    one, two = load_templates(tmp_path / "one.json"), load_templates(tmp_path / "two.json")
    assert one.data["num_tokens"] == two.data["num_tokens"] == 2048
    assert any("over 2 processes" in note for note in two.decomposition["notes"])
    assert not any("processes" in note for note in one.decomposition["notes"])
    matches = match_components(one, two)
    assert len(matches) == 4 and min(iou for _, _, iou in matches) >= 0.9, matches
    for networks in (one, two):  # and both found the planted "." group whole
        assert any(set(n.get(2, [])) == set(PLANTED["."][1]) for n in networks.neurons)


def _fold_share(rank: int, world: int, port: int, data: torch.Tensor, out: str) -> None:
    """Worker: join a gloo group as torchrun describes it, fold this process's batches, merge, and (first
    process) save the result."""
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), LOCAL_WORLD_SIZE=str(world)
    )
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), OMP_NUM_THREADS="1")
    assert join_process_group_from_environment()
    try:
        processes = Processes()
        groups = BatchGroups(data.shape[1], sketch_rows=30, processes=processes)
        fold = groups.sink()
        batches = list(torch.split(torch.arange(len(data)), 50))
        for rows in batches[rank::world]:
            fold(rows, data[rows])
        merged = groups.merged()
        s, v = merged.sketch.factors(merged.moments, 5)
        if processes.is_first:
            torch.save(
                {"count": merged.moments.count, "mean": merged.moments.mean, "m2": merged.moments.m2}, out
            )
            torch.save({"s": s, "v": v, "pilot": merged.sketch.pilot_mean}, out + ".sketch")
    finally:
        leave_process_group()


def test_merged_statistics_are_those_of_one_process(tmp_path):
    generator = torch.Generator().manual_seed(0)
    signal = torch.randn(600, 5, generator=generator) @ torch.randn(5, 80, generator=generator) * 3
    data = signal + torch.randn(600, 80, generator=generator) + torch.linspace(-4, 4, 80)
    out = str(tmp_path / "merged.pt")
    with socket.socket() as probe:  # a free port for the group's rendezvous
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_fold_share, args=(2, port, data, out), nprocs=2, join=True)
    merged, sketch = torch.load(out), torch.load(out + ".sketch")
    groups = BatchGroups(80, sketch_rows=30)
    fold = groups.sink()
    for rows in torch.split(torch.arange(len(data)), 50):
        fold(rows, data[rows])
    alone = groups.merged()
    s, v = alone.sketch.factors(alone.moments, 5)
    assert merged["count"] == 600
    torch.testing.assert_close(merged["mean"], data.double().mean(0), rtol=0, atol=1e-6)
    torch.testing.assert_close(merged["m2"], alone.moments.m2, rtol=1e-6, atol=1e-4)
    torch.testing.assert_close(sketch["pilot"], data[:50].mean(0))  # the first batch's, as one process
    # the same groups of batches merged in the same order: the sketch of one process, not one within FD's bound
    torch.testing.assert_close(sketch["s"], s, rtol=1e-5, atol=0)
    cosines = torch.linalg.svdvals(sketch["v"].T @ v)  # principal angles between the two 5-d subspaces
    assert cosines.min() > 1 - 1e-6


def test_fewer_batches_than_processes_is_refused(tiny_model):
    with pytest.raises(DecompositionError, match="1 batches of texts for 4 processes"):
        capture_activations(tiny_model, CharTokenizer(), ["ab", "cd"], sink=lambda r, v: None, shard=(0, 4))
    with pytest.raises(ValueError, match="needs a sink"):
        capture_activations(tiny_model, CharTokenizer(), ["ab"] * 20, shard=(1, 2))


def test_one_process_is_its_own_group():
    alone = Processes()
    value = torch.arange(3.0)
    assert (alone.world, alone.rank, alone.shard, alone.is_first) == (1, 0, (0, 1), True)
    assert alone.sum(value) is value and alone.broadcast(value) is value and alone.share("x") == "x"


def test_capture_through_a_device_map_with_an_offloaded_block_matches_the_plain_model(
    tmp_path, embedded_tokenizer
):
    """A model too big for one device is loaded with a device_map (accelerate moves each block's weights and
    inputs); the capture hooks sit on each block and record on whatever device it runs on."""
    from transformers import AutoModelForCausalLM

    folder = tmp_path / "model"
    tiny_llama(vocab=len(embedded_tokenizer)).save_pretrained(folder)
    embedded_tokenizer.save_pretrained(folder)
    placement = {"model.embed_tokens": "cpu", "model.layers.0": "cpu", "model.layers.1": "disk"}
    placement |= {"model.layers.2": "cpu", "model.norm": "cpu", "model.rotary_emb": "cpu", "lm_head": "cpu"}
    mapped = AutoModelForCausalLM.from_pretrained(
        folder, device_map=placement, offload_folder=tmp_path / "off"
    )
    plain = AutoModelForCausalLM.from_pretrained(folder)
    texts = ["The river flows into the sea.", "def f(x): return x + 1"]
    assert mapped.model.layers[1].mlp.down_proj.weight.device.type == "meta"  # really offloaded
    captured = [capture_activations(model, embedded_tokenizer, texts).matrix for model in (mapped, plain)]
    torch.testing.assert_close(captured[0], captured[1])
