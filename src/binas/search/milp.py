"""Exact search by mixed-integer linear programming (HiGHS via :func:`scipy.optimize.milp`).

Binary variables ``beta_{s,d}`` (stage s has depth d) and ``alpha_{s,j,c}`` (block j of stage s is
present with choice c), linked by ``sum_c alpha_{s,j,c} = sum_{d > j} beta_{s,d}`` (cumulative
depth semantics; for always-present positions the right side is 1). Then every LUT resource is
linear, ``R = fixed + t^T alpha``, and the accuracy is

    const + p_a^T alpha + p_b^T beta + sum_{a,b} Q_ab alpha_a beta_b.

A product whose beta is in alpha's own stage reduces to a linear term (alpha_a = 1 implies the
position is present); only what remains (a fitted W coupling different stages, or depth-dependent
same-stage values) gets a product variable ``w_ab`` linearised exactly by McCormick inequalities
``w <= alpha, w <= beta, w >= alpha + beta - 1``. ``--top-k`` adds no-good cuts.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, csr_matrix

from binas.search.problem import SearchProblem
from binas.search.result import (STATUS_INFEASIBLE, SearchResult, checked_result, failed_result)
from binas.space import Architecture, SearchSpace

__all__ = ["MilpModel", "build_model", "solve_milp"]

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
            cols = [b0 + k for k, d in enumerate(stage.depths) if d > j]
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
            for k, d in enumerate(stage.depths):
                if d > j:
                    rows.append(r); cols.append(A + space.beta_offsets[s] + k); vals.append(-1.0)
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


def build_model(problem: SearchProblem, *, prune: bool = False) -> MilpModel:
    """Linearise ``problem`` (objective, structure, budgets, McCormick rows).

    With ``prune``, dominated choices are fixed to 0 (exact for the single best network).
    """
    space = problem.space
    A, B = space.num_alpha, space.num_beta
    lin_a, lin_b, products = _linear_objective(problem)
    n = A + B + len(products)
    c = -np.concatenate([lin_a, lin_b, [q for _, _, q in products]])
    scale = _OBJECTIVE_SCALE / max(float(np.max(np.abs(c))) if c.size else 0.0, 1e-12)
    eq, rhs = _structure_rows(space, n)
    constraints = [LinearConstraint(eq, rhs, rhs)]
    for r in problem.constrained:
        norm = max(abs(r.budget - r.fixed), float(np.max(np.abs(r.t))), 1e-12)
        row = np.zeros(n)
        row[:A] = r.t / norm
        constraints.append(LinearConstraint(row[None, :], -np.inf, (r.budget - r.fixed) / norm))
    if products:
        constraints.append(_mccormick(products, A, n))
    integrality = np.concatenate([np.ones(A + B), np.zeros(len(products))])
    upper = np.ones(n)
    if prune:
        upper[:A][_dominated(problem, lin_a, products)] = 0.0
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


def _no_good(model: MilpModel, space: SearchSpace, arch: Architecture) -> LinearConstraint:
    """Exclude exactly ``arch``: its ones cannot all be 1 again."""
    alpha, beta = space.encode(arch)
    row = np.zeros(model.c.size)
    row[:model.num_alpha] = alpha
    row[model.num_alpha:model.num_alpha + model.num_beta] = beta
    return LinearConstraint(row[None, :], -np.inf, row.sum() - 1.0)


def _decode(model: MilpModel, space: SearchSpace, x: np.ndarray) -> Architecture:
    alpha = np.round(x[:model.num_alpha])
    beta = np.round(x[model.num_alpha:model.num_alpha + model.num_beta])
    return space.decode(alpha, beta)


def solve_milp(problem: SearchProblem, *, top_k: int = 1, time_limit: float = 120.0) -> SearchResult:
    """Exact optimum (and the ``top_k`` best distinct networks) of ``problem``.

    Statuses: ``optimal`` (proven; ``gap`` is HiGHS's final relative gap), ``infeasible`` (message
    "infeasible: the smallest reachable <resource> is X <unit>"), ``budget_exceeded`` only if the
    tolerance re-check loop is exhausted (never observed).
    """
    started = time.perf_counter()
    message = problem.infeasibility_message()
    if message:
        return failed_result(STATUS_INFEASIBLE, message, "milp", started)
    model = build_model(problem, prune=top_k == 1)
    cuts: list[LinearConstraint] = []
    found: list[tuple[Architecture, float, bool]] = []
    rechecks = 0
    while len(found) < top_k:
        res = milp(model.c, integrality=model.integrality, bounds=model.bounds,
                   constraints=list(model.constraints) + cuts,
                   options={"mip_rel_gap": 0.0, "time_limit": time_limit})
        if res.x is None:
            break
        arch = _decode(model, problem.space, res.x)
        cuts.append(_no_good(model, problem.space, arch))
        if not problem.feasible(arch):  # within HiGHS's tolerance but over the exact LUT sum
            rechecks += 1
            if rechecks > _MAX_RECHECKS:
                break
            continue
        found.append((arch, float(getattr(res, "mip_gap", 0.0) or 0.0), res.status == 0))
    if not found:
        message = problem.joint_infeasibility_message() if res.status == 2 else f"MILP failed: {res.message}"
        return failed_result(STATUS_INFEASIBLE, message, "milp", started)
    alternatives = tuple((a, *problem.evaluate(a)) for a, _, _ in found[1:])
    return checked_result(problem, found[0][0], "milp", started, exact=found[0][2], gap=found[0][1],
                          alternatives=alternatives)
