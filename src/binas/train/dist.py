"""Process-group plumbing: the same code runs single-process or under ``torchrun`` (DDP)."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

__all__ = ["Dist", "barrier", "init_dist", "is_main_process", "shutdown_dist"]


@dataclass(frozen=True)
class Dist:
    """This process's place in the job."""

    rank: int
    world_size: int
    device: torch.device

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, evaluates and writes checkpoints."""
        return self.rank == 0


def init_dist() -> Dist:
    """Join the ``torchrun`` process group if there is one (NCCL on GPU, gloo on CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    cuda = torch.cuda.is_available()
    local = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if cuda else "gloo")
    rank = dist.get_rank() if dist.is_initialized() else 0
    return Dist(rank, world, device)


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a ``torchrun`` job (only rank 0 prints results)."""
    return int(os.environ.get("RANK", "0")) == 0


def barrier(d: Dist) -> None:
    if d.enabled:
        dist.barrier()


def shutdown_dist(d: Dist) -> None:
    if d.enabled and dist.is_initialized():
        dist.destroy_process_group()
