"""One runtime per command: the device, the ``torchrun`` process group, autocast, memory format, threads.

Every stage (supernet training, estimator build and sampling, BN recalibration on export,
fine-tuning, evaluation, AutoBuild measurements) runs on the :class:`Runtime` its command built once
with :func:`open_runtime`. Under ``torchrun`` the process group is joined from the environment
(``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``): NCCL when the device is a GPU, gloo on the CPU; each rank
uses GPU ``LOCAL_RANK``. On CUDA the forward passes run under bfloat16 autocast (``amp``) and in
channels-last memory format. Whatever :func:`open_runtime` changes in the process (thread count,
process group) is restored or torn down when its ``with`` block ends.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator

import torch
import torch.distributed as dist

from binas.errors import BinasError

__all__ = ["DEVICES", "Runtime", "is_main_process", "open_runtime", "resolve_device", "runtime_or",
           "torchrun_rank_world", "using_threads"]

DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class Runtime:
    """Where and how this process computes, and its place in a ``torchrun`` job."""

    device: torch.device = torch.device("cpu")
    rank: int = 0
    world_size: int = 1
    amp: bool = True  # bfloat16 autocast (CUDA only)
    channels_last: bool = True  # NHWC activations

    @property
    def enabled(self) -> bool:
        """True when several processes share the work (a process group is up)."""
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0 logs, evaluates and writes files."""
        return self.rank == 0

    @property
    def is_cuda(self) -> bool:
        return self.device.type == "cuda"

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format

    def autocast(self) -> Any:
        """bfloat16 autocast on CUDA when ``amp``; a no-op context elsewhere."""
        if self.amp and self.is_cuda:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def to_device(self, x: torch.Tensor) -> torch.Tensor:
        """An image batch on this device (non-blocking from pinned memory), in the runtime's memory format."""
        x = x.to(self.device, non_blocking=self.is_cuda)
        return x.contiguous(memory_format=self.memory_format) if x.ndim == 4 else x

    def shard(self, n: int) -> range:
        """The items ``0..n-1`` this rank handles (round robin)."""
        return range(self.rank, n, self.world_size)

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def gather_objects(self, obj: Any) -> list[Any]:
        """Every rank's ``obj`` (picklable, made by this program), in rank order."""
        if not self.enabled:
            return [obj]
        parts: list[Any] = [None] * self.world_size
        dist.all_gather_object(parts, obj)
        return parts

    def sum_(self, t: torch.Tensor) -> torch.Tensor:
        """All-reduce ``t`` in place (sum over ranks); returns it."""
        if self.enabled:
            dist.all_reduce(t)
        return t


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """``cpu``, ``cuda`` (GPU ``local_rank``; refused when there is none) or ``auto`` (CUDA when available)."""
    if name not in DEVICES:
        raise BinasError(f"--device must be one of {', '.join(DEVICES)}, not {name!r}")
    cuda = torch.cuda.is_available()
    if name == "cuda" and not cuda:
        raise BinasError("--device cuda needs an NVIDIA GPU and a CUDA build of PyTorch, but "
                         "torch.cuda.is_available() is False here; use --device cpu")
    if name == "cpu" or not cuda:
        return torch.device("cpu")
    return torch.device(f"cuda:{local_rank % torch.cuda.device_count()}")


@contextlib.contextmanager
def open_runtime(device: str = "auto", *, amp: bool = True, channels_last: bool = True,
                 threads: int | None = None) -> Iterator[Runtime]:
    """Build the runtime of one command; join (and at the end leave) the ``torchrun`` process group.

    Args:
        device: ``auto`` | ``cpu`` | ``cuda``.
        amp: bfloat16 autocast on CUDA.
        channels_last: NHWC activations.
        threads: ``torch.set_num_threads`` for the duration (restored afterwards); None leaves it.

    A process group that is already up (a caller opened a runtime) is reused and left up.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = resolve_device(device, local)
    if threads is not None and threads < 1:
        raise BinasError(f"--threads must be at least 1, got {threads}")
    created = False
    with using_threads(threads):
        try:
            if dev.type == "cuda":
                torch.cuda.set_device(dev)
            if world > 1 and not dist.is_initialized():
                dist.init_process_group("nccl" if dev.type == "cuda" else "gloo",
                                        device_id=dev if dev.type == "cuda" else None)
                created = True
            rank = dist.get_rank() if dist.is_initialized() else 0
            size = dist.get_world_size() if dist.is_initialized() else 1
            yield Runtime(dev, rank, size, amp, channels_last)
        finally:
            if created and dist.is_initialized():
                dist.destroy_process_group()


@contextlib.contextmanager
def using_threads(threads: int | None) -> Iterator[None]:
    """``torch.set_num_threads(threads)`` for the duration, restored afterwards (None: leave it)."""
    saved = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def runtime_or(rt: Runtime | None, device: str = "auto") -> Iterator[Runtime]:
    """``rt`` when the caller built one, else a fresh runtime for the duration (library entry points)."""
    if rt is not None:
        yield rt
        return
    with open_runtime(device) as fresh:
        yield fresh


def torchrun_rank_world() -> tuple[int, int]:
    """``(RANK, WORLD_SIZE)`` from the ``torchrun`` environment (``(0, 1)`` outside it), without joining a group."""
    return int(os.environ.get("RANK", "0")), int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """True unless this is a non-zero rank of a ``torchrun`` job (only rank 0 prints results)."""
    return int(os.environ.get("RANK", "0")) == 0
