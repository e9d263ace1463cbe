"""Data-parallel training: ``wam-train`` under ``torchrun --nproc_per_node=N``.

torchrun starts N copies of the same command and tells each its place through the
environment (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT``).
``setup`` reads it: without those variables (a plain ``wam-train``) nothing changes. With
them it joins the process group (NCCL when training on CUDA, one GPU per local rank; gloo on
CPU) and the trainer wraps the model in ``DistributedDataParallel``, which averages the
gradients of every step over the ranks, so all ranks take the same optimiser step and keep
identical weights.

What each rank trains on is ``WindowSampler``'s business (training.py): every rank draws the
same global batch (the one a single process would draw with the same seed) and builds only its
own disjoint slice of it, so N processes train on exactly the windows one process would, and
``--batch-size`` keeps meaning the global batch (the learning rate stays tuned to it).
Rank 0 alone logs, evaluates and writes checkpoints.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from wam_ros.policies.tiny_wam_policy import pick_device
from wam_ros.tiny_wam.defaults import DEVICE


@dataclass(frozen=True)
class DistributedContext:
    """This process's place in the run (rank 0 of 1 when not distributed) and the device it trains on."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one that logs, evaluates and writes checkpoints."""
        return self.rank == 0

    def shard(self, global_batch: int) -> slice:
        """This rank's part of a global batch of ``global_batch`` samples (disjoint, equal-sized slices)."""
        if global_batch % self.world_size:
            raise ValueError(
                f"batch size {global_batch} is not divisible by the {self.world_size} processes "
                "(--batch-size is the global batch, split evenly across ranks)"
            )
        per_rank = global_batch // self.world_size
        return slice(self.rank * per_rank, (self.rank + 1) * per_rank)


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from exc


def setup(device: str = DEVICE) -> DistributedContext:
    """Join the torchrun process group if the environment names one; pick this rank's device.

    ``device``: auto (CUDA when available), cuda or cpu. Under torchrun on CUDA every rank
    trains on GPU ``LOCAL_RANK`` and the backend is NCCL; on CPU it is gloo.
    """
    world = _env_int("WORLD_SIZE", 1)
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    dev = pick_device(device)
    if dev.type == "cuda":
        dev = torch.device("cuda", local_rank % max(1, torch.cuda.device_count()))
        torch.cuda.set_device(dev)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if dev.type == "cuda" else "gloo")
    if world > 1:
        rank, world = dist.get_rank(), dist.get_world_size()
    return DistributedContext(rank, world, local_rank, dev)


def teardown(ctx: DistributedContext, wait: bool = True) -> None:
    """Leave the process group; with ``wait`` first wait for every rank (so rank 0's final checkpoint is on
    disk when any rank returns). After a failure don't wait: the other ranks may never arrive."""
    if ctx.distributed and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


class _Loss(nn.Module):
    """``model.loss`` as ``forward``: DistributedDataParallel synchronises gradients only for calls to forward."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.model.loss(batch)


def loss_function(model: nn.Module, ctx: DistributedContext) -> Callable[[dict], dict[str, torch.Tensor]]:
    """What a training step calls for its losses: ``model.loss`` itself, or under torchrun the same through
    DistributedDataParallel (which also broadcasts rank 0's weights and buffers at the start).

    ``find_unused_parameters``: some configurations leave modules out of the loss (the latent-context
    input when the conv encoder is used), which DDP must be told to expect.
    """
    if not ctx.distributed:
        return model.loss
    ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(_Loss(model), device_ids=ids, find_unused_parameters=True)


def mean_over_ranks(losses: dict[str, torch.Tensor], ctx: DistributedContext) -> dict[str, torch.Tensor]:
    """The losses averaged over the ranks (every rank must call this): the global batch's loss, for logging."""
    if not ctx.distributed:
        return losses
    keys = sorted(losses)
    stacked = torch.stack([losses[k].detach().float() for k in keys])
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    stacked /= ctx.world_size
    return {k: stacked[i] for i, k in enumerate(keys)}


def rank_seed(seed: int, rank: int, step: int) -> int:
    """A torch seed for this rank from this step on: the ranks draw different flow noise (the same noise on
    every rank would correlate their samples), reproducibly on resume."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1)[0])
