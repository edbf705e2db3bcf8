"""Rendering a conversation as the model reads it: the tokenizer's chat template, ChatML or Alpaca."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import DatasetFormatError
from ._formats import Conversation

TEMPLATES = ("auto", "chat", "chatml", "alpaca")


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
    if is_plain_text(conversation):
        return conversation[0]["content"]
    if name == "chat":
        messages = [{"role": m["role"], "content": m["content"]} for m in conversation]
        return tokenizer.apply_chat_template(
            messages, tokenize=False, add_generation_prompt=add_generation_prompt
        )
    if name == "chatml":
        text = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in conversation)
        return text + ("<|im_start|>assistant\n" if add_generation_prompt else "")
    return _render_alpaca(conversation, eos_text(tokenizer))


def is_plain_text(conversation: Conversation) -> bool:
    return len(conversation) == 1 and conversation[0]["role"] == "text"


def eos_text(tokenizer: Any | None) -> str:
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
