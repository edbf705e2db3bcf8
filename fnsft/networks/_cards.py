"""Network cards: which tokens and contexts drive a network, and what lesioning it does to the output.

A card is built from one activation value per captured token (the network's *activation*, z-scored over the
card's tokens so discovered and loaded networks share one scale) plus which text and position each token came
from. It keeps only small summaries (examples, a histogram, a label), never the activation matrix. This module
is pure data; the forward passes that feed it live in `fnsft.analysis._card_passes`.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from ..choices import MIN_LABEL_RESPONSE

ACTIVE_Z = 3.0  # a token counts as "active" for a network at z >= this (the share shown with the histogram)
TOP_EXAMPLES, PER_TEXT, BEFORE, AFTER = 20, 3, 12, 4
INTERVALS, PER_INTERVAL, BINS = 5, 2, 30


@dataclass(frozen=True)
class TokenRows:
    """Where each captured row came from: token id, text index and position within that text; text categories."""

    token_ids: np.ndarray
    text_index: np.ndarray
    positions: np.ndarray
    categories: Sequence[str] | None = None  # per text index

    def category(self, text: int) -> str | None:
        return None if self.categories is None else str(self.categories[text])


@dataclass
class Example:
    """A window of one text around one token: `tokens[position]` is the token, `values` each token's activation."""

    tokens: list[str]
    values: list[float]
    position: int
    activation: float
    text_index: int
    category: str | None = None


@dataclass
class IntervalExamples:
    """Examples whose activation lies in [low, high), and the share of all tokens in that interval."""

    low: float
    high: float
    share: float
    examples: list[Example]


@dataclass
class Histogram:
    edges: list[float]
    counts: list[int]
    threshold: float
    share_above: float  # share of tokens with activation >= threshold


@dataclass
class LogitEffect:
    """Mean change of each output token's log-probability when the network is lesioned, over `num_positions`:
    `suppressed` falls most, `promoted` rises most ((token, change) pairs, largest magnitude first)."""

    suppressed: list[tuple[str, float]]
    promoted: list[tuple[str, float]]
    num_positions: int


@dataclass
class NetworkCard:
    component: int
    label: str
    activation: str  # what the activation of this network is, in words
    top_examples: list[Example]
    quantile_examples: list[IntervalExamples]
    histogram: Histogram
    category_activation: dict[str, float] = field(default_factory=dict)
    logit_effect: LogitEffect | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def renumbered(self, component: int) -> NetworkCard:
        """The same card under a new network id (networks.select renumbers from 0)."""
        label = f"N{component}" + self.label.removeprefix(f"N{self.component}")
        return dataclasses.replace(self, component=component, label=label)

    @classmethod
    def from_dict(cls, data: dict) -> NetworkCard:
        """The inverse of to_dict, for data already checked by `fnsft.networks._card_schema`."""
        effect = data.get("logit_effect")
        return cls(
            component=data["component"],
            label=data["label"],
            activation=data["activation"],
            top_examples=[Example(**e) for e in data["top_examples"]],
            quantile_examples=[
                IntervalExamples(q["low"], q["high"], q["share"], [Example(**e) for e in q["examples"]])
                for q in data["quantile_examples"]
            ],
            histogram=Histogram(**data["histogram"]),
            category_activation=dict(data.get("category_activation") or {}),
            logit_effect=None
            if effect is None
            else LogitEffect(
                [tuple(p) for p in effect["suppressed"]],
                [tuple(p) for p in effect["promoted"]],
                effect["num_positions"],
            ),
        )


def zscore(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return (values - values.mean()) / (values.std() + 1e-12)


class _Windows:
    """Token windows around rows, never crossing into a neighbouring text (rows of a text are contiguous)."""

    def __init__(self, rows: TokenRows, activation: np.ndarray, decode: Callable[[int], str], before, after):
        self.rows, self.activation, self.decode = rows, activation, decode
        self.before, self.after = before, after
        _, inverse, counts = np.unique(rows.text_index, return_inverse=True, return_counts=True)
        self.starts = np.arange(len(rows.positions)) - rows.positions
        self.ends = self.starts + counts[inverse]

    def example(self, row: int) -> Example:
        start = max(int(self.starts[row]), row - self.before)
        end = min(int(self.ends[row]), row + self.after + 1)
        text = int(self.rows.text_index[row])
        return Example(
            tokens=[self.decode(int(t)) for t in self.rows.token_ids[start:end]],
            values=[round(float(v), 1) for v in self.activation[start:end]],
            position=row - start,
            activation=round(float(self.activation[row]), 3),
            text_index=text,
            category=self.rows.category(text),
        )


def top_rows(activation: np.ndarray, text_index: np.ndarray, k: int, per_text: int) -> list[int]:
    """The k rows of highest activation, at most `per_text` from any one text, highest first."""
    chosen: list[int] = []
    taken: Counter = Counter()
    for row in np.argsort(-activation, kind="stable"):
        text = int(text_index[row])
        if taken[text] < per_text:
            chosen.append(int(row))
            taken[text] += 1
            if len(chosen) == k:
                break
    return chosen


def interval_rows(
    activation: np.ndarray, intervals: int, per_interval: int, seed: int
) -> list[tuple[float, float, float, list[int]]]:
    """(low, high, share, rows) for `intervals` equal slices of (0, max], highest first; rows drawn at random."""
    top = float(activation.max())
    if top <= 0:
        return []
    generator = np.random.default_rng(seed)
    edges = np.linspace(0.0, top, intervals + 1)
    result = []
    for low, high in zip(edges[-2::-1], edges[:0:-1], strict=True):
        inside = np.flatnonzero((activation >= low) & ((activation < high) | (high == top)))
        picked = (
            generator.choice(inside, size=min(per_interval, len(inside)), replace=False)
            if len(inside)
            else []
        )
        ordered = sorted((int(r) for r in picked), key=lambda r: -activation[r])
        result.append((round(float(low), 3), round(float(high), 3), len(inside) / len(activation), ordered))
    return result


def histogram(activation: np.ndarray, bins: int = BINS, threshold: float = ACTIVE_Z) -> Histogram:
    counts, edges = np.histogram(activation, bins=bins)
    return Histogram(
        edges=[round(float(e), 3) for e in edges],
        counts=[int(c) for c in counts],
        threshold=threshold,
        share_above=float((activation >= threshold).mean()),
    )


def category_activation(activation: np.ndarray, rows: TokenRows) -> dict[str, float]:
    """Mean activation over the tokens of each text category (empty for unlabelled texts)."""
    if rows.categories is None:
        return {}
    token_categories = np.asarray(rows.categories, dtype=object)[rows.text_index]
    return {
        str(name): round(float(activation[token_categories == name].mean()), 3)
        for name in sorted(set(token_categories.tolist()))
    }


def card_label(component: int, categories: dict[str, float], examples: Sequence[Example]) -> str:
    """'N3 · code, math · "def", "("': the clearly positive categories and the tokens that recur at the top."""
    ranked = sorted(categories.items(), key=lambda item: -item[1])
    names = [name for name, value in ranked[:2] if value >= MIN_LABEL_RESPONSE]
    counts = Counter(e.tokens[e.position].strip() or repr(e.tokens[e.position]) for e in examples)
    tokens = [f'"{token}"' for token, count in counts.most_common(3) if count >= 2]
    return " · ".join(part for part in (f"N{component}", ", ".join(names), ", ".join(tokens)) if part)


def network_card(
    component: int,
    activation: np.ndarray,
    rows: TokenRows,
    decode: Callable[[int], str],
    definition: str,
    *,
    k: int = TOP_EXAMPLES,
    per_text: int = PER_TEXT,
    before: int = BEFORE,
    after: int = AFTER,
    seed: int = 0,
) -> NetworkCard:
    """The card of one network from its activation at every captured token (any scale: it is z-scored here)."""
    z = zscore(activation)
    windows = _Windows(rows, z, decode, before, after)
    top = [windows.example(r) for r in top_rows(z, rows.text_index, k, per_text)]
    quantiles = [
        IntervalExamples(low, high, share, [windows.example(r) for r in picked])
        for low, high, share, picked in interval_rows(z, INTERVALS, PER_INTERVAL, seed + component)
    ]
    categories = category_activation(z, rows)
    return NetworkCard(
        component=component,
        label=card_label(component, categories, top),
        activation=definition,
        top_examples=top,
        quantile_examples=quantiles,
        histogram=histogram(z),
        category_activation=categories,
    )
