"""Exact diversified top-K by best-first enumeration (docs/search.md, "Diversified exact top-K").

For a stage-separable accuracy form and at most one budget, both accuracy and resource are sums
of per-decision terms (a stage's depth, then each present block's choice). The networks are the
leaves of a decision tree: stage 0's depth, its blocks, stage 1's depth, ... Under any node, the
best reachable accuracy within the remaining budget is read exactly from the Pareto front of the
decisions still open (built once, back to front, as in :mod:`binas.search.pareto`). A best-first
search ordered by "accuracy so far + that exact bound" therefore pops the feasible networks in
decreasing order of accuracy, touching only nodes that lead to them; keeping each one at
``min_distance`` or more from every kept one gives exactly the sequence of
:func:`binas.search.milp.solve_milp` without solving one MILP per network.
"""

from __future__ import annotations

import heapq
import itertools
import math

import numpy as np

from binas.search.pareto import pareto_sum, position_values, prune
from binas.search.problem import SearchProblem
from binas.space import Architecture
from binas.space.encoding import codes_to_archs

__all__ = ["diversified_top_k", "enumerable"]

_Front = tuple[np.ndarray, np.ndarray]  # (resource ascending, accuracy strictly increasing)
_SLACK = 1e-9  # relative slack on the remaining budget: bounds stay upper bounds under float rounding


def enumerable(problem: SearchProblem) -> bool:
    """True iff :func:`diversified_top_k` applies: a stage-separable form and at most one budget."""
    return problem.stage_separable and len(problem.constrained) <= 1


def _best(front: _Front, room: np.ndarray) -> np.ndarray:
    """Best accuracy of ``front`` within each remaining budget ``room`` (-inf where nothing fits)."""
    idx = np.searchsorted(front[0], room, side="right") - 1
    return np.where(idx >= 0, front[1][np.maximum(idx, 0)], -np.inf)


class _Tree:
    """Per-decision values and the exact suffix fronts ``after[s][k][j]`` (decisions after block j)."""

    def __init__(self, problem: SearchProblem) -> None:
        space = problem.space
        constrained = problem.constrained
        t = constrained[0].t if constrained else np.zeros(space.num_alpha)
        self.budget = (constrained[0].budget - constrained[0].fixed) if constrained else math.inf
        self.slack = _SLACK * max(1.0, float(np.abs(t).sum()), abs(self.budget) if constrained else 0.0)
        self.const = float(problem.accuracy.const)
        p_beta = np.asarray(problem.accuracy.p_beta, dtype=float)
        self.depth_acc = [p_beta[space.beta_offsets[s]:space.beta_offsets[s] + len(st.depths)]
                          for s, st in enumerate(space.stages)]
        self.stages = space.stages
        self.leaf: list[list[list[_Front]]] = []  # [s][k][j]: (resource, accuracy) of each choice
        self.after: list[list[list[_Front]]] = []  # [s][k][j]: front of blocks j.. of stage s, then stages s+1..
        front: _Front = (np.zeros(1), np.zeros(1))
        for s in reversed(range(len(space.stages))):
            stage = space.stages[s]
            leaves, afters, branches = [], [], []
            for k, d in enumerate(stage.depths):
                leaf = [position_values(problem, t, s, k, j) for j in range(d)]
                after = [front]
                for j in reversed(range(d)):
                    after.insert(0, pareto_sum(*leaf[j], *after[0])[:2])
                leaves.append(leaf)
                afters.append(after)
                branches.append((after[0][0], after[0][1] + self.depth_acc[s][k]))
            self.leaf.insert(0, leaves)
            self.after.insert(0, afters)
            res = np.concatenate([r for r, _ in branches])
            acc = np.concatenate([a for _, a in branches])
            keep = prune(res, acc)
            front = (res[keep], acc[keep])

    def children(self, node: tuple) -> tuple[np.ndarray, list[tuple]]:
        """Exact bounds (descending) and states of a node's feasible children."""
        s, k, j, acc, res, codes = node
        room_left = self.budget - res + self.slack
        if k < 0:  # choose stage s's depth
            ks = np.arange(len(self.stages[s].depths))
            accs = acc + self.depth_acc[s]
            bounds = accs + np.array([_best(self.after[s][kk][0], np.array([room_left]))[0] for kk in ks])
            states = [(s, int(kk), 0, float(accs[kk]), res, codes) for kk in ks]
        else:  # choose block j's choice
            d = self.stages[s].depths[k]
            leaf_res, leaf_acc = self.leaf[s][k][j]
            accs, ress = acc + leaf_acc, res + leaf_res
            bounds = accs + _best(self.after[s][k][j + 1], room_left - leaf_res)
            if j + 1 < d:  # next block of this stage
                nxt, pad = (s, k, j + 1), ()
            else:  # next stage's depth; this stage's absent positions coded -1
                nxt, pad = (s + 1, -1, 0), (-1,) * (self.stages[s].num_positions - d)
            states = [(*nxt, float(a), float(r), codes + (c, *pad)) for c, (a, r) in enumerate(zip(accs, ress))]
        order = [i for i in np.argsort(-bounds, kind="stable") if bounds[i] > -np.inf]
        return bounds[order], [states[i] for i in order]


def diversified_top_k(problem: SearchProblem, top_k: int, min_distance: int = 1, *,
                      max_networks: int = 50_000, max_steps: int = 300_000) -> tuple[list[Architecture], bool]:
    """The exact diversified top-K of ``problem`` (see :func:`binas.search.milp.solve_milp`).

    The k-th network is the best feasible one at ``min_distance`` or more block positions from each
    of the first k - 1. Returns ``(networks, complete)``; ``complete`` is False when ``max_networks``
    networks were visited or ``max_steps`` tree nodes popped before K were kept
    (:func:`binas.search.exact.solve_exact` then lets the MILP continue from there).

    Requires :func:`enumerable` ``(problem)``.
    """
    if not enumerable(problem):
        raise ValueError("diversified_top_k needs a stage-separable estimator and at most one budget")
    tree = _Tree(problem)
    num_stages = len(problem.space.stages)
    counter = itertools.count()
    heap: list[tuple] = []

    def push(node: tuple) -> None:
        bounds, states = tree.children(node)
        if states:  # on equal bounds the deeper node first: ties are followed down, not across (memory)
            s, k, _, _, _, codes = states[0]
            heapq.heappush(heap, (-float(bounds[0]), -(s + (k >= 0) + len(codes)), next(counter), bounds, states, 0))

    push((0, -1, 0, tree.const, 0.0, ()))
    kept: list[Architecture] = []
    kept_codes = np.zeros((0, problem.space.layout.num_positions), dtype=np.int64)
    visited = 0
    for _ in range(max_steps):
        if not heap or len(kept) == top_k:
            return kept, True
        _, depth, _, bounds, states, i = heapq.heappop(heap)
        if i + 1 < len(states):
            heapq.heappush(heap, (-float(bounds[i + 1]), depth, next(counter), bounds, states, i + 1))
        node = states[i]
        if node[0] < num_stages:
            push(node)
            continue
        visited += 1
        codes = np.asarray(node[5], dtype=np.int64)
        far = not kept or np.min(np.sum(kept_codes != codes, axis=1)) >= min_distance
        if far:
            arch = codes_to_archs(problem.space, codes[None, :])[0]
            if problem.feasible(arch):  # the exact LUT sums decide, as for the MILP's answers
                kept.append(arch)
                kept_codes = np.vstack([kept_codes, codes])
        if visited >= max_networks and len(kept) < top_k:
            return kept, False
    return kept, not heap or len(kept) == top_k
