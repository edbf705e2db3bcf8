"""Where records come from: lists of dicts, JSON/JSONL/CSV/Parquet files, saved datasets, `datasets` objects and
hub ids; their splits, and a deterministic train/validation split."""

from __future__ import annotations

import csv
import json
import os
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .._files import TooLarge, loads_json, read_bounded
from ..errors import DatasetFormatError

MAX_JSON_BYTES = 2**30  # a .json file is parsed whole; JSON Lines are read a line at a time
MAX_LINE_BYTES = 64 * 2**20
FILE_TYPES = (".json", ".jsonl", ".csv", ".parquet")
VALIDATION_SPLITS = ("validation", "test")


def load_records(source: Any, split: str | None = None) -> list[dict[str, Any]]:
    """Records of `split` (default "train", or the only split) from a list of dicts, a .json/.jsonl/.csv/.parquet
    file, a saved dataset folder, a `datasets.Dataset`/`DatasetDict` or a hub id (online only)."""
    splits = load_splits(source)
    return splits[pick_split(splits, split)]


def load_train_validation(
    source: Any, validation_fraction: float = 0.1, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, validation) records: the source's own "validation"/"test" split when it has one, else a
    deterministic held-out fraction of the training records."""
    splits = load_splits(source)
    train_name = pick_split(splits, None)
    held_out = next((name for name in VALIDATION_SPLITS if name in splits and name != train_name), None)
    if held_out is not None:
        return splits[train_name], splits[held_out]
    return train_validation_split(splits[train_name], validation_fraction, seed)


def train_validation_split(
    records: Sequence[Any], validation_fraction: float = 0.1, seed: int = 0
) -> tuple[list[Any], list[Any]]:
    """Disjoint (train, validation) lists, the same for the same seed, each in the records' original order.

    Any positive fraction holds out at least one record and keeps at least one for training.
    """
    if not 0 <= validation_fraction < 1:
        raise ValueError(f"validation_fraction must be in [0, 1), got {validation_fraction}.")
    count = len(records)
    n_validation = 0
    if count >= 2 and validation_fraction > 0:
        n_validation = min(count - 1, max(1, round(count * validation_fraction)))
    order = list(range(count))
    random.Random(seed).shuffle(order)
    held_out = set(order[:n_validation])
    train = [record for index, record in enumerate(records) if index not in held_out]
    validation = [record for index, record in enumerate(records) if index in held_out]
    return train, validation


def pick_split(splits: dict[str, list], split: str | None) -> str:
    if split is not None:
        if split not in splits:
            raise DatasetFormatError(f"Split {split!r} not found; the data has splits {sorted(splits)}.")
        return split
    if "train" in splits:
        return "train"
    if len(splits) == 1:
        return next(iter(splits))
    raise DatasetFormatError(f"The data has splits {sorted(splits)} and no 'train'; choose one with split=.")


def load_splits(source: Any) -> dict[str, list[dict[str, Any]]]:
    from datasets import Dataset, DatasetDict

    if isinstance(source, DatasetDict):
        return {name: part.to_list() for name, part in source.items()}
    if isinstance(source, Dataset):
        return {"train": source.to_list()}
    if isinstance(source, (list, tuple)):
        return {"train": _check_records(source, "The given list")}
    if isinstance(source, (str, os.PathLike)):
        return _load_path_or_hub(str(source))
    raise DatasetFormatError(
        f"Cannot read training data from a {type(source).__name__}; give a list of dicts, a file "
        f"({', '.join(FILE_TYPES)}), a datasets.Dataset/DatasetDict or a hub id."
    )


def _check_records(records: Sequence[Any], where: str) -> list[dict[str, Any]]:
    for index, record in enumerate(records):
        if not isinstance(record, Mapping):
            raise DatasetFormatError(
                f"{where}: item {index} is a {type(record).__name__}, not a record (dict)."
            )
    return [dict(record) for record in records]


def _load_path_or_hub(text: str) -> dict[str, list[dict[str, Any]]]:
    path = Path(text).expanduser()
    if path.is_dir():
        return _load_saved_dataset(path)
    if path.is_file():
        return _read_file(path)
    if path.suffix.lower() in FILE_TYPES or text.startswith((".", "/", "~")) or text.count("/") > 1:
        raise DatasetFormatError(f"Data file {text!r} does not exist.")
    return _load_hub(text)


def _offline() -> bool:
    flags = (os.environ.get(name, "") for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"))
    return any(flag.strip().upper() in ("1", "ON", "YES", "TRUE") for flag in flags)


def _load_hub(name: str) -> dict[str, list[dict[str, Any]]]:
    if _offline():
        raise DatasetFormatError(
            f"{name!r} is not a local file or folder, and hub datasets cannot be downloaded in offline mode "
            f"(HF_HUB_OFFLINE or HF_DATASETS_OFFLINE is set). Give a local file ({', '.join(FILE_TYPES)}), "
            "or go online to use a hub id."
        )
    from datasets import load_dataset

    try:
        loaded = load_dataset(name)
    except Exception as error:  # datasets raises many unrelated types (network, missing repo, bad config)
        raise DatasetFormatError(f"Could not load hub dataset {name!r}: {error}") from error
    return load_splits(loaded)


def _load_saved_dataset(path: Path) -> dict[str, list[dict[str, Any]]]:
    from datasets import load_from_disk

    try:
        return load_splits(load_from_disk(str(path)))
    except FileNotFoundError as error:
        raise DatasetFormatError(
            f"{path} is a folder but not a dataset saved with save_to_disk; give a data file ({', '.join(FILE_TYPES)})."
        ) from error


def _read_file(path: Path) -> dict[str, list[dict[str, Any]]]:
    readers = {".json": _read_json, ".jsonl": _read_jsonl, ".csv": _read_csv, ".parquet": _read_parquet}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise DatasetFormatError(f"{path}: unsupported file type; use one of {', '.join(FILE_TYPES)}.")
    try:
        splits = reader(path)
    except UnicodeDecodeError as error:
        raise DatasetFormatError(f"{path} is not UTF-8 text ({error}).") from error
    return {name: _check_records(records, f"{path} ({name})") for name, records in splits.items()}


def _read_jsonl(path: Path) -> dict[str, list]:
    records = []
    with path.open("rb") as handle:
        for number, raw in enumerate(iter(lambda: handle.readline(MAX_LINE_BYTES + 1), b""), start=1):
            try:
                if len(raw) > MAX_LINE_BYTES:
                    raise TooLarge(f"longer than {MAX_LINE_BYTES:,} bytes")
                if not raw.strip():
                    continue
                value = loads_json(raw)
            except (UnicodeDecodeError, json.JSONDecodeError, TooLarge) as error:
                raise DatasetFormatError(f"{path}, line {number}: not valid JSON ({error}).") from error
            if not isinstance(value, dict):
                raise DatasetFormatError(
                    f"{path}, line {number}: expected one JSON object per line, got {type(value).__name__}."
                )
            records.append(value)
    return {"train": records}


def _read_json(path: Path) -> dict[str, list]:
    try:
        value = loads_json(read_bounded(path, MAX_JSON_BYTES, ".json data files (use .jsonl beyond)"))
    except TooLarge as error:
        raise DatasetFormatError(f"{path}: {error}.") from None
    except json.JSONDecodeError as error:
        if error.msg == "Extra data":  # JSON Lines saved with a .json name, as many hub exports are
            return _read_jsonl(path)
        raise DatasetFormatError(
            f"{path}, line {error.lineno}: not valid JSON ({error.msg}, column {error.colno})."
        ) from error
    if isinstance(value, list):
        return {"train": value}
    if isinstance(value, dict) and isinstance(value.get("data"), list):
        return {"train": value["data"]}
    if isinstance(value, dict) and isinstance(value.get("train"), list):
        return {name: part for name, part in value.items() if isinstance(part, list)}
    keys = f" with keys {sorted(value)}" if isinstance(value, dict) else ""
    raise DatasetFormatError(
        f'{path}: expected a list of records, {{"data": [...]}} or {{"train": [...], "validation": [...]}}; '
        f"found a {type(value).__name__}{keys}."
    )


def _read_csv(path: Path) -> dict[str, list]:
    with path.open(encoding="utf-8-sig", newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = next(reader, None)
            if header is None:
                raise DatasetFormatError(f"{path} is empty; expected a header row of column names.")
            records = []
            for row in reader:
                if not row:
                    continue
                if len(row) != len(header):
                    raise DatasetFormatError(
                        f"{path}, line {reader.line_num}: {len(row)} fields where the header has {len(header)}."
                    )
                records.append(dict(zip(header, row, strict=True)))
        except csv.Error as error:
            raise DatasetFormatError(f"{path}, line {reader.line_num}: malformed CSV ({error}).") from error
    return {"train": records}


def _read_parquet(path: Path) -> dict[str, list]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except (pa.ArrowException, OSError) as error:
        raise DatasetFormatError(f"{path} is not a readable Parquet file ({error}).") from error
    return {"train": table.to_pylist()}
