"""Independent demo work spread over processes, one thread each.

Processes rather than threads: on a CPU shared with other jobs, a multi-threaded PyTorch operator
waits for its slowest thread at every barrier, so two threads of one process can run slower than one
(measured on the project's 2-core VM under load); separate single-threaded processes do not.
"""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Iterator

import torch

__all__ = ["in_processes", "timed"]


def _one_thread(call: Callable[[], Any]) -> Any:
    torch.set_num_threads(1)
    return call()


def in_processes(calls: list[Callable[[], Any]], workers: int) -> Iterator[Any]:
    """Results of the zero-argument, picklable ``calls`` in order, from up to ``workers`` spawned
    processes (in this process, one after another, when ``workers`` is 1 or there is one call)."""
    if workers == 1 or len(calls) <= 1:
        saved = torch.get_num_threads()
        try:
            yield from (_one_thread(c) for c in calls)
        finally:
            torch.set_num_threads(saved)
        return
    with ProcessPoolExecutor(min(workers, len(calls)), mp_context=multiprocessing.get_context("spawn")) as pool:
        yield from pool.map(_one_thread, calls)


def timed(call: Callable[[], Any]) -> float:
    """Seconds ``call()`` took (its result is its side effect, e.g. an artifact it writes)."""
    started = time.perf_counter()
    call()
    return round(time.perf_counter() - started, 1)
