"""Verification in rounds (``binas search --verify K --verify-rounds R``): measure, refit, measure again.

One round verifies the estimator's exact top-K, all of them near its argmax. In rounds, the K
verifications are spent in R parts: the first K/R networks are the estimator's exact top, and after
each round the estimator is refitted on its samples plus everything verified so far (``refit``), and
its best K/R networks not verified yet come next. Measurements near the budget's optimum correct the
fit exactly where the search looks, so later rounds go where the corrected fit points. The best
verified network of all rounds is returned; every candidate is an exact optimum under every budget.
docs/search.md ("Verify in rounds") has the measured effect.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

import numpy as np

from binas.estimator.form import BilinearForm
from binas.estimator.predictors import encode_archs
from binas.estimator.shrinkage import AutoPredictor
from binas.search.exact import solve_exact
from binas.search.problem import SearchError, SearchProblem
from binas.search.verify import Candidate, Verifier, verify_candidates
from binas.space import Architecture, SearchSpace

__all__ = ["auto_refit", "round_sizes", "verify_in_rounds"]

Refit = Callable[[list[Architecture], list[float]], BilinearForm]


def auto_refit(space: SearchSpace, X0: np.ndarray, y0: np.ndarray) -> Refit:
    """The refit of ``search --verify-rounds``: an ``auto`` fit (``estimator fit --kind auto``) of the samples
    ``X0`` (one-hot rows), ``y0`` plus every network verified so far."""
    def refit(archs: list[Architecture], scores: list[float]) -> BilinearForm:
        X = np.vstack([X0, encode_archs(space, archs)])
        return AutoPredictor(space).fit(X, np.concatenate([y0, np.asarray(scores, dtype=float)])).to_form()
    return refit


def round_sizes(k: int, rounds: int) -> list[int]:
    """How many of the ``k`` verifications each of ``rounds`` rounds gets (as equal as possible)."""
    if not 1 <= rounds <= k:
        raise SearchError(f"--verify-rounds must be between 1 and --verify K ({k}), got {rounds}")
    return [int(n) for n in np.diff(np.linspace(0, k, rounds + 1).round().astype(int))]


def verify_in_rounds(problem: SearchProblem, verifier: Verifier, k: int, rounds: int, min_distance: int,
                     refit: Refit) -> tuple[list[Candidate], int, dict[str, Any]]:
    """``k`` verifications in ``rounds`` rounds, the estimator refitted (``refit(verified archs, scores)``)
    between rounds.

    Returns:
        ``(candidates in the order verified, index of the best verified one, {"rounds": per-round sizes and
        verifier details})``; ``estimated`` and ``rank`` refer to the original estimator
        (``problem.accuracy``).

    Raises:
        SearchError: bad ``rounds``, an infeasible problem, a non-finite score.
    """
    candidates: list[Candidate] = []
    per_round: list[dict[str, Any]] = []
    form = problem.accuracy
    for r, size in enumerate(round_sizes(k, rounds)):
        if r:
            form = refit([c.architecture for c in candidates], [c.verified for c in candidates])
        seen = {c.architecture for c in candidates}
        top = solve_exact(replace(problem, accuracy=form), top_k=size + len(seen), min_distance=min_distance)
        if top.architecture is None:
            raise SearchError(top.message)
        new = [a for a in [top.architecture, *(alt[0] for alt in top.alternatives)] if a not in seen][:size]
        if not new:  # every network within the budgets is verified already
            break
        rows = [(a, *problem.evaluate(a)) for a in new]
        for _, _, res in rows:
            if problem.violations(res):
                raise SearchError("a verification candidate exceeds a budget (internal error)")
        verified, _, details = verify_candidates(rows, verifier)
        candidates += [replace(c, rank=len(candidates) + i + 1) for i, c in enumerate(verified)]
        per_round.append({"networks": len(new), **({"details": details} if details else {})})
    best = int(np.argmax([c.verified for c in candidates]))
    return candidates, best, {"rounds": per_round}
