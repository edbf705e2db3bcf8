"""Training data: read records from a file or dataset, detect their format, normalise them to conversations,
tokenise them with a prompt template and response-only labels, and cache the tokenised set on disk.

A conversation is a list of {"role": "system"|"user"|"assistant", "content": str} with stripped contents and
no trailing non-assistant turns (they teach nothing). Plain text is the single message {"role": "text",
"content": str} and is trained on whole. A user turn built from an Alpaca `input` or Dolly `context` keeps
that text under "input" too: "content" already holds instruction and input (what chat templates see), and
"input" only lets the Alpaca template show it under "### Input:".
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from .errors import DatasetFormatError
from .models import cache_dir
from .resources import SAMPLE_DATA as SAMPLE_DATA  # re-exported: its users import it from here

if TYPE_CHECKING:
    from datasets import Dataset

logger = logging.getLogger(__name__)

Conversation = list[dict[str, str]]

IGNORE_INDEX = -100
TEMPLATES = ("auto", "chat", "chatml", "alpaca")
LOSS_ON = ("response", "all")
FILE_TYPES = (".json", ".jsonl", ".csv", ".parquet")
VALIDATION_SPLITS = ("validation", "test")
_CACHE_VERSION = 1  # bump when tokenisation changes, so old caches are not reused
_INFO_FILE = "fnsft_info.json"


@dataclass(frozen=True)
class FormatSpec:
    """The columns that identify a format; single-turn formats also say which column plays which part."""

    name: str
    columns: tuple[str, ...]
    extra: str | None = None  # folded into the user turn; the Alpaca template shows it under "### Input:"

    @property
    def single_turn(self) -> bool:
        return self.name not in ("openai", "sharegpt", "text")

    def describe(self) -> str:
        optional = [c for c in (self.extra, "system" if self.single_turn else None) if c]
        suffix = f" (optional: {', '.join(optional)})" if optional else ""
        return f"{self.name}: {', '.join(self.columns)}{suffix}"


# Detection order: the first format whose columns are all present wins, so structured formats beat `text`.
FORMATS = (
    FormatSpec("openai", ("messages",)),
    FormatSpec("sharegpt", ("conversations",)),
    FormatSpec("alpaca", ("instruction", "output"), extra="input"),
    FormatSpec("dolly", ("instruction", "response"), extra="context"),
    FormatSpec("prompt_completion", ("prompt", "completion")),
    FormatSpec("prompt_response", ("prompt", "response")),
    FormatSpec("question_answer", ("question", "answer")),
    FormatSpec("system_user_assistant", ("user", "assistant")),
    FormatSpec("text", ("text",)),
)
_SPECS = {spec.name: spec for spec in FORMATS}
_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}
_OPENAI_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass
class NormalizedData:
    """Conversations made from a record set, with what was dropped so callers can report it."""

    format: str
    conversations: list[Conversation]
    n_records: int
    dropped_empty: int
    columns: list[str]


# --------------------------------------------------------------------------------------------- formats


class DatasetFormatter:
    """Detects a record set's format from its columns and normalises every record to a conversation."""

    @staticmethod
    def detect_format(columns: Iterable[str]) -> str:
        """The name of the first format whose identifying columns are all in `columns`."""
        found = list(columns)
        for spec in FORMATS:
            if set(spec.columns) <= set(found):
                return spec.name
        expected = "\n".join(f"  - {spec.describe()}" for spec in FORMATS)
        raise DatasetFormatError(
            f"The data fits no supported format. Columns found: {found}. Expected one of:\n{expected}"
        )

    @classmethod
    def normalize(cls, records: Sequence[Mapping[str, Any]], format: str | None = None) -> NormalizedData:
        """Conversations for `records` (format detected unless given); records without a response are dropped."""
        if not records:
            raise DatasetFormatError("The data holds no records.")
        columns = _columns(records)
        name = format or cls.detect_format(columns)
        conversations = []
        for index, record in enumerate(records):
            conversation = cls.to_conversation(record, name, index)
            if conversation is not None:
                conversations.append(conversation)
        dropped = len(records) - len(conversations)
        if dropped:
            logger.warning("Dropped %d of %d %s records with an empty response", dropped, len(records), name)
        return NormalizedData(name, conversations, len(records), dropped, columns)

    @staticmethod
    def to_conversation(record: Mapping[str, Any], format: str, index: int = 0) -> Conversation | None:
        """One record as a conversation, or None when it has no non-empty response to train on."""
        spec = _spec(format)
        if spec.name == "openai":
            return _multi_turn(record.get("messages"), "role", "content", _OPENAI_ROLES, f"Record {index}")
        if spec.name == "sharegpt":
            return _multi_turn(
                record.get("conversations"), "from", "value", _SHAREGPT_ROLES, f"Record {index}"
            )
        if spec.name == "text":
            text = _text(record.get("text"))
            return [{"role": "text", "content": text}] if text else None
        return _single_turn(record, spec)


def _spec(name: str) -> FormatSpec:
    if name not in _SPECS:
        raise ValueError(f"Unknown format {name!r}; choose one of {list(_SPECS)}.")
    return _SPECS[name]


def _columns(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Every key of every record, in order of first appearance (records of a JSON file may differ)."""
    return list(dict.fromkeys(key for record in records for key in record))


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _single_turn(record: Mapping[str, Any], spec: FormatSpec) -> Conversation | None:
    prompt_column, response_column = spec.columns
    response = _text(record.get(response_column))
    if not response:
        return None
    system = _text(record.get("system"))
    conversation = [{"role": "system", "content": system}] if system else []
    extra = _text(record.get(spec.extra)) if spec.extra else ""
    conversation.append(_user_turn(_text(record.get(prompt_column)), extra))
    conversation.append({"role": "assistant", "content": response})
    return conversation


def _user_turn(prompt: str, extra: str) -> dict[str, str]:
    if not extra:
        return {"role": "user", "content": prompt}
    return {"role": "user", "content": f"{prompt}\n\n{extra}".strip(), "input": extra}


def _multi_turn(
    turns: Any, role_key: str, content_key: str, roles: dict[str, str], where: str
) -> Conversation | None:
    conversation = []
    for number, turn in enumerate(_as_list(turns, where)):
        if not isinstance(turn, Mapping):
            raise DatasetFormatError(
                f"{where}, turn {number}: expected {{{role_key}, {content_key}}}, got {turn!r}."
            )
        role = roles.get(_text(turn.get(role_key)).lower())
        if role is None:
            raise DatasetFormatError(
                f"{where}, turn {number}: role {turn.get(role_key)!r} is not one of {sorted(roles)}."
            )
        conversation.append({"role": role, "content": _content(turn.get(content_key))})
    while conversation and conversation[-1]["role"] != "assistant":
        conversation.pop()
    if not conversation or any(not m["content"] for m in conversation if m["role"] == "assistant"):
        return None
    return conversation


def _as_list(value: Any, where: str) -> list:
    """A turn list, also when a CSV cell holds it as a JSON string."""
    if isinstance(value, str):
        with contextlib.suppress(json.JSONDecodeError):
            value = json.loads(value)
    if not isinstance(value, list):
        raise DatasetFormatError(f"{where}: expected a list of turns, got {type(value).__name__}.")
    return value


def _content(value: Any) -> str:
    """Message content as text; OpenAI content-part lists keep their text parts."""
    if isinstance(value, list):
        parts = [p.get("text") for p in value if isinstance(p, Mapping) and p.get("type") == "text"]
        return "\n".join(_text(p) for p in parts).strip()
    return _text(value)


# --------------------------------------------------------------------------------------------- sources


def load_records(source: Any, split: str | None = None) -> list[dict[str, Any]]:
    """Records of `split` (default "train", or the only split) from a list of dicts, a .json/.jsonl/.csv/.parquet
    file, a saved dataset folder, a `datasets.Dataset`/`DatasetDict` or a hub id (online only)."""
    splits = _load_splits(source)
    return splits[_pick_split(splits, split)]


def load_train_validation(
    source: Any, validation_fraction: float = 0.1, seed: int = 0
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, validation) records: the source's own "validation"/"test" split when it has one, else a
    deterministic held-out fraction of the training records."""
    splits = _load_splits(source)
    train_name = _pick_split(splits, None)
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


def _pick_split(splits: dict[str, list], split: str | None) -> str:
    if split is not None:
        if split not in splits:
            raise DatasetFormatError(f"Split {split!r} not found; the data has splits {sorted(splits)}.")
        return split
    if "train" in splits:
        return "train"
    if len(splits) == 1:
        return next(iter(splits))
    raise DatasetFormatError(f"The data has splits {sorted(splits)} and no 'train'; choose one with split=.")


def _load_splits(source: Any) -> dict[str, list[dict[str, Any]]]:
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
    return _load_splits(loaded)


def _load_saved_dataset(path: Path) -> dict[str, list[dict[str, Any]]]:
    from datasets import load_from_disk

    try:
        return _load_splits(load_from_disk(str(path)))
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
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig")
                if not line.strip():
                    continue
                value = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as error:
                raise DatasetFormatError(f"{path}, line {number}: not valid JSON ({error}).") from error
            if not isinstance(value, dict):
                raise DatasetFormatError(
                    f"{path}, line {number}: expected one JSON object per line, got {type(value).__name__}."
                )
            records.append(value)
    return {"train": records}


def _read_json(path: Path) -> dict[str, list]:
    try:
        value = json.loads(path.read_text(encoding="utf-8-sig"))
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


# --------------------------------------------------------------------------------------------- templates


def resolve_template(template: str, tokenizer: Any | None) -> str:
    """The concrete template: "auto" is the tokenizer's chat template when it has one, else "alpaca"."""
    if template not in TEMPLATES:
        raise ValueError(f"template={template!r} is not supported; choose one of {TEMPLATES}.")
    has_chat = bool(getattr(tokenizer, "chat_template", None))
    if template == "auto":
        return "chat" if has_chat else "alpaca"
    if template == "chat" and not has_chat:
        raise DatasetFormatError(
            "template='chat' needs a tokenizer with a chat template, and this one has none; "
            "use 'auto', 'chatml' or 'alpaca'."
        )
    return template


def render_conversation(
    conversation: Conversation,
    tokenizer: Any | None,
    template: str = "auto",
    add_generation_prompt: bool = False,
) -> str:
    """The conversation as the model reads it. Plain text is used as is; the Alpaca format always ends a user
    turn with "### Response:", so `add_generation_prompt` only matters to "chat" and "chatml"."""
    name = resolve_template(template, tokenizer)
    if _is_text(conversation):
        return conversation[0]["content"]
    if name == "chat":
        messages = [{"role": m["role"], "content": m["content"]} for m in conversation]
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    if name == "chatml":
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in conversation)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")
    return _render_alpaca(conversation, _eos_text(tokenizer))


def _is_text(conversation: Conversation) -> bool:
    return len(conversation) == 1 and conversation[0]["role"] == "text"


def _eos_text(tokenizer: Any | None) -> str:
    return getattr(tokenizer, "eos_token", None) or ""


def _render_alpaca(conversation: Conversation, eos: str) -> str:
    parts = []
    for index, message in enumerate(conversation):
        if index and conversation[index - 1]["role"] == "assistant":
            parts.append("\n\n")
        parts.append(_alpaca_block(message, eos))
    return "".join(parts)


def _alpaca_block(message: Mapping[str, str], eos: str) -> str:
    role, content = message["role"], message["content"]
    if role == "system":
        return f"{content}\n\n"
    if role == "assistant":
        return f"{content}{eos}"
    extra = message.get("input", "")
    instruction = content[: len(content) - len(extra)].rstrip() if extra else content
    block = f"### Instruction:\n{instruction}\n\n"
    if extra:
        block += f"### Input:\n{extra}\n\n"
    return block + "### Response:\n"


# --------------------------------------------------------------------------------------------- tokenisation


class _Encoder:
    """Tokenises rendered text the same way for a prefix and for the whole, adding BOS only where the
    tokenizer would and the text (a chat template's output) does not already start with it."""

    def __init__(self, tokenizer: Any):
        self.tokenizer = tokenizer
        bos = tokenizer.bos_token_id
        self.bos = [bos] if bos is not None and tokenizer("a")["input_ids"][:1] == [bos] else []

    def _bos_for(self, text: str) -> list[int]:
        return self.bos if self.bos and not text.startswith(self.tokenizer.bos_token) else []

    def ids(self, text: str) -> list[int]:
        return self._bos_for(text) + self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def boundary(self, text: str, ids: list[int], position: int, *, opening: bool) -> int:
        """The token index where character `position` of `text` falls: from the prefix's tokens when they are
        a prefix of the whole's (the usual case), else from character offsets. A token straddling `position`
        (" Two" after "assistant:") goes to the response, on either side of it (`opening` or closing)."""
        prefix = self.ids(text[:position])
        if ids[: len(prefix)] == prefix:
            return len(prefix)
        encoded = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        offsets = [(0, 0)] * len(self._bos_for(text)) + list(encoded["offset_mapping"])
        if opening:
            return sum(1 for _, end in offsets if end <= position)
        return sum(1 for start, _ in offsets if start < position)


def _assistant_spans(
    conversation: Conversation, tokenizer: Any, template: str, text: str
) -> list[tuple[int, int]]:
    """Character spans of what is trained in `text`: each assistant content with its end-of-turn marker."""
    if _is_text(conversation):
        return [(0, len(text))]
    spans = []
    cursor = 0
    for index, message in enumerate(conversation):
        if message["role"] != "assistant":
            continue
        before = render_conversation(conversation[:index], tokenizer, template, True) if index else ""
        if text.startswith(before):  # so a user turn quoting the answer is not mistaken for it
            cursor = max(cursor, len(before))
        start = text.find(message["content"], cursor)
        if start < 0:  # the template dropped or rewrote this turn: nothing of it to train on
            continue
        end = _turn_end(conversation[: index + 1], tokenizer, template, text, start + len(message["content"]))
        spans.append((start, end))
        cursor = end
    return spans


def _turn_end(turns: Conversation, tokenizer: Any, template: str, text: str, content_end: int) -> int:
    """Where the assistant turn ending `turns` stops: after the template's end-of-turn marker (trailing
    whitespace excluded), or after EOS right behind the content when the turn cannot be located."""
    through = render_conversation(turns, tokenizer, template).rstrip()
    if text.startswith(through) and len(through) >= content_end:
        return len(through)
    eos = _eos_text(tokenizer)
    return content_end + len(eos) if eos and text.startswith(eos, content_end) else content_end


@dataclass
class _Tokenization:
    """One tokenisation setting, applied to many conversations."""

    tokenizer: Any
    template: str
    max_length: int
    loss_on: str
    encoder: _Encoder = field(init=False)

    def __post_init__(self):
        if self.loss_on not in LOSS_ON:
            raise ValueError(f"loss_on={self.loss_on!r} is not supported; choose one of {LOSS_ON}.")
        if self.max_length < 1:
            raise ValueError(f"max_length must be positive, got {self.max_length}.")
        self.template = resolve_template(self.template, self.tokenizer)
        self.encoder = _Encoder(self.tokenizer)

    def encode(self, conversation: Conversation) -> tuple[list[int], list[int]]:
        """Untruncated (input_ids, labels); EOS is appended, and trained, when the last response lacks it."""
        text = render_conversation(conversation, self.tokenizer, self.template)
        ids = self.encoder.ids(text)
        spans = []
        for start, end in _assistant_spans(conversation, self.tokenizer, self.template, text):
            first = self.encoder.boundary(text, ids, start, opening=True)
            stop = self.encoder.boundary(text, ids, end, opening=False)
            if stop > first:
                spans.append((first, stop))
        eos = self.tokenizer.eos_token_id
        if spans and eos is not None and ids[spans[-1][1] - 1] != eos:
            ids.append(eos)
            spans.append((len(ids) - 1, len(ids)))
        if self.loss_on == "all":
            return ids, list(ids)
        labels = [IGNORE_INDEX] * len(ids)
        for first, stop in spans:
            labels[first:stop] = ids[first:stop]
        return ids, labels

    def truncate(self, ids: list[int], labels: list[int]) -> tuple[list[int], list[int]]:
        """Cut to max_length. The end goes when the prompt fills at most half the window; otherwise the
        prompt's start goes too, so that trained tokens remain (half a window of them, or all)."""
        limit = self.max_length
        if len(ids) <= limit:
            return ids, labels
        first = next((i for i, label in enumerate(labels) if label != IGNORE_INDEX), 0)
        start = 0 if first <= limit // 2 else min(first - limit // 2, len(ids) - limit)
        return ids[start : start + limit], labels[start : start + limit]

    def example(self, conversation: Conversation) -> tuple[dict[str, list[int]] | None, bool]:
        """(tokenised example or None when no trained token is left, whether it was truncated)."""
        ids, labels = self.encode(conversation)
        truncated = len(ids) > self.max_length
        ids, labels = self.truncate(ids, labels)
        if all(label == IGNORE_INDEX for label in labels):
            return None, truncated
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}, truncated


def tokenize_example(
    conversation: Conversation,
    tokenizer: Any,
    template: str = "auto",
    max_length: int = 512,
    loss_on: str = "response",
) -> dict[str, list[int]] | None:
    """input_ids, attention_mask and labels for one conversation, or None when truncation left no trained
    token. loss_on="response" sets labels to -100 everywhere but the assistant turns (all of them, each with
    its end-of-turn marker/EOS); loss_on="all" trains every token."""
    return _Tokenization(tokenizer, template, max_length, loss_on).example(conversation)[0]


# --------------------------------------------------------------------------------------------- dataset


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
    tokenization = _Tokenization(tokenizer, template, max_length, loss_on)
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
    conversations: list[Conversation], tokenization: _Tokenization, target: Path | None
) -> tuple[Dataset, dict[str, int]]:
    from datasets import Dataset

    columns, stats = _tokenize_all(conversations, tokenization)
    dataset = Dataset.from_dict(columns)
    if target is not None:
        _save_atomically(dataset, stats, target)
    return dataset, stats


def _tokenize_all(
    conversations: list[Conversation], tokenization: _Tokenization
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


def _cache_name(data: NormalizedData, tokenization: _Tokenization) -> str:
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
    """Write into a temporary folder beside `target`, then rename it, so readers never see half a cache."""
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=target.name + ".", dir=target.parent))
    try:
        dataset.save_to_disk(str(staging))
        (staging / _INFO_FILE).write_text(json.dumps(stats))
        try:
            staging.rename(target)
        except OSError:  # another process wrote the same cache first; theirs is as good
            logger.debug("Cache %s appeared meanwhile; keeping it", target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------------------------- batches


@dataclass
class SFTDataCollator:
    """Pads a batch on the right: input_ids with the pad id, attention_mask with 0, labels with -100."""

    pad_token_id: int

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> SFTDataCollator:
        """Uses EOS as padding when the tokenizer has no pad token (padding is masked either way)."""
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        return cls(0 if pad is None else pad)

    def __call__(self, features: Sequence[Mapping[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
        length = max(len(feature["input_ids"]) for feature in features)
        fills = {"input_ids": self.pad_token_id, "attention_mask": 0, "labels": IGNORE_INDEX}
        batch = {
            name: torch.full((len(features), length), fill, dtype=torch.long) for name, fill in fills.items()
        }
        for row, feature in enumerate(features):
            for name, tensor in batch.items():
                values = torch.as_tensor(feature[name], dtype=torch.long)
                tensor[row, : len(values)] = values
        return batch


# --------------------------------------------------------------------------------------------- preview


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
    splits = _load_splits(source)
    data = DatasetFormatter.normalize(splits[_pick_split(splits, split)])
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
