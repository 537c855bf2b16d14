"""Constrained search (docs/search.md): exact MILP, exact Pareto front, BCFW, evolution, random."""

from binas.search.pareto import ParetoFront, pareto_front
from binas.search.problem import SearchError, SearchProblem, build_problem
from binas.search.registry import DEFAULT_SOLVER, SOLVERS, run_solver
from binas.search.result import SearchResult

__all__ = ["DEFAULT_SOLVER", "SOLVERS", "ParetoFront", "SearchError", "SearchProblem", "SearchResult",
           "build_problem", "pareto_front", "run_solver"]
