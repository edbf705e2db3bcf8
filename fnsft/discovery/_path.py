"""Which discovery path a run takes when the settings leave it open (`streaming=None`): in memory or streaming.

The in-memory path stores the [tokens x neurons] matrix and is exact; streaming keeps a sketch whose memory
does not grow with the tokens. In memory is faster up to tens of thousands of tokens; from about 65,536 tokens
streaming was measured faster on the embedded model (8% at 65,536 tokens, 11% at 131,072:
`benchmarks/streaming_scale.py`, docs/speed.md), and past the memory available it is the only way.
"""

from __future__ import annotations

import logging

import psutil
import torch

from ..models._devices import matrix_bytes, matrix_dtype, size_text
from ._parallel import Processes
from ._settings import DiscoverySettings

logger = logging.getLogger(__name__)
STREAMING_FROM_TOKENS = 65536  # the measured crossover (module doc)


def choose_streaming(tokens: int, neurons: int, dtype: torch.dtype, *, distributed: bool) -> tuple[bool, str]:
    """(stream or not, why) for a budget of `tokens` tokens of `neurons` neurons stored as `dtype`."""
    if distributed:
        return True, "data-parallel discovery streams its statistics"
    needed, available = matrix_bytes(tokens, neurons, dtype), psutil.virtual_memory().available
    if needed > available:
        return True, (
            f"the in-memory matrix ({tokens:,} x {neurons:,}) would need about {size_text(needed)} and "
            f"{size_text(available)} is available"
        )
    if tokens >= STREAMING_FROM_TOKENS:
        return True, f"{tokens:,} tokens: from {STREAMING_FROM_TOKENS:,} streaming was measured faster"
    return (
        False,
        f"{tokens:,} tokens: below {STREAMING_FROM_TOKENS:,} the in-memory path is faster, and exact",
    )


def log_choice(streaming: bool, reason: str) -> None:
    """The line that says which path an open setting chose, and why."""
    logger.info(
        "Discovery path: %s (streaming=None chose it: %s).", "streaming" if streaming else "in memory", reason
    )


def settle_path(settings: DiscoverySettings, neurons: int) -> DiscoverySettings:
    """`settings` with the path decided: an open `streaming=None` is chosen (and logged) for `neurons` neurons,
    so the networks record the path taken; an explicit True or False is kept."""
    if settings.streaming is not None:
        return settings
    streaming, reason = choose_streaming(
        settings.max_tokens, neurons, matrix_dtype(settings.matrix_dtype), distributed=Processes().distributed
    )
    log_choice(streaming, reason)
    return settings.replace(streaming=streaming)
