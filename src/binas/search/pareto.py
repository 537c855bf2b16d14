"""The exact accuracy-vs-resource Pareto front of a whole space (docs/search.md).

With a stage-separable accuracy form, both accuracy and resource are sums over stages, and, for a
fixed stage depth, sums over that stage's present blocks. A network on the global front is made
of parts on their own fronts, so the front is the Pareto-pruned Minkowski sum of per-position
fronts (per depth), then of per-stage fronts. No discretisation: every point is a real network
with its exact (accuracy, resource).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from binas.search.problem import SearchError, SearchProblem
from binas.space import Architecture

__all__ = ["ParetoFront", "pareto_front", "pareto_sum", "position_values", "prune"]

_TIE = 1e-12  # accuracy gains below this are float noise, not a new front point


@dataclass(frozen=True)
class _Front:
    res: np.ndarray  # (n,) resource, ascending after pruning
    acc: np.ndarray  # (n,) accuracy, strictly increasing after pruning
    parts: np.ndarray  # (n, k) integer choice/depth indices of the components


@dataclass(frozen=True)
class ParetoFront:
    """The front, sorted by resource (ascending) with strictly increasing accuracy."""

    resource: str
    unit: str
    values: np.ndarray  # (n,) resource of each network (LUT sum incl. fixed part)
    accuracy: np.ndarray  # (n,) predicted accuracy
    architectures: tuple[Architecture, ...]
    seconds: float

    def best_within(self, budget: float) -> int | None:
        """Index of the most accurate front network with resource <= budget (None if none)."""
        idx = int(np.searchsorted(self.values, budget, side="right")) - 1
        return idx if idx >= 0 else None


def prune(res: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated points (min resource, max accuracy), sorted by resource."""
    order = np.lexsort((-acc, res))
    a = acc[order]
    best_before = np.maximum.accumulate(np.concatenate([[-np.inf], a[:-1]]))
    return order[a > best_before + _TIE]


def pareto_sum(x_res: np.ndarray, x_acc: np.ndarray, y_res: np.ndarray, y_acc: np.ndarray
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pareto-pruned Minkowski sum of two point sets: ``(resource, accuracy, kept indices into the x-by-y grid)``."""
    res = (x_res[:, None] + y_res[None, :]).ravel()
    acc = (x_acc[:, None] + y_acc[None, :]).ravel()
    keep = prune(res, acc)
    return res[keep], acc[keep], keep


def position_values(problem: SearchProblem, t: np.ndarray, s: int, k: int, j: int) -> tuple[np.ndarray, np.ndarray]:
    """``(resource, accuracy)`` of every choice of block j of stage s when the stage has depth option k;
    ``t`` holds one resource's per-choice costs, or several as rows (the resource is then one row each)."""
    space = problem.space
    p_l, q_l = problem.accuracy_lifted
    rows = space.alpha_offsets[s][j] + np.arange(len(space.stages[s].positions[j]))
    return t[..., rows], p_l[rows] + q_l[rows, space.beta_offsets[s] + k]


def _minkowski(x: _Front, y: _Front) -> _Front:
    res, acc, keep = pareto_sum(x.res, x.acc, y.res, y.acc)
    ix, iy = np.divmod(keep, y.res.size)
    return _Front(res, acc, np.hstack([x.parts[ix], y.parts[iy]]))


def _leaf(res: np.ndarray, acc: np.ndarray) -> _Front:
    keep = prune(res, acc)
    return _Front(res[keep], acc[keep], keep[:, None])


def _stage_front(problem: SearchProblem, t: np.ndarray, s: int) -> _Front:
    """Front of one stage; parts = [depth index, choice index per position (-1 if absent)]."""
    space = problem.space
    stage = space.stages[s]
    fronts = []
    for k, d in enumerate(stage.depths):
        b = space.beta_offsets[s] + k
        front = _Front(np.zeros(1), np.array([problem.accuracy.p_beta[b]]), np.full((1, 1), k))
        for j in range(d):
            front = _minkowski(front, _leaf(*position_values(problem, t, s, k, j)))
        pad = np.full((front.res.size, stage.num_positions - d), -1)
        fronts.append(_Front(front.res, front.acc, np.hstack([front.parts, pad])))
    res = np.concatenate([f.res for f in fronts])
    acc = np.concatenate([f.acc for f in fronts])
    parts = np.vstack([f.parts for f in fronts])
    keep = prune(res, acc)
    return _Front(res[keep], acc[keep], parts[keep])


def _architecture(problem: SearchProblem, parts: np.ndarray) -> Architecture:
    depths, blocks, col = [], [], 0
    for stage in problem.space.stages:
        d = stage.depths[int(parts[col])]
        ids = tuple(stage.positions[j][int(parts[col + 1 + j])].id for j in range(d))
        depths.append(d)
        blocks.append(ids)
        col += 1 + stage.num_positions
    return Architecture(tuple(depths), tuple(blocks))


def pareto_front(problem: SearchProblem, resource: str | None = None) -> ParetoFront:
    """Exact Pareto front of accuracy vs one resource over every network of the space.

    Raises:
        SearchError: the accuracy form couples stages (no exact separable front), or no resource.
    """
    started = time.perf_counter()
    if resource is None:
        if len(problem.resources) != 1:
            raise SearchError("the Pareto front is computed against exactly one resource: pass one --lut")
        resource = problem.resources[0].name
    r = problem.resource(resource)
    if not problem.stage_separable:
        raise SearchError(
            f"the {problem.accuracy.kind!r} estimator couples different stages, so its exact Pareto front "
            "cannot be built stage by stage; use 'binas search' (exact MILP) per budget instead"
        )
    front = _Front(np.array([r.fixed]), np.array([problem.accuracy.const]), np.zeros((1, 0), dtype=int))
    for s in range(len(problem.space.stages)):
        front = _minkowski(front, _stage_front(problem, r.t, s))
    archs = tuple(_architecture(problem, row) for row in front.parts)
    # report the LUT sums the budget checks use (their float summation order differs from the Minkowski sums)
    values = np.array([problem.resource_values(arch)[resource] for arch in archs])
    return ParetoFront(resource, r.unit, values, front.acc, archs, time.perf_counter() - started)
