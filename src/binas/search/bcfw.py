"""Block-coordinate Frank-Wolfe (BCFW) on the bilinear relaxation: faithful and corrected.

Both maximise ``Acc(a, b)`` over the relaxation (:class:`~binas.search.relaxed.Relaxation`): ``a``
on the simplex of every block position, ``b`` on the simplex of every stage's depth options, with
every budget ``R_k(a, b) <= T_k``. With one block fixed the problem is a linear programme in the
other.

* ``bcfw-reference`` (docs/search.md, the authors' algorithm): start at the smallest network; 1000
  steps, on ``b`` for the first two then on ``a`` or ``b`` at random; each step's LP minimises the
  momentum-0.9 average of ``-grad Acc``; constant step 0.002; then 100 "sparsify" LP steps of size 1
  towards the current mixture; final per-decision argmax. The argmax can break the budget: the
  result then has status ``budget_exceeded``.
* ``bcfw`` (corrected): the same LP oracle returning simplex vertices, the standard decreasing
  step ``2 / (t + 2)``, then feasibility-preserving rounding: for the rounded depth vector and its
  one-stage neighbours, the alpha LP vertex has at most one fractional block per budget; it is
  rounded to the cheapest choice of its support (which keeps a single budget), and exact one- and
  two-block hill climbing (:func:`~binas.search.local.improve`) spends the remaining slack.
  Never an argmax that can break a budget; the best feasible candidate wins.
"""

from __future__ import annotations

import time

import numpy as np

from binas.search.local import improve
from binas.search.problem import SearchProblem
from binas.search.relaxed import Relaxation
from binas.search.result import STATUS_GAVE_UP, STATUS_INFEASIBLE, SearchResult, checked_result, failed_result
from binas.space import Architecture

__all__ = ["solve_bcfw", "solve_bcfw_reference"]


def solve_bcfw_reference(problem: SearchProblem, *, seed: int = 0, steps: int = 1000, sparsify_steps: int = 100,
                         step_size: float = 0.002, momentum: float = 0.9) -> SearchResult:
    """The reference BCFW (faithful, including its possibly over-budget final argmax)."""
    started = time.perf_counter()
    message = problem.infeasibility_message()
    if message:
        return failed_result(STATUS_INFEASIBLE, message, "bcfw-reference", started)
    relax = Relaxation(problem)
    rng = np.random.default_rng(seed)
    a, b = relax.vertex(problem.space.smallest)
    avg_a, avg_b = np.zeros_like(a), np.zeros_like(b)
    for t in range(steps):
        if t < 2 or rng.random() < 0.5:
            avg_b = momentum * avg_b + (1 - momentum) * -relax.grad_b(a)
            s = relax.lp_b(avg_b, a)
            if s is not None:
                b = b + step_size * (s - b)
        else:
            avg_a = momentum * avg_a + (1 - momentum) * -relax.grad_a(b)
            s = relax.lp_a(avg_a, b)
            if s is not None:
                a = a + step_size * (s - a)
    for t in range(sparsify_steps):  # step 1 towards the LP vertex closest to the current mixture
        if t % 2 == 0:
            s = relax.lp_b(-b, a)
            b = b if s is None else s
        else:
            s = relax.lp_a(-a, b)
            a = a if s is None else s
    arch = problem.space.decode(a, b)
    return checked_result(problem, arch, "bcfw-reference", started, exact=False)


def _feasible_start(problem: SearchProblem) -> Architecture | None:
    """A network meeting every budget: the smallest of one budgeted resource, or of their budget-scaled
    sum (None if none of these does)."""
    candidates = [problem.smallest(r.name)[1] for r in problem.constrained]
    if problem.constrained:
        candidates.append(problem.cheapest(sum(r.t / max(r.budget - r.fixed, 1e-12) for r in problem.constrained)))
    candidates.append(problem.space.smallest)
    return next((arch for arch in candidates if problem.feasible(arch)), None)


def _round_alpha(problem: SearchProblem, a: np.ndarray, b: np.ndarray) -> Architecture:
    """Round an alpha LP vertex: each fractional block takes the cheapest choice of its support."""
    space = problem.space
    cost = sum(r.t / max(r.budget - r.fixed, 1e-12) for r in problem.constrained) if problem.constrained else None
    a = a.copy()
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            rows = slice(space.alpha_offsets[s][j], space.alpha_offsets[s][j] + len(choices))
            block = a[rows]
            support = np.flatnonzero(block > 1e-9)
            if support.size > 1 and cost is not None:
                pick = support[np.argmin(cost[rows][support])]
                block[:] = 0.0
                block[pick] = 1.0
    return space.decode(a, b)


def _onehot_beta(problem: SearchProblem, idx: tuple[int, ...]) -> np.ndarray:
    beta = np.zeros(problem.space.num_beta)
    beta[[o + k for o, k in zip(problem.space.beta_offsets, idx)]] = 1.0
    return beta


def _neighbours(problem: SearchProblem, idx: tuple[int, ...]) -> list[tuple[int, ...]]:
    """Depth vectors one move away: one stage to any other depth, or one stage up and another down."""
    sizes = [len(st.depths) for st in problem.space.stages]
    out = []
    for s, n in enumerate(sizes):
        out += [idx[:s] + (k,) + idx[s + 1:] for k in range(n) if k != idx[s]]
    for up in range(len(sizes)):
        for down in range(len(sizes)):
            if up != down and idx[up] + 1 < sizes[up] and idx[down] > 0:
                v = list(idx)
                v[up] += 1
                v[down] -= 1
                out.append(tuple(v))
    return out


class _DepthSearch:
    """Best-improvement search over depth vectors scored by the alpha LP (the block's vertex oracle)."""

    def __init__(self, problem: SearchProblem, relax: Relaxation) -> None:
        self.problem, self.relax = problem, relax
        self.seen: dict[tuple[int, ...], tuple[float, np.ndarray | None]] = {}

    def score(self, idx: tuple[int, ...]) -> float:
        if idx not in self.seen:
            beta = _onehot_beta(self.problem, idx)
            vertex = self.relax.lp_a(-self.relax.grad_a(beta), beta)
            value = -np.inf if vertex is None else self.relax.accuracy(vertex, beta)
            self.seen[idx] = (value, vertex)
        return self.seen[idx][0]

    def climb(self, idx: tuple[int, ...], max_rounds: int = 10) -> tuple[int, ...]:
        for _ in range(max_rounds):
            best = max(_neighbours(self.problem, idx), key=self.score, default=idx)
            if self.score(best) <= self.score(idx) + 1e-12:
                break
            idx = best
        return idx

    def best(self, k: int) -> list[tuple[tuple[int, ...], np.ndarray]]:
        ranked = sorted((v for v in self.seen.items() if v[1][1] is not None), key=lambda kv: -kv[1][0])
        return [(idx, vertex) for idx, (_, vertex) in ranked[:k]]


def _frank_wolfe(relax: Relaxation, a: np.ndarray, b: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Alternate beta / alpha vertex-LP steps with the standard decreasing step 2 / (t + 2)."""
    for t in range(steps):
        gamma = 2.0 / (t // 2 + 2)
        if t % 2 == 0:
            s = relax.lp_b(-relax.grad_b(a), a)
            b = b if s is None else b + gamma * (s - b)
        else:
            s = relax.lp_a(-relax.grad_a(b), b)
            a = a if s is None else a + gamma * (s - a)
    return a, b


def solve_bcfw(problem: SearchProblem, *, seed: int = 0, steps: int = 40,
               rounding_candidates: int = 3) -> SearchResult:
    """Corrected BCFW: vertex LP oracle, decreasing steps, feasibility-preserving rounding.

    ``seed`` is accepted for a uniform solver interface; the corrected algorithm is deterministic.
    """
    started = time.perf_counter()
    message = problem.infeasibility_message()
    if message:
        return failed_result(STATUS_INFEASIBLE, message, "bcfw", started)
    start = _feasible_start(problem)
    if start is None:
        return failed_result(STATUS_GAVE_UP, "bcfw found no feasible starting network for these joint "
                             "budgets; use --solver milp", "bcfw", started)
    relax = Relaxation(problem)
    a, b = _frank_wolfe(relax, *relax.vertex(start), steps)
    search = _DepthSearch(problem, relax)
    rounded = tuple(int(np.argmax(b[o:o + len(st.depths)]))
                    for st, o in zip(problem.space.stages, problem.space.beta_offsets))
    search.climb(rounded)
    best = improve(problem, start)
    best_acc = problem.evaluate(best)[0]
    for idx, vertex in search.best(rounding_candidates):
        arch = _round_alpha(problem, vertex, _onehot_beta(problem, idx))
        if not problem.feasible(arch):
            continue
        arch = improve(problem, arch)
        acc = problem.evaluate(arch)[0]
        if acc > best_acc:
            best, best_acc = arch, acc
    return checked_result(problem, best, "bcfw", started, exact=False)
