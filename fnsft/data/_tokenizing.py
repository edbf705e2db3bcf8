"""Tokenising a rendered conversation with response-only labels (each assistant turn and its end-of-turn
marker), truncation that keeps trained tokens, and the padding collator."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch

from ._formats import Conversation
from ._padding import pad_id, right_padded
from ._rendering import eos_text, is_plain_text, render_conversation, resolve_template

IGNORE_INDEX = -100
LOSS_ON = ("response", "all")


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
    if is_plain_text(conversation):
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
    eos = eos_text(tokenizer)
    return content_end + len(eos) if eos and text.startswith(eos, content_end) else content_end


@dataclass
class Tokenization:
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
    return Tokenization(tokenizer, template, max_length, loss_on).example(conversation)[0]


@dataclass
class SFTDataCollator:
    """Pads a batch on the right: input_ids with the pad id, attention_mask with 0, labels with -100."""

    pad_token_id: int

    @classmethod
    def from_tokenizer(cls, tokenizer: Any) -> SFTDataCollator:
        """Pads with `pad_id(tokenizer)` (padding is masked either way)."""
        return cls(pad_id(tokenizer))

    def __call__(self, features: Sequence[Mapping[str, Sequence[int]]]) -> dict[str, torch.Tensor]:
        input_ids, attention_mask = right_padded([f["input_ids"] for f in features], self.pad_token_id)
        labels, _ = right_padded([f["labels"] for f in features], IGNORE_INDEX)
        return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}
