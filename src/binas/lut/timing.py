"""Timing backends (docs/lut.md): PyTorch eager on the CPU, ONNX Runtime, CUDA; interleaved rounds.

A backend turns a module and its inputs into a :class:`Runner` and times one call in ms. The
measurement conditions (allocator, cache state) are the same for isolated blocks and for whole
networks, so LUT sums and network times are comparable; they are recorded in the LUT's ``meta``.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import platform
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
from torch import nn

from binas.errors import BinasError

__all__ = ["BACKENDS", "CLOCKS", "CudaBackend", "OrtBackend", "Runner", "TimingBackend", "TorchBackend", "cpu_name", "kept_allocator",
           "make_backend", "onnx_bytes", "steady_allocator", "timing_rounds"]

BACKENDS = ("torch", "onnxruntime", "cuda")
CLOCKS = {"wall": time.perf_counter_ns, "cpu": time.thread_time_ns}
OPSET = 17  # ONNX opset of every exported block and network


def onnx_bytes(module: nn.Module, inputs: Sequence[torch.Tensor], input_names: Sequence[str],
               opset: int = OPSET) -> bytes:
    """Export ``module`` (eval mode, static shapes) to an in-memory ONNX model."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():  # the TorchScript exporter announces its deprecation on every call
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), tuple(inputs), buffer, dynamo=False, input_names=list(input_names),
                          opset_version=opset, do_constant_folding=True)
    return buffer.getvalue()


# --------------------------------------------------------------------------- timing backends
@dataclass(frozen=True)
class Runner:
    """One prepared unit: ``call()`` runs a forward pass, ``touch()`` rewrites its inputs in place."""

    call: Callable[[], Any]
    touch: Callable[[], Any] = lambda: None


class TimingBackend:
    """Turns a module and its inputs into a :class:`Runner` and times one call, in ms.

    Every unit (a block, the fixed part, a whole network) is timed the same way (see
    :func:`timing_rounds`): a few untimed calls (steady state, as in repeated inference), then one
    call of another unit (as the previous block runs just before a block inside a network), then
    its inputs are rewritten in place (hot, as if just produced) and the timed call runs.
    Consistency, not a particular cache state, is what makes block sums predict network times.
    """

    name = "base"
    cache = "warm-up calls, then the previous unit of the round, then inputs rewritten, then the timed call"
    clock = "wall"  # a key of CLOCKS; set by make_backend

    def __init__(self, threads: int) -> None:
        self.threads = threads
        self._saved_threads = torch.get_num_threads()
        self.allocator = steady_allocator()

    def close(self) -> None:
        """Give the process back its thread count and glibc's default allocator thresholds."""
        torch.set_num_threads(self._saved_threads)
        _default_allocator()

    def __enter__(self) -> "TimingBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def prepare(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
        raise NotImplementedError

    def noop(self) -> Runner:
        """A runner doing nothing under the same harness (measures the per-call overhead)."""
        raise NotImplementedError

    def time_ms(self, runner: Runner) -> float:
        """Rewrite the inputs, then time one call (wall clock, or this thread's CPU time)."""
        runner.touch()
        now = CLOCKS[self.clock]
        start = now()
        runner.call()
        return (now() - start) / 1e6

    def describe(self) -> dict[str, Any]:
        """Device, library versions and timing conditions for the LUT's ``meta``."""
        return {"device": cpu_name(), "torch": torch.__version__, "python": platform.python_version(),
                "allocator": self.allocator, "cache": self.cache, "clock": self.clock}


def _torch_runner(module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
    module.eval()
    args = tuple(inputs)

    def call() -> Any:
        with torch.inference_mode():
            return module(*args)

    def touch() -> None:
        for t in args:
            t.mul_(1.0)

    return Runner(call, touch)


class TorchBackend(TimingBackend):
    """PyTorch eager on the CPU with ``torch.set_num_threads(threads)``."""

    name = "torch"

    def __init__(self, threads: int) -> None:
        super().__init__(threads)
        torch.set_num_threads(threads)

    def prepare(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
        return _torch_runner(module, inputs)

    def noop(self) -> Runner:
        return _torch_runner(nn.Identity(), [torch.zeros(1)])


class OrtBackend(TimingBackend):
    """ONNX Runtime (CPU provider): ``intra_op_num_threads=threads``, one inter-op thread, sequential."""

    name = "onnxruntime"

    def __init__(self, threads: int) -> None:
        super().__init__(threads)
        import onnxruntime  # imported here: only this backend needs it

        self.ort = onnxruntime

    def _session(self, model: bytes) -> Any:
        opts = self.ort.SessionOptions()
        opts.intra_op_num_threads = self.threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = self.ort.ExecutionMode.ORT_SEQUENTIAL
        opts.graph_optimization_level = self.ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        return self.ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])

    def prepare(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
        """A session whose inputs and outputs are bound to fixed buffers (no copies per call)."""
        names = [f"input{i}" for i in range(len(inputs))]
        session = self._session(onnx_bytes(module.eval(), tuple(inputs), names))
        feed = [t.numpy().copy() for t in inputs]
        outputs = [np.empty(o.shape, np.float32) for o in session.get_outputs()]
        binding = session.io_binding()
        for name, arr in zip(names, feed):
            binding.bind_cpu_input(name, arr)
        for meta, arr in zip(session.get_outputs(), outputs):
            binding.bind_output(meta.name, "cpu", 0, np.float32, list(arr.shape), arr.ctypes.data)

        def call() -> list[np.ndarray]:
            session.run_with_iobinding(binding)
            return outputs

        def touch() -> None:
            for arr in feed:
                arr *= 1.0

        return Runner(call, touch)

    def noop(self) -> Runner:
        return self.prepare(nn.Identity(), [torch.zeros(1)])

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "onnxruntime": self.ort.__version__}


class CudaBackend(TimingBackend):
    """PyTorch eager on the current CUDA device, timed with CUDA events after synchronisation."""

    name = "cuda"
    cache = "warm (back-to-back calls on the GPU)"

    def __init__(self, threads: int) -> None:
        if not torch.cuda.is_available():
            raise BinasError("the cuda backend needs an NVIDIA GPU and a CUDA build of PyTorch, "
                             "but torch.cuda.is_available() is False on this machine")
        self.threads, self.allocator = threads, "torch CUDA caching allocator"
        self._saved_threads, self._saved_benchmark = torch.get_num_threads(), torch.backends.cudnn.benchmark
        torch.set_num_threads(threads)
        torch.backends.cudnn.benchmark = True  # pick the fastest kernels once, as deployment would
        self.device = torch.device("cuda")

    def close(self) -> None:
        torch.set_num_threads(self._saved_threads)
        torch.backends.cudnn.benchmark = self._saved_benchmark

    def prepare(self, module: nn.Module, inputs: Sequence[torch.Tensor]) -> Runner:
        return _torch_runner(module.to(self.device), [t.to(self.device) for t in inputs])

    def noop(self) -> Runner:
        return _torch_runner(nn.Identity(), [torch.zeros(1, device=self.device)])

    def time_ms(self, runner: Runner) -> float:
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        torch.cuda.synchronize()  # nothing queued before may leak into this measurement
        runner.touch()
        start.record()
        runner.call()
        end.record()
        end.synchronize()
        return float(start.elapsed_time(end))

    def describe(self) -> dict[str, Any]:
        return {**super().describe(), "device": torch.cuda.get_device_name(self.device),
                "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version()}


def make_backend(name: str, threads: int, clock: str = "wall") -> TimingBackend:
    """The timing backend called ``name`` ("torch", "onnxruntime" or "cuda").

    ``clock="cpu"`` times the calling thread's CPU time instead of wall time: on a shared, busy
    machine it leaves out the time other processes held the core. Only one thread does the work
    then, so it needs ``threads == 1`` and a CPU backend.
    """
    classes = {"torch": TorchBackend, "onnxruntime": OrtBackend, "cuda": CudaBackend}
    if name not in classes:
        raise BinasError(f"unknown backend {name!r}: choose one of {', '.join(BACKENDS)}")
    if clock not in CLOCKS:
        raise BinasError(f"unknown clock {clock!r}: choose one of {', '.join(CLOCKS)}")
    if clock == "cpu" and (threads != 1 or name == "cuda"):
        raise BinasError("--clock cpu counts only the calling thread's CPU time, so it needs a CPU backend "
                         "and --threads 1")
    backend = classes[name](threads)
    backend.clock = clock
    return backend


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_GLIBC_DEFAULT = 128 * 1024  # glibc's initial trim and mmap thresholds


def _mallopt(option: int, value: int) -> bool:
    try:
        return ctypes.CDLL("libc.so.6").mallopt(option, value) == 1
    except (OSError, AttributeError):
        return False


def _default_allocator() -> None:
    """Put glibc's trim and mmap thresholds back to their initial values (128 KiB)."""
    _mallopt(_M_MMAP_THRESHOLD, _GLIBC_DEFAULT)
    _mallopt(_M_TRIM_THRESHOLD, _GLIBC_DEFAULT)


@contextlib.contextmanager
def kept_allocator() -> Iterator[str]:
    """:func:`steady_allocator` for the duration of a ``with`` block, glibc's defaults afterwards."""
    try:
        yield steady_allocator()
    finally:
        _default_allocator()


def steady_allocator() -> str:
    """Keep freed memory in the process (glibc ``mallopt``), so timed calls do not page-fault.

    This changes the whole process: library code uses :func:`kept_allocator` or a backend's
    ``close()``, which put the defaults back. glibc returns big freed buffers to the OS (mmap threshold, heap trimming); the next forward
    pass then page-faults fresh pages, which made large early blocks 2-4x slower and erratic. A
    serving process (jemalloc/tcmalloc, ONNX Runtime's arena) reuses its buffers; so do we.
    """
    ok = _mallopt(_M_MMAP_THRESHOLD, 32 << 20) and _mallopt(_M_TRIM_THRESHOLD, 1 << 30)
    return "glibc, mmap threshold 32 MiB, no trimming" if ok else "system default"


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


# --------------------------------------------------------------------------- interleaved rounds
def timing_rounds(backend: TimingBackend, runners: dict[str, Runner], samples: dict[str, list[float]],
                  rounds: range, warmup: int, seed: int,
                  on_round: Callable[[int], None] | None = None) -> dict[str, list[float]]:
    """Append one timed call per runner per round to ``samples``; every round in a fresh shuffled order.

    Each visit makes ``warmup`` untimed calls, then one untimed call of the unit visited before it
    (so, as inside a network, another unit's data has just passed through the caches), then the
    timed call. The order of round ``r`` depends only on ``(seed, r)``, so a resumed run continues
    identically.
    """
    names = sorted(runners)
    for r in rounds:
        order = np.random.default_rng([seed, r]).permutation(len(names))
        for k, i in enumerate(order):
            runner = runners[names[i]]
            for _ in range(warmup):
                runner.call()
            if len(order) > 1:  # the previous unit runs right before, as the previous block in a network
                runners[names[order[k - 1]]].call()
            samples.setdefault(names[i], []).append(backend.time_ms(runner))
        if on_round is not None:
            on_round(r)
    return samples
