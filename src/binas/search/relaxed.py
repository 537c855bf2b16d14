"""The continuous relaxation shared by the Frank-Wolfe solvers, and exact one-hot moves.

Relaxed variables: ``a`` on the simplex at every block position (absent ones included) and ``b`` on
the simplex of every stage's depth options. Accuracy and resources are bilinear in ``(a, b)``
(:func:`~binas.search.problem.lifted_accuracy`, :func:`~binas.search.problem.block_form`); with one
block fixed, each is linear in the other, so a block step is a linear programme whose simplex
(HiGHS dual simplex) solution is a vertex.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import linprog
from scipy.sparse import coo_matrix, csr_matrix

from binas.search.problem import SearchProblem, block_form
from binas.search.quiet import stdout_to_stderr
from binas.space import Architecture

__all__ = ["Relaxation", "mckp_vertex"]


def _groups(sizes: list[int]) -> csr_matrix:
    rows = np.repeat(np.arange(len(sizes)), sizes)
    return coo_matrix((np.ones(sum(sizes)), (rows, np.arange(sum(sizes))))).tocsr()


class Relaxation:
    """Bilinear objective/constraints of a :class:`SearchProblem` over relaxed ``(a, b)``."""

    def __init__(self, problem: SearchProblem, *, greedy: bool = True) -> None:
        self.problem = problem
        self.greedy = greedy  # exact greedy for the one-budget LP instead of HiGHS
        space = problem.space
        self.p, self.q = problem.accuracy_lifted
        self.p_beta = problem.accuracy.p_beta
        self.forms = [(r, *block_form(space, r.t)) for r in problem.constrained]
        self.a_groups = _groups([len(c) for st in space.stages for c in st.positions])
        self.b_groups = _groups([len(st.depths) for st in space.stages])

    def accuracy(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(self.problem.accuracy.const + self.p @ a + self.p_beta @ b + a @ self.q @ b)

    def grad_a(self, b: np.ndarray) -> np.ndarray:
        return self.p + self.q @ b

    def grad_b(self, a: np.ndarray) -> np.ndarray:
        return self.p_beta + self.q.T @ a

    def resources(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.array([r.fixed + p @ a + a @ th @ b for r, p, th in self.forms])

    def lp_a(self, cost: np.ndarray, b: np.ndarray) -> np.ndarray | None:
        """Vertex minimising ``cost @ a`` s.t. every budget with ``b`` fixed (None if infeasible)."""
        rows = np.array([p + th @ b for _, p, th in self.forms]) if self.forms else None
        rhs = np.array([r.budget - r.fixed for r, _, _ in self.forms]) if self.forms else None
        return self._lp(cost, rows, rhs, self.a_groups)

    def lp_b(self, cost: np.ndarray, a: np.ndarray) -> np.ndarray | None:
        """Vertex minimising ``cost @ b`` s.t. every budget with ``a`` fixed (None if infeasible)."""
        rows = np.array([th.T @ a for _, _, th in self.forms]) if self.forms else None
        rhs = np.array([r.budget - r.fixed - p @ a for r, p, _ in self.forms]) if self.forms else None
        return self._lp(cost, rows, rhs, self.b_groups)

    def _lp(self, cost: np.ndarray, rows: np.ndarray | None, rhs: np.ndarray | None,
            groups: csr_matrix) -> np.ndarray | None:
        if self.greedy and (rows is None or rows.shape[0] == 1):
            return mckp_vertex(-cost, None if rows is None else rows[0], None if rhs is None else rhs[0], groups)
        with stdout_to_stderr():  # HiGHS may print on descriptor 1
            res = linprog(cost, A_ub=rows, b_ub=rhs, A_eq=groups, b_eq=np.ones(groups.shape[0]),
                          bounds=(0, 1), method="highs-ds")
        return res.x if res.status == 0 else None

    def vertex(self, arch: Architecture) -> tuple[np.ndarray, np.ndarray]:
        """Relaxed point of a network; absent positions take their first choice (the reference's habit)."""
        space = self.problem.space
        alpha, beta = space.encode(arch)
        for s, stage in enumerate(space.stages):
            for j in range(arch.depths[s], stage.num_positions):
                alpha[space.alpha_offsets[s][j]] = 1.0
        return alpha, beta


def _hull(w: np.ndarray, v: np.ndarray) -> list[int]:
    """Indices of the LP-efficient items of one group: increasing w, increasing v, concave."""
    order = np.lexsort((-v, w))
    hull: list[int] = []
    for i in order:
        if hull and v[i] <= v[hull[-1]]:
            continue  # dominated (heavier, not better) or same weight and worse
        while len(hull) >= 2:
            a, b = hull[-2], hull[-1]
            # b is LP-dominated if it lies on or below the segment a -> i
            if (v[b] - v[a]) * (w[i] - w[a]) <= (v[i] - v[a]) * (w[b] - w[a]):
                hull.pop()
            else:
                break
        hull.append(int(i))
    return hull


def mckp_vertex(values: np.ndarray, weights: np.ndarray | None, capacity: float | None,
                groups: csr_matrix) -> np.ndarray | None:
    """Exact vertex solution of the multiple-choice knapsack LP (Sinha-Zoltners greedy).

    Maximises ``values @ x`` s.t. ``weights @ x <= capacity``, one simplex per group, ``x >= 0``;
    at most one group is fractional (two adjacent hull items). None if even the lightest choice of
    every group exceeds ``capacity``.
    """
    x = np.zeros(values.size)
    starts, ends = groups.indptr[:-1], groups.indptr[1:]
    members = [groups.indices[s:e] for s, e in zip(starts, ends)]
    if weights is None:
        for m in members:
            x[m[int(np.argmax(values[m]))]] = 1.0
        return x
    used, steps = 0.0, []
    for g, m in enumerate(members):
        hull = [int(m[i]) for i in _hull(weights[m], values[m])]
        x[hull[0]] = 1.0
        used += weights[hull[0]]
        for k in range(1, len(hull)):
            dw, dv = weights[hull[k]] - weights[hull[k - 1]], values[hull[k]] - values[hull[k - 1]]
            steps.append((dv / dw, k, hull[k - 1], hull[k], dw))
    if used > capacity:
        return None
    steps.sort(key=lambda t: (-t[0], t[1]))
    for _, _, prev, item, dw in steps:
        if x[prev] != 1.0:
            continue  # an earlier step of this group was fractional: the greedy stops there
        take = min(1.0, (capacity - used) / dw)
        if take <= 0:
            break
        x[prev], x[item] = 1.0 - take, take
        used += take * dw
        if take < 1.0:
            break
    return x
