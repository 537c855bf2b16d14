"""The frozen result every solver returns, and the independent re-check that produces it."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from binas.search.problem import SearchProblem, format_amount
from binas.space import Architecture

__all__ = ["STATUS_BUDGET_EXCEEDED", "STATUS_GAVE_UP", "STATUS_INFEASIBLE", "STATUS_OPTIMAL",
           "STATUS_FEASIBLE", "SearchResult", "checked_result", "failed_result"]

STATUS_OPTIMAL = "optimal"  # exact solvers: proven best
STATUS_FEASIBLE = "feasible"  # heuristics: a network within every budget
STATUS_INFEASIBLE = "infeasible"  # no network meets the budgets
STATUS_BUDGET_EXCEEDED = "budget_exceeded"  # the solver's network breaks a budget (bcfw-reference)
STATUS_GAVE_UP = "gave_up"  # a sampling heuristic found no feasible network within its cap


@dataclass(frozen=True)
class SearchResult:
    """Outcome of one search.

    Attributes:
        status: one of the ``STATUS_*`` strings.
        success: True iff ``architecture`` is set and meets every budget.
        message: one sentence for people.
        architecture: the best network found (set even when it exceeds a budget), or None.
        objective: its predicted accuracy (re-evaluated, not the solver's number).
        resources: its LUT sums per resource.
        solver: the solver's registry name.
        seconds: solver wall time.
        gap: proven relative optimality gap where the solver has one (MILP), else None.
        alternatives: further distinct networks, best first (``--top-k``), as (arch, acc, resources).
    """

    status: str
    success: bool
    message: str
    architecture: Architecture | None
    objective: float | None
    resources: dict[str, float]
    solver: str
    seconds: float
    gap: float | None = None
    alternatives: tuple[tuple[Architecture, float, dict[str, float]], ...] = field(default=())


def checked_result(problem: SearchProblem, arch: Architecture, solver: str, started: float, *,
                   exact: bool, gap: float | None = None, alternatives: tuple = (),
                   score: Callable[[list[Architecture]], np.ndarray] | None = None) -> SearchResult:
    """Re-evaluate ``arch`` with the estimator (or ``score``) and LUT sums; downgrade it if a budget is broken."""
    seconds = time.perf_counter() - started
    accuracy, resources = problem.evaluate(arch)
    if score is not None:
        accuracy = float(np.asarray(score([arch]), dtype=float)[0])
    broken = problem.violations(resources)
    if broken:
        parts = [f"{n} {format_amount(resources[n], problem.resource(n).unit)} > budget "
                 f"{format_amount(problem.budgets[n], problem.resource(n).unit)}" for n in broken]
        return SearchResult(STATUS_BUDGET_EXCEEDED, False, "budget exceeded: " + ", ".join(parts), arch,
                            accuracy, resources, solver, seconds, gap, alternatives)
    status = STATUS_OPTIMAL if exact else STATUS_FEASIBLE
    message = f"{'optimal' if exact else 'feasible'} network, predicted accuracy {accuracy:.6g}"
    return SearchResult(status, True, message, arch, accuracy, resources, solver, seconds, gap, alternatives)


def failed_result(status: str, message: str, solver: str, started: float) -> SearchResult:
    """A result without a network (infeasible budget, sampler gave up)."""
    return SearchResult(status, False, message, None, None, {}, solver, time.perf_counter() - started)
