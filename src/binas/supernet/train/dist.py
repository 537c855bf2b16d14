"""Process-group plumbing, kept for existing imports: see :mod:`binas.runtime` (one runtime per command)."""

from __future__ import annotations

from binas.runtime import Runtime, is_main_process

__all__ = ["Dist", "barrier", "is_main_process"]

Dist = Runtime  # this process's place in the job (device, rank, world size)


def barrier(d: Runtime) -> None:
    d.barrier()
