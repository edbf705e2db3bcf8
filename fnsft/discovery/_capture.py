"""Recording neuron activations token by token, straight into one preallocated matrix.

Rows are tokens (padding removed), columns are neurons laid out layer after layer
(column = layer offset + neuron index). Hooks sit on each block's down-projection: its input for
"intermediate" neurons, its output for "mlp_output" channels. Once the last layer is recorded the forward pass is
stopped, so the final norm and LM head are never computed. The hooks record only forward passes of the capture's
own contextvars context: on a shared model (the app) other requests' passes run through untouched.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..choices import GRANULARITIES
from ..data._padding import pad_id, right_padded
from ..errors import DecompositionError
from ..models._architectures import hook_site, mlp_blocks, output_width
from ..models._devices import check_matrix_fits
from ._columns import layer_offsets

_CAPTURING: contextvars.ContextVar[object | None] = contextvars.ContextVar("fnsft_capturing", default=None)


@dataclass
class CapturedActivations:
    """A [tokens x neurons] matrix plus which text each token came from, its id and its position in that text."""

    matrix: torch.Tensor
    text_index: np.ndarray
    layer_widths: tuple[int, ...]
    granularity: str
    num_texts: int
    token_ids: np.ndarray | None = None
    positions: np.ndarray | None = None

    @property
    def layer_offsets(self) -> np.ndarray:
        return layer_offsets(self.layer_widths)


class _StopForward(Exception):
    """Raised by the last layer's hook: nothing after it is needed."""


def check_granularity(granularity: str) -> None:
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity={granularity!r} is not supported; use one of {GRANULARITIES}.")


def layer_widths(model: nn.Module, granularity: str) -> tuple[int, ...]:
    check_granularity(granularity)
    blocks = mlp_blocks(model)
    if granularity == "intermediate":
        return tuple(block.intermediate_size for block in blocks)
    return tuple(output_width(block.down_proj) for block in blocks)


FIRST_CHUNK = 64  # texts tokenized at once, doubling: a chunk is one fast tokenizer call


def _tokenize(
    tokenizer, texts: Sequence[str], max_length: int, add_special_tokens: bool
) -> Iterator[list[int]]:
    """Each text's ids in order, tokenized in doubling chunks as they are taken: a budget of 3,000 tokens from
    the shipped corpus (489,000 tokens) took 1.2 s to tokenize whole on a 2-core CPU, 0.05 s for its first 64
    texts."""
    start, chunk = 0, FIRST_CHUNK
    while start < len(texts):
        encoded = tokenizer(
            list(texts[start : start + chunk]),
            truncation=True,
            max_length=max_length,
            add_special_tokens=add_special_tokens,
        )
        yield from (list(ids) for ids in encoded["input_ids"])
        start, chunk = start + chunk, 2 * chunk


def _choose_tokens(token_lists: Iterable[list[int]], max_tokens: int | None) -> list[tuple[int, list[int]]]:
    """(text index, ids) in text order until the token budget is spent; the last text may be cut."""
    chosen, total = [], 0
    for index, ids in enumerate(token_lists):
        if not ids:
            continue
        if max_tokens is not None and total + len(ids) > max_tokens:
            remaining = max_tokens - total
            if remaining > 0:
                chosen.append((index, ids[:remaining]))
            break
        chosen.append((index, ids))
        total += len(ids)
    return chosen


def _row_origins(chosen: list[tuple[int, list[int]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per matrix row (texts in order): its text index, token id and position within the text."""
    text_index = np.concatenate([np.full(len(ids), index) for index, ids in chosen])
    token_ids = np.concatenate([np.asarray(ids, dtype=np.int32) for _, ids in chosen])
    positions = np.concatenate([np.arange(len(ids), dtype=np.int32) for _, ids in chosen])
    return text_index, token_ids, positions


def _padded_batch(chosen, batch: list[int], fill: int, row_of: np.ndarray):
    """(input ids, attention mask, the matrix rows of its real tokens) for the texts `batch` of `chosen`."""
    input_ids, attention = right_padded([chosen[i][1] for i in batch], fill)
    rows = [torch.arange(row_of[i], row_of[i] + len(chosen[i][1])) for i in batch]
    return input_ids, attention, torch.cat(rows)


def _owned_batches(
    chosen, batch_size: int, shard: tuple[int, int], streaming: bool, sample_tokens: int | None = None
) -> list[list[int]]:
    """The batches (indices into `chosen`, by length to keep padding low) this process runs: every world-th
    one, from its rank; of a seeded random sample of them holding at least `sample_tokens` tokens when given."""
    rank, world = shard
    order = sorted(range(len(chosen)), key=lambda i: len(chosen[i][1]))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if sample_tokens is not None:
        batches = _sampled(batches, [len(ids) for _, ids in chosen], sample_tokens)
    if world == 1:
        return batches
    if not streaming:
        raise ValueError("a sharded capture needs a sink: only streaming discovery runs data-parallel")
    if len(batches) < world:
        raise DecompositionError(
            f"{len(batches)} batches of texts for {world} processes: every process needs at least one; "
            "capture more tokens or run fewer processes."
        )
    return batches[rank::world]


def _sampled(batches: list[list[int]], lengths: list[int], tokens: int) -> list[list[int]]:
    """Batches drawn at random (seed 0, so every process draws the same) until they hold `tokens` tokens, in
    their original order."""
    kept, total = [], 0
    for index in np.random.default_rng(0).permutation(len(batches)):
        if total >= tokens:
            break
        kept.append(int(index))
        total += sum(lengths[i] for i in batches[index])
    return [batches[index] for index in sorted(kept)]


def _recording_hooks(model: nn.Module, granularity: str, offsets, state: dict, owner: object, dtype) -> list:
    """Hooks on every block that write its neurons into state["target"][state["slots"], its columns] (only for
    forward passes of the capture `owner`'s context), and stop the pass after the last block."""
    blocks = mlp_blocks(model)

    def recorder(layer: int, last: bool):
        columns = slice(int(offsets[layer]), int(offsets[layer + 1]))

        def record(values: torch.Tensor) -> None:
            if _CAPTURING.get() is not owner:  # another request's forward pass on the same model
                return
            # OPT hands its MLP [batch * time, width]; every other family [batch, time, width]
            flat = values.reshape(*state["valid"].shape, -1)[state["valid"]].to("cpu", dtype)
            state["target"][state["slots"], columns] = flat
            if last:
                raise _StopForward

        return record

    return [
        hook_site(block, granularity, recorder(block.layer, block.layer == len(blocks) - 1))
        for block in blocks
    ]


class _OneBatchBehind:
    """A sink run on a worker thread one batch behind the forward passes: batch k is folded while batch k + 1 is
    captured. At most one batch waits, so memory stays at two batch buffers; the sink's errors reach the caller."""

    def __init__(self, sink: Callable[[torch.Tensor, torch.Tensor], None]):
        self.sink = sink
        self.pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fnsft-sink")
        self.pending: Future | None = None

    def __call__(self, rows: torch.Tensor, values: torch.Tensor) -> None:
        self.finish()
        self.pending = self.pool.submit(self.sink, rows, values)

    def finish(self) -> None:
        """Wait for the batch in flight (raising its error, if any)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.result()

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def capture_batches(
    tokenizer, texts: Sequence[str], max_tokens: int | None, max_length: int = 256, batch_size: int = 8
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(input ids, attention mask) of each batch `capture_activations` runs over `texts`: the same tokens in the
    same batches, for timing a plain forward pass against a capture (the benchmarks' baseline)."""
    chosen = _choose_tokens(_tokenize(tokenizer, texts, max_length, True), max_tokens)
    row_of = np.cumsum([0] + [len(ids) for _, ids in chosen])
    for batch in _owned_batches(chosen, batch_size, (0, 1), streaming=False):
        yield _padded_batch(chosen, batch, pad_id(tokenizer), row_of)[:2]


@torch.no_grad()
def capture_activations(
    model: nn.Module,
    tokenizer,
    texts: Sequence[str],
    *,
    granularity: str = "intermediate",
    max_tokens: int | None = 4096,
    max_length: int = 256,
    batch_size: int = 8,
    dtype: torch.dtype = torch.float32,
    add_special_tokens: bool = True,
    progress: Callable[[int, int], None] | None = None,
    sink: Callable[[torch.Tensor, torch.Tensor], None] | None = None,
    shard: tuple[int, int] = (0, 1),
    overlap: bool | None = None,
    sample_tokens: int | None = None,
) -> CapturedActivations:
    """Run `texts` through `model` and record every neuron of every layer at every real token.

    Texts are taken in the given order until `max_tokens` is reached, then batched by length to keep padding low.
    add_special_tokens=False for texts that already carry them (a chat template's BOS), so none is doubled.
    `progress(done_tokens, total_tokens)` is called after each batch.
    sink(rows, values): streaming; each batch's [n x neurons] values go to the sink, the matrix stays [0 x N].
    shard=(rank, world): data-parallel streaming, only every world-th batch from `rank` (rows numbered as one).
    sample_tokens: streaming, only a seeded random sample of the batches holding at least this many tokens.
    overlap: the sink folds each batch on a worker thread while the next batch's forward pass runs; default on
    when the model runs on an accelerator (on a 2-core CPU, where both compete for the cores, it was 12-16% slower).
    """
    if sample_tokens is not None and sink is None:
        raise ValueError("a sampled capture needs a sink: only streaming discovery samples batches")
    widths = layer_widths(model, granularity)
    chosen = _choose_tokens(_tokenize(tokenizer, texts, max_length, add_special_tokens), max_tokens)
    total = sum(len(ids) for _, ids in chosen)
    if total == 0:
        raise DecompositionError("The texts produced no tokens; give non-empty texts.")
    offsets = layer_offsets(widths)
    if sink is None:
        check_matrix_fits(total, int(offsets[-1]), dtype)
    matrix = torch.empty((0 if sink else total, int(offsets[-1])), dtype=dtype)
    device = next(model.parameters()).device
    fill = pad_id(tokenizer)
    batches = _owned_batches(chosen, batch_size, shard, sink is not None, sample_tokens)
    own_tokens = sum(len(chosen[i][1]) for batch in batches for i in batch)
    row_of = np.cumsum([0] + [len(ids) for _, ids in chosen])
    state: dict = {}
    owner = object()

    handles = _recording_hooks(model, granularity, offsets, state, owner, dtype)
    overlap = device.type != "cpu" if overlap is None else overlap
    done, behind = 0, _OneBatchBehind(sink) if sink is not None and overlap else None
    sink = behind or sink
    token = _CAPTURING.set(owner)
    try:
        for batch in batches:
            input_ids, attention, state["rows"] = _padded_batch(chosen, batch, fill, row_of)
            state["valid"] = attention.bool().to(device)
            state["target"], state["slots"] = matrix, state["rows"]
            if sink is not None:  # one batch buffer, filled layer by layer
                state["target"] = torch.empty((len(state["rows"]), matrix.shape[1]), dtype=dtype)
                state["slots"] = slice(None)
            with contextlib.suppress(_StopForward):
                model(input_ids=input_ids.to(device), attention_mask=attention.to(device), use_cache=False)
            if sink is not None:
                sink(state["rows"], state["target"])
            done += int(attention.sum())
            if progress is not None:
                progress(done, own_tokens)
        if behind is not None:
            behind.finish()
    finally:
        if behind is not None:
            behind.close()
        _CAPTURING.reset(token)
        for handle in handles:
            handle.remove()
    text_index, token_ids, positions = _row_origins(chosen)
    return CapturedActivations(matrix, text_index, widths, granularity, len(chosen), token_ids, positions)
