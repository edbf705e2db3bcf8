"""The recipe of a discovery as one settings object: checked where it is made, recorded whole in the networks it
finds, and read back whole, so a rebuild, `ICAMask.from_templates` and drift repeat exactly what found them.

Every front end derives from it: `ICAMask(**settings)`, the flags of fnsft-build-templates and the app's bounds.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from .._limits import check_threshold
from ..choices import (
    GRANULARITIES,
    ICA_ORIENTATIONS,
    MATRIX_DTYPES,
    SKETCH_ROWS,
    SKETCH_TOKENS,
    THRESHOLD_RULES,
    USUAL_THRESHOLDS,
)
from ..errors import FnsftError

MAX_SEED = 2**32 - 1  # numpy's generators take seeds below 2**32


class DiscoverySettingsError(FnsftError, ValueError):
    """A discovery setting has the wrong type, is out of range, or contradicts another."""


def _integer(name: str, value: Any, low: int, high: int | None = None) -> None:
    if type(value) is not int:  # bool is an int subclass: refused too
        raise DiscoverySettingsError(f"{name}={value!r} must be a whole number (an int), e.g. {name}={low}.")
    if value < low or (high is not None and value > high):
        accepted = f">= {low}" if high is None else f"in {low}..{high}"
        raise DiscoverySettingsError(f"{name}={value} is out of range: {name} must be {accepted}.")


def _number(name: str, value: Any, low: float, high: float | None = None, *, open_low: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise DiscoverySettingsError(f"{name}={value!r} must be a finite number.")
    if (value <= low if open_low else value < low) or (high is not None and value > high):
        bounds = f"{'(' if open_low else '['}{low}, {'inf)' if high is None else f'{high}]'}"
        raise DiscoverySettingsError(f"{name}={value} is out of range: {name} must be in {bounds}.")


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise DiscoverySettingsError(f"{name}={value!r} is not one of {', '.join(map(repr, choices))}.")


def _flag(name: str, value: Any) -> None:
    if type(value) is not bool:
        raise DiscoverySettingsError(f"{name}={value!r} must be True or False.")


@dataclass(frozen=True)
class DiscoverySettings:
    """How networks are found: decomposition, threshold, capture and their numerics.

    threshold_rule/threshold: "zscore" (keep z >= value; the paper uses 1.96), "percentile" (|w| >= value-th
    percentile; FunctionalNetworksSFT uses 98) or "topk" (value neurons per component).
    ica_over: "neurons" (spatial ICA: sparse neuron maps) or "tokens" (temporal ICA, as FunctionalNetworksSFT).
    max_tokens: the token budget of the capture. streaming: keep no [tokens x neurons] matrix but sketch it
    during capture (`fnsft.discovery._streaming`), so memory does not grow with the tokens; None (default): chosen
    per run (`fnsft.discovery._path`: streaming where the matrix would not fit or from about 65,536 tokens, where
    it was measured faster), and the networks record the path taken (True or False); sketch_rows sets the
    sketch's size (and accuracy), sketch_tokens how many tokens (a random sample of the batches) are sketched
    before the pass over all.
    matrix_dtype: "float32" (default: the same networks on every CPU), "bfloat16" (half the memory, faster on
    CPUs that multiply it in hardware; measured against float32 in docs/speed.md) or "auto" (bfloat16 where the CPU
    multiplies it in hardware). split_half: also discover on two disjoint halves of the texts and record how
    well each network reproduces (`fnsft.discovery._reliability`); it doubles the cost. consensus: each network's map is
    the mean of its map and its matches in the stability reruns (spatial ICA; needs stability_runs >= 1): at no
    extra cost, networks came back better on other texts (split-half IoU median 0.45 -> 0.50 at 16,384 tokens
    per half on the embedded model).

    >>> DiscoverySettings(num_components=8).replace(seed=1).seed
    1
    """

    num_components: int = 20
    threshold_rule: str = "zscore"
    threshold: float = USUAL_THRESHOLDS["zscore"]
    granularity: str = "intermediate"
    ica_over: str = "neurons"
    seed: int = 0
    max_iter: int = 1000
    tol: float = 1e-4
    restarts: int = 3
    stability_runs: int = 5
    stability_threshold: float = 0.8
    consensus: bool = True
    max_tokens: int = 4096
    max_length: int = 256
    batch_size: int = 8
    chat_format: bool = False
    streaming: bool | None = None
    sketch_rows: int = SKETCH_ROWS
    sketch_tokens: int = SKETCH_TOKENS
    matrix_dtype: str = "float32"
    split_half: bool = False

    def __post_init__(self) -> None:
        _integer("num_components", self.num_components, 2, 1024)
        check_threshold(self.threshold_rule, self.threshold)
        _choice("granularity", self.granularity, GRANULARITIES)
        _choice("ica_over", self.ica_over, ICA_ORIENTATIONS)
        _integer("seed", self.seed, 0, MAX_SEED)
        _integer("max_iter", self.max_iter, 1, 100_000)
        _number("tol", self.tol, 0.0, 1.0, open_low=True)
        _integer("restarts", self.restarts, 1, 100)
        _integer("stability_runs", self.stability_runs, 0, 100)
        _number("stability_threshold", self.stability_threshold, 0.0, 1.0)
        _flag("consensus", self.consensus)
        _integer("max_tokens", self.max_tokens, 2, None)
        if self.max_tokens <= self.num_components:
            raise DiscoverySettingsError(
                f"max_tokens={self.max_tokens} is too few for num_components={self.num_components}: a "
                "decomposition needs more tokens than components; capture more tokens or ask for fewer networks."
            )
        _integer("max_length", self.max_length, 16, 1_000_000)  # shorter texts left most networks empty
        _integer("batch_size", self.batch_size, 1, 4096)
        _flag("chat_format", self.chat_format)
        if self.streaming is not None:
            _flag("streaming", self.streaming)
        _integer("sketch_rows", self.sketch_rows, self.num_components + 1, 100_000)
        _integer("sketch_tokens", self.sketch_tokens, self.sketch_rows, None)
        if self.streaming and self.max_tokens <= self.sketch_rows:
            raise DiscoverySettingsError(
                f"Streaming discovery sketches {self.sketch_rows} rows, so it needs more tokens than that "
                f"(max_tokens={self.max_tokens}): raise max_tokens, lower sketch_rows, or use streaming=False."
            )
        _choice("matrix_dtype", self.matrix_dtype, MATRIX_DTYPES)
        _flag("split_half", self.split_half)
        if self.split_half:  # each half gets half the budget: checked now, not after the first discovery
            try:
                self.replace(split_half=False, max_tokens=self.max_tokens // 2)
            except DiscoverySettingsError as error:
                raise DiscoverySettingsError(
                    f"split_half discovers on each half of the texts with max_tokens // 2 = "
                    f"{self.max_tokens // 2} tokens, too few: {error}"
                ) from None

    def replace(self, **changes: Any) -> DiscoverySettings:
        """A copy with `changes`, checked like a new one."""
        unknown = sorted(set(changes) - set(setting_names()))
        if unknown:
            raise DiscoverySettingsError(unknown_message(unknown))
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> DiscoverySettings:
        """Settings from a record (a template's "discovery"); unknown names are refused, missing ones default."""
        if not isinstance(record, dict):
            raise DiscoverySettingsError(
                f"discovery settings must be an object, not {type(record).__name__}."
            )
        unknown = sorted(set(record) - set(setting_names()))
        if unknown:
            raise DiscoverySettingsError(unknown_message(unknown))
        return cls(**record)


def ica_settings(settings: DiscoverySettings) -> dict[str, Any]:
    """The decomposition's own settings, as both discovery paths pass them on."""
    return {
        "over": settings.ica_over,
        "seed": settings.seed,
        "max_iter": settings.max_iter,
        "tol": settings.tol,
        "restarts": settings.restarts,
        "stability_runs": settings.stability_runs,
        "consensus": settings.consensus,
    }


def setting_choices(name: str) -> tuple[str, ...]:
    """The accepted values of a setting that is a choice."""
    return {
        "threshold_rule": THRESHOLD_RULES,
        "granularity": GRANULARITIES,
        "ica_over": ICA_ORIENTATIONS,
        "matrix_dtype": MATRIX_DTYPES,
    }[name]


def setting_names() -> tuple[str, ...]:
    return tuple(field.name for field in dataclasses.fields(DiscoverySettings))


def unknown_message(names: list[str]) -> str:
    return f"Unknown discovery settings {names}; the settings are: {', '.join(setting_names())}."


DEFAULT_SETTINGS = DiscoverySettings()


def recorded_settings(networks) -> tuple[DiscoverySettings, tuple[str, ...]]:
    """The settings that found `networks` and the names of those they do not record (left at their defaults).

    Networks found by this fnsft record their settings whole. Older templates recorded some of them in their
    threshold, decomposition and data entries; an imported template records none (and a value today's checks
    refuse, such as a single imported network, is not taken).
    """
    if networks.settings is not None:
        return networks.settings, ()
    known: dict[str, Any] = {"num_components": networks.num_components, "granularity": networks.granularity}
    rule, value = networks.threshold.get("rule"), networks.threshold.get("value")
    if rule in THRESHOLD_RULES and value is not None:
        known.update(threshold_rule=rule, threshold=value)
    for name in ("ica_over", "seed", "max_iter", "tol", "restarts", "stability_runs", "streaming"):
        if name in networks.decomposition:
            known[name] = networks.decomposition[name]
    for name in ("sketch_rows", "sketch_tokens", "matrix_dtype"):
        if name in networks.decomposition:
            known[name] = networks.decomposition[name]
    for name in ("max_length", "chat_format"):
        if name in networks.data:
            known[name] = networks.data[name]
    known["stability_threshold"] = networks.stability_threshold
    accepted: dict[str, Any] = {}
    for name, value in known.items():  # a value today's checks refuse (one imported network) stays unknown
        try:
            DiscoverySettings(**{**accepted, name: value})
        except (DiscoverySettingsError, ValueError):
            continue
        accepted[name] = value
    return DiscoverySettings(**accepted), tuple(sorted(set(setting_names()) - set(accepted)))
