"""LUTs for devices binas cannot drive: export every block as ONNX, import timings from a CSV.

``export_blocks`` writes one ONNX file per (position, choice) plus ``fixed.onnx`` (stem, fixed
blocks, head conv and head; two inputs), a ``manifest.json`` naming every file with its input
shapes, and a ``timings.csv`` template. The user times each file on the target (a phone, TensorRT,
an NPU...), fills the ``value`` column and ``import_csv`` turns it into a ``binas.lut/1`` file.

CSV columns: ``key,choice,value`` (``spread`` optional; other columns ignored). ``key`` is ``s.j``
(1-based stage and position) or ``fixed`` (with an empty choice); ``value`` is the time of one
forward pass of the exported batch in ``unit``.
"""

from __future__ import annotations

import csv
import datetime as _dt
import io
import math
from pathlib import Path
from typing import Any, Callable

import torch

from binas.artifacts import read_format
from binas.errors import BinasError, FileFormatError
from binas.io import atomic_write_bytes, atomic_write_json, atomic_write_text, read_text
from binas.lut.measure import build_entry, lut_entries
from binas.lut.table import LUT_FORMAT, Lut, lut_from_json, lut_key, unit_factor
from binas.lut.timing import OPSET, onnx_bytes
from binas.space import SearchSpace

__all__ = ["MANIFEST_FORMAT", "OPSET", "TIME_UNITS", "export_blocks", "import_csv", "onnx_bytes"]

MANIFEST_FORMAT = "binas.blocks/1"
TIME_UNITS = {"ms": 1.0, "s": 1000.0, "us": 0.001}  # factor to milliseconds


def _file_name(key: str, choice: str | None) -> str:
    return "fixed.onnx" if choice is None else f"block_{key.replace('.', '_')}_{choice}.onnx"


def export_blocks(space: SearchSpace, out_dir: str | Path, batch_size: int = 1, resolution: int | None = None,
                  progress: Callable[[int, int], None] | None = None) -> dict[str, Any]:
    """Write every block and the fixed part as ONNX into ``out_dir``; returns the manifest."""
    if batch_size < 1:
        raise BinasError(f"--batch-size must be at least 1, got {batch_size}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BinasError(f"--out {out} exists and is not a folder")
    entries = lut_entries(space, batch_size, resolution)
    torch.manual_seed(0)
    rows = []
    for i, entry in enumerate(entries):
        if progress is not None:
            progress(i, len(entries))
        names = [f"input{k}" for k in range(len(entry.shapes))]
        model = onnx_bytes(build_entry(space, entry, resolution), [torch.randn(s) for s in entry.shapes], names)
        atomic_write_bytes(out / _file_name(entry.key, entry.choice), model)
        rows.append({"key": entry.key, "choice": entry.choice, "file": _file_name(entry.key, entry.choice),
                     "inputs": [{"name": n, "shape": list(s)} for n, s in zip(names, entry.shapes)]})
    if progress is not None:
        progress(len(entries), len(entries))
    template = io.StringIO()
    writer = csv.writer(template, lineterminator="\n")
    writer.writerow(["key", "choice", "value"])
    writer.writerows([r["key"], r["choice"] or "", ""] for r in rows)
    atomic_write_text(out / "timings.csv", template.getvalue())
    manifest = {"format": MANIFEST_FORMAT, "space": space.name, "space_hash": space.space_hash,
                "batch_size": batch_size, "resolution": resolution or space.input_size, "opset": OPSET,
                "dtype": "float32", "csv_template": "timings.csv", "entries": rows}
    atomic_write_json(out / "manifest.json", manifest)
    return manifest


def _read_rows(path: Path) -> list[dict[str, str]]:
    text = read_text(path, "timings CSV", encoding="utf-8-sig")
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in reader.fieldnames or []]
    missing = [c for c in ("key", "choice", "value") if c not in header]
    if missing:
        raise FileFormatError(f"timings CSV {path} must have the columns key,choice,value (missing {missing})")
    reader.fieldnames = header
    return [{k: (v or "").strip() for k, v in row.items() if k is not None} for row in reader]


def _number(text: str, where: str, scale: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FileFormatError(f"{where}: value {text!r} is not a number") from None
    if not math.isfinite(value) or value < 0:
        raise FileFormatError(f"{where}: value {text!r} must be a finite number >= 0")
    return value * scale


def _parse_table(path: Path, space: SearchSpace, scale: float) -> tuple[dict, dict]:
    """``({(key, choice): value}, {(key, choice): spread})`` with every row checked."""
    allowed = {(lut_key(s, j), c.id) for s, st in enumerate(space.stages)
               for j, choices in enumerate(st.positions) for c in choices} | {("fixed", "")}
    values: dict[tuple[str, str], float] = {}
    spreads: dict[tuple[str, str], float] = {}
    for line, row in enumerate(_read_rows(path), start=2):
        key, choice = row.get("key", ""), row.get("choice", "")
        if key == "fixed" and choice == "-":
            choice = ""
        where = f"{path.name} line {line}"
        if (key, choice) not in allowed:
            raise FileFormatError(f"{where}: ({key!r}, {choice!r}) is not a block position x choice of space "
                                  f"{space.name!r} (keys are 's.j' 1-based, or 'fixed' with an empty choice)")
        if (key, choice) in values:
            raise FileFormatError(f"{where}: duplicate row for {key} {choice or ''}".rstrip())
        values[(key, choice)] = _number(row.get("value", ""), where, scale)
        if row.get("spread"):
            spreads[(key, choice)] = _number(row["spread"], where + " (spread)", scale)
    missing = sorted(allowed - set(values))
    if missing:
        shown = ", ".join(f"{k} {c}".strip() for k, c in missing[:3])
        raise FileFormatError(f"timings CSV {path} lacks {len(missing)} row(s), e.g. {shown}")
    return values, spreads


def import_csv(space: SearchSpace, path: str | Path, unit: str | None = "ms", device: str | None = None,
               manifest: str | Path | None = None, resource: str = "latency") -> Lut:
    """A LUT of any additive ``resource`` from values measured elsewhere (see the module docstring).

    Latency, energy, memory, params and MACs are converted to their stored unit (ms, mJ, MB, count);
    any other resource (flops, ...) keeps the ``unit`` it is given in.
    """
    if resource == "latency" and unit is not None and unit not in TIME_UNITS:
        raise BinasError(f"--unit {unit!r} is not a time unit: choose one of {', '.join(TIME_UNITS)}")
    factor, stored = unit_factor(resource, unit)
    path = Path(path)
    meta: dict[str, Any] = {"backend": "imported", "source": path.name, "source_unit": unit or stored,
                            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")}
    if device:
        meta["device"] = device
    if manifest is not None:
        info = read_format(manifest, MANIFEST_FORMAT, "block manifest")
        if info.get("space_hash") != space.space_hash:
            raise FileFormatError(f"block manifest {manifest} was exported for space {info.get('space')!r}, "
                                  f"not for {space.name!r} (hash {space.space_hash})")
        meta.update(batch_size=info.get("batch_size"), resolution=info.get("resolution"))
    values, spreads = _parse_table(path, space, factor)
    blocks: dict[str, dict[str, float]] = {}
    for (key, choice), value in values.items():
        if key != "fixed":
            blocks.setdefault(key, {})[choice] = value
    obj = {"format": LUT_FORMAT, "space": space.name, "space_hash": space.space_hash, "resource": resource,
           "unit": stored, "meta": meta, "fixed": values[("fixed", "")], "blocks": blocks}
    if spreads and len(spreads) == len(values):
        obj["spread"] = {k: {c: spreads[(k, c)] for c in row} for k, row in blocks.items()}
    return lut_from_json(obj, space, f"timings CSV {path}")
