"""Evidence: lesion and preservation curves, and forgetting under each fine-tuning method, in one command.

    .venv/bin/python benchmarks/evidence/run.py                 # embedded model, 2-core CPU, about 45 minutes
    .venv/bin/python benchmarks/evidence/run.py --model Qwen/Qwen2.5-1.5B-Instruct --device cuda \
        --out benchmarks/results/evidence-qwen1.5b                  # at scale, discovering its networks first
    .venv/bin/python benchmarks/evidence/run.py --skip-curves --methods full,full-freeze,full-freeze-random

Seeds are fixed. Writes benchmarks/results/evidence/evidence.json and PNG figures beside it (the README shows
them; the app reads the JSON). Without --templates, networks come from the shipped template for the model, or are
discovered with the library's defaults when there is none.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))

from curves import masking_curve  # noqa: E402
from forgetting import chosen_methods, forgetting_experiment  # noqa: E402

from fnsft.models import load_model  # noqa: E402
from fnsft.networks import ICAMask  # noqa: E402
from fnsft.templates import load_templates, write_json_atomically  # noqa: E402
from fnsft.texts import DEFAULT_PROMPTS, load_labelled_texts, per_category  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results" / "evidence"


def networks_for(model, tokenizer, templates: str | None, discovery_tokens: int):
    from fnsft.errors import FnsftError
    from fnsft.resources import shipped_template

    if templates:
        return load_templates(templates, model)
    try:
        return load_templates(shipped_template(model), model)
    except FnsftError:
        return ICAMask().compute_global_networks(model, tokenizer, max_tokens=discovery_tokens)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--templates", default=None)
    parser.add_argument(
        "--discovery-tokens",
        type=int,
        default=16384,
        help="tokens for discovery when the model has no template",
    )
    parser.add_argument("--texts-per-category", type=int, default=4)
    parser.add_argument("--draws", type=int, default=3)
    parser.add_argument("--points", default="1,2,4,8,12,16,20")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-curves", action="store_true")
    parser.add_argument("--skip-forgetting", action="store_true")
    parser.add_argument("--forgetting-seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument(
        "--methods",
        default=None,
        help="comma-separated fine-tuning methods to compare (default: all of them)",
    )
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    methods = chosen_methods(args.methods)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "evidence.json"
    evidence = json.loads(path.read_text()) if path.is_file() else {}
    model, tokenizer = load_model(args.model, device=args.device)
    networks = networks_for(model, tokenizer, args.templates, args.discovery_tokens)
    texts = per_category(load_labelled_texts(DEFAULT_PROMPTS, split="eval"), args.texts_per_category)
    evidence["setup"] = {
        "model": networks.model_id,
        "networks": networks.name,
        "components": networks.num_components,
        "eval_texts": len(texts.texts),
        "random_draws": args.draws,
        "seed": args.seed,
    }
    seconds = evidence["seconds"] = (
        evidence.get("seconds") if isinstance(evidence.get("seconds"), dict) else {}
    )
    started = time.perf_counter()
    if not args.skip_curves:
        points = [n for n in (int(p) for p in args.points.split(",")) if n <= networks.num_components]
        for mode in ("lesion", "preserve"):
            evidence[f"{mode}_curve"] = masking_curve(
                model, tokenizer, networks, texts, mode, points, args.draws, args.seed
            )
            write_json_atomically(evidence, path)
        seconds["curves"] = time.perf_counter() - started
    if not args.skip_forgetting:
        started = time.perf_counter()
        del model  # each run loads its own copy; at scale two would not fit beside each other

        evidence["forgetting"] = forgetting_experiment(
            args.model,
            networks,
            out / "runs",
            seeds=args.forgetting_seeds,
            steps=args.steps,
            device=args.device,
            methods=methods,
        )
        seconds["forgetting"] = time.perf_counter() - started
    write_json_atomically(evidence, path)
    from figures import render_all

    for figure in render_all(evidence, out):
        print(f"wrote {figure}")


if __name__ == "__main__":
    main()
