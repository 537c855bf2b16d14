"""Exact search by mixed-integer linear programming (HiGHS via :func:`scipy.optimize.milp`).

Binary variables ``beta_{s,d}`` (stage s has depth d) and ``alpha_{s,j,c}`` (block j of stage s is
present with choice c), linked by ``sum_c alpha_{s,j,c} = sum_{d > j} beta_{s,d}`` (cumulative
depth semantics; for always-present positions the right side is 1). Then every LUT resource is
linear, ``R = fixed + t^T alpha``, and the accuracy is

    const + p_a^T alpha + p_b^T beta + sum_{a,b} Q_ab alpha_a beta_b.

A product whose beta is in alpha's own stage reduces to a linear term (alpha_a = 1 implies the
position is present); only what remains (a fitted W coupling different stages, or depth-dependent
same-stage values) gets a product variable ``w_ab`` linearised exactly by McCormick inequalities
``w <= alpha, w <= beta, w >= alpha + beta - 1``. ``--top-k`` adds distance cuts, one MILP per
further network. :func:`binas.search.exact.solve_exact` calls this only where the best-first
enumeration of :mod:`binas.search.kbest` does not apply.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix

from binas.search.problem import SearchProblem
from binas.search.quiet import stdout_to_stderr
from binas.search.result import (STATUS_INFEASIBLE, SearchResult, checked_result, failed_result)
from binas.space import Architecture, SearchSpace
from binas.space.encoding import is_present, present_betas

__all__ = ["MilpModel", "build_model", "position_distance", "solve_milp"]

_OBJECTIVE_SCALE = 1e3  # costs scaled to max |c| = 1e3 so HiGHS's absolute gap (1e-6) is negligible
_MAX_RECHECKS = 50  # solutions over a budget by HiGHS's tolerance are cut off and re-solved


@dataclass(frozen=True)
class MilpModel:
    """The linearised problem: minimise ``c @ x`` s.t. ``rows``, binaries first, products last."""

    c: np.ndarray
    constraints: tuple[LinearConstraint, ...]
    integrality: np.ndarray
    num_alpha: int
    num_beta: int
    const: float  # accuracy = const - c @ x / scale
    scale: float
    bounds: Bounds  # [0, 1], with dominated choices fixed to 0 when pruned


def _linear_objective(problem: SearchProblem) -> tuple[np.ndarray, np.ndarray, list[tuple[int, int, float]]]:
    """Linear coefficients for alpha and beta, plus the residual products ``(a, b, q)``.

    For alpha a at position j of stage s, ``sum_{d > j} Q[a, (s, d)] alpha_a beta_{s,d}`` equals
    ``base * alpha_a + sum_{d > j} (Q[a, (s, d)] - base) alpha_a beta_{s,d}`` with base = the value
    at the deepest option (present blocks imply ``sum_{d > j} beta_{s,d} = 1``); same-stage columns
    with d <= j multiply an absent block and vanish.
    """
    space, form = problem.space, problem.accuracy
    lin_a, lin_b = form.p_alpha.astype(float).copy(), form.p_beta.astype(float).copy()
    residual = np.zeros_like(form.Q)
    own = np.zeros(form.Q.shape, dtype=bool)
    for s, stage in enumerate(space.stages):
        b0 = space.beta_offsets[s]
        for j, choices in enumerate(stage.positions):
            rows = slice(space.alpha_offsets[s][j], space.alpha_offsets[s][j] + len(choices))
            cols = present_betas(space, s, j)
            own[rows, b0:b0 + len(stage.depths)] = True
            base = form.Q[rows, cols[-1]]
            lin_a[rows] += base
            residual[rows, cols] = form.Q[rows, cols] - base[:, None]
    residual[~own] = form.Q[~own]
    a_idx, b_idx = np.nonzero(residual)
    products = [(int(a), int(b), float(residual[a, b])) for a, b in zip(a_idx, b_idx)]
    return lin_a, lin_b, products


def _structure_rows(space: SearchSpace, n: int) -> tuple[csr_matrix, np.ndarray]:
    """Equality rows: one depth per stage; block presence follows the depth."""
    rows, cols, vals, rhs = [], [], [], []
    r = 0
    A = space.num_alpha
    for s, stage in enumerate(space.stages):
        for k in range(len(stage.depths)):
            rows.append(r); cols.append(A + space.beta_offsets[s] + k); vals.append(1.0)
        rhs.append(1.0); r += 1
        for j, choices in enumerate(stage.positions):
            for c in range(len(choices)):
                rows.append(r); cols.append(space.alpha_offsets[s][j] + c); vals.append(1.0)
            for b in present_betas(space, s, j):
                rows.append(r); cols.append(A + b); vals.append(-1.0)
            rhs.append(0.0); r += 1
    return coo_matrix((vals, (rows, cols)), shape=(r, n)).tocsr(), np.array(rhs)


def _dominated(problem: SearchProblem, lin_a: np.ndarray, products: list[tuple[int, int, float]]) -> np.ndarray:
    """Alphas some other choice of the same position beats: value >= and every budgeted resource <=.

    Swapping a dominated choice for its dominator never loses accuracy or feasibility, so fixing it
    to 0 keeps the optimum (not the top-k). Choices with product terms are left alone.
    """
    space = problem.space
    ts = np.array([r.t for r in problem.constrained]).reshape(-1, space.num_alpha)
    coupled = np.zeros(space.num_alpha, dtype=bool)
    coupled[[a for a, _, _ in products]] = True
    out = np.zeros(space.num_alpha, dtype=bool)
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            rows = space.alpha_offsets[s][j] + np.arange(len(choices))
            rows = rows[~coupled[rows]]
            v, w = lin_a[rows], ts[:, rows]
            no_worse = (v[None, :] >= v[:, None]) & np.all(w[:, None, :] <= w[:, :, None], axis=0)
            better = (v[None, :] > v[:, None]) | np.any(w[:, None, :] < w[:, :, None], axis=0)
            earlier = np.arange(rows.size)[None, :] < np.arange(rows.size)[:, None]  # exact ties: keep first
            out[rows[np.any(no_worse & (better | earlier), axis=1)]] = True
    return out


def _split_products(space: SearchSpace, products: list[tuple[int, int, float]]
                    ) -> tuple[dict[tuple[int, int], float], list[tuple[int, int, float]]]:
    """Residual products within one stage (as a dict) and across stages (a list)."""
    stage_a = np.concatenate([[s] * sum(len(c) for c in st.positions) for s, st in enumerate(space.stages)])
    stage_b = np.concatenate([[s] * len(st.depths) for s, st in enumerate(space.stages)])
    same = {(a, b): q for a, b, q in products if stage_a[a] == stage_b[b]}
    return same, [(a, b, q) for a, b, q in products if stage_a[a] != stage_b[b]]


def _stage_copies(space: SearchSpace, same: dict[tuple[int, int], float], offset: int
                  ) -> tuple[list[tuple[int, int]], list[float], list[tuple[list[int], list[float]]]]:
    """Per-depth copies ``z[a, b] = alpha_a * beta_b`` of every stage that has same-stage products.

    For stage s: ``sum_c z[(s, j, c), d] = beta_{s,d}`` for every present position j < d, and
    ``sum_{d > j} z[(s, j, c), d] = alpha_{s,j,c}``. With binary alpha/beta this forces
    ``z = alpha * beta``; its LP relaxation is the convex hull of each stage's disjunction over
    depths (much tighter than McCormick rows per product). Returns the (a, b) of each copy (its
    column is ``offset + i``), their objective values and the equality rows ``(columns, values)``.
    """
    stages = {int(np.searchsorted(space.beta_offsets, b, side="right") - 1) for _, b in same}
    pairs: list[tuple[int, int]] = []
    rows: list[tuple[list[int], list[float]]] = []
    A = space.num_alpha
    for s in sorted(stages):
        stage = space.stages[s]
        per_alpha: dict[int, list[int]] = {}
        for k, d in enumerate(stage.depths):
            b = space.beta_offsets[s] + k
            for j in range(d):
                cols = []
                for c in range(len(stage.positions[j])):
                    a = space.alpha_offsets[s][j] + c
                    per_alpha.setdefault(a, []).append(offset + len(pairs))
                    cols.append(offset + len(pairs))
                    pairs.append((a, b))
                rows.append((cols + [A + b], [1.0] * len(cols) + [-1.0]))
        rows += [(cols + [a], [1.0] * len(cols) + [-1.0]) for a, cols in per_alpha.items()]
    return pairs, [same.get(p, 0.0) for p in pairs], rows


def build_model(problem: SearchProblem, *, prune: bool = False) -> MilpModel:
    """Linearise ``problem`` (objective, structure, budgets, per-depth copies, McCormick rows).

    With ``prune``, dominated choices are fixed to 0 (exact for the single best network).
    """
    space = problem.space
    A, B = space.num_alpha, space.num_beta
    lin_a, lin_b, all_products = _linear_objective(problem)
    same, products = _split_products(space, all_products)
    pairs, q_copies, copy_rows = _stage_copies(space, same, A + B)
    n = A + B + len(pairs) + len(products)
    c = -np.concatenate([lin_a, lin_b, q_copies, [q for _, _, q in products]])
    scale = _OBJECTIVE_SCALE / max(float(np.max(np.abs(c))) if c.size else 0.0, 1e-12)
    eq, rhs = _structure_rows(space, n)
    constraints = [LinearConstraint(eq, rhs, rhs)]
    if copy_rows:
        r_idx = np.concatenate([[i] * len(cols) for i, (cols, _) in enumerate(copy_rows)])
        m = coo_matrix((np.concatenate([v for _, v in copy_rows]), (r_idx, np.concatenate([c_ for c_, _ in copy_rows]))),
                       shape=(len(copy_rows), n)).tocsr()
        constraints.append(LinearConstraint(m, 0.0, 0.0))
    for r in problem.constrained:
        norm = max(abs(r.budget - r.fixed), float(np.max(np.abs(r.t))), 1e-12)
        row = np.zeros(n)
        row[:A] = r.t / norm
        constraints.append(LinearConstraint(row[None, :], -np.inf, (r.budget - r.fixed) / norm))
    if products:
        constraints.append(_mccormick(products, A, n))
    integrality = np.concatenate([np.ones(A + B), np.zeros(len(pairs) + len(products))])
    upper = np.ones(n)
    if prune:
        upper[:A][_dominated(problem, lin_a, all_products)] = 0.0
    return MilpModel(c * scale, tuple(constraints), integrality, A, B, float(problem.accuracy.const), scale,
                     Bounds(0.0, upper))


def _mccormick(products: list[tuple[int, int, float]], A: int, n: int) -> LinearConstraint:
    """``w - alpha <= 0``, ``w - beta <= 0``, ``alpha + beta - w <= 1`` for each product ``w``."""
    rows, cols, vals, ub = [], [], [], []
    for i, (a, b, _) in enumerate(products):
        w = n - len(products) + i
        base = 3 * i
        rows += [base, base, base + 1, base + 1, base + 2, base + 2, base + 2]
        cols += [w, a, w, A + b, a, A + b, w]
        vals += [1.0, -1.0, 1.0, -1.0, 1.0, 1.0, -1.0]
        ub += [0.0, 0.0, 1.0]
    m = coo_matrix((vals, (rows, cols)), shape=(3 * len(products), n)).tocsr()
    return LinearConstraint(m, -np.inf, np.array(ub))


def _distance_cut(model: MilpModel, space: SearchSpace, arch: Architecture, min_distance: int) -> LinearConstraint:
    """Networks differing from ``arch`` at >= ``min_distance`` block positions (1: a no-good cut).

    The distance counts positions whose choice differs, an absent block being one more choice.
    Agreement at a position is ``alpha[chosen]`` where ``arch`` has a block there and
    ``1 - sum_c alpha[c]`` where it has none; the row keeps the agreements <= positions - distance.
    """
    row = np.zeros(model.c.size)
    positions = absent = 0
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            a0 = space.alpha_offsets[s][j]
            positions += 1
            if is_present(j, arch.depths[s]):
                ids = [c.id for c in choices]
                row[a0 + ids.index(arch.blocks[s][j])] = 1.0
            else:
                row[a0:a0 + len(choices)] = -1.0
                absent += 1
    return LinearConstraint(row[None, :], -np.inf, float(positions - min_distance - absent))


def position_distance(space: SearchSpace, a: Architecture, b: Architecture) -> int:
    """Number of block positions whose choice differs between ``a`` and ``b`` (absent is a choice)."""
    out = 0
    for s, stage in enumerate(space.stages):
        for j in range(stage.num_positions):
            ca = a.blocks[s][j] if is_present(j, a.depths[s]) else None
            cb = b.blocks[s][j] if is_present(j, b.depths[s]) else None
            out += ca != cb
    return out


def _decode(model: MilpModel, space: SearchSpace, x: np.ndarray) -> Architecture:
    alpha = np.round(x[:model.num_alpha])
    beta = np.round(x[model.num_alpha:model.num_alpha + model.num_beta])
    return space.decode(alpha, beta)


def solve_milp(problem: SearchProblem, *, top_k: int = 1, min_distance: int = 1,
               time_limit: float = 120.0, found: tuple[Architecture, ...] = ()) -> SearchResult:
    """Exact optimum (and the ``top_k`` best distinct networks) of ``problem`` by HiGHS.

    The k-th network is the exact optimum among the networks that differ from each of the first
    k - 1 at ``min_distance`` or more block positions (:func:`position_distance`); with 1 these
    are the K best distinct networks. ``found``: the first networks of that sequence, already known
    (from :func:`binas.search.kbest.diversified_top_k`); the MILP continues after them.

    Statuses: ``optimal`` (proven; ``gap`` is HiGHS's final relative gap), ``infeasible`` (message
    "infeasible: the smallest reachable <resource> is X <unit>"), ``budget_exceeded`` only if the
    tolerance re-check loop is exhausted (never observed).
    """
    started = time.perf_counter()
    message = problem.infeasibility_message()
    if message:
        return failed_result(STATUS_INFEASIBLE, message, "milp", started)
    model = build_model(problem, prune=top_k == 1)
    cuts = [_distance_cut(model, problem.space, a, min_distance) for a in found]
    kept: list[tuple[Architecture, float, bool]] = [(a, 0.0, True) for a in found]
    rechecks = 0
    while len(kept) < top_k:
        with stdout_to_stderr():  # HiGHS prints some diagnostics on descriptor 1
            res = milp(model.c, integrality=model.integrality, bounds=model.bounds,
                       constraints=list(model.constraints) + cuts,
                       options={"mip_rel_gap": 0.0, "time_limit": time_limit, "disp": False})
        if res.x is None:
            break
        arch = _decode(model, problem.space, res.x)
        if not problem.feasible(arch):  # within HiGHS's tolerance but over the exact LUT sum
            cuts.append(_distance_cut(model, problem.space, arch, 1))
            rechecks += 1
            if rechecks > _MAX_RECHECKS:
                break
            continue
        cuts.append(_distance_cut(model, problem.space, arch, min_distance))
        kept.append((arch, float(getattr(res, "mip_gap", 0.0) or 0.0), res.status == 0))
    if not kept:
        message = problem.joint_infeasibility_message() if res.status == 2 else f"MILP failed: {res.message}"
        return failed_result(STATUS_INFEASIBLE, message, "milp", started)
    alternatives = tuple((a, *problem.evaluate(a)) for a, _, _ in kept[1:])
    return checked_result(problem, kept[0][0], "milp", started, exact=kept[0][2], gap=kept[0][1],
                          alternatives=alternatives)
