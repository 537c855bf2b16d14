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
from binas.space import Architecture

__all__ = ["Relaxation"]


def _groups(sizes: list[int]) -> csr_matrix:
    rows = np.repeat(np.arange(len(sizes)), sizes)
    return coo_matrix((np.ones(sum(sizes)), (rows, np.arange(sum(sizes))))).tocsr()


class Relaxation:
    """Bilinear objective/constraints of a :class:`SearchProblem` over relaxed ``(a, b)``."""

    def __init__(self, problem: SearchProblem) -> None:
        self.problem = problem
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

    @staticmethod
    def _lp(cost: np.ndarray, rows: np.ndarray | None, rhs: np.ndarray | None,
            groups: csr_matrix) -> np.ndarray | None:
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
