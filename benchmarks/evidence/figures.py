"""Static PNG figures of the evidence JSON, for docs/evidence.md (matplotlib, no browser needed). Redraw them with
`python benchmarks/evidence/figures.py [evidence.json]`.

They draw the same series as the app's Plotly figures (`fnsft.analysis._evidence`), so the two cannot disagree.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from fnsft.analysis import CURVE_TEXT, CurveSeries, curve_series, forgetting_rows  # noqa: E402

NETWORK_COLOR = {"lesion": "#c0392b", "preserve": "#27ae60"}


def _save(figure, axis, path: Path) -> Path:
    axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def _curve(series: CurveSeries, path: Path, title_suffix: str = "") -> Path:
    """Networks vs random masks of equal count per layer (mean ± std), the unmasked loss, and for preservation
    the loss of a uniform guess; lesion points are labelled with their number of networks."""
    label, x_label, title = CURVE_TEXT[series.mode]
    title += title_suffix
    color = NETWORK_COLOR[series.mode]
    figure, axis = plt.subplots(figsize=(6, 4))
    axis.plot(series.percent, series.network, "o-", color=color, label=label)
    axis.errorbar(
        series.percent,
        series.random_mean,
        yerr=series.random_std,
        fmt="s--",
        color="#7f8c8d",
        capsize=3,
        label="random neurons, same count per layer",
    )
    axis.axhline(series.baseline, color="#2c3e50", lw=1, ls=":", label="unmasked")
    if series.mode == "preserve":
        axis.axhline(series.chance, color="#8e44ad", lw=1, ls="-.", label="uniform guess (ln vocabulary)")
    else:
        for n, x, y in zip(series.components, series.percent, series.network, strict=True):
            axis.annotate(str(n), (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axis.set(xlabel=x_label, ylabel="held-out loss (nats/token)", title=title)
    return _save(figure, axis, path)


def _pareto(forgetting: dict, path: Path) -> Path:
    """Learned vs forgotten per method, mean ± std over seeds; random-neuron controls drawn hollow."""
    figure, axis = plt.subplots(figsize=(7, 4.8))
    colors = plt.get_cmap("tab10").colors
    for index, row in enumerate(forgetting_rows(forgetting)):
        color = colors[index % len(colors)]
        axis.errorbar(
            row["forgotten"],
            row["learned"],
            xerr=row["forgotten_std"],
            yerr=row["learned_std"],
            fmt="o",
            ms=7,
            capsize=3,
            color=color,
            markerfacecolor="white" if row["random_control"] else color,
            label=row["method"],
        )
    axis.set(
        xlabel="forgetting: general-text loss increase (nats/token)",
        ylabel="learning: held-out target loss decrease (nats/token)",
        title=f"Learned vs forgotten, {forgetting['steps']} steps (mean ± std over seeds)",
    )
    return _save(figure, axis, path)


def _gain(section: dict, path: Path) -> Path:
    """Loss vs gain for each top-n union, against random neurons of equal count per layer scaled alike."""
    figure, axis = plt.subplots(figsize=(6, 4))
    colors = plt.get_cmap("tab10").colors
    for index, sweep in enumerate(section["sweeps"]):
        color, share = colors[index % len(colors)], f"{sweep['neuron_fraction']:.1%} of neurons"
        axis.plot(section["gains"], sweep["network_all"], "o-", color=color, label=f"{share}: networks")
        axis.errorbar(
            section["gains"],
            sweep["random_mean_all"],
            yerr=sweep["random_std_all"],
            fmt="s--",
            color=color,
            alpha=0.6,
            capsize=3,
            label=f"{share}: random neurons",
        )
    axis.set(
        xlabel="gain on the networks' neurons (0 = lesion, 1 = untouched)",
        ylabel="held-out loss (nats/token)",
        title="Gain sweep: top-n networks vs random",
    )
    return _save(figure, axis, path)


DRIFT_COLORS = {"kept": "#27ae60", "moved": "#f39c12", "dissolved": "#c0392b"}


def _drift(section: dict, path: Path) -> Path:
    """Kept / moved / dissolved networks per method, against the rediscovery on the untouched base model."""
    methods = [name for name in section["summary"] if not name.startswith("no fine-tuning")]
    figure, axis = plt.subplots(figsize=(6.5, 3.6))
    left = [0.0] * len(methods)
    for status, color in DRIFT_COLORS.items():
        counts = [section["summary"][m]["vs_base_rediscovery"]["counts_mean"][status] for m in methods]
        axis.barh(methods, counts, left=left, color=color, label=status)
        left = [a + b for a, b in zip(left, counts, strict=True)]
    axis.invert_yaxis()
    axis.set(xlabel="networks (of the base rediscovery's)", title="Drift after fine-tuning", xlim=(0, 26))
    return _save(figure, axis, path)


def render_all(evidence: dict, folder: Path) -> list[Path]:
    written = []
    curves = {
        "lesion_curve": ("lesion_curve.png", ""),
        "preserve_curve": ("preservation_curve.png", ""),
        "lesion_curve_mean": ("lesion_curve_mean.png", " (mean fill)"),
        "preserve_curve_mean": ("preservation_curve_mean.png", " (mean fill)"),
    }
    for key, (name, suffix) in curves.items():
        if key in evidence:
            written.append(_curve(curve_series(evidence[key]), folder / name, suffix))
    if "gain_sweep" in evidence:
        written.append(_gain(evidence["gain_sweep"], folder / "gain_sweep.png"))
    if "summary" in evidence.get("drift", {}):
        written.append(_drift(evidence["drift"], folder / "drift.png"))
    if "forgetting" in evidence:
        written.append(_pareto(evidence["forgetting"], folder / "forgetting_pareto.png"))
    return written


if __name__ == "__main__":
    import sys

    from fnsft.analysis import EVIDENCE_JSON, load_evidence

    source = Path(sys.argv[1]) if len(sys.argv) > 1 else EVIDENCE_JSON
    for figure in render_all(load_evidence(source), source.resolve().parent):
        print(f"wrote {figure}")
