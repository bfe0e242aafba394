"""Data-parallel probe training over torchrun ranks: each rank takes a disjoint slice of every batch.

Every rank reads the same seeded batch stream (so no rank needs to be told the order), keeps rows
[begin, end) of each batch (contiguous, `np.array_split`'s split), and the heads' gradients are summed
over ranks with one all-reduce per step. Each rank's loss is weighted by its share of the batch, so for
losses that are means over rows (cross-entropy) the summed gradient is the whole batch's: the same steps
as one process, up to float summation order. torchrun sets RANK, WORLD_SIZE and MASTER_ADDR/PORT;
`gloo` runs on CPU, `nccl` on GPUs (one per rank, LOCAL_RANK).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist
from torch import nn


@dataclass(frozen=True)
class Ranks:
    """This process's place in a torchrun job of `world` ranks (world > 1)."""

    rank: int
    world: int

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that shows progress and writes results."""
        return self.rank == 0

    def rows(self, n: int) -> tuple[int, int]:
        """[begin, end) of this rank's rows of an n-row batch (sizes differ by at most one; may be empty)."""
        base, extra = divmod(n, self.world)
        begin = self.rank * base + min(self.rank, extra)
        return begin, begin + base + (1 if self.rank < extra else 0)

    def part(self, arrays: Mapping[str, np.ndarray]) -> tuple[dict[str, np.ndarray], float]:
        """This rank's rows of a batch and their share of it (the weight of this rank's mean loss)."""
        n = len(next(iter(arrays.values())))
        begin, end = self.rows(n)
        return {k: v[begin:end] for k, v in arrays.items()}, (end - begin) / n

    def sum_gradients(self, params: Sequence[nn.Parameter], losses: torch.Tensor) -> torch.Tensor:
        """Sum every parameter's gradient and the per-head losses (H,) over ranks, in one all-reduce.
        A parameter without a gradient (this rank had no rows) contributes zeros. Returns the summed losses."""
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([losses.detach().reshape(-1), *(g.reshape(-1) for g in grads)])  # (H + all params,)
        dist.all_reduce(flat)
        offset = losses.numel()
        for p in params:
            p.grad = flat[offset : offset + p.numel()].view_as(p).clone()
            offset += p.numel()
        return flat[: losses.numel()].clone()

    def barrier(self) -> None:
        """Wait until every rank gets here."""
        dist.barrier()


def current_ranks() -> Ranks | None:
    """The torchrun job this process belongs to, its process group started; None outside one (or with 1 rank)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return None
    if not dist.is_initialized():
        cuda = torch.cuda.is_available()
        if cuda:  # one GPU per rank: 'cuda' / 'auto' then means this rank's GPU
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("cpu:gloo,cuda:nccl" if cuda else "gloo")  # --device cpu on a GPU node: gloo
    return Ranks(dist.get_rank(), dist.get_world_size())
