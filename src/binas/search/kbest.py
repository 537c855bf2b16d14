"""Exact diversified top-K by best-first enumeration (docs/search.md, "Diversified exact top-K").

For a stage-separable accuracy form, accuracy and every resource are sums of per-decision terms
(a stage's depth, then each present block's choice). The networks are the leaves of a decision
tree: stage 0's depth, its blocks, stage 1's depth, ... With one budget, the best reachable
accuracy under any node within the remaining budget is read exactly from the Pareto front of the
decisions still open (built once, back to front, as in :mod:`binas.search.pareto`). With several
budgets each front gives an upper bound instead: one per budget alone, and Lagrangian ones (one
budget kept, the others priced into the accuracy at multipliers chosen to make the root's bound
tightest); a node's bound is the smallest. A best-first search ordered by "accuracy so far +
bound" pops the feasible networks in decreasing order of accuracy; keeping each one at
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
_SLACK = 1e-9  # relative slack on the remaining budgets: bounds stay upper bounds under float rounding
MAX_BUDGETS = 3  # more budgets go to the MILP: the bounds of single fronts loosen with each one


def enumerable(problem: SearchProblem) -> bool:
    """True iff :func:`diversified_top_k` applies: a stage-separable form and at most ``MAX_BUDGETS`` budgets."""
    return problem.stage_separable and len(problem.constrained) <= MAX_BUDGETS


def _best(front: _Front, room: np.ndarray) -> np.ndarray:
    """Best accuracy of ``front`` within each remaining budget ``room`` (-inf where nothing fits)."""
    idx = np.searchsorted(front[0], room, side="right") - 1
    return np.where(idx >= 0, front[1][np.maximum(idx, 0)], -np.inf)


class _Relaxation:
    """Exact suffix fronts of one relaxation: resource ``primary`` kept as a budget, the others priced
    at ``prices`` per unit (a Lagrangian relaxation; price 0 drops that budget).

    ``after[s][k][j]`` is the front of blocks j.. of stage s (depth option k) and stages s+1..; its
    accuracy is the estimator's minus the priced resources, so ``price . room + best(after, room_p)``
    bounds the accuracy of every completion that meets all budgets.
    """

    def __init__(self, problem: SearchProblem, costs: np.ndarray, depth_acc: list[np.ndarray], primary: int,
                 prices: np.ndarray) -> None:
        self.primary, self.prices = primary, prices
        priced, t = prices @ costs, costs[primary]
        space = problem.space
        self.after: list[list[list[_Front]]] = []
        front: _Front = (np.zeros(1), np.zeros(1))
        for s in reversed(range(len(space.stages))):
            afters, branches = [], []
            for k, d in enumerate(space.stages[s].depths):
                after = [front]
                for j in reversed(range(d)):
                    (res, price), acc = position_values(problem, np.stack([t, priced]), s, k, j)
                    after.insert(0, pareto_sum(res, acc - price, *after[0])[:2])
                afters.append(after)
                branches.append((after[0][0], after[0][1] + depth_acc[s][k]))
            self.after.insert(0, afters)
            res = np.concatenate([r for r, _ in branches])
            acc = np.concatenate([a for _, a in branches])
            keep = prune(res, acc)
            front = (res[keep], acc[keep])
        self.root = front

    def bound(self, front: _Front, rooms: np.ndarray) -> np.ndarray:
        """Bound on the rest's accuracy for each row of remaining budgets ``rooms`` (n, budgets)."""
        best = _best(front, rooms[:, self.primary])
        return best + rooms @ self.prices if self.prices.any() else best  # (no budget: rooms are inf)


class _Tree:
    """Per-decision accuracy and resources, and the relaxations that bound every node."""

    def __init__(self, problem: SearchProblem) -> None:
        space = problem.space
        constrained = problem.constrained
        self.costs = (np.array([r.t for r in constrained]) if constrained else np.zeros((1, space.num_alpha)))
        self.budgets = (np.array([r.budget - r.fixed for r in constrained]) if constrained else np.array([math.inf]))
        scale = np.maximum(1.0, np.abs(self.costs).sum(axis=1))
        self.slack = _SLACK * np.maximum(scale, np.where(np.isfinite(self.budgets), np.abs(self.budgets), 0.0))
        self.const = float(problem.accuracy.const)
        p_beta = np.asarray(problem.accuracy.p_beta, dtype=float)
        self.depth_acc = [p_beta[space.beta_offsets[s]:space.beta_offsets[s] + len(st.depths)]
                          for s, st in enumerate(space.stages)]
        self.stages = space.stages
        self.leaf: list[list[list[tuple[np.ndarray, np.ndarray]]]] = [  # [s][k][j]: (resources (m, c), accuracy (c,))
            [[position_values(problem, self.costs, s, k, j) for j in range(d)] for k, d in enumerate(st.depths)]
            for s, st in enumerate(space.stages)]
        m = len(self.budgets)
        self.relaxations = [_Relaxation(problem, self.costs, self.depth_acc, i, np.zeros(m)) for i in range(m)]
        if m > 1:
            self.relaxations.append(self._priced(problem))

    def _root_bound(self, relaxation: _Relaxation) -> float:
        return float(relaxation.bound(relaxation.root, self.budgets[None, :] + self.slack)[0])

    def _priced(self, problem: SearchProblem) -> _Relaxation:
        """The Lagrangian relaxation (budget 0 kept, the others priced) with the tightest root bound.

        The root bound is convex in each price: each is searched on a geometric grid (steps of 4x)
        around its front's accuracy per unit of resource, then refined (2x, then 1.41x), one resource
        at a time.
        """
        best = self.relaxations[0]
        for i in range(1, len(self.budgets)):
            res, acc = self.relaxations[i].root
            unit = (acc[-1] - acc[0]) / max(res[-1] - res[0], 1e-300)
            tried: dict[float, tuple[float, _Relaxation]] = {0.0: (self._root_bound(best), best)}

            def value(price: float, base: np.ndarray = best.prices, i: int = i) -> float:
                if price not in tried:
                    prices = base.copy()
                    prices[i] = price
                    relaxation = _Relaxation(problem, self.costs, self.depth_acc, 0, prices)
                    tried[price] = (self._root_bound(relaxation), relaxation)
                return tried[price][0]

            price = min([0.0, *(unit * 4.0 ** np.arange(-4, 5))], key=value)
            for step in (2.0, 2.0 ** 0.5):
                price = min((price / step, price, price * step), key=value)
            best = tried[price][1]
        return best

    def children(self, node: tuple) -> tuple[np.ndarray, list[tuple]]:
        """Upper bounds (descending) and states of a node's feasible children."""
        s, k, j, acc, res, codes = node
        room = self.budgets - res + self.slack
        if k < 0:  # choose stage s's depth
            ks = range(len(self.stages[s].depths))
            accs = acc + self.depth_acc[s]
            rooms = np.repeat(room[None, :], len(accs), axis=0)
            rest = np.min([[r.bound(r.after[s][kk][0], rooms[kk:kk + 1])[0] for kk in ks] for r in self.relaxations],
                          axis=0)
            states = [(s, kk, 0, float(accs[kk]), res, codes) for kk in ks]
        else:  # choose block j's choice
            d = self.stages[s].depths[k]
            leaf_res, leaf_acc = self.leaf[s][k][j]
            accs, rooms = acc + leaf_acc, room[None, :] - leaf_res.T
            rest = np.min([r.bound(r.after[s][k][j + 1], rooms) for r in self.relaxations], axis=0)
            if j + 1 < d:  # next block of this stage
                nxt, pad = (s, k, j + 1), ()
            else:  # next stage's depth; this stage's absent positions coded -1
                nxt, pad = (s + 1, -1, 0), (-1,) * (self.stages[s].num_positions - d)
            ress = res + leaf_res.T  # (choices, budgets)
            states = [(*nxt, float(a), ress[c], codes + (c, *pad)) for c, a in enumerate(accs)]
        rest = np.where(np.all(rooms >= 0, axis=1), rest, -np.inf)
        bounds = accs + rest
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
        raise ValueError(f"diversified_top_k needs a stage-separable estimator and at most {MAX_BUDGETS} budgets")
    tree = _Tree(problem)
    num_stages = len(problem.space.stages)
    counter = itertools.count()
    heap: list[tuple] = []

    def push(node: tuple) -> None:
        bounds, states = tree.children(node)
        if states:  # on equal bounds the deeper node first: ties are followed down, not across (memory)
            s, k, _, _, _, codes = states[0]
            heapq.heappush(heap, (-float(bounds[0]), -(s + (k >= 0) + len(codes)), next(counter), bounds, states, 0))

    push((0, -1, 0, tree.const, np.zeros(len(tree.budgets)), ()))
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
