"""Latency in the demo: this machine's LUT, and every compared network timed the way the LUT was taken."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from binas.codec import parse_timm
from binas.demo.config import DemoConfig
from binas.deploy.export import load_model
from binas.io import atomic_write_json
from binas.lut.measure import OVERHEAD, MeasureSettings, build_entry, lut_entries, lut_from_samples, measure_lut
from binas.lut.table import Lut
from binas.lut.timing import make_backend, timing_rounds
from binas.space import SearchSpace

__all__ = ["loadavg", "measure_latency", "measure_this_lut", "pinned"]


@contextlib.contextmanager
def pinned() -> Iterator[int | None]:
    """Pin this process to one core (the last allowed) while timing; yields it (None where unsupported)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    core = max(before)
    os.sched_setaffinity(0, {core})
    try:
        yield core
    finally:
        os.sched_setaffinity(0, before)


def loadavg() -> list[float]:
    """The 1/5/15-minute load averages (empty where the platform has none)."""
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else []


def measure_this_lut(space: SearchSpace, cfg: DemoConfig, path: Path) -> None:
    """This machine's latency LUT (PyTorch, 1 thread, batch 1, pinned to one core), written to ``path``."""
    settings = MeasureSettings(backend="torch", threads=1, batch_size=1, repeats=cfg.lut_repeats, seed=cfg.seed,
                               clock=cfg.latency_clock)
    partial = path.with_name(path.name + ".partial")
    load_before = loadavg()
    with pinned() as core:
        lut = measure_lut(space, settings, partial=partial)
    lut.meta.update({"pinned_core": core, "loadavg_before": load_before, "loadavg_after": loadavg()})
    lut.save(path)
    partial.unlink(missing_ok=True)


def measure_latency(space: SearchSpace, lut: Lut, nets: list[dict[str, Any]], cfg: DemoConfig, out: Path,
                    path: Path) -> None:
    """End-to-end latency of every compared network, timed exactly like the LUT's entries.

    Same backend, threads, batch, clock, warm-up and harness, pinned to one core, medians over
    interleaved rounds; and the LUT's entries are timed again *in the same rounds*, so the report can
    tell the LUT's error from drift of a shared machine's load since the LUT was measured.
    """
    settings = MeasureSettings(backend=lut.meta.get("backend", "torch"), threads=int(lut.meta.get("threads", 1)),
                               batch_size=int(lut.meta.get("batch_size", 1)), repeats=cfg.latency_repeats,
                               warmup=int(lut.meta.get("warmup", 2)), seed=cfg.seed, clock=lut.meta.get("clock", "wall"))
    backend = make_backend(settings.backend, settings.threads, settings.clock)
    torch.manual_seed(cfg.seed)
    runners = {OVERHEAD: backend.noop()}
    for entry in lut_entries(space, settings.batch_size):
        runners[entry.name] = backend.prepare(build_entry(space, entry), [torch.randn(s) for s in entry.shapes])
    shape = (settings.batch_size, space.in_channels, space.input_size, space.input_size)
    for n in nets:  # the trained networks, in the memory format of the LUT's freshly built blocks
        model = load_model(out / n["name"]).model.eval().to(memory_format=torch.contiguous_format)
        runners["net:" + n["name"]] = backend.prepare(model, [torch.randn(shape)])
    for runner in runners.values():
        runner.call()  # lazy initialisation, never timed
    samples: dict[str, list[float]] = {}
    load_before = loadavg()
    with pinned() as core:
        timing_rounds(backend, runners, samples, range(settings.repeats), settings.warmup, settings.seed)
    session = lut_from_samples(space, settings, {k: v for k, v in samples.items() if not k.startswith("net:")},
                               backend.describe())
    networks = {}
    for n in nets:
        values = samples["net:" + n["name"]]
        networks[n["name"]] = {"latency_ms": float(np.median(values)),
                               "iqr_ms": float(np.subtract(*np.percentile(values, [75, 25]))),
                               "lut_same_rounds_ms": float(session.value(space, parse_timm(space, n["timm"])))}
    atomic_write_json(path, {"timing": {**asdict(settings), "pinned_core": core, "loadavg_before": load_before,
                                        "loadavg_after": loadavg()}, "networks": networks})
