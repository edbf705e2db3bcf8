"""Discovery time and peak memory against plain forward passes, up to 131,072 tokens of the embedded model.

Each measurement runs in its own process (so its peak RSS is its own): plain forward passes over the chosen
tokens (same texts, same token choice and batches as a capture, full model with its LM head), the default
in-memory discovery, and streaming discovery; at the largest size only forward and streaming (the in-memory
matrix of 131,072 tokens x 46,080 neurons takes 12 GB in bfloat16: --agreement runs it). With --parallel,
streaming discovery also runs as two torchrun processes (gloo) and its networks are matched to the one-process
ones (IoU per best match).
Texts: the shipped prompt set's discovery split, then (for more tokens than it holds) the docstrings of the
Python standard library's modules, classes and functions, in sorted module order.

With --agreement, the in-memory default and streaming run on the same tokens and their networks are matched.
Run: .venv/bin/python benchmarks/streaming_scale.py [--tokens 4096,16384,131072] [--parallel 16384]
    [--agreement 131072] [--sketch-rows 200] [--repeats 3]
Writes benchmarks/results/streaming_scale.json: the rows measured now replace the same (kind, tokens) rows of an
earlier run and the others are kept; every row names the commit it was measured at.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import resource
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import NamedTuple

from provenance import commit_id

from fnsft.choices import SKETCH_ROWS, SKETCH_TOKENS

os.environ.setdefault("HF_HUB_OFFLINE", "1")
RESULTS = Path(__file__).resolve().parent / "results"
WORK = Path("/tmp/fnsft-streaming-scale")


class Sketch(NamedTuple):
    """Streaming discovery's sketch settings (ICAMask's sketch_rows, sketch_tokens)."""

    rows: int
    tokens: int


def stdlib_docstrings(minimum_characters: int = 100) -> list[str]:
    """Docstrings of the standard library's modules, classes and functions (deterministic for one Python)."""
    texts = []
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        nodes = [tree, *(n for n in ast.walk(tree) if isinstance(n, ast.ClassDef | ast.FunctionDef))]
        texts += [doc for doc in map(ast.get_docstring, nodes) if doc and len(doc) >= minimum_characters]
    return texts


def scale_texts():
    from fnsft.data import DEFAULT_PROMPTS, LabelledTexts, load_labelled_texts

    prompts = load_labelled_texts(DEFAULT_PROMPTS, split="discovery")
    docs = stdlib_docstrings()
    return LabelledTexts(
        prompts.texts + docs, prompts.categories + ["python docs"] * len(docs), {"source": "benchmark"}
    )


def _forward(model, tokenizer, texts, tokens: int) -> None:
    """Plain forward passes over the tokens a capture would take, batched as it batches them."""
    import torch

    from fnsft.discovery import capture_batches

    with torch.no_grad():
        for input_ids, attention in capture_batches(tokenizer, texts, tokens):
            model(input_ids=input_ids, attention_mask=attention, use_cache=False)


def measure(kind: str, tokens: int, save: str | None, sketch: Sketch) -> dict:
    """One measurement in this process: seconds (and per stage for discovery) and peak RSS."""
    from fnsft import ICAMask, load_model
    from fnsft.data import interleave_by_category
    from fnsft.discovery import Processes, join_process_group_from_environment

    join_process_group_from_environment()
    model, tokenizer = load_model()
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    texts = scale_texts()
    stages: dict[str, float] = {}
    started = time.perf_counter()
    if kind == "forward":
        _forward(model, tokenizer, interleave_by_category(texts).texts, tokens)
    else:
        finder = ICAMask(streaming=kind == "streaming", sketch_rows=sketch.rows, sketch_tokens=sketch.tokens)
        networks = finder.compute_global_networks(
            model,
            tokenizer,
            texts,
            max_tokens=tokens,
            progress=lambda stage, _: stages.setdefault(stage, time.perf_counter() - started),
        )
        if save and Processes().is_first:
            finder.build_templates_from_current_components(f"{kind} {tokens}", path=save)
        assert networks.data["num_tokens"] == tokens, networks.data["num_tokens"]
    return {
        "kind": kind,
        "tokens": tokens,
        "commit": commit_id(),
        **({"sketch_rows": sketch.rows, "sketch_tokens": sketch.tokens} if kind == "streaming" else {}),
        "seconds": time.perf_counter() - started,
        "stage_start_seconds": stages,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "rss_after_model_load_mb": loaded_rss,
    }


def _child(kind: str, tokens: int, sketch: Sketch, save: str | None = None, processes: int = 1) -> dict:
    out = WORK / f"{kind}-{tokens}-{processes}.json"
    launcher = [sys.executable]
    if processes > 1:
        launcher = [
            str(Path(sys.executable).parent / "torchrun"),
            "--standalone",
            f"--nproc_per_node={processes}",
        ]
    command = [*launcher, __file__, "--child", kind, "--tokens", str(tokens), "--out", str(out)]
    command += ["--sketch-rows", str(sketch.rows), "--sketch-tokens", str(sketch.tokens)]
    subprocess.run([*command, *(["--save", save] if save else [])], check=True)
    result = json.loads(out.read_text())
    print(json.dumps(result), flush=True)
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", default="4096,16384,131072", help='token counts; "" for none')
    parser.add_argument("--parallel", type=int, default=None, help="tokens for the two-process comparison")
    parser.add_argument(
        "--agreement", type=int, default=None, help="tokens for streaming against the in-memory default"
    )
    parser.add_argument("--child", default=None)
    parser.add_argument("--out", default=None)
    parser.add_argument("--save", default=None)
    parser.add_argument("--sketch-rows", type=int, default=SKETCH_ROWS, help="the streaming sketch's rows")
    parser.add_argument(
        "--sketch-tokens", type=int, default=SKETCH_TOKENS, help="tokens sampled into the sketch"
    )
    parser.add_argument("--repeats", type=int, default=1, help="runs of each kind (the median one is kept)")
    args = parser.parse_args(argv)
    sketch = Sketch(args.sketch_rows, args.sketch_tokens)
    if args.child:
        tokens = int(args.tokens)
        result = measure(args.child, tokens, args.save, sketch)
        if int(os.environ.get("RANK", "0")) == 0:
            Path(args.out).write_text(json.dumps(result))
        return
    WORK.mkdir(exist_ok=True)
    rows = []
    for tokens in (int(part) for part in args.tokens.split(",") if part):
        kinds = ("forward", "default", "streaming") if tokens <= 16384 else ("forward", "streaming")
        runs = [[_child(kind, tokens, sketch) for kind in kinds] for _ in range(args.repeats)]
        rows += [_median_run([run[index] for run in runs]) for index in range(len(kinds))]
    path = RESULTS / "streaming_scale.json"
    report = json.loads(path.read_text()) if path.is_file() else {}
    if args.agreement:
        agreement = _in_memory_agreement(args.agreement, sketch)
        timings = [agreement.pop("default"), agreement.pop("streaming")]
        key = str(args.agreement)
        if sketch == Sketch(SKETCH_ROWS, SKETCH_TOKENS):  # the table shows the default settings only
            rows += timings
        else:
            key += f", sketch {sketch.rows} rows of {sketch.tokens} tokens"
        report.setdefault("agreement", {})[key] = agreement
    measured = {(row["kind"], row["tokens"]) for row in rows}
    kept = [row for row in report.get("rows", []) if (row["kind"], row["tokens"]) not in measured]
    report.update(
        {"model": "SmolLM2-135M-Instruct (embedded)", "threads": os.cpu_count(), "rows": kept + rows}
    )
    report["rows"].sort(
        key=lambda row: (row["tokens"], ["forward", "default", "streaming"].index(row["kind"]))
    )
    if args.parallel:
        report.setdefault("parallel", {})[str(sketch.rows)] = _parallel(args.parallel, sketch)
    RESULTS.mkdir(exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def _median_run(runs: list[dict]) -> dict:
    """The run of median time, with every run's seconds: timings on this shared machine vary by up to 35%
    from one run to the next, so the kinds are measured in turns, `--repeats` times."""
    ordered = sorted(runs, key=lambda run: run["seconds"])
    return {**ordered[len(ordered) // 2], "seconds_all": [run["seconds"] for run in runs]}


def _parallel(tokens: int, sketch: Sketch) -> dict:
    """Two torchrun processes against one, streaming with the same sketch size on the same tokens: time and
    network agreement."""
    one_path = WORK / f"streaming-{tokens}-{sketch.rows}-{sketch.tokens}.networks.json"
    two_path = WORK / f"parallel-{tokens}-{sketch.rows}-{sketch.tokens}.networks.json"
    one = _child("streaming", tokens, sketch, str(one_path))
    timing = _child("streaming", tokens, sketch, str(two_path), processes=2)
    return {"processes": 2, **timing, "one_process_seconds": one["seconds"], **_ious(one_path, two_path)}


def _in_memory_agreement(tokens: int, sketch: Sketch) -> dict:
    """Streaming against the in-memory default on the same tokens (beyond 16,384 tokens the default's bfloat16
    matrix, 2 bytes per neuron and token, is what limits it): time, memory and network agreement."""
    exact_path = WORK / f"default-{tokens}.networks.json"
    streamed_path = WORK / f"streaming-{tokens}-{sketch.rows}-{sketch.tokens}.networks.json"
    default = _child("default", tokens, sketch, str(exact_path))
    streaming = _child("streaming", tokens, sketch, str(streamed_path))
    return {"default": default, "streaming": streaming, **_ious(exact_path, streamed_path)}


def _ious(first, second) -> dict:
    """Network IoU of the two templates' components, one-to-one best matches."""
    from fnsft.networks import load_templates, match_components

    ious = sorted(iou for _, _, iou in match_components(load_templates(first), load_templates(second)))
    return {"best_match_iou": ious, "median_iou": ious[len(ious) // 2], "min_iou": ious[0]}


if __name__ == "__main__":
    main()
