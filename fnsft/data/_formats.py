"""Record formats (OpenAI messages, ShareGPT, Alpaca, Dolly, prompt/completion, ..., plain text): detection from
the columns, and normalisation of every record to a conversation."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .._files import TooLarge, loads_json
from ..errors import DatasetFormatError

logger = logging.getLogger(__name__)

Conversation = list[dict[str, str]]


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


class DatasetFormatter:
    """Detects a record set's format from its columns and normalises every record to a conversation.

    >>> DatasetFormatter.normalize([{"question": "2 + 2?", "answer": "4"}]).conversations[0][-1]
    {'role': 'assistant', 'content': '4'}
    """

    @staticmethod
    def detect_format(columns_or_records: Iterable[str] | Sequence[Mapping[str, Any]]) -> str:
        """The name of the first format whose identifying columns are all present: give the column names, or
        the records themselves (their keys are the columns).

        >>> DatasetFormatter.detect_format([{"instruction": "Add 2 and 2.", "output": "4"}])
        'alpaca'
        >>> DatasetFormatter.detect_format(["messages"])
        'openai'
        """
        items = list(columns_or_records)
        found = _columns(items) if items and all(isinstance(item, Mapping) for item in items) else items
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
        with contextlib.suppress(json.JSONDecodeError, TooLarge):
            value = loads_json(value)
    if not isinstance(value, list):
        raise DatasetFormatError(f"{where}: expected a list of turns, got {type(value).__name__}.")
    return value


def _content(value: Any) -> str:
    """Message content as text; OpenAI content-part lists keep their text parts."""
    if isinstance(value, list):
        parts = [p.get("text") for p in value if isinstance(p, Mapping) and p.get("type") == "text"]
        return "\n".join(_text(p) for p in parts).strip()
    return _text(value)
