"""Evidence: lesion and preservation curves (zero and mean fill), a gain sweep, the paper's protocol, and
forgetting and network drift under each fine-tuning method, in one command.

    .venv/bin/python benchmarks/evidence/run.py                 # embedded model, 2-core CPU: 45 minutes + Evidence II
    .venv/bin/python benchmarks/evidence/run.py --model Qwen/Qwen2.5-1.5B-Instruct --device cuda \
        --out benchmarks/results/evidence-qwen1.5b                  # at scale, discovering its networks first
    .venv/bin/python benchmarks/evidence/run.py --skip-curves --methods full,full-freeze,full-freeze-random
    .venv/bin/python benchmarks/evidence/run.py --sections mean-curves,gain,paper,drift   # Evidence II only

Seeds are fixed. Writes benchmarks/results/evidence/evidence.json and PNG figures beside it (docs/evidence.md shows
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

from dials import curves, gain_section, paper_section  # noqa: E402
from drift_runs import DRIFT_METHODS, drift_experiment  # noqa: E402
from forgetting import chosen_methods, forgetting_experiment  # noqa: E402

from fnsft.data import DEFAULT_PROMPTS, load_labelled_texts, per_category  # noqa: E402
from fnsft.discovery import ICAMask, with_neuron_means  # noqa: E402
from fnsft.models import load_model  # noqa: E402
from fnsft.networks import load_templates  # noqa: E402

RESULTS = Path(__file__).resolve().parents[1] / "results" / "evidence"


def write_json_atomically(data: dict, path: Path) -> None:
    """The evidence file, replaced whole: a run killed while saving leaves the previous results."""
    temp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    temp.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(temp, path)


def networks_for(model, tokenizer, templates: str | None, discovery_tokens: int):
    from fnsft.errors import FnsftError
    from fnsft.networks import shipped_template

    if templates:
        return load_templates(templates, model)
    try:
        return load_templates(shipped_template(model), model)
    except FnsftError:
        return ICAMask().compute_global_networks(model, tokenizer, max_tokens=discovery_tokens)


SECTIONS = ("curves", "mean-curves", "gain", "paper", "forgetting", "drift")


def _sections(args) -> set[str]:
    """The parts to run: --sections, less those --skip-curves / --skip-forgetting leave out."""
    chosen = {part.strip() for part in args.sections.split(",") if part.strip()}
    unknown = sorted(chosen - set(SECTIONS))
    if unknown:
        raise SystemExit(f"--sections: unknown {', '.join(unknown)}; choose from {', '.join(SECTIONS)}.")
    skipped = {"curves"} if args.skip_curves else set()
    return chosen - skipped - ({"forgetting"} if args.skip_forgetting else set())


def _masking_section(section: str, model, tokenizer, networks, texts, points: list[int], args, save) -> None:
    """One of the masking parts, each result saved as soon as it is measured."""
    if section in ("curves", "mean-curves"):
        fill = "zero" if section == "curves" else "mean"
        modes = args.curve_modes.split(",")
        curves(model, tokenizer, networks, texts, points, args.draws, args.seed, (fill,), save, modes)
    elif section == "gain":
        tops = [int(n) for n in args.gain_tops.split(",")]
        save("gain_sweep", gain_section(model, tokenizer, networks, texts, tops, args.draws, args.seed))
    else:
        paper_points = [int(n) for n in args.paper_points.split(",")]
        paper_section(
            model,
            tokenizer,
            texts,
            paper_points,
            args.draws,
            args.seed,
            args.discovery_tokens,
            save=lambda value: save("paper_protocol", value),
            modes=args.curve_modes.split(","),
        )


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
    parser.add_argument(
        "--sections",
        default=",".join(SECTIONS),
        help=f"comma-separated parts to run (default all: {', '.join(SECTIONS)}); results of others are kept",
    )
    parser.add_argument("--gain-tops", default="4,20", help="gain sweep: the top-n network unions to scale")
    parser.add_argument(
        "--paper-points", default="1,2,5,10", help="paper protocol: top-n points of its curves"
    )
    parser.add_argument("--drift-seeds", type=int, default=1)
    parser.add_argument(
        "--drift-methods",
        default=",".join(DRIFT_METHODS),
        help="methods to rerun for drift; earlier runs of the others (same steps and tokens) are kept",
    )
    parser.add_argument(
        "--drift-tokens", type=int, default=None, help="rediscovery tokens (default: the template's)"
    )
    parser.add_argument("--curve-modes", default="lesion,preserve", help="which curves to draw")
    parser.add_argument("--out", default=str(RESULTS))
    args = parser.parse_args(argv)
    sections = _sections(args)
    methods = chosen_methods(args.methods)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "evidence.json"
    evidence = json.loads(path.read_text()) if path.is_file() else {}
    model, tokenizer = load_model(args.model, device=args.device)
    networks = networks_for(model, tokenizer, args.templates, args.discovery_tokens)
    if networks.neuron_means is None and "mean-curves" in sections:
        networks = with_neuron_means(networks, model, tokenizer)  # an older template: one capture pass
    texts = per_category(load_labelled_texts(DEFAULT_PROMPTS, split="eval"), args.texts_per_category)
    # the setup describes the main curves: a run of other sections (with other draws) leaves it as it is
    evidence["setup"] = (
        evidence["setup"]
        if "setup" in evidence and "curves" not in sections
        else {
            "model": networks.model_id,
            "networks": networks.name,
            "components": networks.num_components,
            "eval_texts": len(texts.texts),
            "random_draws": args.draws,
            "seed": args.seed,
        }
    )
    seconds = evidence["seconds"] = (
        evidence.get("seconds") if isinstance(evidence.get("seconds"), dict) else {}
    )

    def save(key, value):
        """Keep a result as soon as it is measured; it is no longer one of the earlier networks' sections."""
        evidence[key] = value
        earlier = evidence["setup"].get("earlier_networks", {}).get("sections", [])
        if key in earlier:
            earlier.remove(key)
            if not earlier:  # every section now comes from today's networks
                del evidence["setup"]["earlier_networks"]
        write_json_atomically(evidence, path)

    points = [n for n in (int(p) for p in args.points.split(",")) if n <= networks.num_components]
    for section in ("curves", "mean-curves", "gain", "paper"):
        if section in sections:
            started = time.perf_counter()
            _masking_section(section, model, tokenizer, networks, texts, points, args, save)
            seconds[section] = time.perf_counter() - started
    del model  # each run below loads its own copy; at scale two would not fit beside each other
    if "drift" in sections:
        started = time.perf_counter()
        drift_experiment(
            args.model,
            networks,
            out / "drift-runs",
            seeds=args.drift_seeds,
            steps=args.steps,
            device=args.device,
            tokens=args.drift_tokens,
            methods=chosen_methods(args.drift_methods),
            save=lambda value: save("drift", value),
            earlier=evidence.get("drift"),
        )
        seconds["drift"] = time.perf_counter() - started
    if "forgetting" in sections:
        started = time.perf_counter()
        forgetting = forgetting_experiment(
            args.model,
            networks,
            out / "runs",
            seeds=args.forgetting_seeds,
            steps=args.steps,
            device=args.device,
            methods=methods,
        )
        save("forgetting", forgetting)
        seconds["forgetting"] = time.perf_counter() - started
    write_json_atomically(evidence, path)
    from figures import render_all

    for figure in render_all(evidence, out):
        print(f"wrote {figure}")


if __name__ == "__main__":
    main()
