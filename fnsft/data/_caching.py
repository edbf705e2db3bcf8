"""A tokenised training set built from records, and kept on disk under a key of everything that shapes it."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._files import atomic_folder
from ..errors import DatasetFormatError
from ..models._loading import cache_dir
from ._formats import Conversation, DatasetFormatter, NormalizedData
from ._sources import load_records
from ._tokenizing import Tokenization

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

_CACHE_VERSION = 1  # bump when tokenisation changes, so old caches are not reused
_INFO_FILE = "fnsft_info.json"


@dataclass
class BuildInfo:
    """What build_tokenized_dataset did, for logs and the app (attached to the dataset as `build_info`)."""

    format: str
    template: str
    n_records: int
    n_examples: int
    dropped_empty: int
    dropped_no_response: int
    truncated: int
    cache_hit: bool
    cache_path: Path | None


def build_tokenized_dataset(
    records_or_source: Any,
    tokenizer: Any,
    template: str = "auto",
    max_length: int = 512,
    loss_on: str = "response",
    cache: bool = True,
) -> Dataset:
    """A datasets.Dataset of input_ids/attention_mask/labels from records or any `load_records` source.

    With cache=True the result is kept under cache_dir()/"datasets", keyed by the normalised data, the
    tokenizer's vocabulary and chat template, the template, max_length and loss_on; a second call loads it.
    `dataset.build_info` (a BuildInfo) says whether it was a cache hit and what was dropped or truncated;
    like any attribute, it does not survive dataset operations such as shuffle or select.
    """
    data = DatasetFormatter.normalize(load_records(records_or_source))
    tokenization = Tokenization(tokenizer, template, max_length, loss_on)
    target = cache_dir() / "datasets" / _cache_name(data, tokenization) if cache else None
    hit = target is not None and (target / _INFO_FILE).is_file()
    dataset, stats = _load_cached(target) if hit else _build(data.conversations, tokenization, target)
    dataset.build_info = BuildInfo(
        format=data.format,
        template=tokenization.template,
        n_records=data.n_records,
        n_examples=len(dataset),
        dropped_empty=data.dropped_empty,
        dropped_no_response=stats["dropped_no_response"],
        truncated=stats["truncated"],
        cache_hit=hit,
        cache_path=target,
    )
    return dataset


def _load_cached(target: Path) -> tuple[Dataset, dict[str, int]]:
    from datasets import load_from_disk

    return load_from_disk(str(target)), json.loads((target / _INFO_FILE).read_text())


def _build(
    conversations: list[Conversation], tokenization: Tokenization, target: Path | None
) -> tuple[Dataset, dict[str, int]]:
    from datasets import Dataset

    columns, stats = _tokenize_all(conversations, tokenization)
    dataset = Dataset.from_dict(columns)
    if target is not None:
        _save_atomically(dataset, stats, target)
    return dataset, stats


def _tokenize_all(
    conversations: list[Conversation], tokenization: Tokenization
) -> tuple[dict[str, list[list[int]]], dict[str, int]]:
    columns: dict[str, list[list[int]]] = {"input_ids": [], "attention_mask": [], "labels": []}
    stats = {"dropped_no_response": 0, "truncated": 0}
    for conversation in conversations:
        example, truncated = tokenization.example(conversation)
        stats["truncated"] += truncated
        if example is None:
            stats["dropped_no_response"] += 1
            continue
        for name, values in example.items():
            columns[name].append(values)
    if stats["dropped_no_response"]:
        logger.warning("Dropped %d examples with no response token left", stats["dropped_no_response"])
    if not columns["input_ids"]:
        raise DatasetFormatError(
            f"No usable example: all {len(conversations)} conversations lost their response tokens "
            f"(max_length={tokenization.max_length})."
        )
    return columns, stats


def _cache_name(data: NormalizedData, tokenization: Tokenization) -> str:
    """A readable prefix, then a hash of everything that changes the tokenised result."""
    tokenizer = tokenization.tokenizer
    settings = {
        "version": _CACHE_VERSION,
        "template": tokenization.template,
        "max_length": tokenization.max_length,
        "loss_on": tokenization.loss_on,
        "chat_template": getattr(tokenizer, "chat_template", None),
        "special": [tokenizer.bos_token, tokenizer.eos_token, tokenization.encoder.bos],
    }
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode())
    digest.update(json.dumps(sorted(tokenizer.get_vocab().items())).encode())
    for conversation in data.conversations:
        digest.update(json.dumps(conversation, sort_keys=True, ensure_ascii=False).encode() + b"\n")
    return f"{data.format}-{tokenization.template}-{tokenization.max_length}-{digest.hexdigest()[:20]}"


def _save_atomically(dataset: Dataset, stats: dict[str, int], target: Path) -> None:
    """Readers never see half a cache; one another process wrote first is as good as ours and is kept."""
    with atomic_folder(target, keep_existing=True) as staging:
        dataset.save_to_disk(str(staging))
        (staging / _INFO_FILE).write_text(json.dumps(stats))
