"""A network card as HTML with inline styles only (the app panel and a self-contained export file) and as a
Plotly histogram.

Tokens are shaded orange in proportion to their activation (relative to the card's highest), on an opaque
background with dark text, so they read alike on a light or a dark page; unshaded text inherits the page's colour.
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from ..networks._cards import Example, NetworkCard
from ._figures import styled

_ROW = "margin:2px 0;font-family:ui-monospace,monospace;font-size:13px;line-height:1.9;white-space:pre-wrap"
_MUTED = "opacity:0.7;font-size:12px"


def shade(strength: float) -> str:
    """An opaque orange from pale (weak) to full (strongest): dark text on it reads alike on light and dark pages
    (a translucent shade over a dark page left weakly shaded dark text near invisible)."""
    green, blue = round(236 - 96 * strength), round(214 - 214 * strength)
    return f"#ff{green:02x}{blue:02x}"


def _token(text: str, value: float, top: float, highlighted: bool) -> str:
    strength = max(0.0, min(value / top, 1.0)) if top > 0 else 0.0
    style = "border-radius:3px;padding:1px 0"
    if (
        strength > 0.05
    ):  # shaded: an opaque background with dark text; unshaded text inherits the page's colour
        style += f";background:{shade(strength)};color:#111"
    if highlighted:
        style += ";outline:2px solid #d9480f;font-weight:bold"
    shown = html.escape(text.replace("\n", "⏎"))
    return f'<span title="{value:.2f}" style="{style}">{shown}</span>'


def example_html(example: Example, top: float) -> str:
    """One context, each token shaded by its activation, the example's token outlined."""
    tokens = "".join(
        _token(token, value, top, i == example.position)
        for i, (token, value) in enumerate(zip(example.tokens, example.values, strict=True))
    )
    where = f"text {example.text_index}" + (f" · {html.escape(example.category)}" if example.category else "")
    return f'<div style="{_ROW}"><span style="{_MUTED}">{example.activation:6.2f} · {where}</span>  {tokens}</div>'


def text_html(tokens: list[str], values: list[float]) -> str:
    """A text with each token shaded by a network's activation there (relative to the text's highest)."""
    top = max(values, default=0.0)
    shaded = "".join(_token(token, value, top, False) for token, value in zip(tokens, values, strict=True))
    return f'<div style="{_ROW}">{shaded}</div>'


def _effect_table(title: str, pairs: list[tuple[str, float]]) -> str:
    rows = "".join(
        f'<tr><td style="font-family:ui-monospace,monospace;padding:0 8px">{html.escape(repr(token))}</td>'
        f'<td style="text-align:right">{value:+.4f}</td></tr>'
        for token, value in pairs
    )
    return f'<div style="display:inline-block;vertical-align:top;margin-right:24px"><b>{title}</b><table>{rows}</table></div>'


def _histogram_svg(card: NetworkCard, width: int = 480, height: int = 90) -> str:
    """The histogram as inline SVG, for the export file (no script needed)."""
    counts = card.histogram.counts
    peak = max(max(counts), 1)
    step = width / len(counts)
    bars = "".join(
        f'<rect x="{i * step:.1f}" y="{height - height * c / peak:.1f}" width="{step * 0.9:.1f}" '
        f'height="{height * c / peak:.1f}" fill="#e8590c"/>'
        for i, c in enumerate(counts)
    )
    edges = card.histogram.edges
    return (
        f'<svg width="{width}" height="{height + 16}" role="img">{bars}'
        f'<text x="0" y="{height + 14}" font-size="11" fill="currentColor">{edges[0]:.1f}</text>'
        f'<text x="{width - 30}" y="{height + 14}" font-size="11" fill="currentColor">{edges[-1]:.1f}</text></svg>'
    )


def card_html(card: NetworkCard, *, document: bool = False) -> str:
    """The card as an HTML fragment (the app), or with `document=True` a whole page with its histogram as SVG."""
    top = max((e.activation for e in card.top_examples), default=0.0)
    share = card.histogram.share_above
    parts = [
        f"<h3 style='margin:4px 0'>{html.escape(card.label)}</h3>",
        f'<div style="{_MUTED}">Activation: {html.escape(card.activation)}. '
        f"{100 * share:.2f}% of tokens at z ≥ {card.histogram.threshold:g}.</div>",
        "<h4 style='margin:8px 0 2px'>Top activations</h4>",
        *(example_html(e, top) for e in card.top_examples),
        "<h4 style='margin:8px 0 2px'>Activation intervals</h4>",
    ]
    for interval in card.quantile_examples:
        parts.append(
            f'<div style="{_MUTED}">z in [{interval.low:.2f}, {interval.high:.2f}] · '
            f"{100 * interval.share:.1f}% of tokens</div>"
        )
        parts.extend(example_html(e, top) for e in interval.examples)
    effect = card.logit_effect
    parts.append(
        "<h4 style='margin:8px 0 2px'>Lesion effect on the output (mean change of log-probability)</h4>"
    )
    if effect is None:
        parts.append(f'<div style="{_MUTED}">Not measured for these neurons.</div>')
    else:
        parts.append(_effect_table("falls most (suppressed)", effect.suppressed))
        parts.append(_effect_table("rises most (promoted)", effect.promoted))
    body = "\n".join(parts)
    if not document:
        return f"<div>{body}</div>"
    title = html.escape(card.label)
    return (
        f'<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>{title}</title></head>'
        f'<body style="font-family:system-ui,sans-serif;max-width:960px;margin:16px auto">'
        f"{body}\n<h4>Activation histogram</h4>{_histogram_svg(card)}</body></html>\n"
    )


def card_histogram(card: NetworkCard) -> go.Figure:
    """The distribution of the network's activation over the card's tokens, with its threshold marked."""
    edges, counts = card.histogram.edges, card.histogram.counts
    centres = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    figure = go.Figure(
        go.Bar(x=centres, y=counts, width=[b - a for a, b in zip(edges[:-1], edges[1:], strict=True)])
    )
    figure.update_yaxes(type="log")
    figure.add_vline(x=card.histogram.threshold, line_dash="dash")
    share = 100 * card.histogram.share_above
    return styled(
        figure,
        f"N{card.component} activation: {share:.2f}% of tokens above z {card.histogram.threshold:g}",
        "z",
        "tokens",
    )
