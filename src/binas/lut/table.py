"""Resource lookup tables (``binas.lut/1``, docs/lut.md): the value object, its file format, its sum.

A LUT holds one number per searched (stage, position, choice) plus a ``fixed`` number for the
parts every network shares. A network's resource is ``fixed + sum of its present blocks``.
Keys are ``"s.j"`` with 1-based stage s and position j.
"""

from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from binas.artifacts import check_finite, read_format
from binas.errors import FileFormatError
from binas.io import atomic_write_json
from binas.space import Architecture, SearchSpace
from binas.space.cost import block_cost, fixed_cost
from binas.space.encoding import lut_key

__all__ = ["LUT_FORMAT", "RESOURCE_UNITS", "UNIT_FACTORS", "Lut", "analytic_lut", "load_lut", "lut_key", "unit_factor"]

LUT_FORMAT = "binas.lut/1"
# Known resources and the only unit each may use (ms, not seconds: see docs/lut.md).
RESOURCE_UNITS = {"latency": "ms", "params": "count", "macs": "count", "energy": "mJ", "memory": "MB"}
# Units a known resource may be imported in, as factors to its stored unit. Any other resource
# (flops, bandwidth, ...) is stored in the unit it is given in.
_COUNTS = {"count": 1.0, "K": 1e3, "M": 1e6, "G": 1e9}
UNIT_FACTORS = {"latency": {"ms": 1.0, "s": 1000.0, "us": 0.001}, "params": _COUNTS, "macs": _COUNTS,
                "energy": {"mJ": 1.0, "J": 1000.0, "uJ": 0.001, "nJ": 1e-6},
                "memory": {"MB": 1.0, "GB": 1000.0, "KB": 0.001, "kB": 0.001, "B": 1e-6}}


def unit_factor(resource: str, unit: str | None) -> tuple[float, str]:
    """``(factor to the stored unit, stored unit)`` of values of ``resource`` given in ``unit``.

    ``unit=None`` means the known resource's own unit.

    Raises:
        FileFormatError: a bad resource name, a unit a known resource cannot be converted from, or
            no unit for a resource binas does not know.
    """
    if not resource.isidentifier():
        raise FileFormatError(f"--resource must be a name such as latency, energy or flops, got {resource!r}")
    known = UNIT_FACTORS.get(resource)
    if known is None:
        if not unit or not unit.strip() or any(ch.isspace() for ch in unit):
            raise FileFormatError(f"give the unit of the {resource} values with --unit (e.g. --unit MFLOPs)")
        return 1.0, unit
    unit = RESOURCE_UNITS[resource] if unit is None else unit
    if unit not in known:
        raise FileFormatError(f"--unit {unit!r} is not a unit of {resource}: choose one of {', '.join(known)} "
                              f"(stored as {RESOURCE_UNITS[resource]})")
    return known[unit], RESOURCE_UNITS[resource]


@dataclass(frozen=True)
class Lut:
    """A validated resource lookup table for one space."""

    space: str
    space_hash: str
    resource: str
    unit: str
    fixed: float
    blocks: dict[str, dict[str, float]]
    meta: dict[str, Any] = field(default_factory=dict)
    spread: dict[str, dict[str, float]] | None = None

    def value(self, space: SearchSpace, arch: Architecture) -> float:
        """The LUT sum of ``arch`` (the network's predicted resource, in :attr:`unit`)."""
        self.check_space(space)
        space.validate(arch)
        return self.fixed + sum(
            self.blocks[lut_key(s, j)][c] for s, blocks in enumerate(arch.blocks) for j, c in enumerate(blocks)
        )

    def alpha_vector(self, space: SearchSpace) -> np.ndarray:
        """Per-alpha-variable block values in the space's canonical variable layout."""
        self.check_space(space)
        t = np.zeros(space.num_alpha)
        for s, stage in enumerate(space.stages):
            for j, choices in enumerate(stage.positions):
                for c, choice in enumerate(choices):
                    t[space.alpha_index(s, j, c)] = self.blocks[lut_key(s, j)][choice.id]
        return t

    def check_space(self, space: SearchSpace) -> None:
        """Refuse to be used with a space other than the one the LUT was made for."""
        space.check_made_for(f"the {self.resource} LUT", self.space, self.space_hash)

    def to_json(self) -> dict[str, Any]:
        obj = {"format": LUT_FORMAT, "space": self.space, "space_hash": self.space_hash,
               "resource": self.resource, "unit": self.unit, "meta": self.meta, "fixed": self.fixed,
               "blocks": self.blocks}
        if self.spread is not None:
            obj["spread"] = self.spread
        return obj

    def save(self, path: str | Path) -> Path:
        """Write atomically as ``binas.lut/1`` JSON."""
        return atomic_write_json(path, self.to_json())


def _table(obj: Any, space: SearchSpace, where: str) -> dict[str, dict[str, float]]:
    if not isinstance(obj, dict):
        raise FileFormatError(f"{where} must be an object keyed by 's.j'")
    expected = {lut_key(s, j): [c.id for c in choices]
                for s, stage in enumerate(space.stages) for j, choices in enumerate(stage.positions)}
    missing = [k for k in expected if k not in obj]
    extra = [k for k in obj if k not in expected]
    if missing or extra:
        detail = f"missing {missing[:3]}" if missing else f"unknown {extra[:3]}"
        raise FileFormatError(f"{where} does not match space {space.name!r}: {detail} position keys")
    table = {}
    for key, ids in expected.items():
        row = obj[key]
        if not isinstance(row, dict) or set(row) != set(ids):
            got = sorted(row) if isinstance(row, dict) else row
            raise FileFormatError(f"{where}[{key!r}] must have exactly the choices {ids}, got {got}")
        table[key] = {c: check_finite(row[c], f"{where}[{key!r}][{c!r}]") for c in ids}
    return table


def lut_from_json(obj: dict[str, Any], space: SearchSpace, source: str = "LUT") -> Lut:
    """Validate a ``binas.lut/1`` object against ``space``.

    Raises:
        FileFormatError: another space, wrong unit, missing/extra keys, non-finite or negative values.
    """
    required = ("space_hash", "resource", "unit", "fixed", "blocks")
    missing = [k for k in required if k not in obj]
    if missing:
        raise FileFormatError(f"{source} is missing the key(s) {missing}")
    space.check_made_for(source, obj.get("space"), obj["space_hash"])
    resource, unit = obj["resource"], obj["unit"]
    if not isinstance(resource, str) or not resource.isidentifier():
        raise FileFormatError(f"{source}: 'resource' must be a name such as 'latency', got {resource!r}")
    expected_unit = RESOURCE_UNITS.get(resource)
    if expected_unit is not None and unit != expected_unit:
        raise FileFormatError(f"{source}: {resource} must be in {expected_unit!r}, found unit {unit!r}")
    blocks = _table(obj["blocks"], space, f"{source} 'blocks'")
    spread = _table(obj["spread"], space, f"{source} 'spread'") if obj.get("spread") is not None else None
    fixed = check_finite(obj["fixed"], f"{source} 'fixed'")
    if fixed < 0 or any(v < 0 for row in blocks.values() for v in row.values()):
        raise FileFormatError(f"{source} has negative {resource} values")
    meta = obj.get("meta", {})
    if not isinstance(meta, dict):
        raise FileFormatError(f"{source}: 'meta' must be an object")
    return Lut(space.name, space.space_hash, resource, unit, fixed, blocks, meta, spread)


def load_lut(path: str | Path, space: SearchSpace) -> Lut:
    """Read and validate a LUT file for ``space`` (see :func:`lut_from_json`)."""
    return lut_from_json(read_format(path, LUT_FORMAT, "LUT file"), space, f"LUT file {path}")


def analytic_lut(space: SearchSpace, resource: str) -> Lut:
    """Exact ``params`` or ``macs`` LUT: its sum equals the static child's count for every network."""
    if resource not in ("params", "macs"):
        raise FileFormatError(f"analytic LUTs exist for 'params' and 'macs', not {resource!r}")
    blocks = {
        lut_key(s, j): {c.id: float(block_cost(space.position_spec(s, j, c))[resource]) for c in choices}
        for s, stage in enumerate(space.stages) for j, choices in enumerate(stage.positions)
    }
    meta = {"backend": "analytic", "date": _dt.date.today().isoformat(),
            "resolution": space.input_size, "batch_size": 1}
    return Lut(space.name, space.space_hash, resource, RESOURCE_UNITS[resource],
               float(fixed_cost(space)[resource]), blocks, meta)
