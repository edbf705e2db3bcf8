"""Saved evidence (the JSON `benchmarks/evidence/run.py` writes): loaded with checks, and read into the series
that the app's Plotly figures and the README's static images both draw, so the two cannot disagree."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .._resources import EVIDENCE_JSON
from ..errors import EvidenceError

SECTIONS = ("lesion_curve", "preserve_curve", "forgetting")
RUN_COMMAND = "python benchmarks/evidence/run.py"
# mode -> (network series label, x-axis title, figure title), shared by the app's and the README's figures
CURVE_TEXT = {
    "lesion": (
        "networks lesioned",
        "neurons lesioned (% of all MLP neurons)",
        "Lesion: top-n networks vs random",
    ),
    "preserve": (
        "only networks kept",
        "neurons kept (% of all MLP neurons)",
        "Preservation: keep only top-n networks",
    ),
}


def load_evidence(path: str | Path | None = None) -> dict:
    """The evidence at `path` (the committed file when None); says what is wrong when it cannot be used."""
    path = Path(path) if path else EVIDENCE_JSON
    if not path.is_file():
        raise EvidenceError(f"No evidence file at {path}. Run `{RUN_COMMAND}` to make one.")
    try:
        evidence = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise EvidenceError(
            f"{path.name} is not valid JSON ({error}); was it written by `{RUN_COMMAND}`?"
        ) from None
    if not isinstance(evidence, dict) or not any(section in evidence for section in SECTIONS):
        raise EvidenceError(
            f"{path.name} holds none of {', '.join(SECTIONS)}: it is not an evidence file from `{RUN_COMMAND}`."
        )
    check_evidence(evidence, path.name)
    return evidence


def _numbers(values: list, where: str) -> None:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise EvidenceError(f"{where}: {str(value)[:40]!r} is not a number.")


def check_evidence(evidence: dict, name: str) -> None:
    """Read every section the way the figures will, so a file of the wrong shape is refused here with one clear
    message instead of failing inside a figure."""
    try:
        for key in ("lesion_curve", "preserve_curve"):
            if key in evidence:
                series = curve_series(evidence[key])
                if series.mode not in CURVE_TEXT:
                    raise EvidenceError(f"{name}: {key}.mode must be one of {', '.join(CURVE_TEXT)}.")
                _numbers([*series.percent, *series.network, *series.random_mean, *series.random_std], key)
                _numbers([*series.components, series.baseline, series.chance], key)
        if evidence.get("forgetting"):
            rows = forgetting_rows(evidence["forgetting"])
            keys = ("learned", "learned_std", "forgotten", "forgotten_std", "seeds")
            _numbers(
                [row[key] for row in rows for key in keys] + [evidence["forgetting"]["steps"]], "forgetting"
            )
        setup_line(evidence)
    except (KeyError, TypeError, AttributeError, IndexError, ValueError) as error:
        raise EvidenceError(
            f"{name} does not have the shape `{RUN_COMMAND}` writes ({type(error).__name__}: {str(error)[:80]})."
        ) from None


@dataclass(frozen=True)
class CurveSeries:
    """One masking curve, ready to draw: x in percent of all MLP neurons, losses in nats per token."""

    mode: str
    percent: list[float]
    components: list[int]
    network: list[float]
    random_mean: list[float]
    random_std: list[float]
    baseline: float
    chance: float


def curve_series(curve: dict) -> CurveSeries:
    """The all-category losses of a lesion or preservation curve from the evidence JSON."""
    rows = curve["rows"]
    return CurveSeries(
        mode=curve["mode"],
        percent=[100 * row["neuron_fraction"] for row in rows],
        components=[row["components"] for row in rows],
        network=[row["network"]["all"] for row in rows],
        random_mean=[row["random_mean"]["all"] for row in rows],
        random_std=[row["random_std"]["all"] for row in rows],
        baseline=curve["baseline"]["all"],
        chance=curve["chance_loss"],
    )


def forgetting_rows(forgetting: dict) -> list[dict]:
    """One row per fine-tuning method: learned and forgotten (nats/token), mean and spread over seeds."""
    return [
        {
            "method": method,
            "learned": summary["learning_mean"],
            "learned_std": summary["learning_std"],
            "forgotten": summary["forgetting_mean"],
            "forgotten_std": summary["forgetting_std"],
            "seeds": summary["seeds"],
            "random_control": summary.get("random_control", False),
        }
        for method, summary in forgetting["summary"].items()
    ]


def setup_line(evidence: dict) -> str:
    """Model, networks and seeds in one sentence, for a caption."""
    setup = evidence.get("setup", {})
    line = (
        f"{setup.get('model', 'unknown model')}, networks from {setup.get('networks', 'unknown template')} "
        f"({setup.get('components', '?')} components), {setup.get('eval_texts', '?')} held-out texts, "
        f"{setup.get('random_draws', '?')} random draws per point"
    )
    forgetting = evidence.get("forgetting")
    if forgetting:
        seeds = max((row["seeds"] for row in forgetting_rows(forgetting)), default=0)
        line += f"; fine-tuning: {forgetting['steps']} steps, {seeds} seeds"
    earlier = setup.get("earlier_networks")
    if isinstance(earlier, dict) and earlier.get("sections"):  # sections not yet rerun on today's networks
        line += f"; {', '.join(map(str, earlier['sections']))} measured on {earlier.get('networks', 'earlier networks')}"
    return line + "."
