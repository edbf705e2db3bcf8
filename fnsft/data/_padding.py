"""Right-padding a batch of token id lists: one rule for every forward pass fnsft runs (capture, evaluation,
logit effects, training).

Padding sits after each sequence, where a causal model's real positions never attend to it, and the attention
mask marks it out, so the pad id never changes a result; it only has to be a valid id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch


def pad_id(tokenizer: Any) -> int:
    """The tokenizer's pad token, else its end-of-sequence token, else 0 (a bare test tokenizer has neither)."""
    for token in (getattr(tokenizer, "pad_token_id", None), getattr(tokenizer, "eos_token_id", None)):
        if token is not None:
            return int(token)
    return 0


def right_padded(sequences: Sequence[Sequence[int]], fill: int) -> tuple[torch.Tensor, torch.Tensor]:
    """([batch x longest] ids with `fill` after each sequence, the attention mask: 1 on real tokens)."""
    ids = torch.full((len(sequences), max(map(len, sequences))), fill, dtype=torch.long)
    attention = torch.zeros_like(ids)
    for row, sequence in enumerate(sequences):
        ids[row, : len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
        attention[row, : len(sequence)] = 1
    return ids, attention
