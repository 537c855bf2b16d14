"""Evolutionary search baseline (ref: population 100, 500 generations, 25 parents, 50 mutants with
per-gene probability 0.1, 50 uniform crossovers) with capped rejection sampling for feasibility.

:func:`evolve` takes any scoring callable ``list[Architecture] -> np.ndarray`` (e.g. an MLP
predictor), so non-bilinear predictors are searched with it; :func:`solve_evolution` runs it on a
:class:`~binas.search.problem.SearchProblem` with a fast vectorised bilinear scorer.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from binas.search.genes import GeneCodec
from binas.search.problem import Resource, SearchProblem
from binas.search.result import STATUS_GAVE_UP, STATUS_INFEASIBLE, SearchResult, checked_result, failed_result
from binas.space import Architecture, SearchSpace

__all__ = ["EvolutionConfig", "EvolutionOutcome", "bilinear_gene_scorer", "evolve", "solve_evolution"]

Scorer = Callable[[list[Architecture]], np.ndarray]


@dataclass(frozen=True)
class EvolutionConfig:
    """Hyper-parameters (reference values by default)."""

    population: int = 100
    generations: int = 500
    parents: int = 25
    mutants: int = 50
    crossovers: int = 50
    mutation_prob: float = 0.1
    max_tries: int = 50  # rejection-sampling rounds per refill before giving up on that refill


@dataclass(frozen=True)
class EvolutionOutcome:
    """Best feasible network found (None if no feasible one was ever drawn) and give-up count."""

    architecture: Architecture | None
    score: float | None
    gave_up: int  # refills that stopped at max_tries with fewer feasible networks than asked
    evaluated: int


def _draw(make: Callable[[int], np.ndarray], ok: Callable[[np.ndarray], np.ndarray], n: int,
          max_tries: int) -> tuple[np.ndarray, bool]:
    """Up to ``n`` feasible rows by rejection sampling in batches; ``(rows, gave_up)``."""
    kept: list[np.ndarray] = []
    count = 0
    for _ in range(max_tries):
        batch = make(max(2 * n, 16))
        good = batch[ok(batch)]
        kept.append(good)
        count += len(good)
        if count >= n:
            return np.concatenate(kept)[:n], False
    return np.concatenate(kept)[:n], True


def evolve(space: SearchSpace, score: Scorer | None, resources: Sequence[Resource], *, seed: int = 0,
           config: EvolutionConfig = EvolutionConfig(), seeds: Sequence[Architecture] = (),
           gene_score: Callable[[np.ndarray], np.ndarray] | None = None) -> EvolutionOutcome:
    """Maximise ``score`` over networks within every budget of ``resources`` (LUT sums).

    Args:
        score: scores a list of architectures (higher is better); ignored if ``gene_score`` is given.
        resources: resource tables; those with a ``budget`` constrain the search.
        seeds: feasible networks added to the first population (e.g. the smallest network).
        gene_score: optional fast scorer working directly on gene matrices.
    """
    codec = GeneCodec(space)
    rng = np.random.default_rng(seed)
    ok = lambda g: codec.feasible(g, resources)  # noqa: E731
    scorer = gene_score or _cached(codec, score)
    seed_rows = np.array([codec.from_architecture(a) for a in seeds], dtype=np.int64).reshape(-1, codec.num_genes)
    seed_rows = seed_rows[ok(seed_rows)] if len(seed_rows) else seed_rows
    pop, gave = _draw(lambda n: codec.sample(rng, n), ok, config.population, config.max_tries)
    pop = np.concatenate([seed_rows, pop])[:config.population]
    gave_up, evaluated = int(gave), 0
    if len(pop) == 0:
        return EvolutionOutcome(None, None, gave_up, 0)
    best_row, best = None, -np.inf
    for _ in range(config.generations):
        values = scorer(pop)
        evaluated += len(pop)
        order = np.argsort(-values, kind="stable")
        if values[order[0]] > best:
            best, best_row = float(values[order[0]]), pop[order[0]].copy()
        parents = pop[order[:config.parents]]
        mutants, g1 = _draw(lambda n: _mutate(rng, codec, parents, n, config.mutation_prob), ok,
                            config.mutants, config.max_tries)
        children, g2 = _draw(lambda n: _crossover(rng, parents, n), ok, config.crossovers, config.max_tries)
        gave_up += int(g1) + int(g2)
        pop = np.concatenate([parents, mutants, children])
    arch = codec.architectures(best_row[None, :])[0]
    return EvolutionOutcome(arch, best, gave_up, evaluated)


def _cached(codec: GeneCodec, score: Scorer) -> Callable[[np.ndarray], np.ndarray]:
    """Gene scorer calling ``score`` only on networks not scored before (parents recur every generation)."""
    memo: dict[bytes, float] = {}

    def run(genes: np.ndarray) -> np.ndarray:
        keys = _network_keys(codec, genes)
        fresh = {k: i for i, k in enumerate(keys) if k not in memo}
        if fresh:
            values = np.asarray(score(codec.architectures(genes[list(fresh.values())])), dtype=float)
            memo.update(zip(fresh, values))
        return np.array([memo[k] for k in keys])

    return run


def _network_keys(codec: GeneCodec, genes: np.ndarray) -> list[bytes]:
    """Genes of the present blocks only: rows that differ only in absent positions are one network."""
    codes = codec.codes(genes)
    return [row[:codec.num_stages].tobytes() + code.tobytes() for row, code in zip(genes, codes)]


def _mutate(rng: np.random.Generator, codec: GeneCodec, parents: np.ndarray, n: int, prob: float) -> np.ndarray:
    rows = parents[rng.integers(len(parents), size=n)]
    fresh = codec.sample(rng, n)
    return np.where(rng.random(rows.shape) < prob, fresh, rows)


def _crossover(rng: np.random.Generator, parents: np.ndarray, n: int) -> np.ndarray:
    first = parents[rng.integers(len(parents), size=n)]
    second = parents[rng.integers(len(parents), size=n)]
    return np.where(rng.random(first.shape) < 0.5, first, second)


def bilinear_gene_scorer(problem: SearchProblem, codec: GeneCodec) -> Callable[[np.ndarray], np.ndarray]:
    """Vectorised exact accuracy of gene rows under the problem's bilinear form."""
    form = problem.accuracy

    def score(genes: np.ndarray) -> np.ndarray:
        alpha, beta = codec.onehot(genes)
        return form.const + alpha @ form.p_alpha + beta @ form.p_beta + np.sum((alpha @ form.Q) * beta, axis=1)

    return score


def solve_evolution(problem: SearchProblem, *, seed: int = 0, config: EvolutionConfig = EvolutionConfig(),
                    score: Scorer | None = None) -> SearchResult:
    """Evolution on ``problem`` (bilinear accuracy unless ``score`` is given); result re-checked."""
    started = time.perf_counter()
    message = problem.infeasibility_message()
    if message:
        return failed_result(STATUS_INFEASIBLE, message, "evolution", started)
    codec = GeneCodec(problem.space)
    seeds = [problem.smallest(r.name)[1] for r in problem.constrained] + [problem.space.smallest]
    outcome = evolve(problem.space, score, problem.resources, seed=seed, config=config, seeds=seeds,
                     gene_score=None if score is not None else bilinear_gene_scorer(problem, codec))
    if outcome.architecture is None:
        return failed_result(STATUS_GAVE_UP, f"evolution gave up: rejection sampling found no network within "
                             f"the budgets in {config.max_tries} rounds", "evolution", started)
    result = checked_result(problem, outcome.architecture, "evolution", started, exact=False, score=score)
    if outcome.gave_up:
        note = f"; rejection sampling gave up {outcome.gave_up} time(s) at its cap of {config.max_tries} rounds"
        result = replace(result, message=result.message + note)
    return result
