"""The search problem as a value (docs/search.md): one accuracy form, resource tables, budgets.

Variables follow the space's canonical layout: ``alpha`` (one per stage, position, choice) and
``beta`` (one per stage, depth option). Block position j (0-based) of stage s is present iff the
stage depth is > j (*cumulative* depth semantics); positions ``j < min depth`` are always present.
An absent block's alpha is all zeros in one-hot form.

Every additive resource is the same shape as the accuracy form::

    R(alpha, beta) = R_fixed + p^T alpha + alpha^T Theta beta

where, in the *relaxed* layout used by Frank-Wolfe (alpha on the simplex at every position),
``p`` carries the always-present positions and ``Theta`` the optional ones. At one-hot points both
the relaxed value and the LUT sum agree (see :func:`block_form`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from binas.errors import SearchError
from binas.estimator.form import BilinearForm
from binas.lut.table import Lut, lut_key
from binas.space import Architecture, SearchSpace, encoding
from binas.space.encoding import always_present, present_betas, presence_matrix

__all__ = ["Resource", "SearchError", "SearchProblem", "block_form", "build_problem", "format_amount",
           "lifted_accuracy", "lut_sum", "make_resources"]


def format_amount(value: float, unit: str) -> str:
    """Human text of a resource amount, e.g. ``'23.41 ms'`` or ``'3,250,000 params'``."""
    if unit == "count":
        return f"{value:,.0f}"
    return f"{value:.6g} {unit}"


def block_form(space: SearchSpace, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-alpha block values ``t`` -> ``(p, Theta)`` with the cumulative depth semantics.

    ``p[a] = t[a]`` for always-present positions (j < min depth); ``Theta[a, (s, d)] = t[a]`` for an
    optional position j of stage s and every depth option d > j. Then
    ``p @ alpha + alpha @ Theta @ beta`` is the sum of the present blocks' values for any one-hot
    (alpha on the simplex at every position, absent ones included) and its expectation otherwise.
    """
    t = np.asarray(t, dtype=float)
    p = np.zeros(space.num_alpha)
    theta = np.zeros((space.num_alpha, space.num_beta))
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            rows = slice(space.alpha_offsets[s][j], space.alpha_offsets[s][j] + len(choices))
            if always_present(stage, j):
                p[rows] = t[rows]
                continue
            for b in present_betas(space, s, j):
                theta[rows, b] = t[rows]
    return p, theta


def lifted_accuracy(space: SearchSpace, form: BilinearForm) -> tuple[np.ndarray, np.ndarray]:
    """The accuracy form in the relaxed layout (alpha on the simplex at every position).

    Linear terms of optional positions move onto the depths where the position is present, and
    same-stage products with depths where it is absent are dropped. For a stage-separable form the
    value at every vertex then equals :meth:`BilinearForm.predict`. Products of an optional
    position with another stage's depth are kept as they are, which counts them even when the
    block is absent: the relaxation is then an approximation, used only to guide the Frank-Wolfe
    heuristics (every answer is re-evaluated exactly).
    """
    presence = presence_matrix(space)
    p = form.p_alpha.copy()
    q = form.Q.copy()
    for s, stage in enumerate(space.stages):
        b0, nb = space.beta_offsets[s], len(stage.depths)
        rows = _stage_rows(space, s)
        q[rows, b0:b0 + nb] *= presence[rows, b0:b0 + nb]
    opt = _optional_mask(space)
    q[opt] += p[opt, None] * presence[opt]
    p[opt] = 0.0
    return p, q


def _optional_mask(space: SearchSpace) -> np.ndarray:
    mask = np.zeros(space.num_alpha, dtype=bool)
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            if not always_present(stage, j):
                a0 = space.alpha_offsets[s][j]
                mask[a0:a0 + len(choices)] = True
    return mask


def _stage_rows(space: SearchSpace, s: int) -> slice:
    stage = space.stages[s]
    a0 = space.alpha_offsets[s][0]
    return slice(a0, a0 + sum(len(c) for c in stage.positions))


def lut_sum(lut: Lut, arch: Architecture) -> float:
    """:meth:`Lut.value` without re-validating ``arch`` (same summation order, same float result)."""
    return lut.fixed + sum(
        lut.blocks[lut_key(s, j)][c] for s, blocks in enumerate(arch.blocks) for j, c in enumerate(blocks)
    )


@dataclass(frozen=True)
class Resource:
    """One resource table of the problem, with its optional budget."""

    name: str
    unit: str
    fixed: float
    t: np.ndarray  # per-alpha block values, canonical layout
    budget: float | None = None

    def value(self, alpha: np.ndarray) -> float:
        """LUT sum at a one-hot alpha (absent blocks all zeros)."""
        return float(self.fixed + self.t @ alpha)


@dataclass(frozen=True)
class SearchProblem:
    """Maximise ``accuracy`` s.t. ``resource_k <= budget_k`` (docs/search.md), validated once."""

    space: SearchSpace
    accuracy: BilinearForm
    resources: tuple[Resource, ...]
    luts: tuple[Lut, ...] = field(default=(), repr=False)

    @property
    def constrained(self) -> tuple[Resource, ...]:
        return tuple(r for r in self.resources if r.budget is not None)

    @property
    def budgets(self) -> dict[str, float]:
        return {r.name: r.budget for r in self.constrained}

    def resource(self, name: str) -> Resource:
        for r in self.resources:
            if r.name == name:
                return r
        raise SearchError(f"no LUT for resource {name!r} (given: {', '.join(r.name for r in self.resources)})")

    # ------------------------------------------------------------------ evaluation
    def evaluate(self, arch: Architecture) -> tuple[float, dict[str, float]]:
        """``(accuracy, {resource: LUT sum})`` of one architecture, independent of any solver."""
        alpha, beta = self.space.encode(arch)  # validates arch
        res = {lut.resource: lut_sum(lut, arch) for lut in self.luts} if self.luts else {
            r.name: r.value(alpha) for r in self.resources}
        return self.accuracy.evaluate(alpha, beta), res

    def resource_values(self, arch: Architecture) -> dict[str, float]:
        """LUT sums of a network already known to belong to the space (no re-validation)."""
        return {lut.resource: lut_sum(lut, arch) for lut in self.luts}

    def violations(self, resources: dict[str, float]) -> list[str]:
        """Names of the budgets that ``resources`` exceed (strictly: any excess counts)."""
        return [r.name for r in self.constrained if resources[r.name] > r.budget]

    def feasible(self, arch: Architecture) -> bool:
        return not self.violations(self.evaluate(arch)[1])

    # ------------------------------------------------------------------ structure
    @cached_property
    def accuracy_lifted(self) -> tuple[np.ndarray, np.ndarray]:
        """``(p, Q)`` of the accuracy in the relaxed layout (see :func:`lifted_accuracy`)."""
        return lifted_accuracy(self.space, self.accuracy)

    @cached_property
    def stage_separable(self) -> bool:
        """True iff the accuracy has no product of one stage's alpha with another stage's beta."""
        _, q = self.accuracy_lifted
        for s in range(len(self.space.stages)):
            rows = _stage_rows(self.space, s)
            b0, nb = self.space.beta_offsets[s], len(self.space.stages[s].depths)
            outside = q[rows].copy()
            outside[:, b0:b0 + nb] = 0.0
            if np.any(outside != 0.0):
                return False
        return True

    def smallest(self, name: str) -> tuple[float, Architecture]:
        """The smallest reachable value of one resource and a network reaching it (exact)."""
        arch = self.cheapest(self.resource(name).t)
        return self.evaluate(arch)[1][name], arch

    def cheapest(self, t: np.ndarray) -> Architecture:
        """The network minimising the sum of per-alpha costs ``t`` over its present blocks (exact)."""
        return encoding.cheapest(self.space, t)

    def infeasibility_message(self) -> str | None:
        """The "infeasible: the smallest reachable <resource> is X <unit>" sentence, or None."""
        for r in self.constrained:
            low, _ = self.smallest(r.name)
            if low > r.budget:
                return (f"infeasible: the smallest reachable {r.name} is {format_amount(low, r.unit)} "
                        f"(budget {format_amount(r.budget, r.unit)})")
        return None

    def joint_infeasibility_message(self) -> str:
        """Message when every budget is reachable alone but not all together."""
        parts = []
        for r in self.constrained:
            low, _ = self.smallest(r.name)
            parts.append(f"{r.name} <= {format_amount(r.budget, r.unit)} (smallest reachable "
                         f"{format_amount(low, r.unit)})")
        return "infeasible: no network meets " + " and ".join(parts) + " together"


def build_problem(space: SearchSpace, accuracy: BilinearForm, luts: list[Lut] | tuple[Lut, ...],
                  budgets: dict[str, float] | None = None) -> SearchProblem:
    """Validate and assemble a :class:`SearchProblem`.

    Raises:
        SearchError: duplicate resources, a budget without a LUT, a non-finite budget.
        FileFormatError: a LUT or estimator made for another space.
    """
    budgets = dict(budgets or {})
    accuracy.check_space(space)
    names = [lut.resource for lut in luts]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SearchError(f"two LUTs give the same resource {dupes[0]!r}; pass one LUT per resource")
    unknown = [n for n in budgets if n not in names]
    if unknown:
        known = ", ".join(names) if names else "none"
        raise SearchError(f"--max {unknown[0]} has no LUT with resource {unknown[0]!r} (LUT resources: {known})")
    for name, value in budgets.items():
        if not math.isfinite(value):
            raise SearchError(f"the {name} budget must be a finite number, got {value!r}")
    return SearchProblem(space, accuracy, make_resources(space, luts, budgets), tuple(luts))


def make_resources(space: SearchSpace, luts: list[Lut] | tuple[Lut, ...],
                   budgets: dict[str, float] | None = None) -> tuple[Resource, ...]:
    """:class:`Resource` tables (with budgets) from LUTs, e.g. to run :func:`evolve` on any predictor."""
    budgets = budgets or {}
    out = []
    for lut in luts:
        lut.check_space(space)
        out.append(Resource(lut.resource, lut.unit, float(lut.fixed), lut.alpha_vector(space),
                            budgets.get(lut.resource)))
    return tuple(out)
