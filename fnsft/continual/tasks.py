"""A task's examples: records read with fnsft's data loaders, turned into (prompt, label) pairs by the task's
text fields, instruction and label map, and split into fixed train and test sets."""

from __future__ import annotations

import random
from dataclasses import dataclass

from ..data._sources import load_splits, pick_split
from ..errors import DatasetFormatError
from .config import TEXT_PLACEHOLDER, TaskSpec

DATA_SEED = 1234  # the same train/test examples for every method and seed: only training order varies


@dataclass(frozen=True)
class Example:
    prompt: str
    label: str


@dataclass(frozen=True)
class TaskData:
    """The examples of one task; `train` is drawn disjoint from `test`."""

    spec: TaskSpec
    train: list[Example]
    test: list[Example]

    @property
    def name(self) -> str:
        return self.spec.name

    def train_records(self) -> list[dict[str, str]]:
        """Prompt/completion records, the format fnsft.data tokenises with response-only labels."""
        return [{"prompt": example.prompt, "completion": example.label} for example in self.train]


def _prompt(spec: TaskSpec, record: dict) -> str:
    parts = []
    for name in spec.text_fields:
        value = record.get(name)
        if not isinstance(value, str):
            raise DatasetFormatError(
                f"task {spec.name}: a record has no text field {name!r} (it has {sorted(record)})"
            )
        parts.append(" ".join(value.split())[: spec.max_chars])
    return spec.instruction.replace(TEXT_PLACEHOLDER, "\n".join(parts))


def _examples(spec: TaskSpec, records: list[dict]) -> list[Example]:
    """Examples of the records whose label is in the label map (the others are not part of the task)."""
    if records and spec.label_field not in records[0]:
        raise DatasetFormatError(
            f"task {spec.name}: its records have no label field {spec.label_field!r} (fields: {sorted(records[0])})"
        )
    return [
        Example(_prompt(spec, record), spec.label_map[str(record.get(spec.label_field))])
        for record in records
        if str(record.get(spec.label_field)) in spec.label_map
    ]


def _draw(examples: list[Example], count: int, generator: random.Random, what: str, spec: TaskSpec):
    if len(examples) < count:
        raise DatasetFormatError(
            f"task {spec.name}: {what} needs {count} examples but the data has {len(examples)} with a mapped "
            "label; lower the size or map more labels"
        )
    return generator.sample(examples, count)


def _splits(spec: TaskSpec) -> dict[str, list[dict]]:
    """The data's splits: fnsft's loaders, or for a Hub dataset with a configuration (`config`), that one."""
    if spec.config is None:
        return load_splits(spec.data)
    from datasets import load_dataset

    try:
        return load_splits(load_dataset(spec.data, spec.config))
    except Exception as error:  # datasets raises many unrelated types (offline, missing repo, bad config)
        raise DatasetFormatError(
            f"task {spec.name}: could not load Hub dataset {spec.data!r} ({spec.config}): {error}"
        ) from error


def load_task(spec: TaskSpec) -> TaskData:
    """The task's train and test examples, the same on every machine (drawn with DATA_SEED)."""
    generator = random.Random(f"{DATA_SEED}:{spec.name}")
    splits = _splits(spec)
    pool = _examples(spec, splits[pick_split(splits, spec.split)])
    if spec.test_split:
        held_out = _examples(spec, splits[pick_split(splits, spec.test_split)])
        test = _draw(held_out, spec.test_size, generator, "test", spec)
        return TaskData(spec, _draw(pool, spec.train_size, generator, "train", spec), test)
    drawn = _draw(pool, spec.train_size + spec.test_size, generator, "train + test", spec)
    return TaskData(spec, drawn[: spec.train_size], drawn[spec.train_size :])
