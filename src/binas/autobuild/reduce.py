"""Reduced search spaces from kept units, and LUT/estimator re-keying for them.

A YAML space is a *product* per stage (depth options x per-position choice lists), so an arbitrary
set of K block sequences cannot be expressed exactly. The reduction keeps, per stage, the depths
of the kept units and, at each position, the union of the choices the kept units use there: the
smallest product-form space containing every kept unit (a superset: it may also contain mixtures of
them). The exact unit lists are written beside it (``units.json``) for exhaustive evaluation.

A reduced space has its own ``space_hash``. Its LUTs and bilinear estimators are the full space's
tables restricted to the kept entries; for one-hot networks of the reduced space they give exactly
the full space's values (the bilinear form's value only reads entries of present choices and the
chosen depth).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from binas.estimator.form import BilinearForm
from binas.io import atomic_write_text
from binas.lut.table import Lut, lut_key
from binas.space import SearchSpace, space_from_dict
from binas.space.encoding import is_present

__all__ = ["reduced_space", "restrict_form", "restrict_lut", "space_yaml", "write_space"]


def reduced_space(space: SearchSpace, units: list[list[tuple[int, tuple[str, ...]]]], name: str) -> SearchSpace:
    """The smallest product-form space containing every kept ``(depth, choice ids)`` unit per stage."""
    data = space.to_dict()
    data["name"] = name
    for s, stage_units in enumerate(units):
        st = space.stages[s]
        depths = sorted({d for d, _ in stage_units})
        positions = []
        for j in range(depths[-1]):
            used = {blocks[j] for d, blocks in stage_units if is_present(j, d)}  # non-empty: a unit has depth max
            positions.append([c.id for c in st.positions[j] if c.id in used])
        data["stages"][s].update({"depths": depths, "positions": positions})
    return space_from_dict(data)


def space_yaml(space: SearchSpace, comment: str = "") -> str:
    """YAML text of a space (loadable with :func:`binas.space.load_space`)."""
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    return header + yaml.safe_dump(space.to_dict(), sort_keys=False, default_flow_style=None, width=120)


def _index_map(full: SearchSpace, reduced: SearchSpace) -> tuple[np.ndarray, np.ndarray]:
    """Full-space alpha and beta indices of every reduced-space variable."""
    a_idx = [full.alpha_index(s, j, c.id) for s, st in enumerate(reduced.stages)
             for j, choices in enumerate(st.positions) for c in choices]
    b_idx = [full.beta_index(s, d) for s, st in enumerate(reduced.stages) for d in st.depths]
    return np.array(a_idx, dtype=np.int64), np.array(b_idx, dtype=np.int64)


def restrict_lut(lut: Lut, full: SearchSpace, reduced: SearchSpace) -> Lut:
    """The LUT of ``full`` re-keyed for ``reduced`` (kept entries copied, ``fixed`` unchanged)."""
    lut.check_space(full)

    def table(src: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
        return {lut_key(s, j): {c.id: src[lut_key(s, j)][c.id] for c in choices}
                for s, st in enumerate(reduced.stages) for j, choices in enumerate(st.positions)}

    meta = {**lut.meta, "reduced_from": {"space": full.name, "space_hash": full.space_hash}}
    spread = table(lut.spread) if lut.spread is not None else None
    return Lut(reduced.name, reduced.space_hash, lut.resource, lut.unit, lut.fixed, table(lut.blocks), meta, spread)


def restrict_form(form: BilinearForm, full: SearchSpace, reduced: SearchSpace) -> BilinearForm:
    """A bilinear estimator of ``full`` re-keyed for ``reduced`` (raw measurement tables dropped)."""
    form.check_space(full)
    a_idx, b_idx = _index_map(full, reduced)
    extra: dict[str, Any] = {"reduced_from": {"space": full.name, "space_hash": full.space_hash,
                                              "kind": form.kind}}
    if "convention" in form.extra:
        extra["convention"] = form.extra["convention"]
    return BilinearForm(reduced.name, reduced.space_hash, form.kind, form.const, form.p_alpha[a_idx].copy(),
                        form.p_beta[b_idx].copy(), form.Q[np.ix_(a_idx, b_idx)].copy(), extra)


def write_space(path: str | Path, space: SearchSpace, comment: str) -> None:
    """Write ``space`` as YAML atomically."""
    atomic_write_text(path, space_yaml(space, comment))

