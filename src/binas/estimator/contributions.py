"""The contributions estimator (docs/estimator.md): the measurement plan and the bilinear form it gives.

Measurements (accuracy in %, on per-image random subnets of the supernet):

- ``A0``: every decision uniformly random;
- ``A^a_{s,j,c}``: block (s, j) fixed to choice c; for 1-based ``j >= 2`` the stage depth is pinned
  to exactly j when j is a depth option (block j is then the last active block), otherwise the depth
  stays uniform over the options >= j so the block is present;
- ``A^b_{s,d}``: the depth of stage s fixed to d.

A per-image *context* (uniform numbers ``u[stage, 0]`` for the depth and ``u[stage, 1 + j]`` for
position j) resolves every undecided decision, so measurements that share contexts (common random
numbers) differ only in the decisions they fix.

The form (m = the smallest depth option): ``p_alpha[s,j<=m,c] = Da``, ``p_beta[s,d] = Db = A^b - A0``,
``Q[(s,j,c),(s,d)] = Da`` for ``m < j <= d``; ``Da = A^a - A0`` (``reference``) or, ``conditional``,
``Da = A^a - A^b_{s,j}`` where the depth was pinned to j (the mean of ``A^b_{s,d}`` over the depth
options >= j where j is not a depth option, ``A0`` where block j is always present); the conditional
form is exact when the true accuracy is additive over decisions.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from binas.errors import FileFormatError
from binas.estimator.form import BilinearForm
from binas.space import Architecture, SearchSpace
from binas.space.encoding import always_present, decisions_to_codes, is_present, lut_key, present_betas

__all__ = ["CONVENTIONS", "Measurement", "arch_for_context", "codes_for_contexts", "contributions_form",
           "convert_convention",
           "measurement_plan", "pinned_depth", "raw_from_form", "sample_contexts"]

CONVENTIONS = ("reference", "conditional")


@dataclass(frozen=True)
class Measurement:
    """One accuracy measurement: ``kind`` "0" (A0), "a" (block fixed) or "b" (depth fixed); 0-based indices."""

    kind: str
    stage: int = -1
    position: int = -1
    choice: str = ""
    depth: int = 0

    @property
    def key(self) -> str:
        """Stable 1-based key: ``A0``, ``a:s.j:choice`` or ``b:s:d``."""
        if self.kind == "a":
            return f"a:{self.stage + 1}.{self.position + 1}:{self.choice}"
        if self.kind == "b":
            return f"b:{self.stage + 1}:{self.depth}"
        return "A0"


def measurement_plan(space: SearchSpace) -> list[Measurement]:
    """The ``1 + num_alpha + num_beta`` measurements in canonical order (A0, alphas, betas)."""
    plan = [Measurement("0")]
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            plan += [Measurement("a", s, j, c.id) for c in choices]
    for s, stage in enumerate(space.stages):
        plan += [Measurement("b", s, depth=d) for d in stage.depths]
    return plan


def pinned_depth(space: SearchSpace, stage: int, position: int) -> int | None:
    """The depth A^a pins for 0-based (stage, position): ``j`` (1-based) if ``j >= 2`` is a depth option."""
    j = position + 1
    return j if j >= 2 and j in space.stages[stage].depths else None


def _depth_options(space: SearchSpace, m: Measurement, s: int) -> tuple[int, ...]:
    depths = space.stages[s].depths
    if m.stage != s:
        return depths
    if m.kind == "b":
        return (m.depth,)
    if m.kind == "a":
        pinned = pinned_depth(space, s, m.position)
        return (pinned,) if pinned else tuple(d for d in depths if is_present(m.position, d))
    return depths


def sample_contexts(space: SearchSpace, n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, stages, 1 + max_positions)`` uniform numbers resolving every undecided decision."""
    width = 1 + max(st.num_positions for st in space.stages)
    return rng.random((n, len(space.stages), width))


def arch_for_context(space: SearchSpace, m: Measurement, u: np.ndarray) -> Architecture:
    """The architecture one image sees in measurement ``m`` given its context row ``u``."""
    depths, blocks = [], []
    for s, stage in enumerate(space.stages):
        options = _depth_options(space, m, s)
        depth = options[min(int(u[s, 0] * len(options)), len(options) - 1)]
        ids = []
        for j in range(depth):
            if m.kind == "a" and (m.stage, m.position) == (s, j):
                ids.append(m.choice)
            else:
                choices = stage.positions[j]
                ids.append(choices[min(int(u[s, 1 + j] * len(choices)), len(choices) - 1)].id)
        depths.append(depth)
        blocks.append(tuple(ids))
    return Architecture(tuple(depths), tuple(blocks))


def codes_for_contexts(space: SearchSpace, m: Measurement, u: np.ndarray) -> np.ndarray:
    """Vectorised :func:`arch_for_context` as supernet codes ``(n, positions)`` (choice index, -1 absent)."""
    n = u.shape[0]
    depths, picks = [], []
    for s, stage in enumerate(space.stages):
        options = np.asarray(_depth_options(space, m, s))
        depths.append(options[np.minimum((u[:, s, 0] * len(options)).astype(int), len(options) - 1)])
        for j, choices in enumerate(stage.positions):
            if m.kind == "a" and (m.stage, m.position) == (s, j):
                picks.append(np.full(n, space.choice_index(s, j, m.choice)))
            else:
                picks.append(np.minimum((u[:, s, 1 + j] * len(choices)).astype(int), len(choices) - 1))
    return decisions_to_codes(space, np.stack(depths, axis=1), np.stack(picks, axis=1))


def _conditional_base(space: SearchSpace, acc: dict[str, float], s: int, j: int) -> float:
    """Accuracy with the same depth distribution as A^a_{s,j,.} but block j's choice random.

    ``A^b_{s,j}`` where the depth is pinned; the mean of ``A^b_{s,d}`` over the depth options >= j
    where it is not (exact for an additive truth); ``A0`` where every depth keeps block j.
    """
    options = _depth_options(space, Measurement("a", s, j), s)
    if options == space.stages[s].depths:
        return acc["A0"]
    return float(np.mean([acc[Measurement("b", s, depth=d).key] for d in options]))


def _deltas(space: SearchSpace, acc: dict[str, float], convention: str) -> tuple[np.ndarray, np.ndarray]:
    """``(Da, Db)`` vectors in the canonical alpha/beta layout."""
    if convention not in CONVENTIONS:
        raise FileFormatError(f"unknown convention {convention!r} (known: {', '.join(CONVENTIONS)})")
    a0 = acc["A0"]
    da, db = np.zeros(space.num_alpha), np.zeros(space.num_beta)
    for s, stage in enumerate(space.stages):
        for d in stage.depths:
            db[space.beta_index(s, d)] = acc[Measurement("b", s, depth=d).key] - a0
        for j, choices in enumerate(stage.positions):
            base = _conditional_base(space, acc, s, j) if convention == "conditional" else a0
            for c in choices:
                da[space.alpha_index(s, j, c.id)] = acc[Measurement("a", s, j, c.id).key] - base
    return da, db


def contributions_form(space: SearchSpace, acc: dict[str, float], stderr: dict[str, float],
                       convention: str = "reference", meta: dict[str, Any] | None = None) -> BilinearForm:
    """The bilinear form (docs/estimator.md) from measured accuracies ``{measurement key: accuracy %}``.

    Raises:
        FileFormatError: a measurement of the plan is missing, or the convention is unknown.
    """
    missing = [m.key for m in measurement_plan(space) if m.key not in acc]
    if missing:
        raise FileFormatError(f"{len(missing)} measurement(s) are missing, e.g. {missing[0]!r}")
    da, db = _deltas(space, acc, convention)
    p_alpha, Q = np.zeros(space.num_alpha), np.zeros((space.num_alpha, space.num_beta))
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            idx = [space.alpha_index(s, j, c) for c in range(len(choices))]
            if always_present(stage, j):
                p_alpha[idx] = da[idx]
            else:
                for b in present_betas(space, s, j):
                    Q[idx, b] = da[idx]
    extra = {"convention": convention, **_raw_tables(space, acc, stderr), "measurement": dict(meta or {})}
    return BilinearForm(space.name, space.space_hash, "contributions", float(acc["A0"]), p_alpha, db, Q, extra)


def _raw_tables(space: SearchSpace, acc: dict[str, float], stderr: dict[str, float]) -> dict[str, Any]:
    out: dict[str, Any] = {"A0": acc["A0"], "A0_stderr": stderr.get("A0", 0.0)}
    for name, table in (("", acc), ("_stderr", stderr)):
        out["Aa" + name] = {
            lut_key(s, j): {c.id: table.get(Measurement("a", s, j, c.id).key, 0.0) for c in choices}
            for s, stage in enumerate(space.stages) for j, choices in enumerate(stage.positions)}
        out["Ab" + name] = {
            str(s + 1): {str(d): table.get(Measurement("b", s, depth=d).key, 0.0) for d in stage.depths}
            for s, stage in enumerate(space.stages)}
    return out


def raw_from_form(space: SearchSpace, form: BilinearForm) -> tuple[dict[str, float], dict[str, float]]:
    """The raw ``(accuracies, stderrs)`` stored in a "contributions" estimator.

    Raises:
        FileFormatError: the file is not a contributions estimator or its tables are incomplete.
    """
    ex = form.extra
    if form.kind != "contributions" or not all(k in ex for k in ("A0", "Aa", "Ab")):
        raise FileFormatError("the estimator holds no raw contribution measurements (kind 'contributions')")
    acc, err = {"A0": float(ex["A0"])}, {"A0": float(ex.get("A0_stderr", 0.0))}
    try:
        for m in measurement_plan(space)[1:]:
            if m.kind == "a":
                where = (lut_key(m.stage, m.position), m.choice)
                acc[m.key] = float(ex["Aa"][where[0]][where[1]])
                err[m.key] = float(ex.get("Aa_stderr", {}).get(where[0], {}).get(where[1], 0.0))
            else:
                where = (str(m.stage + 1), str(m.depth))
                acc[m.key] = float(ex["Ab"][where[0]][where[1]])
                err[m.key] = float(ex.get("Ab_stderr", {}).get(where[0], {}).get(where[1], 0.0))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FileFormatError(f"the estimator's raw measurement tables are incomplete ({exc!r} missing)") from None
    return acc, err


def convert_convention(space: SearchSpace, form: BilinearForm, convention: str) -> BilinearForm:
    """The same build's form under the other convention (recomputed from the raw measurements)."""
    acc, err = raw_from_form(space, form)
    return contributions_form(space, acc, err, convention, form.extra.get("measurement"))
