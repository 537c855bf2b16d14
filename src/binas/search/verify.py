"""Verify and re-rank: the exact top-K networks re-scored by a second opinion (``--verify K``).

The maximiser of an estimator goes where the estimator over-predicts (the optimiser's curse).
Instead of trusting its single argmax, ``binas search --verify K`` takes the exact top-K networks
under every budget, spread out by a minimum distance (:func:`binas.search.exact.solve_exact`), and
re-scores each with an independent judge: a predictor file (any kind ``binas estimator fit``
writes) or a one-shot measurement on the supernet (:mod:`binas.search.verify_supernet`). The best
verified network wins. Every candidate already meets every budget (the MILP's answers are
re-checked against the LUT sums), so the answer does too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from binas.search.problem import SearchError, SearchProblem
from binas.search.result import SearchResult
from binas.space import Architecture

__all__ = ["Candidate", "PredictorVerifier", "Verdict", "Verifier", "diversified", "verify_candidates",
           "verify_result"]


@dataclass(frozen=True)
class Verdict:
    """A verifier's scores: value per network, and its standard error (None where it has none)."""

    values: np.ndarray  # (n,)
    stderr: np.ndarray | None  # (n,) standard error (measurement) or ensemble spread (predictor)
    extra: dict[str, Any] | None = None  # per-verifier details (images, paired errors, ...)


class Verifier(Protocol):
    """Anything that scores architectures: ``name`` and ``verify(archs) -> Verdict``."""

    name: str

    def verify(self, archs: list[Architecture]) -> Verdict: ...


class PredictorVerifier:
    """A predictor as judge: ``score(archs)``, and optionally ``spread(archs)`` (an ensemble's spread)."""

    def __init__(self, score: Callable[[list[Architecture]], np.ndarray], name: str,
                 spread: Callable[[list[Architecture]], np.ndarray] | None = None) -> None:
        self.score, self.name, self.spread = score, name, spread

    def verify(self, archs: list[Architecture]) -> Verdict:
        values = np.asarray(self.score(archs), dtype=float)
        return Verdict(values, None if self.spread is None else np.asarray(self.spread(archs), dtype=float))


@dataclass(frozen=True)
class Candidate:
    """One of the top-K networks with both opinions."""

    architecture: Architecture
    estimated: float  # the searched estimator's prediction
    resources: dict[str, float]
    verified: float  # the verifier's score
    verified_stderr: float | None
    rank: int  # 1-based rank under the searched estimator


def verify_result(problem: SearchProblem, result: SearchResult,
                  verifier: Verifier) -> tuple[list[Candidate], int, dict[str, Any]]:
    """Re-score the result's networks (best first) with ``verifier``.

    Returns:
        ``(candidates in the estimator's order, index of the best verified one, verifier details)``.

    Raises:
        SearchError: no network to verify, a non-finite verifier score, or a candidate over a budget.
    """
    if result.architecture is None:
        raise SearchError(result.message)
    rows = [(result.architecture, result.objective, result.resources)] + list(result.alternatives)
    for arch, _, _ in rows:  # the MILP re-checked them already; an answer over a budget is never returned
        broken = problem.violations(problem.evaluate(arch)[1])
        if broken:
            raise SearchError(f"a verification candidate exceeds the {broken[0]} budget (internal error)")
    return verify_candidates(rows, verifier)


def verify_candidates(rows: list[tuple[Architecture, float, dict[str, float]]],
                      verifier: Verifier) -> tuple[list[Candidate], int, dict[str, Any]]:
    """Re-score ``(architecture, estimate, resources)`` rows (best estimate first) with ``verifier``."""
    archs = [a for a, _, _ in rows]
    verdict = verifier.verify(archs)
    if verdict.values.shape != (len(archs),) or not np.isfinite(verdict.values).all():
        raise SearchError(f"the verifier {verifier.name} returned non-finite or misshapen scores")
    out = [Candidate(a, float(acc), dict(res), float(verdict.values[i]),
                     None if verdict.stderr is None else float(verdict.stderr[i]), i + 1)
           for i, (a, acc, res) in enumerate(rows)]
    return out, int(np.argmax(verdict.values)), dict(verdict.extra or {})


def diversified(archs: list[Architecture], distance: Callable[[Architecture, Architecture], int],
                min_distance: int, k: int) -> list[int]:
    """Indices of the first ``k`` networks (in the given order) at ``min_distance`` or more from every earlier pick."""
    picked: list[int] = []
    for i, arch in enumerate(archs):
        if all(distance(arch, archs[j]) >= min_distance for j in picked):
            picked.append(i)
            if len(picked) == k:
                break
    return picked
