"""What the app shows before training: the detected format, counts and a few rendered examples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._formats import Conversation, DatasetFormatter
from ._rendering import render_conversation, resolve_template
from ._sources import load_splits, pick_split


@dataclass
class DataPreview:
    """What the app shows before training: the detected format, counts and a few rendered examples."""

    format: str
    columns: list[str]
    splits: dict[str, int]
    n_records: int
    n_conversations: int
    dropped_empty: int
    template: str
    examples: list[Conversation]
    rendered: list[str]


def preview(
    source: Any, n: int = 3, *, tokenizer: Any | None = None, template: str = "auto", split: str | None = None
) -> DataPreview:
    """The detected format, counts and the first `n` normalised examples rendered with the template (without
    a tokenizer, "auto" renders the Alpaca format)."""
    splits = load_splits(source)
    data = DatasetFormatter.normalize(splits[pick_split(splits, split)])
    name = resolve_template(template, tokenizer)
    examples = data.conversations[:n]
    return DataPreview(
        format=data.format,
        columns=data.columns,
        splits={split_name: len(records) for split_name, records in splits.items()},
        n_records=data.n_records,
        n_conversations=len(data.conversations),
        dropped_empty=data.dropped_empty,
        template=name,
        examples=examples,
        rendered=[render_conversation(conversation, tokenizer, name) for conversation in examples],
    )
