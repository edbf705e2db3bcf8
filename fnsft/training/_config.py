"""Every setting of a fine-tuning run (TrainingConfig), its choices, and reading it from flags or a file."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from .._files import loads_json, loads_yaml, read_bounded
from .._value_types import OneLineParser
from ..errors import TrainingConfigError
from ..masking._selection import parse_component_ids
from ._rules import RULES, check_settings, check_together


@dataclass
class TrainingConfig:
    """Every setting of a run; the keys are the fnsft-train flags (dashes for underscores).

    model: None for the embedded model. dataset: None for assets/sample_sft.jsonl. templates: None for the
    shipped template of the model. components: "all", a list of network ids or
    comma-separated ids. warmup_ratio: a fraction of the
    steps below 1, else a step count. general_eval: None for the eval split of the shipped prompt set.
    gradient_checkpointing: "auto" turns it on for QLoRA on CUDA only. resume: continue from the last
    complete checkpoint in output_dir. overwrite: replace an earlier run in output_dir (without it, or resume,
    such a folder is refused). evaluate: measure the forgetting report before and after training. drift:
    rediscover the networks of `templates` on the fine-tuned model and report which were kept, moved or dissolved.

    >>> config = fnsft.TrainingConfig(max_steps=60, network_mode="freeze", components="0,3")
    >>> config.method, config.component_ids()
    ('lora', [0, 3])
    """

    model: str | None = None
    dataset: str | None = None
    template: str = "auto"
    max_length: int = 256
    loss_on: str = "response"
    validation_fraction: float = 0.1
    method: str = "lora"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    templates: str | None = None
    components: str | list[int] = "all"
    network_mode: str = "none"
    random_control: bool = False
    learning_rate: float = 2e-4
    epochs: float = 1.0
    max_steps: int = -1
    batch_size: int = 4
    gradient_accumulation: int = 1
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    seed: int = 0
    output_dir: str | None = None
    logging_steps: int = 1
    eval_steps: int = 0
    save_steps: int = 50
    gradient_checkpointing: str = "auto"
    resume: bool = False
    overwrite: bool = False
    merge: bool = False
    general_eval: str | None = None
    eval_texts_per_category: int = 3
    evaluate: bool = True
    drift: bool = False
    device: str = "auto"

    def __post_init__(self):
        for name, value in check_settings({f.name: getattr(self, f.name) for f in fields(self)}).items():
            setattr(self, name, value)
        check_together(vars(self))
        if self.random_control and self.network_mode == "none":
            raise TrainingConfigError("random_control needs a network_mode other than 'none'.")
        if self.merge and self.method == "full":
            raise TrainingConfigError(
                "merge applies to LoRA/QLoRA adapters; a full fine-tune is already whole."
            )

    def component_ids(self) -> list[int] | None:
        """The chosen network ids, or None for all of them."""
        return parse_component_ids(self.components)


def config_from_args(argv: list[str] | None = None) -> TrainingConfig:
    """TrainingConfig from fnsft-train flags and an optional --config YAML/JSON file (flags win).

    Flags and file values go through the same rules (fnsft.training._rules): a wrong type or range is refused.
    """
    parser = OneLineParser(prog="fnsft-train", description="Fine-tune with functional networks.")
    parser.add_argument("--config", default=None, help="YAML or JSON file whose keys are these flags")
    for item in fields(TrainingConfig):
        parser.add_argument(
            f"--{item.name.replace('_', '-')}",
            dest=item.name,
            default=None,
            type=RULES[item.name],
            help=f"default: {item.default}",
        )
    args = vars(parser.parse_args(argv))
    config_file = args.pop("config")
    args.pop("debug")  # fnsft._cli_run reads it
    values: dict[str, Any] = _read_config(config_file) if config_file else {}
    unknown = set(values) - {item.name for item in fields(TrainingConfig)}
    if unknown:
        raise TrainingConfigError(
            f"{config_file}: unknown keys {sorted(unknown)}; use the fnsft-train flag names."
        )
    values = check_settings(values, where=str(config_file))
    values.update({k: v for k, v in args.items() if v is not None})
    return TrainingConfig(**values)


MAX_CONFIG_BYTES = 2**20


def _read_config(path: str) -> dict:
    """The keys of a YAML/JSON config file (at most 1 MiB, nested at most 64 deep), dashes turned into
    underscores."""
    import yaml

    try:
        text = read_bounded(path, MAX_CONFIG_BYTES, "config files").decode("utf-8-sig")
        values = (loads_yaml(text) if path.endswith((".yaml", ".yml")) else loads_json(text)) or {}
    except (OSError, ValueError, yaml.YAMLError) as error:
        problem = error.strerror if isinstance(error, OSError) and error.strerror else error
        raise TrainingConfigError(f"Cannot read the config file {path}: {problem}") from None
    if not isinstance(values, dict):
        raise TrainingConfigError(f"{path} must hold a mapping of flag names to values.")
    return {str(k).replace("-", "_"): v for k, v in values.items()}
