"""Measure networks: top-1/top-5 accuracy on a split, and end-to-end latency with a LUT's settings."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from binas.errors import BinasError, DataError, FileFormatError
from binas.inference import batched_logits, topk_correct
from binas.loaders import Source, eval_batches
from binas.lut.measure import MeasureSettings, iqr, lut_statistic, summarize
from binas.lut.table import Lut
from binas.lut.timing import make_backend, timing_rounds
from binas.nn.fold import fold_batchnorm
from binas.runtime import Runtime
from binas.space import SearchSpace

__all__ = ["DEFAULT_TIMING", "measure_latency", "timing_settings", "topk_accuracy"]

# Settings used when no latency LUT is given: PyTorch eager, 1 thread, batch 1.
DEFAULT_TIMING = {"backend": "torch", "threads": 1, "batch_size": 1, "clock": "wall"}


@torch.no_grad()
def topk_accuracy(model: nn.Module, data: Source, batch_size: int = 500, limit: int | None = None,
                  rt: Runtime | None = None, workers: int | None = None) -> dict[str, Any]:
    """Top-1 and top-5 accuracy (%) of ``model`` (eval mode) on the first ``limit`` images of ``data``.

    Runs a BatchNorm-folded copy (:func:`~binas.nn.fold.fold_batchnorm`) on ``rt``'s device; under
    ``torchrun`` each rank takes a share of the images and the counts are summed.
    """
    rt = rt or Runtime()
    if limit is not None and limit < 1:
        raise DataError(f"--limit must be at least 1 image, got {limit}")
    n = len(data) if limit is None else min(limit, len(data))
    if n < 1:
        raise DataError(f"data set {data.name!r} holds no images to evaluate")
    model = fold_batchnorm(model).to(rt.device, memory_format=rt.memory_format)  # a copy: ``model`` is untouched
    mine = np.arange(n)[rt.rank::rt.world_size]
    counts = torch.zeros(2, dtype=torch.float64, device=rt.device)
    for logits, labels in batched_logits(model, eval_batches(data, rt, mine, batch_size=batch_size, workers=workers),
                                         rt):
        top1, top5 = topk_correct(logits, labels)
        counts += torch.stack([top1.sum(), top5.sum()]).to(torch.float64)
    rt.sum_(counts)
    return {"top1": 100.0 * float(counts[0]) / n, "top5": 100.0 * float(counts[1]) / n, "images": n}


def timing_settings(lut: Lut | None) -> dict[str, Any]:
    """Backend, threads, batch size, clock and statistic to time with: the LUT's own (from its meta), else the
    defaults."""
    if lut is None or lut.resource != "latency":
        return dict(DEFAULT_TIMING)
    meta = lut.meta
    settings = {"backend": meta.get("backend", "torch"), "threads": meta.get("threads", 1),
                "batch_size": meta.get("batch_size", 1), "clock": meta.get("clock", "wall"),
                "statistic": lut_statistic(meta)}
    try:
        MeasureSettings(**settings).check()  # values from a file: bounded like the command-line options
    except BinasError as exc:
        raise FileFormatError(f"the LUT's timing settings are invalid: {exc}") from None
    return settings


def measure_latency(models: dict[str, nn.Module], space: SearchSpace, settings: dict[str, Any], *,
                    repeats: int = 30, warmup: int = 1, seed: int = 0) -> dict[str, dict[str, float]]:
    """Latency (ms; the median, or the LUT's statistic) and IQR of every model, timed in interleaved rounds
    (noise hits all alike).

    Args:
        models: name -> network for ``space`` (at the space's input size).
        settings: ``backend``, ``threads``, ``batch_size`` (and ``clock``, ``statistic``), see
            :func:`timing_settings`.
    """
    # the backend restores the thread count and the allocator afterwards
    with make_backend(settings["backend"], settings["threads"], settings.get("clock", "wall")) as backend:
        shape = (settings["batch_size"], space.in_channels, space.input_size, space.input_size)
        runners = {name: backend.prepare(model.eval(), [torch.randn(shape)]) for name, model in models.items()}
        samples: dict[str, list[float]] = {}
        timing_rounds(backend, runners, samples, range(repeats), warmup, seed)
    stat = settings.get("statistic", "median")
    return {name: {"latency_ms": summarize(v, stat), "iqr_ms": iqr(v)}
            for name, v in samples.items()}
