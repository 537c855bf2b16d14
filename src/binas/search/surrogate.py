"""Exact search for non-bilinear predictors: a bilinear surrogate's exact top-K, re-ranked.

An MLP, a quadratic kernel model or AutoBuild cannot be put into a MILP directly, and evolution
loses the exactness of the budgets' search. The default for such predictor files is therefore:

1. fit a bilinear form (:class:`~binas.estimator.predictors.BilinearPredictor`, ridge chosen by
   leave-one-out) to the measured samples the predictor was fitted on (``--samples``) or, without
   them, to the predictor's own scores of random networks (distillation);
2. take the exact, diversified top-K networks of that form under every hard budget
   (:func:`binas.search.exact.solve_exact`), which are feasible by construction;
3. re-rank them by the predictor itself (:mod:`binas.search.verify`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from binas.estimator.form import BilinearForm
from binas.estimator.predictors import BilinearPredictor, encode_archs
from binas.space import Architecture, SearchSpace

__all__ = ["DISTILL_SAMPLES", "distill_bilinear", "fit_bilinear"]

DISTILL_SAMPLES = 2000  # random networks scored by the predictor when no measured samples are given


def fit_bilinear(space: SearchSpace, archs: list[Architecture], values: np.ndarray, kind: str) -> BilinearForm:
    """The within-stage bilinear form fitted (ridge by leave-one-out) to ``values`` of ``archs``."""
    pred = BilinearPredictor(space).fit(encode_archs(space, archs), np.asarray(values, dtype=float))
    form = pred.to_form()
    return BilinearForm(form.space, form.space_hash, f"surrogate-of-{kind}", form.const, form.p_alpha,
                        form.p_beta, form.Q, {"fit": {"ridge": pred.ridge_, "samples": len(archs)}})


def distill_bilinear(space: SearchSpace, score: Callable[[list[Architecture]], np.ndarray], kind: str, *,
                     n: int = DISTILL_SAMPLES, seed: int = 0) -> BilinearForm:
    """A bilinear surrogate fitted to ``score`` on ``n`` uniformly random networks (seeded)."""
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    return fit_bilinear(space, archs, np.asarray(score(archs), dtype=float), kind)
