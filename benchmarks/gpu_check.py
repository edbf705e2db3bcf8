"""CUDA checks and figures, for a machine with an NVIDIA GPU (never run by CI).

Checks the CUDA paths the CPU test suite cannot reach: device/dtype policy, 4/8-bit bitsandbytes loading with
masks, exact mask removal on the GPU, and speeds on a ~1B-parameter Llama-shaped model (random weights: the
figures are throughput, not quality). Writes benchmarks/results/gpu.json (or $OUT/gpu.json when OUT is set).
Run: python benchmarks/gpu_check.py --tokenizer <folder with tokenizer.json>
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def timed(function, repeats: int = 3) -> float:
    function()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        function()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokenizer", required=True)
    parser.add_argument("--tokens", type=int, default=8192)
    args = parser.parse_args()
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from fnsft.analysis import GenerationSettings, stream_comparison
    from fnsft.discovery import capture_activations, decompose, standardize_
    from fnsft.masking import apply_mask, build_mask, masked
    from fnsft.models import default_dtype, get_optimal_device, load_model, mlp_blocks, model_shape

    report: dict = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__}
    device = get_optimal_device()
    report["optimal_device"] = str(device)
    report["default_dtype"] = str(default_dtype(device))
    tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=2048,
        intermediate_size=8192,
        num_hidden_layers=16,
        num_attention_heads=32,
        num_key_value_heads=8,
        max_position_embeddings=2048,
        tie_word_embeddings=True,
    )
    folder = Path(tempfile.mkdtemp()) / "llama-1b-random"
    torch.manual_seed(0)
    LlamaForCausalLM(config).to(torch.bfloat16).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    model, _ = load_model(folder)
    report["loaded_dtype"] = str(model.dtype)
    report["parameters_millions"] = sum(p.numel() for p in model.parameters()) / 1e6
    shape = model_shape(model)
    widths = shape.intermediate_sizes
    ids = torch.randint(0, len(tokenizer), (8, 512), device=device)
    rng = np.random.default_rng(0)
    lesion = build_mask(
        {layer: rng.choice(w, w // 20, replace=False) for layer, w in enumerate(widths)}, widths, "lesion"
    )

    with torch.no_grad():
        before = model(input_ids=ids[:1, :64]).logits
        with apply_mask(model, lesion):
            changed = model(input_ids=ids[:1, :64]).logits
        after = model(input_ids=ids[:1, :64]).logits
    report["cuda_mask_changes_logits"] = bool(not torch.equal(before, changed))
    report["cuda_mask_removal_bit_exact"] = bool(torch.equal(before, after))

    def forward(mask):
        with torch.no_grad(), masked(model, mask):
            model(input_ids=ids, use_cache=False)

    plain, with_mask = timed(lambda: forward(None), 5), timed(lambda: forward(lesion), 5)
    report["forward_tokens_per_second"] = ids.numel() / plain
    report["forward_masked_tokens_per_second"] = ids.numel() / with_mask
    report["forward_masked_vs_plain"] = plain / with_mask

    lines = Path("assets/prompts/multidomain.jsonl").read_text().splitlines()
    prompts = [json.loads(line)["text"] for line in lines]
    texts = (prompts * 10)[:2000]
    start = time.perf_counter()
    captured = capture_activations(model, tokenizer, texts, max_tokens=args.tokens, batch_size=32)
    torch.cuda.synchronize()
    capture_seconds = time.perf_counter() - start
    report["capture_tokens"] = captured.matrix.shape[0]
    report["capture_neurons"] = captured.matrix.shape[1]
    report["capture_seconds"] = capture_seconds
    matrix = captured.matrix.to(device)
    torch.cuda.synchronize()
    start = time.perf_counter()
    standardize_(matrix)
    result = decompose(matrix, 20, over="neurons", seed=0, device=device)
    torch.cuda.synchronize()
    report["decompose_gpu_seconds"] = time.perf_counter() - start
    report["decompose_converged"] = result.converged
    del matrix

    settings = GenerationSettings(max_new_tokens=64, temperature=0.0, repetition_penalty=1.0)
    start = time.perf_counter()
    steps = 0
    for _ in stream_comparison(model, tokenizer, "Tell me about rivers.", lesion, settings):
        steps += 1
    report["side_by_side_generation_tokens_per_second"] = 2 * steps / (time.perf_counter() - start)
    model.cpu()
    torch.cuda.empty_cache()

    for mode in ("4bit", "8bit"):
        try:
            quantized, _ = load_model(folder, quantization=mode)
            blocks = mlp_blocks(quantized)
            kind = type(blocks[0].down_proj).__name__
            with torch.no_grad():
                base = quantized(input_ids=ids[:1, :32]).logits
                with apply_mask(quantized, lesion):
                    masked_logits = quantized(input_ids=ids[:1, :32]).logits
                again = quantized(input_ids=ids[:1, :32]).logits
            report[f"quantized_{mode}"] = {
                "down_proj_class": kind,
                "memory_gb": torch.cuda.memory_allocated() / 2**30,
                "mask_changes_logits": bool(not torch.equal(base, masked_logits)),
                "mask_removal_bit_exact": bool(torch.equal(base, again)),
            }
            del quantized
            torch.cuda.empty_cache()
        except Exception as error:  # report, do not hide, what failed
            report[f"quantized_{mode}"] = {"error": f"{type(error).__name__}: {error}"}
    out = Path(os.environ.get("OUT") or Path(__file__).resolve().parent / "results") / "gpu.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
