"""Network drift: does fine-tuning keep, move or dissolve the functional networks of the base model?

The networks are rediscovered on the fine-tuned model with the same texts and the same settings, then matched
one-to-one to the base networks (Hungarian assignment on neuron-set IoU, plus neuron-map |correlation| where both
sides keep their maps). Each base network is then
- kept: its match shares at least half of the union of their neurons (IoU >= 0.5);
- moved: a component still resembles it (IoU >= 0.1, or map |correlation| >= 0.8) but its neurons changed;
- dissolved: nothing on the fine-tuned model resembles it;
- empty: it had no neurons to begin with (its threshold kept none), so there is nothing to follow.
Rediscovered networks that match no kept or moved base network are reported as new.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from torch import nn

from ..discovery._settings import DiscoverySettings, recorded_settings
from ..networks._functional_networks import FunctionalNetworks, iou_between
from ..networks._matching import match_networks, network_correlations

KEPT_IOU = 0.5
MOVED_IOU = 0.1
MOVED_CORRELATION = 0.8  # the |correlation| at which discovery calls a component reproduced
STATUSES = ("kept", "moved", "dissolved", "empty")


@dataclass(frozen=True)
class NetworkDrift:
    """What became of one base network: its match on the fine-tuned model and how close it is."""

    base: int
    after: int | None
    iou: float
    correlation: float | None
    status: str


@dataclass
class DriftReport:
    """Per base network its fate, the rediscovered networks that are new, and the networks found after."""

    networks: list[NetworkDrift]
    new: list[int]
    after: FunctionalNetworks

    def counts(self) -> dict[str, int]:
        """How many base networks were kept, moved and dissolved, and how many networks are new."""
        counts = {status: sum(entry.status == status for entry in self.networks) for status in STATUSES}
        return {**counts, "new": len(self.new)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "networks": [asdict(entry) for entry in self.networks],
            "new": self.new,
            "counts": self.counts(),
        }


def _status(iou: float, correlation: float | None) -> str:
    if iou >= KEPT_IOU:
        return "kept"
    if iou >= MOVED_IOU or (correlation is not None and correlation >= MOVED_CORRELATION):
        return "moved"
    return "dissolved"


def compare_networks(base: FunctionalNetworks, after: FunctionalNetworks) -> DriftReport:
    """Match `after` to `base` one-to-one and classify every base network (see the module docstring)."""
    iou = iou_between(base, after)
    correlation = network_correlations(base, after)
    matched = match_networks(base, after)
    entries = []
    for component in range(base.num_components):
        partner = matched.get(component)
        pair_iou = float(iou[component, partner]) if partner is not None else 0.0
        pair_corr = None if correlation is None or partner is None else float(correlation[component, partner])
        status = "empty" if base.sizes()[component] == 0 else _status(pair_iou, pair_corr)
        entries.append(NetworkDrift(component, partner, pair_iou, pair_corr, status))
    survivors = {entry.after for entry in entries if entry.status in ("kept", "moved")}
    sizes = after.sizes()
    new = [c for c in range(after.num_components) if c not in survivors and sizes[c] > 0]
    return DriftReport(entries, new, after)


def rediscovery_settings(base: FunctionalNetworks, **changes: Any) -> DiscoverySettings:
    """The settings that found `base` (as recorded in it, whole), with `changes`: a rediscovery repeats the
    recipe. Its split-half reliability is not redone (matching does not use it)."""
    settings, _ = recorded_settings(base)
    return settings.replace(**{"split_half": False, **changes})


def drift(
    base_networks: FunctionalNetworks,
    model_after: nn.Module,
    tokenizer,
    texts: Any = None,
    *,
    max_tokens: int | None = None,
    settings: dict[str, Any] | None = None,
    progress=None,
) -> DriftReport:
    """Rediscover networks on `model_after` with the texts and settings of `base_networks`, and say per base
    network whether it was kept, moved or dissolved.

    texts: what `ICAMask.compute_global_networks` accepts (None: the shipped discovery corpus). Use the
    texts the base networks were found on, or the comparison mixes data change with model change.
    max_tokens: default the token count the base networks were found with.
    settings: discovery settings that replace recorded ones (e.g. stability_runs=0: matching uses no stability).

    After fine-tuning, pass the fine-tuned model; a model that did not change keeps every network:

    >>> report = fnsft.drift(networks, model, tokenizer, texts)
    >>> report.counts()
    {'kept': 4, 'moved': 0, 'dissolved': 0, 'empty': 0, 'new': 0}
    """
    from ..discovery._ica_mask import ICAMask

    recipe = rediscovery_settings(base_networks, **(settings or {}))
    if max_tokens is not None:
        recipe = recipe.replace(max_tokens=max_tokens)
    elif base_networks.settings is None and isinstance(base_networks.data.get("num_tokens"), int):
        recipe = recipe.replace(max_tokens=base_networks.data["num_tokens"])  # an older template's budget
    finder = ICAMask(recipe, cards=False)
    was_training = model_after.training
    model_after.eval()  # a model straight from training would otherwise run its dropout during capture
    try:
        after = finder.compute_global_networks(model_after, tokenizer, texts, progress=progress)
    finally:
        model_after.train(was_training)
    return compare_networks(base_networks, after)


def drift_table(report: DriftReport) -> str:
    """The report as a plain-text table, one line per base network, then the counts."""
    lines = [f"{'network':>7}  {'status':<9}  {'match':>5}  {'IoU':>5}  {'|corr|':>6}"]
    for entry in report.networks:
        match = "-" if entry.after is None else f"N{entry.after}"
        correlation = "-" if entry.correlation is None else f"{entry.correlation:.2f}"
        lines.append(
            f"{'N' + str(entry.base):>7}  {entry.status:<9}  {match:>5}  {entry.iou:5.2f}  {correlation:>6}"
        )
    counts = ", ".join(f"{count} {status}" for status, count in report.counts().items())
    return "\n".join([*lines, f"drift: {counts}"])


def load_base_networks(templates: str | None, model: nn.Module) -> FunctionalNetworks:
    """The networks drift is measured against: `templates`, or the shipped template of `model`."""
    from .._resources import shipped_template
    from ..networks._templates import load_templates

    return load_templates(templates or shipped_template(model), model)


def report_section(base: FunctionalNetworks, model_after: nn.Module, tokenizer, log=print) -> dict[str, Any]:
    """The `drift` entry of a fine-tuning report: rediscover on the fine-tuned model (without stability reruns,
    which matching does not use), log the table, and return the report as JSON data."""
    report = drift(base, model_after, tokenizer, settings={"stability_runs": 0})
    log(drift_table(report))
    return {"base_networks": base.name, **report.to_dict()}
