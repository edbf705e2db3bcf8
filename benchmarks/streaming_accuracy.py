"""Streaming discovery against the in-memory path on the embedded model, on the same captured tokens.

Step 1 (--capture) records the default prompt set's discovery split (interleaved by category, as ICAMask does)
into a matrix file. Step 2 streams the rows of a random sample of whole texts (--sketch-tokens, as a capture
samples whole batches), in shuffled batches of 400, into the running moments and the Frequent Directions
sketch (one run per --sketch-rows and --sketch-tokens value), runs the projection pass over all the rows and
the reduced-data stability, then runs the in-memory decomposition (randomized range, its own reduced-data
stability, 5 reruns) and compares: best one-to-one neuron-map |correlation|, network IoU (z >= 3), time-course
|corr|, and which components each stability score flags (< 0.8); and the in-memory decomposition of the same
matrix in bfloat16 (the default on CPUs with hardware bf16) against float32; benchmarks/stability_agreement.py
compares reduced-data stability with full discovery reruns.
Run: python benchmarks/streaming_accuracy.py --capture --tokens 16384 && \
     python benchmarks/streaming_accuracy.py --sketch-rows 200 --sketch-tokens 4096,8192,16384
Writes benchmarks/results/streaming_accuracy.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import time
from pathlib import Path

import numpy as np
import torch
from provenance import commit_id
from scipy.optimize import linear_sum_assignment

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"
STABLE = 0.8


def capture(tokens: int, path: str) -> None:
    from fnsft import load_model
    from fnsft.data import DEFAULT_PROMPTS, interleave_by_category, load_labelled_texts
    from fnsft.discovery import capture_activations

    model, tokenizer = load_model()
    texts = interleave_by_category(load_labelled_texts(DEFAULT_PROMPTS, split="discovery")).texts
    start = time.perf_counter()
    captured = capture_activations(model, tokenizer, texts, max_tokens=tokens)
    print(f"captured {tuple(captured.matrix.shape)} in {time.perf_counter() - start:.0f} s")
    np.save(path, captured.matrix.numpy())
    np.save(_texts_path(path), captured.text_index)


def _texts_path(path: str) -> str:
    return path.removesuffix(".npy") + "-texts.npy"


def _sampled_rows(text_index: np.ndarray, tokens: int) -> torch.Tensor:
    """The rows of whole texts drawn at random until they hold `tokens` tokens (a capture samples whole
    batches of texts)."""
    kept, total = [], 0
    for text in np.random.default_rng(0).permutation(int(text_index.max()) + 1):
        if total >= tokens:
            break
        rows = np.flatnonzero(text_index == text)
        kept.append(rows)
        total += len(rows)
    return torch.from_numpy(np.sort(np.concatenate(kept)))


def _stream(matrix: torch.Tensor, seed: int, batch: int = 400):
    order = torch.randperm(matrix.shape[0], generator=torch.Generator().manual_seed(seed))
    for start in range(0, matrix.shape[0], batch):
        rows = order[start : start + batch]
        yield rows, matrix[rows]


def streamed(
    matrix: torch.Tensor, text_index: np.ndarray, sketch_rows: int, sketch_tokens: int, components: int
):
    from fnsft.discovery import BatchGroups, decompose_statistics

    start = time.perf_counter()
    groups = BatchGroups(matrix.shape[1], sketch_rows)
    fold = groups.sink()
    sample = _sampled_rows(text_index, sketch_tokens)
    for rows, batch in _stream(matrix[sample], 1):
        fold(rows, batch)
    sketch_seconds = time.perf_counter() - start

    def project(sink) -> None:
        for rows, batch in _stream(matrix, 2):
            sink(rows, batch)

    result, _ = decompose_statistics(
        groups.merged(),
        matrix.shape[0],
        components,
        project,
        over="neurons",
        seed=0,
        max_iter=400,
        tol=1e-4,
        restarts=3,
        stability_runs=5,
    )
    return result, sketch_seconds, time.perf_counter() - start


def _networks(maps: np.ndarray, widths: list[int]) -> list[set[int]]:
    from fnsft.discovery import threshold_networks

    sets, _ = threshold_networks(maps, widths, "zscore", 3.0)
    offsets = np.concatenate([[0], np.cumsum(widths)])
    return [{int(i + offsets[layer]) for layer, ids in network.items() for i in ids} for network in sets]


def compare(exact, result, widths: list[int]) -> dict:
    from fnsft.networks import matched_correlations

    maps = matched_correlations(exact.maps, result.maps)
    a, b = _networks(exact.maps, widths), _networks(result.maps, widths)
    iou = np.array([[len(x & y) / max(len(x | y), 1) for y in b] for x in a])
    rows, cols = linear_sum_assignment(-iou)
    courses = matched_correlations(exact.time_courses.T, result.time_courses.T)
    return {
        "map_abs_corr_median": float(np.median(maps)),
        "map_abs_corr_min": float(maps.min()),
        "network_iou_median": float(np.median(iou[rows, cols])),
        "network_iou_min": float(iou[rows, cols].min()),
        "time_course_abs_corr_median": float(np.median(courses)),
        "pca_variance_ratio": result.pca_variance_ratio,
    }


def stability_agreement(exact, result) -> dict:
    """The in-memory path's stability scores vs the streaming path's, component by component (matched by map)."""
    similarity = np.abs(np.corrcoef(exact.maps, result.maps)[: len(exact.maps), len(exact.maps) :])
    rows, cols = linear_sum_assignment(-similarity)
    in_memory, streaming = exact.stability[rows], result.stability[cols]
    return {
        "pearson": float(np.corrcoef(in_memory, streaming)[0, 1]),
        "flagged_in_memory": int((in_memory < STABLE).sum()),
        "flagged_streaming": int((streaming < STABLE).sum()),
        "flag_agreement": float(((in_memory < STABLE) == (streaming < STABLE)).mean()),
        "in_memory": in_memory.round(3).tolist(),
        "streaming": streaming.round(3).tolist(),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--capture", action="store_true")
    parser.add_argument("--tokens", type=int, default=16384)
    parser.add_argument("--matrix", default="/tmp/fnsft-streaming-matrix.npy")
    parser.add_argument("--sketch-rows", default="200")
    parser.add_argument(
        "--sketch-tokens", default="8192", help="tokens (whole texts) sampled into the sketch"
    )
    parser.add_argument("--components", type=int, default=20)
    args = parser.parse_args()
    if args.capture:
        capture(args.tokens, args.matrix)
        return
    from fnsft.discovery import decompose, standardize_

    matrix = torch.from_numpy(np.load(args.matrix))
    widths = [1536] * (matrix.shape[1] // 1536)  # the embedded model: 30 layers of 1536 neurons
    text_index = np.load(_texts_path(args.matrix))
    runs = {
        (int(rows), int(sampled)): streamed(matrix, text_index, int(rows), int(sampled), args.components)
        for rows in args.sketch_rows.split(",")
        for sampled in args.sketch_tokens.split(",")
    }
    tokens, neurons = matrix.shape
    halved = (
        matrix.bfloat16()
    )  # the default in-memory matrix on CPUs with hardware bf16 (fnsft.models._devices)
    start = time.perf_counter()
    exact = decompose(standardize_(matrix), args.components, seed=0, stability_runs=5)
    exact_seconds = time.perf_counter() - start
    del matrix
    start = time.perf_counter()
    in_bf16 = decompose(standardize_(halved), args.components, seed=0, stability_runs=5)
    report = {
        "model": "SmolLM2-135M-Instruct (embedded), CPU only, 2 shared cores",
        "commit": commit_id(),
        "tokens": tokens,
        "neurons": neurons,
        "in_memory_seconds": exact_seconds,
        "in_memory_bfloat16": {"seconds": time.perf_counter() - start, **compare(exact, in_bf16, widths)},
    }
    for (rows, sampled), (result, sketch_seconds, total_seconds) in runs.items():
        report[f"sketch_rows_{rows}_tokens_{sampled}"] = {
            "sketch_seconds": sketch_seconds,
            "total_seconds": total_seconds,
            **compare(exact, result, widths),
            "stability": stability_agreement(exact, result),
        }
    report["in_memory_pca_variance_ratio"] = exact.pca_variance_ratio
    report["peak_rss_mb_with_matrix"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "streaming_accuracy.json").write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
