"""Command-line entry points: fnsft-app, fnsft-build-templates, fnsft-train, fnsft-eval."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from .choices import (
    DISCOVERY,
    EVAL_MODES,
    GRANULARITIES,
    ICA_ORIENTATIONS,
    SKETCH_ROWS,
    SKETCH_TOKENS,
    THRESHOLD_RULES,
)
from .cli_run import run_command
from .cli_types import (
    OneLineParser,
    finite_float,
    int_in_range,
    non_negative_int,
    positive_int,
    seed_int,
    strict_bool,
)
from .errors import FnsftError, MaskSelectionError
from .evaluation import MAX_RANDOM_DRAWS
from .run_folder import check_writable
from .training_rules import device_value

logger = logging.getLogger("fnsft")


def _common_model_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model", default=None, help="hub id, model folder or .gguf file (default: embedded)"
    )
    parser.add_argument("--device", type=device_value, default="auto", help="auto, cpu, cuda, cuda:N, mps")
    parser.add_argument("--dtype", default="auto", help="auto, float32, float16, bfloat16")


def parse_dataset_spec(spec: str) -> tuple[str, int | None]:
    """'path[:count]' -> (path, count); the count caps how many texts come from that dataset (at least 1)."""
    path, sep, count = spec.rpartition(":")
    if sep and count.isdigit() and path:
        if int(count) < 1:
            raise argparse.ArgumentTypeError(f"{spec!r}: the count after ':' must be at least 1")
        return path, int(count)
    return spec, None


def _output_file(text: str) -> Path:
    """An output file path: refused when it names a folder or lies in a folder that cannot be written."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; give a file name")
    try:
        check_writable(path.parent if path.is_file() else path, "output")  # an existing file is replaced
    except FnsftError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return path


def build_templates_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fnsft-build-templates",
        description="Find functional networks with PCA + ICA and write them as a template file.",
    )
    _common_model_flags(parser)
    parser.add_argument(
        "--dataset",
        action="append",
        type=parse_dataset_spec,
        help="texts: .json/.jsonl/.csv/.parquet or hub id, optionally path:COUNT; repeatable "
        "(default: the shipped multi-domain prompt set, discovery split)",
    )
    parser.add_argument("--text-field", default=None)
    parser.add_argument("--category-field", default="category")
    parser.add_argument("--split", default=None, help="keep only records whose 'split' field equals this")
    parser.add_argument("--components", type=positive_int, default=DISCOVERY.num_components)
    parser.add_argument("--threshold-rule", choices=THRESHOLD_RULES, default=DISCOVERY.threshold_rule)
    parser.add_argument("--threshold", type=finite_float, default=DISCOVERY.threshold)
    parser.add_argument("--granularity", choices=GRANULARITIES, default=DISCOVERY.granularity)
    parser.add_argument("--ica-over", choices=ICA_ORIENTATIONS, default=DISCOVERY.ica_over)
    parser.add_argument("--max-tokens", type=positive_int, default=DISCOVERY.max_tokens)
    parser.add_argument("--max-length", type=positive_int, default=DISCOVERY.max_length)
    parser.add_argument(
        "--stability-runs",
        type=non_negative_int,
        default=DISCOVERY.stability_runs,
        help="0: stability not measured",
    )
    parser.add_argument("--seed", type=seed_int, default=DISCOVERY.seed)
    parser.add_argument(
        "--streaming",
        type=strict_bool,
        default=None,
        help="true: sketch the activations during capture instead of storing them (memory independent of "
        "tokens); default: true under torchrun / accelerate launch (data-parallel), false otherwise",
    )
    parser.add_argument("--sketch-rows", type=positive_int, default=SKETCH_ROWS, help="streaming sketch size")
    parser.add_argument(
        "--sketch-tokens",
        type=positive_int,
        default=SKETCH_TOKENS,
        help="streaming: tokens (a random sample of the batches) sketched before the pass over all of them",
    )
    parser.add_argument("--chat-format", action="store_true", help="wrap each text as a chat user turn")
    parser.add_argument("--name", default=None, help="template name (default: from the model id)")
    parser.add_argument(
        "--output", type=_output_file, default=None, help="output file (default: ica_templates/<model>.json)"
    )
    parser.add_argument(
        "--add-cards",
        metavar="TEMPLATE",
        default=None,
        help="instead of a discovery, add network cards to this template (one pass over the texts); "
        "written to --output, default: the template itself",
    )
    return parser


def _add_cards(args, model, tokenizer, data, progress) -> None:
    """Cards for an existing template's networks, the template rewritten as schema version 2."""
    from .card_pass import template_cards
    from .templates import load_templates, save_templates

    networks = load_templates(args.add_cards, model)
    networks.cards = template_cards(
        networks,
        model,
        tokenizer,
        data,
        max_tokens=args.max_tokens,
        max_length=args.max_length,
        progress=progress,
    )
    output = save_templates(networks, args.output or args.add_cards)
    print(
        f"wrote {output}: cards for {networks.num_components} networks over {args.max_tokens} tokens at most"
    )


def _discovery_texts(args):
    """The --dataset texts (each unlabelled one its own category), or the shipped prompt set's split."""
    from .texts import DEFAULT_PROMPTS, LabelledTexts, load_labelled_texts

    if not args.dataset:
        return load_labelled_texts(DEFAULT_PROMPTS, split=args.split or "discovery")
    parts = []
    for source, count in args.dataset:
        texts = load_labelled_texts(
            source,
            text_field=args.text_field,
            category_field=args.category_field,
            split=args.split,
            per_source_limit=count,
        )
        if texts.categories is None:
            texts.categories = [Path(source).stem] * len(texts.texts)
        parts.append(texts)
    return LabelledTexts(
        [t for part in parts for t in part.texts],
        [c for part in parts for c in part.categories],
        {"sources": [part.provenance for part in parts]},
    )


def _build_templates(argv) -> None:
    """Discovery in this process, or as one of a torchrun / accelerate launch group (streaming, data-parallel:
    the first process measures the logit effects and writes the template)."""
    from .parallel import join_process_group_from_environment, leave_process_group

    parser = build_templates_parser()
    args = parser.parse_args(argv)
    if args.threshold_rule == "topk" and not args.threshold.is_integer():
        parser.error(f"argument --threshold: topk keeps a whole number of neurons, not {args.threshold:g}")
    distributed = join_process_group_from_environment()
    if distributed and args.add_cards is not None:
        parser.error("--add-cards runs in one process: run it without torchrun")
    try:
        _discover_and_write(args, streaming=distributed if args.streaming is None else args.streaming)
    finally:
        leave_process_group()


def _discover_and_write(args, streaming: bool) -> None:
    from tqdm import tqdm

    from .card_pass import add_logit_effects
    from .models import load_model, model_id
    from .networks import ICAMask
    from .parallel import Processes

    first = Processes().is_first
    if args.output is None:
        check_writable(Path("ica_templates"), "output")
    model, tokenizer = load_model(args.model, device=args.device, dtype=args.dtype)
    data = _discovery_texts(args)
    bar = tqdm(total=100, desc="capture", unit="%", disable=not first)

    def progress(stage: str, fraction: float) -> None:
        bar.set_description(stage)
        bar.n = int(fraction * 100)
        bar.refresh()

    if args.add_cards is not None:
        _add_cards(args, model, tokenizer, data, progress)
        bar.close()
        return
    mask = ICAMask(
        num_components=args.components,
        threshold=args.threshold,
        threshold_rule=args.threshold_rule,
        granularity=args.granularity,
        ica_over=args.ica_over,
        seed=args.seed,
        stability_runs=args.stability_runs,
        max_length=args.max_length,
        chat_format=args.chat_format,
        streaming=streaming,
        sketch_rows=args.sketch_rows,
        sketch_tokens=args.sketch_tokens,
    )
    networks = mask.compute_global_networks(
        model, tokenizer, data, max_tokens=args.max_tokens, progress=progress
    )
    if not first:
        return
    networks.cards = add_logit_effects(networks, model, tokenizer, progress=progress)
    bar.close()
    name = args.name or f"{model_id(model)}-{args.granularity}"
    output = Path(args.output or Path("ica_templates") / f"{model_id(model)}.json")
    mask.build_templates_from_current_components(name, path=output)
    stable = networks.stable()
    print(
        f"wrote {output}: {networks.num_components} networks over {networks.data['num_tokens']} tokens, "
        f"{int(networks.sizes().sum())} neuron slots, "
        + (f"{int(stable.sum())}/{len(stable)} stable" if stable is not None else "stability not measured")
    )
    for note in [*networks.decomposition.get("notes", []), *networks.threshold.get("notes", [])]:
        print(f"note: {note}")


def build_templates_main(argv: list[str] | None = None) -> int:
    return run_command(_build_templates, argv)


def component_ids(value: str) -> str | list[int]:
    """'all', or comma-separated non-negative network ids such as '0,3,5' (`fnsft.selection` reads them)."""
    from .selection import parse_component_ids

    try:
        ids = parse_component_ids(str(value))
    except MaskSelectionError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
    return "all" if ids is None else ids


def eval_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fnsft-eval",
        description="Loss per input category with networks lesioned or preserved, against random masks of "
        "the same size per layer.",
    )
    _common_model_flags(parser)
    parser.add_argument(
        "--templates", default=None, help="template file (default: the shipped one for the model)"
    )
    parser.add_argument(
        "--components", type=component_ids, default="all", help="comma-separated ids, or 'all'"
    )
    parser.add_argument("--mode", choices=EVAL_MODES, default=EVAL_MODES[0])
    parser.add_argument(
        "--eval-data", default=None, help="texts (default: the shipped prompt set, eval split)"
    )
    parser.add_argument("--texts-per-category", type=positive_int, default=None)
    parser.add_argument("--random-draws", type=int_in_range(1, MAX_RANDOM_DRAWS), default=3)
    parser.add_argument("--seed", type=seed_int, default=0)
    parser.add_argument("--json", type=_output_file, default=None, help="also write the report as JSON here")
    return parser


def _eval(argv) -> None:
    from .evaluation import measure_effect
    from .models import load_model
    from .resources import shipped_template
    from .selection import NetworkSelection
    from .templates import load_templates
    from .texts import eval_texts

    args = eval_parser().parse_args(argv)
    model, tokenizer = load_model(args.model, device=args.device, dtype=args.dtype)
    path = args.templates or shipped_template(model)
    selection = NetworkSelection.for_model(load_templates(path), model, args.components, source=str(path))
    texts = eval_texts(args.eval_data, args.texts_per_category)
    report = measure_effect(
        model,
        tokenizer,
        selection,
        None,
        texts,
        mode=args.mode,
        random_draws=args.random_draws,
        seed=args.seed,
    )
    print(
        f"{args.mode} of components {report.components}: {report.masked_neurons} neurons, "
        f"{args.random_draws} random draws of equal size per layer"
    )
    header = f"{'category':<12} {'baseline':>9} {'network':>9} {'random':>15} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for row in report.rows():
        spread = f"±{row['random_loss_std']:.3f}" if len(report.random) > 1 else "±n/a"  # one draw: no spread
        random_text = f"{row['random_loss_mean']:.3f}{spread}"
        noise = "  (random shift within noise)" if row["ratio_is_noise"] else ""
        print(
            f"{row['category']:<12} {row['baseline_loss']:>9.3f} {row['network_loss']:>9.3f} "
            f"{random_text:>15} {row['ratio']:>7.2f}{noise}"
        )
    if args.json:
        from .templates import write_json_atomically

        write_json_atomically(report.to_dict(), args.json)


def eval_main(argv: list[str] | None = None) -> int:
    return run_command(_eval, argv)


def _train(argv) -> None:
    from .training import config_from_args, train

    result = train(config_from_args(argv))
    print(json.dumps({"run_dir": str(result.run_dir), "state": result.state}, indent=1))


def train_main(argv: list[str] | None = None) -> int:
    return run_command(_train, argv)


def _app(argv: list[str]) -> None:
    from .ui.app import main

    main(argv)


def app_main(argv: list[str] | None = None) -> int:
    return run_command(_app, argv)
