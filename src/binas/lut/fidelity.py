"""``binas lut validate``: does the LUT sum predict the latency of whole networks?

N random architectures (seeded) are built as static children and timed end to end with the LUT's
own backend settings (backend, threads, batch size, resolution from its ``meta``). The networks and
a *reference* (the LUT's fixed part, re-measured) are timed in interleaved rounds, each round in a
fresh shuffled order, so machine noise and drift hit all of them alike; the reference tells how
fast the machine is now compared with when the LUT was measured.
"""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from scipy.stats import kendalltau

from binas.codec import format_timm
from binas.errors import BinasError, FileFormatError
from binas.lut.measure import build_entry, iqr, lut_entries, lut_statistic, resolution_space, summarize
from binas.lut.table import Lut
from binas.lut.timing import BACKENDS, make_backend, timing_rounds
from binas.nn.static import build_child
from binas.space import SearchSpace

__all__ = ["calibrated_lut", "lut_settings", "plot_fidelity", "validate_lut"]


def lut_settings(lut: Lut) -> dict[str, Any]:
    """Backend, threads, batch size, resolution, clock and statistic of a measured latency LUT (its ``meta``)."""
    if lut.resource != "latency":
        raise BinasError(f"lut validate times networks, so it needs a latency LUT, not a {lut.resource} LUT")
    backend = lut.meta.get("backend")
    if backend not in BACKENDS:
        raise BinasError(f"the LUT was made with backend {backend!r}, which binas cannot run here; validate it "
                         f"on its own device (time whole networks there) or use one of {', '.join(BACKENDS)}")
    settings = {"backend": backend}
    for name in ("threads", "batch_size", "resolution"):
        value = lut.meta.get(name)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FileFormatError(f"the LUT's meta needs a positive integer {name!r} to re-measure with, "
                                  f"found {value!r}")
        settings[name] = value
    settings["clock"] = lut.meta.get("clock", "wall")
    settings["statistic"] = lut_statistic(lut.meta)
    return settings


def validate_lut(space: SearchSpace, lut: Lut, samples: int = 20, seed: int = 0, repeats: int = 15,
                 warmup: int = 2, progress: Callable[[str, int, int], None] | None = None) -> dict[str, Any]:
    """Predicted vs measured latency of ``samples`` random networks (see the module docstring)."""
    lut.check_space(space)
    cfg = lut_settings(lut)
    if samples < 2:
        raise BinasError(f"--samples must be at least 2 to compare rankings, got {samples}")
    if repeats < 1 or warmup < 0:
        raise BinasError("--repeats must be at least 1 and --warmup at least 0")
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(samples)]
    with make_backend(cfg["backend"], cfg["threads"], cfg["clock"]) as backend:  # restores threads, allocator
        report = progress or (lambda phase, i, n: None)
        shape = (cfg["batch_size"], space.in_channels, cfg["resolution"], cfg["resolution"])
        sp = resolution_space(space, cfg["resolution"])
        torch.manual_seed(seed)
        fixed = lut_entries(space, cfg["batch_size"], cfg["resolution"])[0]
        runners = {"reference": backend.prepare(build_entry(space, fixed, cfg["resolution"]),
                                                [torch.randn(s) for s in fixed.shapes])}
        for i, arch in enumerate(archs):
            report("prepare", i, samples)
            runners[f"net{i:04d}"] = backend.prepare(build_child(sp, arch), [torch.randn(shape)])
        report("prepare", samples, samples)
        for runner in runners.values():
            runner.call()  # lazy initialisation, never timed
        measured: dict[str, list[float]] = {}
        timing_rounds(backend, runners, measured, range(repeats), warmup, seed, lambda r: report("measure", r + 1, repeats))
    return _report(space, lut, archs, measured, cfg, repeats)


def _report(space: SearchSpace, lut: Lut, archs: list, measured: dict[str, list[float]],
            cfg: dict[str, Any], repeats: int) -> dict[str, Any]:
    pred = np.array([lut.value(space, a) for a in archs])
    meas = np.array([summarize(measured[f"net{i:04d}"], cfg["statistic"]) for i in range(len(archs))])
    rel = np.abs(pred - meas) / meas
    tau = kendalltau(pred, meas).statistic
    slope, intercept = np.polyfit(pred, meas, 1)
    calibrated = np.abs(slope * pred + intercept - meas) / meas
    ref = summarize(measured["reference"], cfg["statistic"])
    pairs = [{"timm": format_timm(space, a), "predicted": float(p), "measured": float(m), "rel_err": float(e),
              "spread": iqr(measured[f"net{i:04d}"])}
             for i, (a, p, m, e) in enumerate(zip(archs, pred, meas, rel))]
    return {
        "space": space.name, "space_hash": space.space_hash, "unit": "ms", **cfg,
        "samples": len(archs), "repeats": repeats,
        "median_abs_rel_err": float(np.median(rel)), "max_abs_rel_err": float(np.max(rel)),
        "mean_rel_err": float(np.mean((pred - meas) / meas)),
        "kendall_tau": None if math.isnan(tau) else float(tau),
        "slope": float(slope), "intercept": float(intercept),
        "calibrated_median_abs_rel_err": float(np.median(calibrated)),
        "reference": {"lut_fixed": lut.fixed, "measured_fixed": ref, "ratio": ref / lut.fixed if lut.fixed else None},
        "pairs": pairs,
    }


def calibrated_lut(lut: Lut, slope: float, intercept: float, source: str = "lut validate") -> Lut:
    """The LUT whose sum is ``slope * sum + intercept`` (blocks scaled, intercept added to ``fixed``)."""
    fixed = slope * lut.fixed + intercept
    if slope <= 0 or fixed < 0:
        raise BinasError(f"the fitted calibration (slope {slope:.3g}, intercept {intercept:.3g}) is not usable: "
                         "it would make latencies negative; measure more samples or re-measure the LUT")
    blocks = {k: {c: slope * v for c, v in row.items()} for k, row in lut.blocks.items()}
    meta = {**lut.meta, "calibration": {"slope": slope, "intercept": intercept, "source": source}}
    return replace(lut, fixed=fixed, blocks=blocks, meta=meta, spread=None)


def plot_fidelity(result: dict[str, Any], path: str | Path) -> Path:
    """Scatter plot of predicted vs measured latency with the identity and the fitted line."""
    from binas.figures import new_figure, save_figure

    pred = np.array([p["predicted"] for p in result["pairs"]])
    meas = np.array([p["measured"] for p in result["pairs"]])
    lo, hi = float(min(pred.min(), meas.min())) * 0.95, float(max(pred.max(), meas.max())) * 1.05
    fig, ax = new_figure(figsize=(5, 5), dpi=120)
    ax.scatter(pred, meas, s=18, label="networks")
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="measured = predicted")
    ax.plot([lo, hi], [result["slope"] * lo + result["intercept"], result["slope"] * hi + result["intercept"]],
            "r-", lw=1, label=f"fit: {result['slope']:.3f} x + {result['intercept']:.3f}")
    tau = result["kendall_tau"]
    title = (f"{result['space']}, {result['backend']} ({result.get('clock', 'wall')} clock), {result['threads']} thr, "
             f"batch {result['batch_size']}, {result['resolution']}px\nmedian |err| "
             f"{100 * result['median_abs_rel_err']:.1f}%, Kendall tau {tau if tau is None else round(tau, 3)}")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="LUT prediction (ms)", ylabel="measured (ms)", title=title)
    ax.title.set_fontsize(9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save_figure(fig, path)
