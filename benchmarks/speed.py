"""Discovery time against plain forward passes of the same tokens, in one process, with the time of each stage.

For each token budget: `repeats` rounds, each a plain forward pass over the tokens a discovery captures (the
shipped discovery corpus in discovery order, cut at the budget, sorted by length, batches of 8, full model with
its LM head), then a default `ICAMask(num_components=20)` discovery per matrix dtype. Interleaving the rounds
puts a drifting machine load on both alike; the ratios are of medians. Stages come from the discovery's progress
reports: capture, decomposition (standardisation, randomized PCA, FastICA), stability reruns, cards.
Public API only. Run through `python -m benchmarks` (see benchmarks/__main__.py).
"""

from __future__ import annotations

import resource
import statistics
import time

import torch

import fnsft
from fnsft.data import discovery_texts, interleave_by_category

BATCH, MAX_LENGTH = 8, 256  # the defaults of DiscoverySettings (batch_size, max_length)


def forward_batches(tokenizer, texts: list[str], tokens: int) -> list[dict[str, torch.Tensor]]:
    """The budget's tokens as a discovery takes them: texts in order until `tokens` (the last one cut), by length."""
    chosen, total = [], 0
    for ids in tokenizer(texts, truncation=True, max_length=MAX_LENGTH)["input_ids"]:
        ids = ids[: tokens - total]
        if ids:
            chosen.append(ids)
            total += len(ids)
        if total >= tokens:
            break
    chosen.sort(key=len)
    batches = []
    for start in range(0, len(chosen), BATCH):
        group = chosen[start : start + BATCH]
        width = max(map(len, group))
        ids = torch.zeros((len(group), width), dtype=torch.long)
        attention = torch.zeros_like(ids)
        for row, item in enumerate(group):
            ids[row, : len(item)], attention[row, : len(item)] = torch.tensor(item), 1
        batches.append({"input_ids": ids, "attention_mask": attention})
    return batches


@torch.no_grad()
def forward_seconds(model, batches) -> float:
    start = time.perf_counter()
    for batch in batches:
        model(**batch, use_cache=False)
    return time.perf_counter() - start


def discovery_stages(model, tokenizer, tokens: int, dtype: str) -> dict[str, float]:
    """Seconds of one default discovery and of its stages (from its progress reports)."""
    marks: dict[str, float] = {}
    start = time.perf_counter()
    networks = fnsft.ICAMask(num_components=20, matrix_dtype=dtype).compute_global_networks(
        model,
        tokenizer,
        max_tokens=tokens,
        progress=lambda stage, _: marks.setdefault(stage, time.perf_counter() - start),
    )
    total = time.perf_counter() - start
    cards_start = marks.get("cards", marks["done"])
    stability_start = marks.get("stability", cards_start)
    return {
        "seconds": total,
        "capture": marks["decompose"],
        "decomposition": stability_start - marks["decompose"],
        "stability": cards_start - stability_start,  # the reruns and the consensus maps
        "cards_and_rest": total - cards_start,
        "streaming": bool(networks.settings.streaming),
        "tokens": int(networks.data["num_tokens"]),
    }


def measure(tokens: int, dtypes: list[str], repeats: int) -> dict:
    """Median seconds and ratios to the forward passes for one token budget (module doc)."""
    model, tokenizer = fnsft.load_model()
    batches = forward_batches(tokenizer, interleave_by_category(discovery_texts()).texts, tokens)
    forward_seconds(model, batches[:1])  # warm-up
    forwards: list[float] = []
    runs: dict[str, list[dict]] = {dtype: [] for dtype in dtypes}
    for _ in range(repeats):
        forwards.append(forward_seconds(model, batches))
        for dtype in dtypes:
            runs[dtype].append(discovery_stages(model, tokenizer, tokens, dtype))
    forward = statistics.median(forwards)
    result = {"tokens": tokens, "repeats": repeats, "forward_seconds": forwards, "forward_median": forward}
    for dtype, found in runs.items():
        median = {key: statistics.median(run[key] for run in found) for key in found[0] if key != "streaming"}
        result[dtype] = {
            "runs": found,
            "median_seconds": median,
            "discovery_vs_forward": median["seconds"] / forward,
            "ratios_per_round": [run["seconds"] / f for run, f in zip(found, forwards, strict=True)],
            "stability_share": median["stability"] / median["seconds"],
            "cards_share": median["cards_and_rest"] / median["seconds"],
        }
    result["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    return result
