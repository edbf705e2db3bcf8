"""Data-parallel discovery over a torch.distributed process group (torchrun or accelerate launch: gloo on CPU,
NCCL on GPU), joined and described by accelerate's PartialState.

Each process captures every world-th batch of the same chosen tokens. The per-neuron moments merge exactly (Chan's
update is a merge of summaries), Frequent Directions sketches merge by stacking and shrinking (mergeable
summaries: the error bound of one sketch over all rows still holds), and the range pass's loadings and
cross-products are summed (each process fills only its own rows). The first process decomposes and every process
gets the networks.
"""

from __future__ import annotations

import os
from typing import Any

import torch
import torch.distributed as dist


def process_state():
    """accelerate's PartialState for this process (shared by every caller, the Trainer included). Where the
    environment describes a group and there is no CUDA, it is asked for CPU processes (gloo), which accelerate
    otherwise does not see as a group; one process alone keeps accelerate's own device choice (e.g. MPS)."""
    from accelerate import PartialState

    group = int(os.environ.get("WORLD_SIZE", "1")) > 1
    return PartialState(cpu=group and not torch.cuda.is_available())


class Processes:
    """This process's place among the processes discovering together: one alone, or one of a process group.
    Its role (rank, local rank, device, first or not) comes from accelerate's PartialState, as the Trainer's does.

    >>> Processes().world  # no process group: one process
    1
    """

    def __init__(self) -> None:
        state = process_state()
        self.world = state.num_processes
        self.distributed = self.world > 1
        self.rank = state.process_index
        self.local_rank = state.local_process_index
        nccl = self.distributed and state.backend == "nccl"
        self.device = state.device if nccl else torch.device("cpu")

    @property
    def shard(self) -> tuple[int, int]:
        """(rank, world): this process captures the batches whose index % world == rank."""
        return self.rank, self.world

    @property
    def is_first(self) -> bool:
        return self.rank == 0

    def broadcast(self, tensor: torch.Tensor) -> torch.Tensor:
        """The first process's value of `tensor`, on every process."""
        if not self.distributed:
            return tensor
        moved = tensor.to(self.device).contiguous()
        dist.broadcast(moved, src=0)
        return moved.to(tensor.device)

    def sum(self, tensor: torch.Tensor) -> torch.Tensor:
        """The sum of `tensor` over the processes, on every process."""
        if not self.distributed:
            return tensor
        moved = tensor.to(self.device).contiguous()
        dist.all_reduce(moved, op=dist.ReduceOp.SUM)
        return moved.to(tensor.device)

    def gather(self, tensor: torch.Tensor) -> list[torch.Tensor]:
        """Every process's `tensor` (same shape everywhere), in rank order, on every process."""
        if not self.distributed:
            return [tensor]
        moved = tensor.to(self.device).contiguous()
        parts = [torch.empty_like(moved) for _ in range(self.world)]
        dist.all_gather(parts, moved)
        return [part.to(tensor.device) for part in parts]

    def share(self, value: Any) -> Any:
        """The first process's picklable `value`, on every process."""
        if not self.distributed:
            return value
        box = [value if self.is_first else None]
        dist.broadcast_object_list(box, src=0, device=self.device)
        return box[0]


def join_process_group_from_environment() -> bool:
    """Join the process group torchrun / accelerate launch describe in the environment (WORLD_SIZE > 1), through
    accelerate's PartialState: NCCL on this process's GPU, gloo on CPU. False when there is none to join."""
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or not dist.is_available():
        return False
    return process_state().num_processes > 1


def leave_process_group() -> None:
    """Leave the group joined above (a clean exit, without the warning about an undestroyed group)."""
    if dist.is_available() and dist.is_initialized():
        process_state().destroy_process_group()
