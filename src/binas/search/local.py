"""Exact one-hot moves used to finish heuristic searches: feasibility-preserving hill climbing.

With the depths fixed, the accuracy is ``const + p_beta @ beta + sum_{present a} gain[a]`` with
``gain = p_alpha + Q @ beta`` (exact for any bilinear form) and every resource is a sum over present
blocks, so changing one or two block choices is evaluated in closed form for all moves at once.
"""

from __future__ import annotations

import numpy as np

from binas.search.problem import SearchProblem
from binas.space import Architecture

__all__ = ["improve", "present_groups"]

_EPS = 1e-13


def present_groups(problem: SearchProblem, arch: Architecture) -> np.ndarray:
    """``group[a]`` = index of the present position alpha variable a belongs to, -1 if absent."""
    space = problem.space
    group = np.full(space.num_alpha, -1)
    g = 0
    for s, stage in enumerate(space.stages):
        for j in range(arch.depths[s]):
            a0 = space.alpha_offsets[s][j]
            group[a0:a0 + len(stage.positions[j])] = g
            g += 1
    return group


def improve(problem: SearchProblem, arch: Architecture, *, max_moves: int = 200, pairs: bool = True) -> Architecture:
    """Best-improvement hill climbing over one- and two-block changes that keep every budget."""
    space, form = problem.space, problem.accuracy
    alpha, beta = space.encode(arch)
    gain = form.p_alpha + form.Q @ beta
    group = present_groups(problem, arch)
    valid = group >= 0
    ts = np.array([r.t for r in problem.constrained]).reshape(-1, space.num_alpha)
    caps = np.array([r.budget - r.fixed for r in problem.constrained])
    for _ in range(max_moves):
        current = np.flatnonzero(alpha)  # one present alpha per present group, in group order
        cur_of = np.full(space.num_alpha, -1)
        cur_of[valid] = current[np.argsort(group[current])][group[valid]]
        d_gain = np.where(valid, gain - gain[np.maximum(cur_of, 0)], -np.inf)
        d_res = np.where(valid, ts - ts[:, np.maximum(cur_of, 0)], 0.0)  # (k, A)
        slack = caps - ts @ alpha  # (k,)
        move = _best_move(d_gain, d_res, slack, group, pairs)
        if move is None:
            break
        for a in move:
            alpha[cur_of[a]] = 0.0
            alpha[a] = 1.0
    return space.decode(alpha, beta)


def _best_move(d_gain: np.ndarray, d_res: np.ndarray, slack: np.ndarray, group: np.ndarray,
               pairs: bool) -> tuple[int, ...] | None:
    ok1 = np.all(d_res <= slack[:, None], axis=0) & (d_gain > _EPS)
    best, move = 0.0, None
    if ok1.any():
        a = int(np.argmax(np.where(ok1, d_gain, -np.inf)))
        best, move = d_gain[a], (a,)
    if pairs:
        cand = np.flatnonzero(np.isfinite(d_gain))
        g2 = d_gain[cand][:, None] + d_gain[cand][None, :]
        ok2 = group[cand][:, None] != group[cand][None, :]
        for k in range(d_res.shape[0]):
            ok2 &= d_res[k, cand][:, None] + d_res[k, cand][None, :] <= slack[k]
        g2 = np.where(ok2, g2, -np.inf)
        i = int(np.argmax(g2))
        if g2.flat[i] > best + _EPS:
            move = (int(cand[i // cand.size]), int(cand[i % cand.size]))
    return move
