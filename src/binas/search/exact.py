"""The exact solver behind ``--solver milp`` (docs/search.md): enumeration where it applies, else HiGHS.

With a stage-separable estimator and at most three budgets (the paper's setting and the default),
the optimum and the diversified top-K come from the best-first enumeration over exact fronts
(:mod:`binas.search.kbest`, NumPy only); otherwise, or if that enumeration visits too many
networks, from the MILP (:mod:`binas.search.milp`), which continues where the enumeration stopped.
Both give the same sequence; SciPy is imported only when the MILP runs.
"""

from __future__ import annotations

import time

from binas.search.kbest import diversified_top_k, enumerable
from binas.search.problem import SearchProblem
from binas.search.result import STATUS_INFEASIBLE, SearchResult, checked_result, failed_result

__all__ = ["solve_exact"]


def solve_exact(problem: SearchProblem, *, top_k: int = 1, min_distance: int = 1) -> SearchResult:
    """Exact optimum and top-K of ``problem`` (see :func:`binas.search.milp.solve_milp` for the sequence)."""
    started = time.perf_counter()
    found: list = []
    if enumerable(problem):
        message = problem.infeasibility_message()
        if message:
            return failed_result(STATUS_INFEASIBLE, message, "milp", started)
        found, complete = diversified_top_k(problem, top_k, min_distance)
        if complete and found:
            alternatives = tuple((a, *problem.evaluate(a)) for a in found[1:])
            return checked_result(problem, found[0], "milp", started, exact=True, gap=0.0, alternatives=alternatives)
    from binas.search.milp import solve_milp  # SciPy's HiGHS: loaded only when the MILP is needed

    return solve_milp(problem, top_k=top_k, min_distance=min_distance, found=tuple(found))
