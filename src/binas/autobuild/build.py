"""Build without search: the best network from top-scored units under LUT budgets.

1. Every unit (stage block sequence) is scored by its AutoBuild embedding norm and by a coarse
   contribution (one context network); the candidates of a stage are the ``pool`` best by each plus,
   for each LUT, the units on the score-vs-cost Pareto fronts (so cheap units survive tight
   budgets); candidates get an additive ``contribution`` score averaged over ``n_contexts`` random
   context networks (:func:`binas.autobuild.scores.unit_contributions`).
2. A beam over stages combines one candidate per stage, keeping the best partial sums that can
   still meet every budget (LUT sum of the cheapest remaining units) and, per resource, the
   score-vs-cost Pareto front of partial sums (exact for one resource, like the Pareto solver).
3. The best ``rerank`` feasible combinations by additive score, and every feasible combination of
   the top-K units when there are few, are predicted with the full graph model; the best wins.

The top-K units kept per stage (the built network's unit first) define the reduced space of
:mod:`binas.autobuild.reduce`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from binas.autobuild.graph import graphs_from_choices
from binas.autobuild.predictor import AutoBuildPredictor
from binas.autobuild.scores import UnitTable, enumerate_units, random_codes, unit_contributions, unit_norms
from binas.errors import AutoBuildError
from binas.lut.table import Lut, lut_key
from binas.search.problem import format_amount
from binas.space import Architecture, SearchSpace

__all__ = ["AutoBuildError", "BuildResult", "StageUnits", "build_architecture", "score_units"]


@dataclass(frozen=True)
class StageUnits:
    """Scored candidate units of one stage (indices into ``table``)."""

    table: UnitTable
    candidates: np.ndarray  # (M,) unit indices
    norm: np.ndarray  # (M,) AutoBuild embedding-norm scores
    contribution: np.ndarray  # (M,) predicted-accuracy points
    costs: np.ndarray  # (M, R) LUT cost per resource


@dataclass(frozen=True)
class BuildResult:
    """The directly built network and the top units kept per stage."""

    architecture: Architecture
    predicted_accuracy: float
    resources: dict[str, float]
    kept: list[list[int]]  # per stage: indices into stages[s].candidates, best first
    stages: list[StageUnits]
    evaluated: int  # networks predicted with the full model
    exhaustive: bool  # every feasible combination of the top-K units was predicted
    budgets: dict[str, float] = field(default_factory=dict)
    ranked: tuple[tuple[Architecture, float], ...] = ()  # distinct predicted networks, best first (--verify)


def _unit_costs(space: SearchSpace, table: UnitTable, lut: Lut) -> np.ndarray:
    st = space.stages[table.stage]
    width = max(len(p) for p in st.positions)
    grid = np.zeros((st.num_positions, width + 1))  # last column: absent = 0
    for j, choices in enumerate(st.positions):
        grid[j, : len(choices)] = [lut.blocks[lut_key(table.stage, j)][c.id] for c in choices]
    cols = np.where(table.codes >= 0, table.codes, width)
    return grid[np.arange(st.num_positions)[None, :], cols].sum(axis=1)


def _pareto(score: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Indices of the (max score, min cost) Pareto front."""
    order = np.lexsort((-score, cost))
    ordered = score[order]
    best_before = np.maximum.accumulate(np.concatenate([[-np.inf], ordered[:-1]]))
    return order[ordered > best_before].astype(np.int64)


def _score_stage(predictor: AutoBuildPredictor, stage: int, luts: list[Lut], pool: int,
                 contexts: np.ndarray) -> StageUnits:
    table = enumerate_units(predictor.space, stage)
    norms = unit_norms(predictor, table)
    coarse = unit_contributions(predictor, table, np.arange(len(table)), contexts[:1])  # one context, every unit
    costs = np.stack([_unit_costs(predictor.space, table, lut) for lut in luts], axis=1) if luts \
        else np.zeros((len(table), 0))
    chosen = set(np.argsort(-norms, kind="stable")[:pool].tolist())
    chosen.update(np.argsort(-coarse, kind="stable")[:pool].tolist())
    for r in range(costs.shape[1]):
        chosen.update(_pareto(norms, costs[:, r]).tolist())
        chosen.update(_pareto(coarse, costs[:, r]).tolist())
        chosen.add(int(np.argmin(costs[:, r])))
    cand = np.array(sorted(chosen), dtype=np.int64)
    contrib = unit_contributions(predictor, table, cand, contexts)
    return StageUnits(table, cand, norms[cand], contrib, costs[cand])


def _beam(stages: list[StageUnits], fixed: np.ndarray, budgets: np.ndarray, beam: int) -> tuple[np.ndarray, np.ndarray]:
    """Feasible combinations ``(K, S)`` of candidate positions and their additive scores, best first."""
    min_rest = np.cumsum([st.costs.min(axis=0) if st.costs.size else np.zeros(0) for st in stages][::-1], axis=0)[::-1]
    combos, score, cost = np.zeros((1, 0), dtype=np.int64), np.zeros(1), fixed[None, :].copy()
    for s, st in enumerate(stages):
        combos = np.hstack([np.repeat(combos, len(st.candidates), 0), np.tile(np.arange(len(st.candidates)), len(combos))[:, None]])
        score = (score[:, None] + st.contribution[None, :]).ravel()
        cost = (cost[:, None, :] + st.costs[None, :, :]).reshape(len(combos), st.costs.shape[1])
        rest = min_rest[s + 1] if s + 1 < len(stages) else np.zeros_like(fixed)
        ok = np.all(cost + rest <= budgets + 1e-9, axis=1)
        combos, score, cost = combos[ok], score[ok], cost[ok]
        keep = set(np.argsort(-score, kind="stable")[:beam].tolist())
        for r in range(cost.shape[1]):
            keep.update(_pareto(score, cost[:, r]).tolist())
        idx = np.array(sorted(keep, key=lambda i: -score[i]), dtype=np.int64)
        combos, score, cost = combos[idx], score[idx], cost[idx]
    return combos, score


def _codes_of(space: SearchSpace, stages: list[StageUnits], combos: np.ndarray) -> np.ndarray:
    return np.hstack([st.table.codes[st.candidates[combos[:, s]]] for s, st in enumerate(stages)])


def _smallest_message(stages: list[StageUnits], fixed: np.ndarray, luts: list[Lut], budgets: dict) -> str:
    parts = []
    for r, lut in enumerate(luts):
        if lut.resource in budgets:
            low = fixed[r] + sum(float(st.costs[:, r].min()) for st in stages)
            parts.append(f"the smallest reachable {lut.resource} is {format_amount(low, lut.unit)}")
    return "infeasible budget: " + ", ".join(parts)


def score_units(predictor: AutoBuildPredictor, luts: list[Lut] | None = None, pool: int = 256,
                n_contexts: int = 16, seed: int = 0) -> list[StageUnits]:
    """Score every unit of every stage and pick each stage's candidates (independent of the budgets)."""
    luts = list(luts or [])
    for lut in luts:
        lut.check_space(predictor.space)
    contexts = random_codes(predictor.space, n_contexts, np.random.default_rng(seed))
    return [_score_stage(predictor, s, luts, pool, contexts) for s in range(len(predictor.space.stages))]


def build_architecture(predictor: AutoBuildPredictor, luts: list[Lut] | None = None,
                       budgets: dict[str, float] | None = None, top_k: int = 3, pool: int = 256,
                       n_contexts: int = 16, beam: int = 2000, rerank: int = 64, seed: int = 0,
                       scored: list[StageUnits] | None = None) -> BuildResult:
    """The best network from top-scored units that fits ``budgets`` (LUT sums), plus the top-K units.

    ``scored`` (from :func:`score_units` with the same LUTs) skips the scoring when building for
    several budgets.

    Raises:
        AutoBuildError: a budget names no given LUT, ``top_k < 1``, or no network fits the budgets.
    """
    luts, budgets = list(luts or []), dict(budgets or {})
    space = predictor.space
    names = [lut.resource for lut in luts]
    for name in budgets:
        if name not in names:
            raise AutoBuildError(f"--max {name}=... needs a LUT of resource {name!r} (given: {names or 'none'})")
    if top_k < 1:
        raise AutoBuildError(f"--top-k must be at least 1, got {top_k}")
    stages = scored if scored is not None else score_units(predictor, luts, pool, n_contexts, seed)
    fixed = np.array([lut.fixed for lut in luts])
    limit = np.array([budgets.get(n, np.inf) for n in names])
    combos, _ = _beam(stages, fixed, limit, beam)
    if len(combos) == 0:
        raise AutoBuildError(_smallest_message(stages, fixed, luts, budgets))
    combos = combos[:rerank]
    kept = _kept_units(stages, combos, top_k)
    exhaustive = top_k ** len(stages) <= 20_000
    if exhaustive:
        combos = np.vstack([combos, _feasible_products(stages, kept, fixed, limit)])
    pred = predictor.predict_graphs(graphs_from_choices(space, predictor.vocab_, _codes_of(space, stages, combos)))
    best = combos[int(np.argmax(pred))]
    arch = _combo_arch(space, stages, best)
    kept = [[int(best[s])] + [u for u in k if u != best[s]][: top_k - 1] for s, k in enumerate(kept)]
    resources = {lut.resource: lut.value(space, arch) for lut in luts}
    ranked = {}
    for i in np.argsort(-pred, kind="stable")[:rerank]:
        ranked.setdefault(_combo_arch(space, stages, combos[i]), float(pred[i]))
    return BuildResult(arch, float(pred.max()), resources, kept, stages, len(combos), exhaustive, budgets,
                       tuple(ranked.items()))


def _combo_arch(space: SearchSpace, stages: list[StageUnits], combo: np.ndarray) -> Architecture:
    return Architecture(tuple(int(st.table.depths[st.candidates[combo[s]]]) for s, st in enumerate(stages)),
                        tuple(st.table.blocks(space, int(st.candidates[combo[s]])) for s, st in enumerate(stages)))


def _kept_units(stages: list[StageUnits], combos: np.ndarray, top_k: int) -> list[list[int]]:
    """Per stage, ``top_k`` distinct candidates: those of the best feasible combos first, then by contribution."""
    kept = []
    for s, st in enumerate(stages):
        order = list(dict.fromkeys(combos[:, s].tolist()))
        order += [int(i) for i in np.argsort(-st.contribution, kind="stable") if int(i) not in order]
        kept.append(order[:top_k])
    return kept


def _feasible_products(stages: list[StageUnits], kept: list[list[int]], fixed: np.ndarray,
                       limit: np.ndarray) -> np.ndarray:
    grids = np.meshgrid(*[np.array(k) for k in kept], indexing="ij")
    combos = np.stack([g.ravel() for g in grids], axis=1)
    cost = fixed[None, :] + sum(st.costs[combos[:, s]] for s, st in enumerate(stages))
    return combos[np.all(cost <= limit + 1e-9, axis=1)] if cost.size else combos
