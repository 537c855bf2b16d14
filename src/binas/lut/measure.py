"""Measured latency LUTs (docs/lut.md): the measurable units, interleaved rounds, resume.

Every searched (position, choice) is timed in isolation on an input of its real shape, and the
shared parts (stem, fixed blocks, head conv, pool and classifier) as one ``fixed`` entry. The
measurement runs in *rounds*: each round visits every entry once, in a freshly shuffled (seeded)
order, so machine drift hits all entries alike; each visit makes ``warmup`` untimed calls right
before the timed one.
The per-entry value is the median over rounds (or, with ``statistic="min"``, the fastest round: on
a shared machine whose speed changes by tens of percent within seconds it is the steadiest
statistic, docs/lut.md) and the spread its inter-quartile range.

Each isolated call pays a harness cost that the whole network pays only once (the timer, the
``inference_mode`` context, an ONNX Runtime ``Run``). It is measured as its own entry (a no-op
under the same harness) and subtracted from every block; ``fixed`` keeps it, because a network
is one call. Partial results are persisted atomically after every round in a sidecar file, so a
killed run resumes where it stopped when the same command is run again.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from binas.errors import BinasError, FileFormatError
from binas.io import atomic_write_json, read_json
from binas.lut.table import Lut, lut_key
from binas.lut.timing import BACKENDS, CLOCKS, make_backend, timing_rounds
from binas.nn.static import build_block, build_fixed_parts
from binas.resume import ResumeError, changed_settings
from binas.space import MAX_INPUT_SIZE, SearchSpace

__all__ = ["PARTIAL_FORMAT", "STATISTICS", "Entry", "FixedPart", "MeasureSettings", "build_entry", "lut_entries",
           "iqr", "lut_statistic", "measure_lut", "partial_path_for", "resolution_space", "summarize"]

PARTIAL_FORMAT = "binas.lut-partial/1"
OVERHEAD = "overhead"  # name of the no-op entry that measures the per-call harness cost
STATISTICS = ("median", "min")  # how a LUT entry (and a network timed against it) sums up its rounds


def summarize(values: Sequence[float], statistic: str = "median") -> float:
    """The ``statistic`` (one of :data:`STATISTICS`) of a timing's rounds."""
    return float(np.min(values) if statistic == "min" else np.median(values))


def lut_statistic(meta: dict[str, Any]) -> str:
    """The statistic a latency LUT's entries were taken with (LUTs before the option: the median)."""
    value = str(meta.get("statistic", "median")).split(" ")[0]
    if value not in STATISTICS:
        raise FileFormatError(f"the LUT's statistic {meta.get('statistic')!r} is not one of {', '.join(STATISTICS)}")
    return value


@dataclass(frozen=True)
class MeasureSettings:
    """Everything that determines a measurement (a resumed run must use the same)."""

    backend: str = "torch"
    threads: int = 1
    batch_size: int = 1
    resolution: int | None = None  # None: the space's input size
    repeats: int = 30
    warmup: int = 2
    seed: int = 0
    clock: str = "wall"  # or "cpu": the measuring thread's CPU time (threads == 1 only)
    statistic: str = "median"  # or "min": each entry's fastest round

    def check(self) -> "MeasureSettings":
        """Raise a :class:`BinasError` for an unknown backend or a non-positive count."""
        if self.backend not in BACKENDS:
            raise BinasError(f"unknown backend {self.backend!r}: choose one of {', '.join(BACKENDS)}")
        for name, most in (("threads", 1024), ("batch_size", 1 << 16), ("repeats", 1 << 20), ("warmup", 1 << 20),
                           ("seed", 2**63 - 1), ("resolution", MAX_INPUT_SIZE)):
            value, least = getattr(self, name), 0 if name in ("warmup", "seed") else 1
            if value is None and name == "resolution":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or not least <= value <= most:
                bound = "0 or more" if least == 0 else f"at least {least}"
                raise BinasError(f"--{name.replace('_', '-')} must be {bound} (and at most {most}), got {value!r}")
        if self.clock not in CLOCKS:
            raise BinasError(f"unknown clock {self.clock!r}: choose one of {', '.join(CLOCKS)}")
        if self.statistic not in STATISTICS:
            raise BinasError(f"unknown statistic {self.statistic!r}: choose one of {', '.join(STATISTICS)}")
        return self


# --------------------------------------------------------------------------- measurable units
class FixedPart(nn.Module):
    """The shared parts as one module: ``(x, z) -> (fixed_blocks(stem(x)), head(head_conv(z)))``.

    ``x`` is the network input and ``z`` the last stage's output; both have their real shapes.
    """

    def __init__(self, space: SearchSpace) -> None:
        super().__init__()
        self.stem, self.fixed_blocks, self.head_conv, self.head = build_fixed_parts(space)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fixed_blocks(self.stem(x)), self.head(self.head_conv(z))


@dataclass(frozen=True)
class Entry:
    """One measurable unit: ``key`` "s.j" (1-based) or "fixed", its choice id, input shapes."""

    key: str
    choice: str | None
    shapes: tuple[tuple[int, ...], ...]

    @property
    def name(self) -> str:
        return self.key if self.choice is None else f"{self.key}/{self.choice}"


def resolution_space(space: SearchSpace, resolution: int | None) -> SearchSpace:
    """The space with its input size set to ``resolution`` (only used to derive tensor shapes)."""
    if resolution is None or resolution == space.input_size:
        return space
    derived = replace(space, input_size=resolution)
    if derived.final_size < 1:
        raise BinasError(f"--resolution {resolution} is too small: the strides of {space.name!r} reduce it below 1 px")
    return derived


def lut_entries(space: SearchSpace, batch_size: int = 1, resolution: int | None = None) -> list[Entry]:
    """The fixed part and every (position, choice) of ``space`` with their input shapes."""
    sp = resolution_space(space, resolution)
    last_ch = sp.stages[-1].out_channels
    entries = [Entry("fixed", None, ((batch_size, sp.in_channels, sp.input_size, sp.input_size),
                                     (batch_size, last_ch, sp.final_size, sp.final_size)))]
    for s, stage in enumerate(sp.stages):
        for j, choices in enumerate(stage.positions):
            for choice in choices:
                spec = sp.position_spec(s, j, choice)
                shape = (batch_size, spec.in_channels, spec.input_size, spec.input_size)
                entries.append(Entry(lut_key(s, j), choice.id, (shape,)))
    return entries


def build_entry(space: SearchSpace, entry: Entry, resolution: int | None = None) -> nn.Module:
    """The module of one entry (fresh weights; timing does not depend on their values)."""
    sp = resolution_space(space, resolution)
    if entry.choice is None:
        return FixedPart(sp)
    s, j = (int(v) - 1 for v in entry.key.split("."))
    return build_block(sp.position_spec(s, j, entry.choice))


# --------------------------------------------------------------------------- the measurement
def partial_path_for(out: str | Path) -> Path:
    """The sidecar file holding the partial results of a measurement writing ``out``."""
    out = Path(out)
    return out.with_name(out.name + ".partial")


def _identity(space: SearchSpace, settings: MeasureSettings) -> dict[str, Any]:
    """What a partial file must match to be resumed (the raw rounds do not depend on the statistic)."""
    return {"space": space.name, "space_hash": space.space_hash,
            **{k: v for k, v in asdict(settings).items() if k != "statistic"}}


def _load_partial(path: Path, identity: dict[str, Any], names: set[str]) -> tuple[int, dict[str, list[float]]]:
    """``(rounds_done, samples)`` from a partial file, or ``(0, {})`` if there is none."""
    if not path.exists():
        return 0, {}
    hint = f"delete {path} to start the measurement over"
    try:
        obj = read_json(path, "partial LUT measurement")
    except FileFormatError as exc:
        raise FileFormatError(f"{exc}; {hint}") from None
    if not isinstance(obj, dict) or obj.get("format") != PARTIAL_FORMAT:
        raise FileFormatError(f"{path} is not a partial LUT measurement ({PARTIAL_FORMAT}); {hint}")
    saved = obj.get("settings")
    diff = changed_settings(saved if isinstance(saved, dict) else {}, identity)
    if diff:
        detail = ", ".join(f"{k} {old!r} -> {new!r}" for k, old, new in diff[:3])
        raise ResumeError(f"{path} holds a measurement with other settings ({detail}); re-run with the same "
                          f"settings to resume it, or {hint}")
    done, samples = obj.get("rounds_done"), obj.get("samples")
    valid = (isinstance(done, int) and 0 <= done <= identity["repeats"] and isinstance(samples, dict)
             and set(samples) == names and all(_valid_series(v, done) for v in samples.values()))
    if not valid:
        raise FileFormatError(f"{path} is corrupt (its samples do not match its entries and rounds); {hint}")
    return done, {k: [float(x) for x in v] for k, v in samples.items()}


def _valid_series(values: Any, length: int) -> bool:
    return (isinstance(values, list) and len(values) == length
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) and x >= 0
                    for x in values))


def _save_partial(path: Path, identity: dict[str, Any], done: int, samples: dict[str, list[float]]) -> None:
    atomic_write_json(path, {"format": PARTIAL_FORMAT, "settings": identity, "rounds_done": done,
                             "samples": samples}, indent=None)


def iqr(values: Sequence[float]) -> float:
    """Inter-quartile range of a timing's rounds (its spread)."""
    q1, q3 = np.percentile(values, [25, 75])
    return float(q3 - q1)


def lut_from_samples(space: SearchSpace, settings: MeasureSettings, samples: dict[str, list[float]],
                     backend_meta: dict[str, Any]) -> Lut:
    """The latency LUT: per-entry statistics (median or min) minus the per-call overhead (kept once, in
    ``fixed``)."""
    stat = settings.statistic
    overhead = summarize(samples[OVERHEAD], stat)
    blocks: dict[str, dict[str, float]] = {}
    spread: dict[str, dict[str, float]] = {}
    for name, values in samples.items():
        if "/" in name:
            key, choice = name.split("/")
            blocks.setdefault(key, {})[choice] = max(summarize(values, stat) - overhead, 0.0)
            spread.setdefault(key, {})[choice] = iqr(values)
    meta = {
        "backend": settings.backend, **backend_meta, "threads": settings.threads,
        "batch_size": settings.batch_size, "resolution": settings.resolution or space.input_size,
        "repeats": settings.repeats, "warmup": settings.warmup, "seed": settings.seed,
        "statistic": stat, "spread": "inter-quartile range over interleaved rounds",
        "call_overhead_ms": overhead, "fixed_spread_ms": iqr(samples["fixed"]),
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    return Lut(space.name, space.space_hash, "latency", "ms", summarize(samples["fixed"], stat), blocks,
               meta, spread)


def measure_lut(space: SearchSpace, settings: MeasureSettings, partial: str | Path | None = None,
                progress: Callable[[str, int, int], None] | None = None) -> Lut:
    """Measure a latency LUT for ``space``; resumes from (and keeps updating) ``partial`` if given.

    ``progress(phase, done, total)`` is called while preparing ("prepare") and measuring ("measure").
    The LUT is stamped with ``space``'s hash: ``settings.resolution`` only changes the input shapes
    (like batch size and threads, it is a measurement condition recorded in ``meta``).
    """
    settings = replace(settings.check(), resolution=settings.resolution or space.input_size)
    entries = lut_entries(space, settings.batch_size, settings.resolution)
    names = {e.name for e in entries} | {OVERHEAD}
    identity = _identity(space, settings)
    path = Path(partial) if partial is not None else None
    done, samples = _load_partial(path, identity, names) if path is not None else (0, {})
    with make_backend(settings.backend, settings.threads, settings.clock) as backend:  # restores threads, allocator
        report = progress or (lambda phase, i, n: None)
        runners = {OVERHEAD: backend.noop()}
        torch.manual_seed(settings.seed)
        for i, entry in enumerate(entries):
            report("prepare", i, len(entries))
            inputs = [torch.randn(shape) for shape in entry.shapes]
            runner = backend.prepare(build_entry(space, entry, settings.resolution), inputs)
            runner.call()  # first call: lazy initialisation (allocations, kernel selection), never timed
            runners[entry.name] = runner
        report("prepare", len(entries), len(entries))
        for name, runner in runners.items():
            samples.setdefault(name, [])

        def on_round(r: int) -> None:
            if path is not None:
                _save_partial(path, identity, r + 1, samples)
            report("measure", r + 1, settings.repeats)

        report("measure", done, settings.repeats)
        timing_rounds(backend, runners, samples, range(done, settings.repeats), settings.warmup, settings.seed,
                      on_round)
        return lut_from_samples(space, settings, samples, backend.describe())
