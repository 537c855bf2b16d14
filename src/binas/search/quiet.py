"""Keep native solver output off stdout (``--json`` prints the result and nothing else there).

SciPy's HiGHS writes some diagnostics (e.g. ``HighsMipSolverData::transformNewIntegerFeasibleSolution
tmpSolver.run();``) straight to the process's file descriptor 1 from C++, below Python's
``sys.stdout``, whatever ``disp`` says. :func:`stdout_to_stderr` points descriptor 1 at descriptor 2
for the duration of a solve and flushes the C library's buffers before pointing it back, so such
text ends up on stderr and stdout carries only what the program prints on purpose.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["stdout_to_stderr"]

_LOCK = threading.RLock()  # descriptor 1 is process-wide: one redirection at a time
_DEPTH = [0]  # nested uses keep the outermost redirection


@functools.lru_cache(maxsize=1)
def _libc() -> ctypes.CDLL | None:
    """The C library (looked up once: ``find_library`` runs ``ldconfig``)."""
    name = ctypes.util.find_library("c")
    try:
        return ctypes.CDLL(name) if name is not None else None
    except OSError:
        return None


def _flush_c_stdio() -> None:
    """``fflush(NULL)``: push out text the C library (and C++ iostreams synced with it) still buffers."""
    libc = _libc()
    if libc is None:
        return
    try:
        libc.fflush(None)
    except AttributeError:  # a C library without fflush: nothing buffered we can reach
        pass


def _flush_python() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


@contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Within the block, anything written to file descriptor 1 goes to descriptor 2 instead."""
    with _LOCK:
        if _DEPTH[0]:
            _DEPTH[0] += 1
            try:
                yield
            finally:
                _DEPTH[0] -= 1
            return
        _flush_python()
        _flush_c_stdio()
        try:
            saved = os.dup(1)
        except OSError:  # no descriptor 1 at all (daemon): nothing can leak onto it
            yield
            return
        _DEPTH[0] = 1
        try:
            os.dup2(2, 1)
            yield
        finally:
            _flush_c_stdio()
            os.dup2(saved, 1)
            os.close(saved)
            _DEPTH[0] = 0
