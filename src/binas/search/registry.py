"""Solver registry: name -> function ``(problem, *, seed, top_k) -> SearchResult``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from binas.search.problem import SearchError, SearchProblem
from binas.search.result import SearchResult
from binas.space import Architecture

__all__ = ["DEFAULT_SOLVER", "SCORER_SOLVERS", "SOLVERS", "register_solver", "run_solver"]

Solver = Callable[..., SearchResult]
Scorer = Callable[[list[Architecture]], np.ndarray]
SOLVERS: dict[str, Solver] = {}
DEFAULT_SOLVER = "milp"


def register_solver(name: str) -> Callable[[Solver], Solver]:
    """Decorator adding a solver under ``name`` (an existing name is an error)."""
    def add(fn: Solver) -> Solver:
        if name in SOLVERS:
            raise ValueError(f"solver {name!r} is already registered")
        SOLVERS[name] = fn
        return fn
    return add


# Each solver's module is imported when it runs: ``binas search`` loads the exact solver only (docs/cli-startup.json).
def _milp(problem: SearchProblem, *, seed: int = 0, top_k: int = 1, min_distance: int = 1) -> SearchResult:
    from binas.search.exact import solve_exact

    return solve_exact(problem, top_k=top_k, min_distance=min_distance)


def _bcfw(problem: SearchProblem, *, seed: int = 0, top_k: int = 1) -> SearchResult:
    from binas.search.bcfw import solve_bcfw

    return solve_bcfw(problem, seed=seed)


def _bcfw_reference(problem: SearchProblem, *, seed: int = 0, top_k: int = 1) -> SearchResult:
    from binas.search.bcfw import solve_bcfw_reference

    return solve_bcfw_reference(problem, seed=seed)


def _evolution(problem: SearchProblem, *, seed: int = 0, top_k: int = 1, score: Scorer | None = None) -> SearchResult:
    from binas.search.evolution import solve_evolution

    return solve_evolution(problem, seed=seed, score=score)


def _random(problem: SearchProblem, *, seed: int = 0, top_k: int = 1, score: Scorer | None = None) -> SearchResult:
    from binas.search.random_search import solve_random

    return solve_random(problem, seed=seed, score=score)


for _name, _solver in (("milp", _milp), ("bcfw", _bcfw), ("bcfw-reference", _bcfw_reference),
                       ("evolution", _evolution), ("random", _random)):
    register_solver(_name)(_solver)
del _name, _solver
SCORER_SOLVERS = ("evolution", "random")  # the solvers that search any predictor (score callable)


def run_solver(name: str, problem: SearchProblem, *, seed: int = 0, top_k: int = 1, min_distance: int = 1,
               score: Scorer | None = None) -> SearchResult:
    """Run the named solver.

    Args:
        score: optional ``list[Architecture] -> np.ndarray`` predictor replacing the problem's bilinear
            accuracy (non-bilinear estimators such as an MLP); only the sampling solvers accept it.
        min_distance: with ``top_k`` > 1, every network differs from each better one at this many
            block positions or more (``milp`` only).

    Raises:
        SearchError: unknown solver, ``top_k`` > 1 with a solver other than ``milp``, or ``score``
            with a solver that needs the bilinear form.
    """
    if name not in SOLVERS:
        raise SearchError(f"unknown solver {name!r} (known: {', '.join(SOLVERS)})")
    if top_k < 1:
        raise SearchError(f"--top-k must be at least 1, got {top_k}")
    if top_k > 1 and name != "milp":
        raise SearchError(f"--top-k {top_k} needs --solver milp (the exact solver); {name} returns one network")
    if min_distance < 1:
        raise SearchError(f"--min-distance must be at least 1, got {min_distance}")
    if score is None:
        if name == "milp":
            return SOLVERS[name](problem, seed=seed, top_k=top_k, min_distance=min_distance)
        return SOLVERS[name](problem, seed=seed, top_k=top_k)
    if name not in SCORER_SOLVERS:
        raise SearchError(f"this estimator is not bilinear, so --solver {name} cannot search it: use --solver "
                          f"{' or '.join(SCORER_SOLVERS)}")
    return SOLVERS[name](problem, seed=seed, top_k=top_k, score=score)
