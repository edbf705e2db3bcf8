"""Static PNG figures of the evidence JSON, for the README (matplotlib, no browser needed)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _save(figure, axis, path: Path) -> Path:
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _curve(curve: dict, network_label: str, network_color: str, random_label: str):
    """The shared part of both curves: networks vs random masks (mean ± std) and the unmasked loss."""
    rows = curve["rows"]
    x = [100 * r["neuron_fraction"] for r in rows]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(x, [r["network"]["all"] for r in rows], "o-", color=network_color, label=network_label)
    mean = np.array([r["random_mean"]["all"] for r in rows])
    spread = np.array([r["random_std"]["all"] for r in rows])
    axis.errorbar(x, mean, yerr=spread, fmt="s--", color="#7f8c8d", capsize=3, label=random_label)
    axis.axhline(curve["baseline"]["all"], color="#2c3e50", lw=1, ls=":", label="unmasked")
    return figure, axis, x


def _lesion(curve: dict, path: Path) -> Path:
    figure, axis, x = _curve(curve, "networks lesioned", "#c0392b", "random, same count per layer")
    for row, xi in zip(curve["rows"], x, strict=True):
        axis.annotate(
            str(row["components"]),
            (xi, row["network"]["all"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    axis.set(
        xlabel="neurons lesioned (% of all MLP neurons)",
        ylabel="held-out loss (nats/token)",
        title="Lesion: top-n networks vs random neurons",
    )
    return _save(figure, axis, path)


def _preserve(curve: dict, path: Path) -> Path:
    figure, axis, _ = _curve(
        curve, "only networks kept", "#27ae60", "only random neurons kept, same count per layer"
    )
    axis.axhline(curve["chance_loss"], color="#8e44ad", lw=1, ls="-.", label="uniform guess (ln vocabulary)")
    axis.set(
        xlabel="neurons kept (% of all MLP neurons)",
        ylabel="held-out loss (nats/token)",
        title="Preservation: keep only the top-n networks",
    )
    return _save(figure, axis, path)


def _pareto(forgetting: dict, path: Path) -> Path:
    figure, axis = plt.subplots(figsize=(6, 4.5))
    for method, summary in forgetting["summary"].items():
        axis.errorbar(
            summary["forgetting_mean"],
            summary["learning_mean"],
            xerr=summary["forgetting_std"],
            yerr=summary["learning_std"],
            fmt="o",
            capsize=3,
            label=method,
        )
    axis.set(
        xlabel="forgetting: general-text loss increase (nats/token)",
        ylabel="learning: held-out target loss decrease (nats/token)",
        title="Learned vs forgotten (mean ± std over seeds)",
    )
    return _save(figure, axis, path)


def render_all(evidence: dict, folder: Path) -> list[Path]:
    written = []
    if "lesion_curve" in evidence:
        written.append(_lesion(evidence["lesion_curve"], folder / "lesion_curve.png"))
    if "preserve_curve" in evidence:
        written.append(_preserve(evidence["preserve_curve"], folder / "preservation_curve.png"))
    if "forgetting" in evidence:
        written.append(_pareto(evidence["forgetting"], folder / "forgetting_pareto.png"))
    return written
