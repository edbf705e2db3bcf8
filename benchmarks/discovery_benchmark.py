"""Discovery benchmark on the embedded model: capture vs plain forward, and fnsft's decomposition vs the
reference pipeline of the FunctionalNetworksSFT library (scikit-learn PCA up to 1000 dims, then FastICA with
max_iter=200, neuron maps = PCA components x ICA mixing) on the same captured matrix (fnsft's in the dtype
ICAMask stores it in on this CPU, `fnsft.models._devices.matrix_dtype`; the reference's in float32).

Each stage runs in its own process so its peak memory (max RSS) is its own.
Run: .venv/bin/python benchmarks/discovery_benchmark.py [--tokens 4096] [--components 20]
Writes benchmarks/results/discovery.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stage_capture(args) -> dict:
    import numpy as np
    import torch

    from fnsft import load_model
    from fnsft.data import DEFAULT_PROMPTS, interleave_by_category, load_labelled_texts
    from fnsft.discovery import capture_activations, capture_batches
    from fnsft.models import matrix_dtype

    model, tokenizer = load_model()
    texts = interleave_by_category(load_labelled_texts(DEFAULT_PROMPTS, split="discovery")).texts
    texts = (texts * 20)[: 20 * len(texts)]  # enough text for large budgets; repeats only past the set's size
    rss_loaded = peak_rss_mb()
    capture_activations(model, tokenizer, texts[:8], max_tokens=256)  # warm-up
    start = time.perf_counter()
    captured = capture_activations(model, tokenizer, texts, max_tokens=args.tokens, dtype=matrix_dtype())
    capture_seconds = time.perf_counter() - start
    # The same tokens through a plain forward pass, same batching (sorted by length, batch 8), no hooks.
    batches = list(capture_batches(tokenizer, texts, args.tokens))
    start = time.perf_counter()
    with torch.no_grad():
        for input_ids, attention in batches:
            model(input_ids=input_ids, attention_mask=attention, use_cache=False)
    forward_seconds = time.perf_counter() - start
    _save_matrix(args.matrix, captured.matrix)
    np.save(_float32_path(args.matrix), captured.matrix.float().numpy())  # the reference's copy
    tokens = captured.matrix.shape[0]
    return {
        "tokens": tokens,
        "neurons": captured.matrix.shape[1],
        "capture_seconds": capture_seconds,
        "plain_forward_seconds": forward_seconds,
        "capture_tokens_per_second": tokens / capture_seconds,
        "plain_forward_tokens_per_second": tokens / forward_seconds,
        "capture_throughput_vs_forward": forward_seconds / capture_seconds,
        "matrix_dtype": str(captured.matrix.dtype).removeprefix("torch."),
        "matrix_mb": captured.matrix.numel() * captured.matrix.element_size() / 2**20,
        "peak_rss_mb": peak_rss_mb(),
        "rss_after_model_load_mb": rss_loaded,
    }


def _save_matrix(path: str, matrix) -> None:
    """numpy has no bfloat16: a bfloat16 matrix is saved as its int16 bits, so loading it takes no float32 copy."""
    import numpy as np
    import torch

    np.save(path, (matrix.view(torch.int16) if matrix.dtype == torch.bfloat16 else matrix).numpy())


def _float32_path(path: str) -> str:
    return path.removesuffix(".npy") + "-float32.npy"


def _load_matrix(path: str):
    import numpy as np
    import torch

    array = np.load(path)
    return (
        torch.from_numpy(array).view(torch.bfloat16) if array.dtype == np.int16 else torch.from_numpy(array)
    )


def stage_fnsft(args) -> dict:
    import numpy as np

    from fnsft.discovery import decompose, standardize_

    matrix = _load_matrix(args.matrix)  # in the dtype ICAMask stores it in on this CPU
    base = peak_rss_mb()
    start = time.perf_counter()
    standardize_(matrix)
    result = decompose(matrix, args.components, over=args.over, seed=0, stability_runs=0)
    seconds = time.perf_counter() - start
    start = time.perf_counter()
    stable = decompose(matrix, args.components, over=args.over, seed=0, stability_runs=5)
    stability_seconds = time.perf_counter() - start - seconds
    np.save(args.maps, result.maps)
    return {
        "over": args.over,
        "matrix_dtype": str(matrix.dtype).removeprefix("torch."),
        "seconds": seconds,
        "stability_5_runs_extra_seconds": stability_seconds,
        "converged": result.converged,
        "iterations": result.iterations,
        "median_stability": float(np.median(stable.stability)),
        "peak_rss_above_matrix_mb": peak_rss_mb() - base,
    }


def stage_reference(args) -> dict:
    import numpy as np
    from sklearn.decomposition import PCA, FastICA

    from fnsft.discovery import standardize_

    matrix = _load_matrix(_float32_path(args.matrix))
    base = peak_rss_mb()
    start = time.perf_counter()
    data = standardize_(matrix).numpy()
    pca = PCA(n_components=min(1000, min(data.shape) - 1), random_state=0)
    reduced = pca.fit_transform(data)
    ica = FastICA(n_components=args.components, max_iter=200, random_state=0, whiten="unit-variance")
    ica.fit(reduced)
    maps = (pca.components_.T @ ica.mixing_).T  # neurons x components -> components x neurons
    seconds = time.perf_counter() - start
    np.save(args.maps, maps)
    return {
        "seconds": seconds,
        "ica_iterations": int(ica.n_iter_),
        "converged": int(ica.n_iter_) < 200,
        "peak_rss_above_matrix_mb": peak_rss_mb() - base,
    }


def run_stage(name: str, args, extra: list[str]) -> dict:
    command = [
        sys.executable,
        __file__,
        "--stage",
        name,
        "--matrix",
        args.matrix,
        "--tokens",
        str(args.tokens),
        "--components",
        str(args.components),
        *extra,
    ]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=4096)
    parser.add_argument("--components", type=int, default=20)
    parser.add_argument("--stage", default=None)
    parser.add_argument("--matrix", default="/tmp/fnsft-benchmark-matrix.npy")
    parser.add_argument("--maps", default=None)
    parser.add_argument("--over", default="tokens")
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args()
    stages = {"capture": stage_capture, "fnsft": stage_fnsft, "reference": stage_reference}
    if args.stage:
        print(json.dumps(stages[args.stage](args)))
        return
    import numpy as np

    from fnsft.networks import matched_correlations

    report = {"model": "SmolLM2-135M-Instruct (embedded)", "threads": os.cpu_count()}
    report["capture"] = run_stage("capture", args, [])
    maps = {}
    for over in ("tokens", "neurons"):
        path = f"/tmp/fnsft-benchmark-maps-{over}.npy"
        report[f"fnsft_{over}"] = run_stage("fnsft", args, ["--over", over, "--maps", path])
        maps[over] = path
    report["decomposition_vs_capture"] = (
        report["fnsft_neurons"]["seconds"] / report["capture"]["capture_seconds"]
    )
    if not args.skip_reference:
        report["reference"] = run_stage("reference", args, ["--maps", "/tmp/fnsft-benchmark-maps-ref.npy"])
        ours, reference = np.load(maps["tokens"]), np.load("/tmp/fnsft-benchmark-maps-ref.npy")
        matched = matched_correlations(reference, ours)
        report["match_tokens_vs_reference"] = {
            "median_abs_corr": float(np.median(matched)),
            "min_abs_corr": float(matched.min()),
            "fraction_above_0.9": float((matched > 0.9).mean()),
        }
        report["speedup_vs_reference"] = report["reference"]["seconds"] / report["fnsft_tokens"]["seconds"]
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "discovery.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))
    for path in (args.matrix, _float32_path(args.matrix)):
        Path(path).unlink(missing_ok=True)


if __name__ == "__main__":
    main()
