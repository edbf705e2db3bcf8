"""Command-line entry points: fnsft-app, fnsft-build-templates, fnsft-train, fnsft-eval, fnsft-continual."""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
from pathlib import Path

from ._cli_run import run_command, stop_on_signals
from ._value_types import OneLineParser, finite_float, int_in_range, positive_int, seed_int, strict_bool
from .analysis._evaluation import MAX_RANDOM_DRAWS
from .choices import (
    EVAL_MODES,
)
from .errors import FnsftError, MaskSelectionError
from .training._rules import device_value
from .training._run_folder import check_writable

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


DISCOVERY_FLAG_NAMES = {"num_components": "components"}  # flags named otherwise than their setting
DISCOVERY_FLAG_HELP = {
    "streaming": "true: sketch the activations during capture instead of storing them (memory independent of "
    "tokens); false: store them; unset: streaming under torchrun / accelerate launch, where the matrix would not "
    "fit or from 65,536 tokens",
    "sketch_rows": "streaming sketch size",
    "sketch_tokens": "streaming: tokens (a random sample of the batches) sketched before the pass over all",
    "chat_format": "wrap each text as a chat user turn",
    "matrix_dtype": "in-memory matrix: float32 (the same networks on every CPU), bfloat16, or auto (bfloat16 "
    "where the CPU multiplies it in hardware)",
    "split_half": "also discover on two halves of the texts and record how each network reproduces (2x time)",
    "stability_runs": "0: stability not measured",
    "consensus": "each map averaged over its stability reruns (spatial ICA)",
}


def add_discovery_flags(parser: argparse.ArgumentParser) -> None:
    """One flag per field of DiscoverySettings, typed by the field; values are checked by DiscoverySettings
    itself, so the flags, the Python API and templates accept exactly the same settings."""
    from .discovery._settings import DEFAULT_SETTINGS, DiscoverySettings, setting_choices

    converters = {
        "int": int_in_range(-(2**62), 2**62),
        "float": finite_float,
        "bool": strict_bool,
        "bool | None": strict_bool,
    }
    for field in dataclasses.fields(DiscoverySettings):
        flag = "--" + DISCOVERY_FLAG_NAMES.get(field.name, field.name).replace("_", "-")
        default = getattr(DEFAULT_SETTINGS, field.name)
        help_text = DISCOVERY_FLAG_HELP.get(field.name, "")
        options: dict = {"dest": field.name, "default": None, "help": f"{help_text} (default: {default})"}
        if field.type in ("bool", "bool | None"):
            options.update(nargs="?", const=True)  # `--chat-format` alone means true
        if field.type == "str":
            options["choices"] = setting_choices(field.name)
        else:
            options["type"] = converters[field.type]
        parser.add_argument(flag, **options)


def discovery_settings_from(args: argparse.Namespace, distributed: bool):
    """The DiscoverySettings the flags ask for (unset flags keep the defaults; streaming under a launcher)."""
    from .discovery._settings import DiscoverySettings, setting_names

    given = {name: getattr(args, name) for name in setting_names() if getattr(args, name) is not None}
    if distributed:
        given.setdefault("streaming", True)
    return DiscoverySettings(**given)


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
        "(default: the shipped discovery corpus, assets/corpus)",
    )
    parser.add_argument("--text-field", default=None)
    parser.add_argument("--category-field", default="category")
    parser.add_argument("--split", default=None, help="keep only records whose 'split' field equals this")
    add_discovery_flags(parser)
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


def _add_cards(args, settings, model, tokenizer, data, progress) -> None:
    """Cards for an existing template's networks, the template rewritten as schema version 2."""
    from .analysis._card_passes import template_cards
    from .networks._templates import load_templates, save_templates

    networks = load_templates(args.add_cards, model)
    networks.cards = template_cards(
        networks,
        model,
        tokenizer,
        data,
        max_tokens=settings.max_tokens,
        max_length=settings.max_length,
        progress=progress,
    )
    output = save_templates(networks, args.output or args.add_cards)
    print(
        f"wrote {output}: cards for {networks.num_components} networks over {settings.max_tokens} tokens at most"
    )


def _discovery_texts(args):
    """The --dataset texts (each unlabelled one its own category), or the shipped prompt set's split."""
    from .data._texts import LabelledTexts, discovery_texts, load_labelled_texts

    if not args.dataset:
        return discovery_texts()
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
    from .discovery._parallel import join_process_group_from_environment, leave_process_group

    parser = build_templates_parser()
    args = parser.parse_args(argv)
    distributed = join_process_group_from_environment()
    if distributed and args.add_cards is not None:
        parser.error("--add-cards runs in one process: run it without torchrun")
    try:
        _discover_and_write(args, discovery_settings_from(args, distributed))
    finally:
        leave_process_group()


def _discover_and_write(args, settings) -> None:
    from tqdm import tqdm

    from .analysis._card_passes import add_logit_effects
    from .discovery._ica_mask import ICAMask
    from .discovery._parallel import Processes
    from .models._loading import load_model, model_id

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
        _add_cards(args, settings, model, tokenizer, data, progress)
        bar.close()
        return
    mask = ICAMask(settings)
    networks = mask.compute_global_networks(model, tokenizer, data, progress=progress)
    if not first:
        return
    networks.cards = add_logit_effects(networks, model, tokenizer, progress=progress)
    bar.close()
    name = args.name or f"{model_id(model)}-{settings.granularity}"
    output = Path(args.output or Path("ica_templates") / f"{model_id(model)}.json")
    mask.build_templates_from_current_components(name, path=output)
    stable = networks.stable()
    print(
        f"wrote {output}: {networks.num_components} networks over {networks.data['num_tokens']} tokens, "
        f"{int(networks.sizes().sum())} neuron slots, "
        + (f"{int(stable.sum())}/{len(stable)} stable" if stable is not None else "stability not measured")
        + ("" if networks.split_half is None else f", split-half {networks.split_half.summary()}")
    )
    for note in [*networks.decomposition.get("notes", []), *networks.threshold.get("notes", [])]:
        print(f"note: {note}")


def build_templates_main(argv: list[str] | None = None) -> int:
    return run_command(_build_templates, argv)


def component_ids(value: str) -> str | list[int]:
    """'all', or comma-separated non-negative network ids such as '0,3,5' (`fnsft.masking._selection` reads them)."""
    from .masking._selection import parse_component_ids

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
    from ._resources import shipped_template
    from .analysis._evaluation import measure_effect
    from .data._texts import eval_texts
    from .masking._selection import NetworkSelection
    from .models._loading import load_model
    from .networks._templates import load_templates

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
        from ._files import write_json_atomically

        write_json_atomically(report.to_dict(), args.json)


def eval_main(argv: list[str] | None = None) -> int:
    return run_command(_eval, argv)


def _train(argv) -> None:
    from .training import config_from_args, train

    config = config_from_args(argv)
    with stop_on_signals() as stop:  # SIGTERM or Ctrl-C: a checkpoint, then status "stopped"
        result = train(config, stop_event=stop)
    print(json.dumps({"run_dir": str(result.run_dir), "state": result.state}, indent=1))


def train_main(argv: list[str] | None = None) -> int:
    return run_command(_train, argv)


def continual_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="fnsft-continual",
        description="Learn a task sequence with each method; write the accuracy matrix, AA, BWT and FWT.",
    )
    parser.add_argument(
        "--config", required=True, help="suite YAML/JSON, or offline for the shipped offline suite"
    )
    parser.add_argument("--output-dir", default=None, help="run folder (default: the config's, else runs/)")
    parser.add_argument("--methods", default=None, help="comma-separated methods (default: the config's)")
    parser.add_argument("--seeds", default=None, help="comma-separated seeds (default: the config's)")
    parser.add_argument(
        "--tasks", default=None, help="comma-separated task names: a sub-sequence, in this order"
    )
    parser.add_argument("--device", type=device_value, default=None, help="auto, cpu, cuda, cuda:N, mps")
    return parser


def _continual(argv) -> None:
    from .continual import OFFLINE_SUITE, load_suite, run_suite, with_overrides
    from .continual.report import summary_lines

    args = continual_parser().parse_args(argv)
    suite = load_suite(OFFLINE_SUITE if args.config == "offline" else args.config)
    suite = with_overrides(
        suite, methods=args.methods, seeds=args.seeds, tasks=args.tasks, device=args.device
    )
    print("\n".join(summary_lines(run_suite(suite, args.output_dir))))


def continual_main(argv: list[str] | None = None) -> int:
    return run_command(_continual, argv)


def _app(argv: list[str]) -> None:
    from .ui.app import main

    main(argv)


def app_main(argv: list[str] | None = None) -> int:
    return run_command(_app, argv)


COMMANDS = {
    "fnsft-app": app_main,
    "fnsft-build-templates": build_templates_main,
    "fnsft-train": train_main,
    "fnsft-eval": eval_main,
    "fnsft-continual": continual_main,
}

if __name__ == "__main__":  # `python -m fnsft.cli fnsft-train ...`: how the app starts its child processes
    import sys

    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        print(f"usage: python -m fnsft.cli {{{','.join(COMMANDS)}}} [flags]", file=sys.stderr)
        sys.exit(2)
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
