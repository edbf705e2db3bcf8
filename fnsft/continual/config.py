"""A continual-learning suite read from YAML/JSON: the task sequence, the methods, the seeds, the training
settings and the output folder, every value checked before any model loads (one line names what is wrong)."""

from __future__ import annotations

import argparse
import importlib.util
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from .._files import loads_json, loads_yaml, read_bounded
from .._resources import PACKAGE_PREFIX, bundled
from .._value_types import (
    check_value,
    float_in_range,
    int_in_range,
    non_negative_float,
    one_of,
    optional,
    positive_int,
    seed_int,
    text,
)
from ..data import TEMPLATES
from ..errors import ContinualConfigError, SettingError
from ..training._rules import MAX_LORA_RANK

# every method a suite may list; one class each in .registry
METHODS = (
    "full",
    "lora",
    "ewc",
    "lwf",
    "o-lora",
    "networks",
    "networks-outside",
    "networks-random",
    "networks-fixed",
)


MAX_CONFIG_BYTES = 2**20
TEXT_PLACEHOLDER = "{text}"


def _names(value: Any) -> list[str] | None:
    """One non-empty text as a list, a list of them (possibly empty), or None for anything else."""
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        return None
    return values


def _text_list(value: Any) -> list[str]:
    """One field name, or a non-empty list of them."""
    values = _names(value)
    if not values:
        raise argparse.ArgumentTypeError(f"{value!r} is not a field name or a non-empty list of field names")
    return values


def _harness_tasks(value: Any) -> list[str]:
    """lm-evaluation-harness task names: one, a list, or none (an empty list: the default)."""
    values = _names(value)
    if values is None:
        raise argparse.ArgumentTypeError(f"{value!r} is not a task name or a list of lm-eval task names")
    return values


def _label_map(value: Any) -> dict[str, str]:
    """raw label -> label text the model must generate (keys read as text: YAML gives 0/1 as numbers)."""
    if not isinstance(value, dict) or not value:
        raise argparse.ArgumentTypeError(
            f"{value!r:.60} is not a non-empty mapping of raw labels to label texts"
        )
    mapped = {}
    for raw, label in value.items():
        if not isinstance(label, str) or not label.strip() or "\n" in label:
            raise argparse.ArgumentTypeError(f"label {raw!r} maps to {label!r}; expected one line of text")
        mapped[str(raw)] = label.strip()
    return mapped


def _instruction(value: Any) -> str:
    if not isinstance(value, str) or TEXT_PLACEHOLDER not in value:
        raise argparse.ArgumentTypeError(f"{value!r:.60} must be text holding {TEXT_PLACEHOLDER}")
    return value


TASK_RULES = {
    "name": text,
    "data": text,
    "text_fields": _text_list,
    "label_field": text,
    "label_map": _label_map,
    "instruction": _instruction,
    "train_size": positive_int,
    "test_size": positive_int,
    "max_chars": int_in_range(16, 100_000),
    "split": optional(text),
    "test_split": optional(text),
    "config": optional(text),
}


@dataclass(frozen=True)
class TaskSpec:
    """One task: records from `data` (a local file, `fnsft:<shipped file>` or a Hub dataset id), the prompt
    made of `text_fields` (each cut to `max_chars`) put into `instruction`, and the label to generate."""

    name: str
    data: str
    text_fields: list[str]
    label_field: str
    label_map: dict[str, str]
    instruction: str
    train_size: int
    test_size: int
    max_chars: int = 400
    split: str | None = None  # the records' split to draw from (default: train, or the only one)
    test_split: str | None = None  # draw the test set from this split instead (e.g. "test" of a Hub dataset)
    config: str | None = None  # the Hub dataset's configuration (e.g. "mnli" of nyu-mll/glue)

    @property
    def labels(self) -> list[str]:
        return sorted(set(self.label_map.values()))


SUITE_RULES = {
    "name": text,
    "model": optional(text),
    "methods": _text_list,
    "seeds": None,  # checked by _seeds
    "output_dir": optional(text),
    "steps": positive_int,
    "batch_size": int_in_range(1, 4096),
    "learning_rate": float_in_range(0.0, 1.0, low_open=True),
    "full_learning_rate": float_in_range(0.0, 1.0, low_open=True),
    "lora_r": int_in_range(1, MAX_LORA_RANK),
    "lora_alpha": int_in_range(1, 1_000_000),
    "max_length": int_in_range(16, 32_768),
    "template": one_of(TEMPLATES),
    "templates": optional(text),
    "ewc_lambda": non_negative_float,
    "ewc_batches": positive_int,
    "lwf_lambda": non_negative_float,
    "lwf_temperature": float_in_range(0.0, 100.0, low_open=True),
    "olora_lambda": non_negative_float,
    "network_components": int_in_range(1, 1000),
    "network_tokens": int_in_range(64, 10_000_000),
    "general_texts": int_in_range(0, 10_000),
    "single_task_baselines": None,  # checked as a bool by the rule below
    "lm_eval_tasks": _harness_tasks,
    "lm_eval_limit": positive_int,
    "device": text,
    "tasks": None,  # checked by _task
}


@dataclass
class SuiteConfig:
    """A task sequence and how to learn it. Sizes are per task; `steps` per stage at `batch_size`.

    learning_rate: every LoRA method; full_learning_rate: the full fine-tune. network_components /
    network_tokens: the discovery run after each stage of the network methods (ICAMask settings).
    template: how prompts are rendered (fnsft.data templates; chatml has no system prompt, so prompts stay short).
    templates: the fixed networks of "networks-fixed" (default: the template shipped for the model).
    general_texts: texts per category of the shipped prompt set's eval split, for the general-ability drift.
    lm_eval_tasks: lm-evaluation-harness tasks scored after every stage too (at most `lm_eval_limit` examples
    each); optional, and only where lm-eval is installed and can reach its tasks' data.
    """

    name: str
    tasks: list[TaskSpec]
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    seeds: list[int] = field(default_factory=lambda: [0])
    model: str | None = None
    output_dir: str | None = None
    steps: int = 30
    batch_size: int = 4
    learning_rate: float = 1e-3
    full_learning_rate: float = 2e-5
    lora_r: int = 8
    lora_alpha: int = 16
    max_length: int = 128
    template: str = "chatml"
    templates: str | None = None
    ewc_lambda: float = 1000.0
    ewc_batches: int = 4
    lwf_lambda: float = 1.0
    lwf_temperature: float = 2.0
    olora_lambda: float = 0.5
    network_components: int = 8
    network_tokens: int = 2048
    general_texts: int = 2
    single_task_baselines: bool = True
    lm_eval_tasks: list[str] = field(default_factory=list)
    lm_eval_limit: int = 100
    device: str = "auto"
    source: str = field(default="", repr=False)  # the config file, for messages


def _where(path: Path, task: int | None = None) -> str:
    return f"{path}" if task is None else f"{path}: task {task + 1}"


def _task(value: Any, path: Path, index: int) -> TaskSpec:
    where = _where(path, index)
    if not isinstance(value, dict):
        raise ContinualConfigError(
            f"{where}: expected a mapping of task settings, got {type(value).__name__}"
        )
    known = {f.name for f in fields(TaskSpec)}
    unknown = sorted(set(value) - known)
    if unknown:
        raise ContinualConfigError(f"{where}: unknown keys {unknown}; a task takes {sorted(known)}")
    missing = [f.name for f in fields(TaskSpec) if f.default is MISSING and f.name not in value]
    if missing:
        raise ContinualConfigError(f"{where}: missing {missing}")
    checked = {name: check_value(name, item, TASK_RULES[name], where) for name, item in value.items()}
    checked["data"] = _data_source(checked["data"], path.parent)
    return TaskSpec(**checked)


def _data_source(data: str, folder: Path) -> str:
    """`fnsft:<name>` -> the shipped file; a relative path -> beside the config file; else as given (Hub id)."""
    if data.startswith(PACKAGE_PREFIX):
        return str(bundled(data.removeprefix(PACKAGE_PREFIX)))
    local = folder / data
    return str(local) if not Path(data).is_absolute() and local.exists() else data


def _seeds(value: Any, where: str) -> list[int]:
    values = value if isinstance(value, list) else [value]
    seeds = [check_value("seeds", item, seed_int, where) for item in values]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ContinualConfigError(f"{where}: seeds: {value!r} must be distinct seeds, at least one")
    return seeds


def _methods(value: Any, where: str) -> list[str]:
    names = check_value("methods", value, _text_list, where)
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise ContinualConfigError(f"{where}: methods: {unknown} unknown; choose from {', '.join(METHODS)}")
    return list(dict.fromkeys(names))


def suite_from_dict(values: Any, path: Path) -> SuiteConfig:
    """The checked SuiteConfig of a parsed config file (`path` names it in refusals)."""
    where = _where(path)
    if not isinstance(values, dict):
        raise ContinualConfigError(f"{where} must hold a mapping with 'name' and 'tasks'")
    values = {str(k).replace("-", "_"): v for k, v in values.items()}
    unknown = sorted(set(values) - set(SUITE_RULES))
    if unknown:
        raise ContinualConfigError(f"{where}: unknown keys {unknown}; a suite takes {sorted(SUITE_RULES)}")
    for required in ("name", "tasks"):
        if required not in values:
            raise ContinualConfigError(f"{where}: missing {required!r}")
    tasks = values.pop("tasks")
    if not isinstance(tasks, list) or len(tasks) < 2:
        raise ContinualConfigError(f"{where}: tasks must list at least two tasks (a sequence)")
    checked: dict[str, Any] = {"tasks": [_task(task, path, i) for i, task in enumerate(tasks)]}
    names = [task.name for task in checked["tasks"]]
    if len(set(names)) != len(names):
        raise ContinualConfigError(f"{where}: task names must differ; {names}")
    try:
        for name, value in values.items():
            if name == "seeds":
                checked[name] = _seeds(value, where)
            elif name == "methods":
                checked[name] = _methods(value, where)
            elif name == "single_task_baselines":
                from .._value_types import strict_bool

                checked[name] = check_value(name, value, strict_bool, where)
            else:
                checked[name] = check_value(name, value, SUITE_RULES[name], where)
    except SettingError as error:
        raise ContinualConfigError(str(error)) from None
    if checked.get("lm_eval_tasks") and importlib.util.find_spec("lm_eval") is None:
        raise ContinualConfigError(
            f"{where}: lm_eval_tasks needs the lm-eval package (pip install lm-eval; its tasks read their data "
            "from the Hub); remove lm_eval_tasks to run without it"
        )
    return SuiteConfig(**checked, source=str(path))


def load_suite(path: str | Path) -> SuiteConfig:
    """The suite in a YAML (.yaml/.yml) or JSON file, refused with one line when unreadable or wrong."""
    import yaml

    path = Path(path)
    try:
        raw = read_bounded(path, MAX_CONFIG_BYTES, "suite configs").decode("utf-8-sig")
        values = loads_yaml(raw) if path.suffix in (".yaml", ".yml") else loads_json(raw)
    except (OSError, ValueError, yaml.YAMLError) as error:
        problem = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise ContinualConfigError(f"Cannot read the suite config {path}: {problem}") from None
    return suite_from_dict(values, path)


def with_overrides(
    suite: SuiteConfig,
    *,
    methods: str | None = None,
    seeds: str | None = None,
    tasks: str | None = None,
    device: str | None = None,
) -> SuiteConfig:
    """The suite with the command line's comma-separated methods / seeds / tasks (a sub-sequence, in the order
    given) and device, checked like the file's."""
    from dataclasses import replace

    where = f"{suite.source} (command line)"
    changes: dict[str, Any] = {}
    if methods is not None:
        changes["methods"] = _methods([part.strip() for part in methods.split(",") if part.strip()], where)
    if seeds is not None:
        try:
            changes["seeds"] = _seeds([part.strip() for part in seeds.split(",") if part.strip()], where)
        except SettingError as error:
            raise ContinualConfigError(str(error)) from None
    if tasks is not None:
        by_name = {task.name: task for task in suite.tasks}
        names = [part.strip() for part in tasks.split(",") if part.strip()]
        unknown = [name for name in names if name not in by_name]
        if unknown or len(set(names)) != len(names) or len(names) < 2:
            raise ContinualConfigError(
                f"{where}: tasks: {names} must be at least two distinct tasks of {sorted(by_name)}"
            )
        changes["tasks"] = [by_name[name] for name in names]
    if device is not None:
        changes["device"] = device
    return replace(suite, **changes)
