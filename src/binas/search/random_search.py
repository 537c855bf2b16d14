"""Random search baseline: uniform networks, the best one within every budget wins."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from binas.search.evolution import bilinear_gene_scorer
from binas.search.genes import GeneCodec
from binas.search.problem import SearchProblem
from binas.search.result import STATUS_GAVE_UP, STATUS_INFEASIBLE, SearchResult, checked_result, failed_result
from binas.space import Architecture

__all__ = ["solve_random"]


def solve_random(problem: SearchProblem, *, seed: int = 0, num_samples: int = 50_000, batch: int = 5_000,
                 score: Callable[[list[Architecture]], np.ndarray] | None = None) -> SearchResult:
    """Draw ``num_samples`` uniform networks (seeded), keep the most accurate feasible one.

    ``score`` (``list[Architecture] -> np.ndarray``) replaces the problem's bilinear accuracy, e.g.
    for an MLP predictor.

    Status ``gave_up`` when none of the draws meets the budgets (the budget may still be feasible:
    the exact solvers answer that).
    """
    started = time.perf_counter()
    message = problem.infeasibility_message()
    if message:
        return failed_result(STATUS_INFEASIBLE, message, "random", started)
    codec = GeneCodec(problem.space)
    gene_score = bilinear_gene_scorer(problem, codec) if score is None else (
        lambda g: np.asarray(score(codec.architectures(g)), dtype=float))
    rng = np.random.default_rng(seed)
    best_row, best, drawn = None, -np.inf, 0
    while drawn < num_samples:
        genes = codec.sample(rng, min(batch, num_samples - drawn))
        drawn += len(genes)
        genes = genes[codec.feasible(genes, problem.resources)]
        if len(genes) == 0:
            continue
        values = gene_score(genes)
        i = int(np.argmax(values))
        if values[i] > best:
            best, best_row = float(values[i]), genes[i]
    if best_row is None:
        return failed_result(STATUS_GAVE_UP, f"random search gave up: none of {num_samples} uniform networks "
                             "meets the budgets (try --solver milp)", "random", started)
    arch = codec.architectures(best_row[None, :])[0]
    return checked_result(problem, arch, "random", started, exact=False, score=score)
