"""One stage of a sequence: the method prepares the model, AdamW trains it on the task for a fixed number of
steps (the method's penalty added to the loss), and the method finishes the stage (merge, Fisher, networks)."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from ..data import SFTDataCollator, build_tokenized_dataset
from ..training._selective import optimizer_groups
from .methods import Method
from .tasks import TaskData


def batch_order(count: int, steps: int, batch_size: int, seed: int) -> list[list[int]]:
    """`steps` batches of example indices: shuffled epochs, each example once per epoch."""
    generator = torch.Generator().manual_seed(seed)
    order: list[int] = []
    while len(order) < steps * batch_size:
        order.extend(torch.randperm(count, generator=generator).tolist())
    return [order[i * batch_size : (i + 1) * batch_size] for i in range(steps)]


def train_stage(
    model: nn.Module,
    tokenizer,
    task: TaskData,
    method: Method,
    stage: int,
    progress: Callable[[int, float], None] | None = None,
) -> nn.Module:
    """The plain model after learning `task` with `method`; progress(step, loss) after every step."""
    suite = method.suite
    dataset = build_tokenized_dataset(
        task.train_records(), tokenizer, suite.template, suite.max_length, cache=False
    )
    collate = SFTDataCollator.from_tokenizer(tokenizer)
    trained = method.prepare(model, stage)
    trained.train()
    optimizer = torch.optim.AdamW(
        optimizer_groups(trained, 0.0, method.no_decay()), lr=method.learning_rate, weight_decay=0.0
    )
    device = next(trained.parameters()).device
    seed = method.seed * 1000 + stage
    for step, indices in enumerate(batch_order(len(dataset), suite.steps, suite.batch_size, seed), start=1):
        batch = {k: v.to(device) for k, v in collate([dataset[i] for i in indices]).items()}
        loss = trained(**batch).loss
        extra = method.penalty(trained, batch, stage)
        total = loss if extra is None else loss + extra
        total.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if progress:
            progress(step, float(loss))
    trained.eval()
    return method.finish(trained, task, tokenizer, stage)
