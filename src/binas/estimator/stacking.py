"""A judge for ``--verify``: linear, auto and quadratic fits stacked by cross-validation (``kind="stack"``).

Re-ranking the exact top-K by a second opinion only helps where that opinion is right; a quadratic
kernel captures cross-stage pairs but, on a truth the bilinear estimator already represents, moves
the answer away from the optimum (docs/search.md, "Search quality"). :class:`StackPredictor` lets
the data decide how much of each to trust: the three fits' out-of-fold predictions (``folds``-fold
cross-validation) are regressed on the measured accuracies with non-negative weights (NNLS), and
the judge is the weighted sum of the three fits on all samples. The linear and auto parts are both
bilinear forms, so their weighted sum (with the intercept) is kept as one form (``form_``) and only
the quadratic part needs its kernel weights.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from binas.errors import DataError
from binas.estimator.form import BilinearForm
from binas.estimator.models import LinearPredictor, QuadraticPredictor, _check_xy, _Fitted
from binas.estimator.shrinkage import AutoPredictor
from binas.space import SearchSpace

__all__ = ["STACK_MEMBERS", "StackPredictor"]

STACK_MEMBERS = ("linear", "auto", "quadratic")


def _members(space: SearchSpace) -> tuple[_Fitted, ...]:
    """Fresh, unfitted members in the order of :data:`STACK_MEMBERS`."""
    return LinearPredictor(space), AutoPredictor(space), QuadraticPredictor(space)


def _weighted_form(forms: list[BilinearForm], weights: np.ndarray, intercept: float, kind: str) -> BilinearForm:
    """``intercept + sum_k weights[k] * forms[k]`` as one bilinear form."""
    first = forms[0]
    return replace(first, kind=kind, extra={},
                   const=float(intercept + sum(w * f.const for w, f in zip(weights, forms))),
                   p_alpha=sum(w * f.p_alpha for w, f in zip(weights, forms)),
                   p_beta=sum(w * f.p_beta for w, f in zip(weights, forms)),
                   Q=sum(w * f.Q for w, f in zip(weights, forms)))


class StackPredictor(_Fitted):
    """Linear, auto and quadratic fits blended by non-negative weights fitted to out-of-fold predictions."""

    kind = "stack"

    def __init__(self, space: SearchSpace, folds: int = 5, random_state: int = 0) -> None:
        self.space = space
        self.folds = folds
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> "StackPredictor":
        X, y = _check_xy(X, y, self.space.num_alpha + self.space.num_beta)
        if self.folds < 2 or y.size < 2 * self.folds:
            raise DataError(f"--kind stack needs at least {2 * max(self.folds, 2)} samples (2 per fold, "
                            f"{self.folds} folds), got {y.size}")
        fold = np.random.default_rng(self.random_state).permutation(y.size) % self.folds
        oof = np.zeros((y.size, len(STACK_MEMBERS)))
        for f in range(self.folds):
            train, test = fold != f, fold == f
            for m, member in enumerate(_members(self.space)):
                oof[test, m] = member.fit(X[train], y[train]).predict(X[test])
        from scipy.optimize import nnls  # only when fitting: loading a stack to judge with stays SciPy-free

        weights, _ = nnls(oof - oof.mean(axis=0), y - y.mean())
        intercept = float(y.mean() - oof.mean(axis=0) @ weights)
        linear, auto, quad = (member.fit(X, y) for member in _members(self.space))
        self.weights_, self.oof_ = weights, oof
        self.oof_mse_ = float(np.mean((intercept + oof @ weights - y) ** 2))
        self.form_ = _weighted_form([linear.to_form(), auto.to_form()], weights[:2], intercept, self.kind)
        self.quadratic_ = quad
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        self._require_fit("form_")
        return self.form_.evaluate_rows(X) + self.weights_[2] * self.quadratic_.predict(X)

    def fit_info(self) -> dict[str, Any]:
        """The blend chosen by cross-validation (printed by ``estimator fit`` and stored in the file)."""
        self._require_fit("form_")
        return {"members": dict(zip(STACK_MEMBERS, map(float, self.weights_))), "folds": self.folds,
                "oof_mse": self.oof_mse_}
