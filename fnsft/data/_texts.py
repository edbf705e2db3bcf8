"""Texts to run through a model (discovery, evaluation, the forgetting report): loading, labels, sampling.

The data layer for unlabelled or category-labelled texts, so discovery, evaluation and training share one loader
instead of reaching into each other.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .._resources import DEFAULT_CORPUS, DEFAULT_PROMPTS, portable_name
from ..errors import DatasetFormatError

TEXT_FIELDS = ("text", "prompt", "instruction", "question", "content")


@dataclass
class LabelledTexts:
    """Texts to run through the model, with an optional category per text."""

    texts: list[str]
    categories: list[str] | None
    provenance: dict


def load_labelled_texts(
    source: Any,
    *,
    text_field: str | None = None,
    category_field: str = "category",
    split: str | None = None,
    per_source_limit: int | None = None,
) -> LabelledTexts:
    """Texts from a list of strings, a list of dicts, a local JSON/JSONL/CSV/Parquet file or a dataset.

    `split` keeps only records whose "split" field equals it (the shipped prompt set marks discovery/eval).

    >>> load_labelled_texts([{"text": "def f(): pass", "category": "code"}]).categories
    ['code']
    """
    if isinstance(source, (list, tuple)) and all(isinstance(item, str) for item in source):
        texts = list(source)[:per_source_limit]
        if not texts:
            raise DatasetFormatError("The list of texts is empty; give at least one text.")
        return LabelledTexts(texts, None, {"source": "list", "num_texts": len(texts)})
    from ._sources import load_records

    records = load_records(source)
    if split is not None:
        records = [r for r in records if r.get("split", split) == split]
    if not records:
        raise DatasetFormatError(
            f"{source!r} holds no records" + (f" with split={split!r}." if split else ".")
        )
    field_name = text_field or next((name for name in TEXT_FIELDS if name in records[0]), None)
    if field_name is None or field_name not in records[0]:
        raise DatasetFormatError(
            f"Cannot tell which field of {source!r} holds the text (fields: {sorted(records[0])}); "
            f"name it one of {', '.join(TEXT_FIELDS)} (in Python: text_field=...)"
        )
    records = records[:per_source_limit]
    texts = _field(records, field_name, source)
    categories = _field(records, category_field, source) if category_field in records[0] else None
    label = portable_name(source) if isinstance(source, (str, os.PathLike)) else type(source).__name__
    return LabelledTexts(texts, categories, {"source": label, "split": split, "num_texts": len(texts)})


def _field(records: list[dict], name: str, source: Any) -> list[str]:
    """The text of field `name` in every record (whole numbers read as text); a record without it, or with any
    other value, is refused by its number (1 = the first record)."""
    values = []
    for number, record in enumerate(records, start=1):
        value = record.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            problem = "has no" if name not in record else f"has {type(value).__name__} {value!r:.40} as its"
            raise DatasetFormatError(
                f"{source}: record {number} {problem} {name!r} field; every record needs it as text"
            )
        values.append(value)
    return values


def discovery_texts() -> LabelledTexts:
    """What discovery reads when given no texts: the shipped corpus (12 kinds of freely licensed text, 653,794
    tokens), large enough for networks that come back on other texts; the prompt set is kept for evaluation."""
    return load_labelled_texts(DEFAULT_CORPUS)


def interleave_by_category(texts: LabelledTexts) -> LabelledTexts:
    """Round-robin across categories, so a token budget samples every category evenly."""
    if texts.categories is None:
        return texts
    queues: dict[str, list[int]] = {}
    for index, category in enumerate(texts.categories):
        queues.setdefault(category, []).append(index)
    order = []
    while any(queues.values()):
        for queue in queues.values():
            if queue:
                order.append(queue.pop(0))
    return LabelledTexts(
        [texts.texts[i] for i in order], [texts.categories[i] for i in order], texts.provenance
    )


def per_category(texts: LabelledTexts, count: int) -> LabelledTexts:
    """The first `count` texts of each category (all texts when unlabelled)."""
    if texts.categories is None:
        return LabelledTexts(texts.texts[:count], None, texts.provenance)
    seen: dict[str, int] = {}
    keep = []
    for index, category in enumerate(texts.categories):
        seen[category] = seen.get(category, 0) + 1
        if seen[category] <= count:
            keep.append(index)
    return LabelledTexts(
        [texts.texts[i] for i in keep],
        [texts.categories[i] for i in keep],
        {**texts.provenance, "per_category": count},
    )


def eval_texts(source: Any = None, count: int | None = None) -> LabelledTexts:
    """Texts to evaluate on: `source`, or the eval split of the shipped prompt set; `count` per category."""
    texts = load_labelled_texts(source or DEFAULT_PROMPTS, split=None if source else "eval")
    return per_category(texts, count) if count else texts


def chat_formatted(texts: Sequence[str], tokenizer) -> list[str]:
    """Each text as a user turn of the tokenizer's chat template."""
    return [
        tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False) for text in texts
    ]


@functools.lru_cache(maxsize=1)
def _interleaved_corpus() -> tuple[str, ...]:
    return tuple(interleave_by_category(discovery_texts()).texts)


def corpus_text(text_index: int, window: Sequence[str]) -> str | None:
    """The shipped-corpus text a card example came from (cards made on the corpus number its texts as discovery
    reads them, interleaved by kind), or None when that text does not hold the example's window (the example
    came from other texts)."""
    texts = _interleaved_corpus()
    if not 0 <= text_index < len(texts):
        return None
    text = texts[text_index]
    pieces = "".join(window).split("\ufffd")  # a character split across two tokens decodes as U+FFFD
    return text if all(piece in text for piece in pieces) else None
