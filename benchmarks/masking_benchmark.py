"""Masking benchmark on the embedded model: forward throughput and generation speed, unmasked vs masked.

The mask is the union of the shipped networks (lesion), applied context-locally as the app does.
Run: .venv/bin/python benchmarks/masking_benchmark.py    Writes benchmarks/results/masking.json.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch

from fnsft.analysis import GenerationSettings, stream_comparison
from fnsft.data import DEFAULT_PROMPTS, load_labelled_texts
from fnsft.masking import mask_from_networks, masked
from fnsft.models import load_model
from fnsft.networks import load_templates, shipped_template

RESULTS = Path(__file__).resolve().parent / "results"


def forward_seconds(model, batch, mask, repeats: int) -> list[float]:
    times = []
    with torch.no_grad(), masked(model, mask):
        for _ in range(repeats):
            start = time.perf_counter()
            model(**batch, use_cache=False)
            times.append(time.perf_counter() - start)
    return times


def main() -> None:
    model, tokenizer = load_model()
    networks = load_templates(shipped_template(model), model)
    mask = mask_from_networks(networks, range(networks.num_components), "lesion", model=model)
    texts = load_labelled_texts(DEFAULT_PROMPTS, split="eval").texts[:16]
    batch = tokenizer(texts, return_tensors="pt", padding=True, truncation=True, max_length=128)
    tokens = int(batch["attention_mask"].sum())
    forward_seconds(model, batch, None, 1)  # warm-up
    plain, with_mask = [], []
    for _ in range(5):  # interleaved, so drifting machine load hits both alike
        plain += forward_seconds(model, batch, None, 1)
        with_mask += forward_seconds(model, batch, mask, 1)
    settings = GenerationSettings(max_new_tokens=48, temperature=0.0, repetition_penalty=1.0)

    def generation_rate(current) -> float:
        start = time.perf_counter()
        *_, (text_a, text_b) = stream_comparison(
            model, tokenizer, "Explain how rivers form.", current, settings
        )
        steps = len(tokenizer(text_a)["input_ids"]) + len(tokenizer(text_b)["input_ids"])
        return steps / (time.perf_counter() - start)

    generation_rate(None)
    report = {
        "model": "SmolLM2-135M-Instruct (embedded)",
        "mask": f"lesion of all {networks.num_components} shipped networks, {mask.total_masked} neurons",
        "forward_batch_tokens": tokens,
        "forward_tokens_per_second_plain": tokens / statistics.median(plain),
        "forward_tokens_per_second_masked": tokens / statistics.median(with_mask),
        "forward_masked_vs_plain": statistics.median(plain) / statistics.median(with_mask),
        "generation_tokens_per_second_plain": generation_rate(None),
        "generation_tokens_per_second_masked_side_by_side": generation_rate(mask),
        "threads": torch.get_num_threads(),
    }
    report["generation_masked_vs_plain"] = (
        report["generation_tokens_per_second_masked_side_by_side"]
        / report["generation_tokens_per_second_plain"]
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "masking.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
