"""Latency in the demo: this machine's LUT, and every compared network timed the way the LUT was taken."""

from __future__ import annotations

import contextlib
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from binas.codec import format_timm, parse_timm
from binas.demo.config import DemoConfig
from binas.deploy.evaluate import timing_settings
from binas.io import atomic_write_json
from binas.lut.fidelity import calibrated_lut
from binas.lut.measure import OVERHEAD, MeasureSettings, build_entry, iqr, lut_entries, lut_from_samples, summarize
from binas.lut.table import Lut
from binas.lut.timing import make_backend, timing_rounds
from binas.nn.static import build_child
from binas.space import SearchSpace

__all__ = ["loadavg", "measure_latency", "measure_this_lut", "pinned", "raw_lut_path"]


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


def _time_with_lut(space: SearchSpace, settings: MeasureSettings, models: dict[str, torch.nn.Module]
                   ) -> tuple[Lut, dict[str, list[float]], dict[str, Any]]:
    """Time every LUT entry and whole ``models`` in the same interleaved rounds, pinned to one core.

    Returns ``(the LUT of these rounds, each model's timings, conditions)``: a model's latency and its
    LUT sum then share the machine's state, so their ratio is the LUT's own error, not drift.
    """
    torch.manual_seed(settings.seed)
    with make_backend(settings.backend, settings.threads, settings.clock) as backend:
        runners = {OVERHEAD: backend.noop()}
        for entry in lut_entries(space, settings.batch_size):
            runners[entry.name] = backend.prepare(build_entry(space, entry), [torch.randn(s) for s in entry.shapes])
        shape = (settings.batch_size, space.in_channels, space.input_size, space.input_size)
        for name, model in models.items():  # in the memory format of the freshly built LUT entries
            runners["net:" + name] = backend.prepare(model.eval().to(memory_format=torch.contiguous_format),
                                                     [torch.randn(shape)])
        for runner in runners.values():
            runner.call()  # lazy initialisation, never timed
        samples: dict[str, list[float]] = {}
        load_before = loadavg()
        with pinned() as core:
            timing_rounds(backend, runners, samples, range(settings.repeats), settings.warmup, settings.seed)
        lut = lut_from_samples(space, settings, {k: v for k, v in samples.items() if not k.startswith("net:")},
                               backend.describe())
    conditions = {**asdict(settings), "pinned_core": core, "loadavg_before": load_before, "loadavg_after": loadavg()}
    return lut, {name: samples["net:" + name] for name in models}, conditions


def measure_this_lut(space: SearchSpace, cfg: DemoConfig, path: Path) -> None:
    """This machine's latency LUT (PyTorch, 1 thread, batch 1, pinned to one core), written to ``path``.

    With ``lut_calibration_networks`` >= 2, that many random whole networks are timed *in the same
    interleaved rounds* as the LUT's entries, and every entry is multiplied by their median ratio of
    measured to summed latency (one factor: robust on the narrow latency range of a space's networks,
    where a fitted slope and intercept are ill-determined). A block sum misses what a whole network
    pays between its blocks (docs/lut.md). The raw LUT is kept beside it (``*_raw.json``), the timed
    networks in ``*_fidelity.json``.
    """
    settings = MeasureSettings(backend="torch", threads=1, batch_size=1, repeats=cfg.lut_repeats, seed=cfg.seed,
                               clock=cfg.latency_clock, resolution=space.input_size,
                               statistic=cfg.latency_statistic).check()
    rng = np.random.default_rng([cfg.seed, 0x1A7])
    archs = {f"random{i + 1}": space.sample(rng) for i in range(cfg.lut_calibration_networks)}
    lut, timed, conditions = _time_with_lut(space, settings, {k: build_child(space, a) for k, a in archs.items()})
    lut.meta.update({k: conditions[k] for k in ("pinned_core", "loadavg_before", "loadavg_after")})
    if archs:
        pairs = [{"timm": format_timm(space, a), "lut_ms": float(lut.value(space, a)),
                  "measured_ms": summarize(timed[k], settings.statistic),
                  "iqr_ms": iqr(timed[k])} for k, a in archs.items()]
        factor = float(np.median([p["measured_ms"] / p["lut_ms"] for p in pairs]))
        lut.save(raw_lut_path(path))
        atomic_write_json(path.with_name(path.stem + "_fidelity.json"),
                          {"factor": factor, "timing": conditions, "networks": pairs})
        lut = calibrated_lut(lut, factor, 0.0, f"the median measured/sum ratio of {len(pairs)} random whole "
                             "networks timed in the same rounds")
    lut.save(path)


def raw_lut_path(path: Path) -> Path:
    """Where the uncalibrated LUT of a calibrated ``path`` is kept."""
    return path.with_name(path.stem + "_raw.json")


def measure_latency(space: SearchSpace, lut: Lut, timms: list[str], cfg: DemoConfig, path: Path) -> None:
    """End-to-end latency of the networks ``timms`` (keyed by their timm strings in ``path``), timed
    exactly like the LUT's entries.

    Same backend, threads, batch, clock, warm-up, harness and statistic, pinned to one core, over
    interleaved rounds; and the LUT's entries are timed again *in the same rounds* (with the search
    LUT's calibration), so the report can tell the LUT's error from drift of a shared machine's load
    since the LUT was measured. The networks are built from their architectures (as the LUT's
    calibration networks are): latency does not depend on the weights, so the demo times every network
    that may be compared right after the LUT, before the verification and the training load the machine.
    """
    settings = MeasureSettings(**timing_settings(lut), repeats=cfg.latency_repeats,
                               warmup=int(lut.meta.get("warmup", 2)), seed=cfg.seed)
    models = {t: build_child(space, parse_timm(space, t)) for t in timms}
    session, timed, conditions = _time_with_lut(space, settings, models)
    fit = lut.meta.get("calibration")
    if fit:
        session = calibrated_lut(session, fit["slope"], fit["intercept"], fit["source"])
    networks = {t: {"latency_ms": summarize(timed[t], settings.statistic),
                    "iqr_ms": iqr(timed[t]),
                    "lut_same_rounds_ms": float(session.value(space, parse_timm(space, t)))} for t in timms}
    atomic_write_json(path, {"timing": conditions, "networks": networks})
