"""Plotly figures of functional networks, effects and training: data in, figure out, no computation of results.

Every figure carries its numbers in the hover text, so the app never needs a second table to read a value.
The figures are plain `plotly.graph_objects` (the app's Plot component renders them offline).
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from ..analysis._evidence import CURVE_TEXT, CurveSeries
from ..networks._functional_networks import FunctionalNetworks

UNSTABLE_COLOR = "#d62728"
STABLE_COLOR = "#1f77b4"
SERIES_COLORS = {"baseline": "#7f7f7f", "network": "#d62728", "random": "#1f77b4"}


def _names(networks: FunctionalNetworks) -> list[str]:
    return [f"N{c}" for c in range(networks.num_components)]


def text(value: object) -> str:
    """A string from a file (a template's categories, an evidence file's method names) as Plotly text: Plotly
    reads a subset of HTML in labels (links, images), so it is escaped and shows literally."""
    return html.escape(str(value), quote=False)


def _labels(networks: FunctionalNetworks) -> list[str]:
    return [text(networks.label(c)) for c in range(networks.num_components)]


def styled(figure: go.Figure, title: str, x_title: str = "", y_title: str = "", **extra) -> go.Figure:
    figure.update_layout(
        title=title,
        xaxis_title=x_title,
        yaxis_title=y_title,
        margin={"l": 60, "r": 20, "t": 60, "b": 50},
        template="plotly_white",
        **extra,
    )
    return figure


def empty_figure(message: str) -> go.Figure:
    """A blank figure that says why there is nothing to show."""
    figure = go.Figure()
    figure.add_annotation(text=text(message), showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper")
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return styled(figure, "")


def layer_heatmap(networks: FunctionalNetworks) -> go.Figure:
    """Components x layers neuron counts: where in depth each network lives."""
    counts = networks.counts_per_layer()
    labels = _labels(networks)
    figure = go.Figure(
        go.Heatmap(
            z=counts,
            x=list(range(networks.shape.num_layers)),
            y=_names(networks),
            customdata=[[label] * counts.shape[1] for label in labels],
            colorscale="Viridis",
            colorbar={"title": "neurons"},
            hovertemplate="%{customdata}<br>layer %{x}: %{z} neurons<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return styled(figure, "Neurons per layer of each network", "layer", "network")


def layer_profile(networks: FunctionalNetworks, component: int) -> go.Figure:
    """One network's neuron count per layer, with the share of the layer it takes."""
    counts = networks.counts_per_layer()[component]
    widths = np.asarray(networks.layer_widths, dtype=float)
    share = np.divide(counts, widths, out=np.zeros(len(counts)), where=widths > 0) * 100
    figure = go.Figure(
        go.Bar(
            x=list(range(len(counts))),
            y=counts,
            customdata=share,
            marker_color=STABLE_COLOR,
            hovertemplate="layer %{x}: %{y} neurons (%{customdata:.2f}% of the layer)<extra></extra>",
        )
    )
    return styled(figure, f"Layer profile of {text(networks.label(component))}", "layer", "neurons")


def category_heatmap(networks: FunctionalNetworks) -> go.Figure:
    """Components x input categories mean response: what drives each network."""
    if networks.category_response is None or not networks.categories:
        return empty_figure("No category responses: the discovery data had no categories.")
    response = np.asarray(networks.category_response)
    figure = go.Figure(
        go.Heatmap(
            z=response,
            x=[text(category) for category in networks.categories],
            y=_names(networks),
            colorscale="RdBu",
            zmid=0,
            colorbar={"title": "response"},
            hovertemplate="%{y} on %{x}: mean response %{z:.3f}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return styled(figure, "Response of each network to each input category", "category", "network")


def overlap_matrix(networks: FunctionalNetworks) -> go.Figure:
    """Intersection over union of the networks' neuron sets."""
    names = _names(networks)
    figure = go.Figure(
        go.Heatmap(
            z=networks.iou_matrix(),
            x=names,
            y=names,
            zmin=0,
            zmax=1,
            colorscale="Blues",
            colorbar={"title": "IoU"},
            hovertemplate="%{y} ∩ %{x}: IoU %{z:.3f}<extra></extra>",
        )
    )
    figure.update_yaxes(autorange="reversed")
    return styled(figure, "Overlap between networks (IoU of neuron sets)", "network", "network")


def stability_chart(networks: FunctionalNetworks) -> go.Figure:
    """Stability per network against the threshold; networks below it are drawn red and flagged unstable."""
    if networks.stability is None:
        return empty_figure("No stability scores: discovery ran without reruns, or the template has none.")
    stability = np.asarray(networks.stability, dtype=float)
    stable = stability >= networks.stability_threshold
    figure = go.Figure(
        go.Bar(
            x=_names(networks),
            y=stability,
            marker_color=[STABLE_COLOR if ok else UNSTABLE_COLOR for ok in stable],
            customdata=[
                [label, "stable" if ok else "UNSTABLE"]
                for label, ok in zip(_labels(networks), stable, strict=True)
            ],
            hovertemplate="%{customdata[0]}<br>stability %{y:.3f}: %{customdata[1]}<extra></extra>",
        )
    )
    figure.add_hline(
        y=networks.stability_threshold,
        line_dash="dash",
        line_color=UNSTABLE_COLOR,
    )  # the threshold is named in the title: a label on the line would sit on the bars
    unstable = int((~stable).sum())
    title = (
        f"Stability across reruns (dashed: threshold {networks.stability_threshold:g}; {unstable} unstable)"
    )
    return styled(figure, title, "network", "stability", yaxis_range=[0, 1.05])


def effect_chart(rows: Sequence[dict]) -> go.Figure:
    """Loss per category: unmasked, with the network mask, and random masks of equal size (mean ± std).

    rows: `EffectReport.rows()`.
    """
    categories = [text(row["category"]) for row in rows]
    figure = go.Figure()
    for name, key, label in (
        ("baseline", "baseline_loss", "unmasked"),
        ("network", "network_loss", "network masked"),
    ):
        figure.add_trace(
            go.Bar(
                x=categories,
                y=[row[key] for row in rows],
                name=label,
                marker_color=SERIES_COLORS[name],
                hovertemplate=f"%{{x}}: {label} loss %{{y:.3f}}<extra></extra>",
            )
        )
    figure.add_trace(
        go.Bar(
            x=categories,
            y=[row["random_loss_mean"] for row in rows],
            error_y={"type": "data", "array": [row["random_loss_std"] for row in rows]},
            customdata=[[row["random_loss_std"], row["ratio"]] for row in rows],
            name="random masks (mean ± std)",
            marker_color=SERIES_COLORS["random"],
            hovertemplate="%{x}: random loss %{y:.3f} ± %{customdata[0]:.3f}"
            "<br>network/random increase ratio %{customdata[1]:.2f}<extra></extra>",
        )
    )
    return styled(figure, "Loss per category", "category", "loss (nats/token)", barmode="group")


def gain_sweep_chart(sweep: dict, categories: Sequence[str] = ()) -> go.Figure:
    """Loss over all texts against the gain of the chosen networks (0 = lesion, 1 = unchanged), with random
    neuron sets of the same size scaled alike, and the networks' curve on each of `categories` (their own, say).
    sweep: `fnsft.analysis._evaluation.gain_sweep`'s result."""
    figure = go.Figure()
    series = [("networks", sweep["network"], SERIES_COLORS["network"])]
    series += [
        (f"random neurons {d + 1}", draw, SERIES_COLORS["random"]) for d, draw in enumerate(sweep["random"])
    ]
    for name, losses, color in series:
        figure.add_trace(
            go.Scatter(
                x=sweep["gains"],
                y=[loss["all"] for loss in losses],
                mode="lines+markers",
                name=name,
                line={"color": color, "dash": "solid" if name == "networks" else "dot"},
                hovertemplate=f"{name}: gain %{{x:g}} → loss %{{y:.3f}}<extra></extra>",
            )
        )
    for category in (name for name in categories if name in sweep["network"][0]):
        figure.add_trace(
            go.Scatter(
                x=sweep["gains"],
                y=[loss[category] for loss in sweep["network"]],
                mode="lines",
                name=f"networks · {text(category)}",
                line={"width": 1.5},
                hovertemplate=f"{text(category)}: gain %{{x:g}} → loss %{{y:.3f}}<extra></extra>",
            )
        )
    figure.add_vline(x=1.0, line_dash="dash", line_color="#9ca3af")  # the unmasked model
    title = f"Loss vs gain of networks {sweep['components']} (dashed: gain 1, the unmasked model)"
    return styled(figure, title, "gain", "loss (nats/token)")


def loss_curve(rows: Sequence[dict]) -> go.Figure:
    """Training loss per step, and evaluation loss where it was measured. rows: progress.jsonl records."""
    train = [row for row in rows if row.get("loss") is not None]
    evaluated = [row for row in rows if row.get("eval_loss") is not None]
    if not train and not evaluated:
        return empty_figure("No loss recorded yet.")
    figure = go.Figure()
    for points, key, name in ((train, "loss", "training loss"), (evaluated, "eval_loss", "evaluation loss")):
        if points:
            figure.add_trace(
                go.Scatter(
                    x=[row["step"] for row in points],
                    y=[row[key] for row in points],
                    mode="lines+markers",
                    name=name,
                    hovertemplate=f"step %{{x}}: {name} %{{y:.4f}}<extra></extra>",
                )
            )
    return styled(figure, "Loss", "step", "loss")


def masking_curve_figure(series: CurveSeries) -> go.Figure:
    """Held-out loss as more networks are lesioned or kept, against random neurons of equal count per layer."""
    label, x_title, title = CURVE_TEXT[series.mode]
    figure = go.Figure()
    figure.add_trace(
        go.Scatter(
            x=series.percent,
            y=series.network,
            customdata=series.components,
            mode="lines+markers",
            name=label,
            marker_color=SERIES_COLORS["network"],
            hovertemplate="top %{customdata} networks, %{x:.2f}% of neurons: loss %{y:.3f}<extra></extra>",
        )
    )
    figure.add_trace(
        go.Scatter(
            x=series.percent,
            y=series.random_mean,
            error_y={"type": "data", "array": series.random_std},
            mode="lines+markers",
            line_dash="dash",
            name="random neurons, same count per layer (mean ± std)",
            marker_color=SERIES_COLORS["random"],
            hovertemplate="%{x:.2f}% of neurons: random loss %{y:.3f}<extra></extra>",
        )
    )
    figure.add_hline(
        y=series.baseline, line_dash="dot", line_color=SERIES_COLORS["baseline"], annotation_text="unmasked"
    )
    if series.mode == "preserve":
        figure.add_hline(y=series.chance, line_dash="dashdot", annotation_text="uniform guess")
    # the legend under the axis: beside a half-width plot it takes half the width
    return styled(
        figure,
        title,
        x_title,
        "held-out loss (nats/token)",
        legend={"orientation": "h", "yanchor": "top", "y": -0.25},
    )


def forgetting_figure(rows: Sequence[dict]) -> go.Figure:
    """Learned vs forgotten per fine-tuning method (mean ± std over seeds); random controls drawn hollow.

    rows: `evidence.forgetting_rows`.
    """
    figure = go.Figure()
    for row in rows:
        figure.add_trace(
            go.Scatter(
                x=[row["forgotten"]],
                y=[row["learned"]],
                error_x={"type": "data", "array": [row["forgotten_std"]]},
                error_y={"type": "data", "array": [row["learned_std"]]},
                mode="markers",
                marker={"size": 11, "symbol": "circle-open" if row["random_control"] else "circle"},
                name=text(row["method"]),
                hovertemplate=(
                    f"{row['method']}<br>forgotten %{{x:.3f}} ± {row['forgotten_std']:.3f}"
                    f"<br>learned %{{y:.3f}} ± {row['learned_std']:.3f} ({row['seeds']} seeds)<extra></extra>"
                ),
            )
        )
    return styled(
        figure,
        "Learned vs forgotten, per fine-tuning method",
        "forgetting: general-text loss increase (nats/token)",
        "learning: held-out target loss decrease (nats/token)",
    )
