"""Fully sharded data parallel (FSDP2, `torch.distributed.fsdp.fully_shard`) for large presets.

`train.parallel: fsdp` under torchrun shards every parameter, gradient and Adam moment across
the ranks instead of replicating them (DDP): each rank holds 1/world_size of the model state and
gathers a block's weights just before using them. Use it when the model state (weights + EMA +
two Adam moments = 4 x parameters x 4 bytes) does not fit beside the activations on one device,
as for DiT-XL/2 or a billion-parameter Transfusion. The data side is unchanged: every rank takes
its slice of the global batch (see `tfusion.training.distributed`), so N FSDP processes train the
same weights as one process with N x the batch, like DDP.

Sharding units are the elements of every `nn.ModuleList` in the model (the transformer blocks)
and then the whole model. Checkpoints are written whole by rank 0 (every rank takes part in the
gathers), in exactly the format of a single-process run, so a run trained with FSDP can be
resumed or sampled with any number of processes, and vice versa.

Works with gloo on CPU (tested with 2 processes) and with NCCL on GPUs (the mesh takes the
training device's type).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import DTensor, distribute_tensor


def shard_model(model: nn.Module, device: torch.device | None = None) -> nn.Module:
    """Shard `model` in place over all ranks on `device`'s type (the CPU when None): each
    element of every ModuleList, then the root."""
    from torch.distributed.device_mesh import init_device_mesh

    kind = (device or torch.device("cpu")).type
    mesh = init_device_mesh(kind, (torch.distributed.get_world_size(),))
    # FSDP2 warns when a wrapped module returns a view, since an in-place op on it would skip
    # the backward all-gather; tfusion's losses only use model outputs out of place
    warnings.filterwarnings("ignore", message="FSDP2-wrapped module .* returned a view tensor")
    for module in list(model.modules()):
        if isinstance(module, nn.ModuleList):
            for block in module:
                if any(p.requires_grad for p in block.parameters()):
                    fully_shard(block, mesh=mesh)
    fully_shard(model, mesh=mesh)
    return model


def full_tensor(x: Any) -> Any:
    """A DTensor gathered whole on every rank (a collective); anything else as it is."""
    return x.full_tensor() if isinstance(x, DTensor) else x


def full_state_dict(model: nn.Module) -> dict[str, Tensor]:
    """The whole state dict of a (possibly sharded) model; every rank must call it."""
    return {k: full_tensor(v).detach() for k, v in model.state_dict().items()}


def full_optimizer_state(opt: torch.optim.Optimizer) -> dict[str, Any]:
    """The optimizer state with every moment gathered whole, in the format of an unsharded
    optimizer's `state_dict()` (state keyed by parameter index); every rank must call it."""
    sd = opt.state_dict()
    state = {
        idx: {k: full_tensor(v) for k, v in entry.items()}
        for idx, entry in sorted(sd["state"].items())  # the same order on every rank
    }
    return {"state": state, "param_groups": sd["param_groups"]}


def load_sharded_optimizer_state(opt: torch.optim.Optimizer, saved: dict[str, Any]) -> None:
    """Load a whole (unsharded-format) optimizer state into an optimizer over sharded
    parameters: each rank keeps its own slice of every moment, no communication."""
    params = [p for group in opt.param_groups for p in group["params"]]
    state = {}
    for idx, entry in saved["state"].items():
        p = params[int(idx)]
        state[idx] = {
            k: distribute_tensor(v, p.device_mesh, p.placements, src_data_rank=None)
            if isinstance(p, DTensor) and isinstance(v, Tensor) and v.shape == p.shape
            else v
            for k, v in entry.items()
        }
    opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
