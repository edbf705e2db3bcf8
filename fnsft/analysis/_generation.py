"""Side-by-side generation: the unmasked and the masked model decode the same prompt, token by token.

Decoding is a small loop of our own rather than `generate`, so that each stream has its own torch.Generator (the
same seed gives the same draws in both, and concurrent requests never share RNG state) and the two streams can
advance in turn inside one thread, each under its own context-local mask.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import nn

from .._limits import check_prompt_length, context_length
from ..masking._hooks import NeuronMask, masked


@dataclass
class GenerationSettings:
    """Decoding settings shared by both streams. temperature 0 means greedy."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    top_k: int = 50
    top_p: float = 0.95
    repetition_penalty: float = 1.1
    seed: int = 0

    def __post_init__(self):
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1.")
        if self.temperature < 0 or not 0 < self.top_p <= 1 or self.top_k < 0 or self.repetition_penalty <= 0:
            raise ValueError("Need temperature >= 0, 0 < top_p <= 1, top_k >= 0 and repetition_penalty > 0.")


def encode_prompt(tokenizer, prompt: str, use_chat_template: bool = True) -> torch.Tensor:
    """[1 x L] input ids: the prompt as a user turn of the chat template when the tokenizer has one."""
    if use_chat_template and getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], tokenize=False, add_generation_prompt=True
        )
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    else:
        ids = tokenizer(prompt)["input_ids"]
    return torch.tensor([ids], dtype=torch.long)


def encode_fitting_prompt(
    model: nn.Module, tokenizer, prompt: str, max_new_tokens: int, use_chat_template: bool = True
) -> torch.Tensor:
    """The encoded prompt, refused (LimitError, with the numbers) when it and `max_new_tokens` overflow the
    model's context: past it a model produces garbage, slowly."""
    input_ids = encode_prompt(tokenizer, prompt, use_chat_template)
    check_prompt_length(input_ids.shape[1], max_new_tokens, context_length(model))
    return input_ids


def _choose(logits: torch.Tensor, history: torch.Tensor, settings: GenerationSettings, generator) -> int:
    logits = logits.float().clone()
    if settings.repetition_penalty != 1.0 and history.numel():
        seen = logits[history]
        logits[history] = torch.where(
            seen > 0, seen / settings.repetition_penalty, seen * settings.repetition_penalty
        )
    if settings.temperature == 0:
        return int(logits.argmax())
    logits = logits / settings.temperature
    if settings.top_k:
        cutoff = torch.topk(logits, min(settings.top_k, logits.numel())).values[-1]
        logits[logits < cutoff] = -float("inf")
    probabilities = torch.softmax(logits, dim=-1)
    if settings.top_p < 1.0:
        sorted_probs, order = probabilities.sort(descending=True)
        outside = sorted_probs.cumsum(0) - sorted_probs > settings.top_p
        sorted_probs[outside] = 0
        probabilities = torch.zeros_like(probabilities).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probabilities / probabilities.sum(), 1, generator=generator))


def _cache_argument(model: nn.Module) -> str:
    """transformers renamed `past_key_values` to `cache` (5.x); use whichever this model's forward takes."""
    return "cache" if "cache" in inspect.signature(type(model).forward).parameters else "past_key_values"


class _Stream:
    """One decoding stream: its own cache, generator and mask."""

    def __init__(self, model, tokenizer, input_ids, mask, settings):
        self.model, self.tokenizer, self.mask, self.settings = model, tokenizer, mask, settings
        self.device = next(model.parameters()).device
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.next_input = input_ids.to(self.device)
        self.history = input_ids[0].clone()
        self.new_tokens: list[int] = []
        self.cache = None
        self.cache_argument = _cache_argument(model)
        self.done = False
        configured = getattr(model.generation_config, "eos_token_id", None)
        configured = configured if isinstance(configured, (list, tuple)) else [configured]
        self.stop_ids = {tokenizer.eos_token_id, *configured}
        self.stop_ids.discard(None)

    def step(self) -> None:
        with masked(self.model, self.mask):
            out = self.model(input_ids=self.next_input, use_cache=True, **{self.cache_argument: self.cache})
        self.cache = getattr(out, self.cache_argument)
        token = _choose(out.logits[0, -1].cpu(), self.history, self.settings, self.generator)
        if token in self.stop_ids:
            self.done = True
            return
        self.new_tokens.append(token)
        self.history = torch.cat([self.history, torch.tensor([token])])
        self.next_input = torch.tensor([[token]], device=self.device)
        self.done = len(self.new_tokens) >= self.settings.max_new_tokens

    @property
    def text(self) -> str:
        return self.tokenizer.decode(self.new_tokens, skip_special_tokens=True)


@torch.inference_mode()
def stream_comparison(
    model: nn.Module,
    tokenizer,
    prompt: str,
    mask: NeuronMask | None,
    settings: GenerationSettings | None = None,
    *,
    use_chat_template: bool = True,
) -> Iterator[tuple[str, str]]:
    """Yield (unmasked text, masked text) so far after each decoding step of either stream."""
    settings = settings or GenerationSettings()
    input_ids = encode_fitting_prompt(model, tokenizer, prompt, settings.max_new_tokens, use_chat_template)
    streams = [
        _Stream(model, tokenizer, input_ids, None, settings),
        _Stream(model, tokenizer, input_ids, mask, settings),
    ]
    while not all(stream.done for stream in streams):
        for stream in streams:
            if not stream.done:
                stream.step()
        yield streams[0].text, streams[1].text


def generate_text(
    model, tokenizer, prompt: str, mask: NeuronMask | None = None, settings=None, **kwargs
) -> str:
    """The full continuation of one stream (the masked one when `mask` is given)."""
    *_, (baseline, masked_text) = stream_comparison(model, tokenizer, prompt, mask, settings, **kwargs)
    return masked_text if mask is not None else baseline


@dataclass
class NextTokenComparison:
    """Top next tokens with probabilities, unmasked and masked, and KL(unmasked || masked) in nats."""

    baseline: list[tuple[str, float]]
    masked: list[tuple[str, float]]
    kl_divergence: float


@torch.inference_mode()
def compare_next_token(
    model: nn.Module,
    tokenizer,
    prompt: str,
    mask: NeuronMask | None,
    *,
    top: int = 10,
    use_chat_template: bool = True,
) -> NextTokenComparison:
    device = next(model.parameters()).device
    input_ids = encode_fitting_prompt(model, tokenizer, prompt, 1, use_chat_template).to(device)
    log_probs = []
    for current in (None, mask):
        with masked(model, current):
            logits = model(input_ids=input_ids, use_cache=False).logits[0, -1].float()
        log_probs.append(torch.log_softmax(logits, dim=-1).cpu())
    kl = float((log_probs[0].exp() * (log_probs[0] - log_probs[1])).sum())

    def top_tokens(values: torch.Tensor) -> list[tuple[str, float]]:
        best = torch.topk(values, top)
        return [
            (tokenizer.decode([int(i)]), float(p.exp()))
            for p, i in zip(best.values, best.indices, strict=True)
        ]

    return NextTokenComparison(top_tokens(log_probs[0]), top_tokens(log_probs[1]), max(kl, 0.0))
