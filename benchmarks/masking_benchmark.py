"""Masking benchmark on the embedded model: forward throughput and generation speed, unmasked vs masked.

The mask is the union of the shipped networks (lesion), applied context-locally (`fnsft.masked`) as the app does.
Each measure alternates unmasked and masked runs `repeats` times, in ABBA order (so drifting machine load and
warm caches favour neither side), and reports the ratio of the medians: a batched forward pass, greedy `model.generate` (48 new tokens), and the app's
side-by-side comparison (`stream_comparison`: an unmasked and a masked stream, against two unmasked ones).
On a shared machine one round of a side moves by up to 16%, more than masking costs, so the mask's own cost per
generated token is also measured directly (`_hook_cost`): every layer's masked down-projection on one token's
activation, against the same calls unmasked, as a share of an unmasked generation step.
Public API only. Run: .venv/bin/python benchmarks/masking_benchmark.py [--repeats 5], or `python -m benchmarks`.
Writes benchmarks/results/masking.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

import fnsft
import fnsft.models
from fnsft.analysis import GenerationSettings, stream_comparison
from fnsft.data import DEFAULT_PROMPTS
from fnsft.networks import shipped_template

RESULTS = Path(__file__).resolve().parent / "results"
PROMPT, NEW_TOKENS = "Explain how rivers form.", 48


def _sides(round_: int, mask) -> list[tuple[int, object]]:
    """(side, mask) in the order a round runs them: unmasked first in even rounds, masked first in odd ones, so
    neither side always runs second (after a warm cache, or into a load change)."""
    sides = [(0, None), (1, mask)]
    return sides if round_ % 2 == 0 else sides[::-1]


def _alternating(run, mask, repeats: int) -> tuple[list[float], list[float]]:
    """Seconds of `run()` unmasked and masked, alternating (ABBA), after one warm-up of each."""
    times: tuple[list[float], list[float]] = ([], [])
    for round_ in range(repeats + 1):
        for side, current in _sides(round_, mask):
            with fnsft.masked(run.model, current):  # None: unmasked
                start = time.perf_counter()
                run()
                if round_:  # round 0 warms up
                    times[side].append(time.perf_counter() - start)
    return times


class _Forward:
    def __init__(self, model, batch):
        self.model, self.batch = model, batch

    @torch.no_grad()
    def __call__(self) -> None:
        self.model(**self.batch, use_cache=False)


class _Generate:
    def __init__(self, model, prompt_ids):
        self.model, self.prompt_ids = model, prompt_ids

    @torch.no_grad()
    def __call__(self) -> None:
        self.model.generate(
            self.prompt_ids, max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, do_sample=False
        )


class _HookedCalls:
    """Every layer's down-projection on one token's activation: all that masking adds to a decoding step (the
    dispatcher hooks sit on the down-projections and nowhere else)."""

    def __init__(self, model):
        self.model = model
        self.blocks = fnsft.models.mlp_blocks(model)
        self.activation = torch.randn(1, 1, self.blocks[0].intermediate_size)

    @torch.no_grad()
    def __call__(self) -> None:
        for block in self.blocks:
            block.down_proj(self.activation.clone())


def _hook_cost(model, mask, rounds: int = 200) -> float:
    """Seconds the mask adds to one generated token: `_HookedCalls` masked minus unmasked, median over `rounds`
    alternating pairs (each pair from one round)."""
    plain, masked = _alternating(_HookedCalls(model), mask, rounds)
    return statistics.median(after - before for before, after in zip(plain, masked, strict=True))


def _side_by_side(model, tokenizer, mask, repeats: int) -> tuple[list[float], list[float]]:
    settings = GenerationSettings(max_new_tokens=NEW_TOKENS, temperature=0.0, repetition_penalty=1.0)
    rates: tuple[list[float], list[float]] = ([], [])
    for round_ in range(repeats + 1):
        for side, current in _sides(round_, mask):
            start = time.perf_counter()
            *_, (text_a, text_b) = stream_comparison(model, tokenizer, PROMPT, current, settings)
            steps = len(tokenizer(text_a)["input_ids"]) + len(tokenizer(text_b)["input_ids"])
            if round_:
                rates[side].append(steps / (time.perf_counter() - start))
    return rates


def measure(repeats: int = 5) -> dict:
    model, tokenizer = fnsft.load_model()
    networks = fnsft.load_templates(shipped_template(model), model)
    mask = fnsft.NetworkSelection.for_model(networks, model, "all").mask("lesion")
    texts = fnsft.load_labelled_texts(DEFAULT_PROMPTS, split="eval").texts[:16]
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=128)
    prompt_ids = tokenizer(PROMPT, return_tensors="pt")["input_ids"]
    plain, masked = _alternating(_Forward(model, batch), mask, repeats)
    generate_plain, generate_masked = _alternating(_Generate(model, prompt_ids), mask, repeats)
    side_plain, side_masked = _side_by_side(model, tokenizer, mask, repeats)
    hook_seconds = _hook_cost(model, mask)
    step_seconds = statistics.median(generate_plain) / NEW_TOKENS
    return {
        "model": "SmolLM2-135M-Instruct (embedded)",
        "mask": f"lesion of all {networks.num_components} shipped networks, {mask.total_masked} neurons",
        "repeats": repeats,
        "forward_masked_vs_plain": statistics.median(plain) / statistics.median(masked),
        "forward_seconds": {"plain": plain, "masked": masked},
        "generate_masked_vs_plain": statistics.median(generate_plain) / statistics.median(generate_masked),
        "generate_tokens_per_second_median": {
            "plain": NEW_TOKENS / statistics.median(generate_plain),
            "masked": NEW_TOKENS / statistics.median(generate_masked),
        },
        "side_by_side_masked_vs_plain": statistics.median(side_masked) / statistics.median(side_plain),
        "side_by_side_tokens_per_second": {"plain": side_plain, "masked": side_masked},
        "mask_seconds_per_token": hook_seconds,
        "generation_seconds_per_token": step_seconds,
        "mask_share_of_a_token": hook_seconds / step_seconds,
        "threads": torch.get_num_threads(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5)
    report = measure(parser.parse_args().repeats)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "masking.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
