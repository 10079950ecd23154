"""Data-parallel training with `torch.distributed`, launched by `torchrun`.

    torchrun --standalone --nproc_per_node=2 -m tfusion train --config cfg.yaml --out runs/x
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 \\
        --nproc_per_node=8 -m tfusion train --config cfg.yaml --out runs/x   # on every node

`torchrun` sets RANK, WORLD_SIZE and LOCAL_RANK; tfusion then joins the process group and wraps
the model in DistributedDataParallel. Where CUDA is present each process takes the GPU of its
LOCAL_RANK (`train.device=auto`) and the group has two backends: NCCL for CUDA tensors (DDP's
gradient buckets, FSDP's gathers) and gloo for the few CPU values (loss means, the clock); on a
CPU-only machine gloo does everything.

**Global batch.** `train.batch_size` is the batch of ONE process; the global batch is
world_size x batch_size. Every rank draws the whole global batch (window indices, diffusion times
and noise) from the same seeded generator and keeps its own slice, so N processes with batch B
take exactly the steps of one process with batch N x B (up to float summation order): the same
data, the same gradient (DDP averages the ranks' gradients), the same weights. Dropout uses each
rank's own global RNG (seeded with seed + rank), the one thing that differs from a single process.

**Micro-batches.** `train.accumulate=K` cuts each process's batch into K equal micro-batches, one
forward and backward each, gradients summed before the one optimiser step (DDP synchronises on
the last only): the step of the whole batch at about 1/K of the activation memory. It is the
same slicing one level down: every micro-batch draws the whole global batch again from the same
generator state and keeps its slice (`World.micro`), so K micro-batches repeat the step of one
(up to float summation order).

Rank 0 alone writes checkpoints, metrics and plots; the other ranks wait at a barrier, so a
checkpoint on disk always reflects one step of all ranks.
"""

from __future__ import annotations

import atexit
import os
from dataclasses import dataclass, replace

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class World:
    """This process's place in the job: rank in [0, size); and, while a step accumulates
    gradients over micro-batches (train.accumulate), which of the rank's `parts` micro-batches
    a loss computes (`part`)."""

    rank: int = 0
    size: int = 1
    parts: int = 1
    part: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def slices(self) -> int:
        """How many equal slices the global batch is cut into: processes x micro-batches."""
        return self.size * self.parts

    def shard(self, x: Tensor) -> Tensor:
        """This slice of a global batch: dimension 0 split into `slices` equal parts, the
        rank's micro-batches side by side (rank r, part j: slice r x parts + j)."""
        if self.slices == 1:
            return x
        per = x.shape[0] // self.slices
        i = self.rank * self.parts + self.part
        return x[i * per : (i + 1) * per]

    def micro(self, part: int, parts: int) -> World:
        """This process's view while it computes micro-batch `part` of `parts`."""
        return replace(self, part=part, parts=parts)

    def barrier(self) -> None:
        if self.size > 1:
            dist.barrier()

    def broadcast_value(self, value: float) -> float:
        """Rank 0's value of a float, on every rank."""
        if self.size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.broadcast(t, 0)
        return float(t.item())

    def mean(self, value: float) -> float:
        """The mean of a float over all ranks (every rank gets it)."""
        if self.size == 1:
            return value
        t = torch.tensor([value], dtype=torch.float64)
        dist.all_reduce(t)
        return float(t.item()) / self.size


SINGLE = World()


def _leave_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def current_world() -> World:
    """Join the process group when launched by torchrun (WORLD_SIZE > 1), else a single process."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return SINGLE
    if not dist.is_initialized():
        if torch.cuda.is_available():  # CUDA tensors over NCCL, CPU values over gloo
            local = int(os.environ.get("LOCAL_RANK", "0"))
            torch.cuda.set_device(local % torch.cuda.device_count())
            dist.init_process_group(backend="cpu:gloo,cuda:nccl")
        else:
            dist.init_process_group(backend="gloo")
        # tear the group down before the interpreter does: a gloo group left alive at exit can
        # abort the process ("terminate called without an active exception", SIGABRT) after a
        # run that finished and saved everything
        atexit.register(_leave_group)
    return World(dist.get_rank(), dist.get_world_size())
