"""Estimators that do not lure the search: cross-validated shrinkage and bootstrap ensembles.

A maximiser goes exactly where its estimator over-predicts, and a bilinear fit has more room to do
so than a linear one. Two additional predictor kinds (the paper's estimators are unchanged):

- :class:`AutoPredictor` (``kind="auto"``): ridge on the one-hot features plus the within-stage
  ``alpha x beta`` products scaled by ``r``; ``r`` (0 = linear, 1 = the plain bilinear fit, or in
  between: interactions shrunk ``1/r^2`` times harder than main effects) and the ridge strength
  are chosen together by exact leave-one-out error, not by training fit.
- :class:`EnsemblePredictor` (``kind="ensemble"``): the chosen form refitted on ``members``
  bootstrap resamples. The mean of bilinear forms is a bilinear form, so the ensemble is searched
  exactly; the members' spread is each network's uncertainty (:func:`ensemble_spread_fn`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from binas.errors import DataError, FileFormatError
from binas.estimator.form import BilinearForm, bilinear_rows
from binas.estimator.models import _check_xy, _Fitted, bilinear_pairs, encode_archs, ridge_loo_error, with_products
from binas.space import Architecture, SearchSpace

__all__ = ["INTERACTION_SCALES", "AutoPredictor", "EnsemblePredictor", "ensemble_spread_fn"]

INTERACTION_SCALES = (0.0, 0.25, 0.5, 1.0)  # r: 0 is the linear fit, 1 the plain bilinear fit


def _design(space: SearchSpace, X: np.ndarray, scale: float) -> np.ndarray:
    if scale == 0.0:
        return X
    return with_products(X, bilinear_pairs(space), space.num_alpha, scale)


def _form_parts(space: SearchSpace, coef: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    na, nb = space.num_alpha, space.num_beta
    q = np.zeros((na, nb))
    if scale != 0.0:
        pairs = bilinear_pairs(space)
        q[pairs[:, 0], pairs[:, 1]] = scale * coef[na + nb:]
    return coef[:na].copy(), coef[na:na + nb].copy(), q


class AutoPredictor(_Fitted):
    """Linear vs bilinear features and ridge strength chosen by exact leave-one-out error."""

    kind = "auto"

    def __init__(self, space: SearchSpace, ridge: float | None = None,
                 scales: tuple[float, ...] = INTERACTION_SCALES) -> None:
        self.space = space
        self.ridge = ridge
        self.scales = scales

    def fit(self, X: np.ndarray, y: np.ndarray) -> "AutoPredictor":
        X, y = _check_xy(X, y, self.space.num_alpha + self.space.num_beta)
        if not self.scales or any(r < 0 for r in self.scales):
            raise DataError(f"interaction scales must be non-negative numbers, got {self.scales}")
        trials = []
        for r in self.scales:
            intercept, coef, lam, err = ridge_loo_error(_design(self.space, X, r), y, self.ridge)
            trials.append((err, r, lam, intercept, coef))
        err, self.scale_, self.ridge_, self.intercept_, coef = min(trials, key=lambda t: t[0])
        self.loo_mse_ = err
        self.trials_ = [{"interaction_scale": t[1], "ridge": t[2], "loo_mse": t[0]} for t in trials]
        self.p_alpha_, self.p_beta_, self.Q_ = _form_parts(self.space, coef, self.scale_)
        self.const_ = self.intercept_
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        self._require_fit("Q_")
        return bilinear_rows(X, self.const_, self.p_alpha_, self.p_beta_, self.Q_)

    def fit_info(self) -> dict[str, Any]:
        return {"features": "linear" if self.scale_ == 0.0 else "bilinear", "interaction_scale": self.scale_,
                "ridge": self.ridge_, "loo_mse": self.loo_mse_, "trials": self.trials_}

    def to_form(self) -> BilinearForm:
        """The fitted model as a searchable bilinear form."""
        self._require_fit("Q_")
        return BilinearForm(self.space.name, self.space.space_hash, self.kind, float(self.const_),
                            self.p_alpha_.copy(), self.p_beta_.copy(), self.Q_.copy(), {"fit": self.fit_info()})


class EnsemblePredictor(AutoPredictor):
    """``members`` bootstrap refits of the :class:`AutoPredictor` choice; predicts their mean."""

    kind = "ensemble"

    def __init__(self, space: SearchSpace, ridge: float | None = None,
                 scales: tuple[float, ...] = INTERACTION_SCALES, members: int = 20, random_state: int = 0) -> None:
        super().__init__(space, ridge, scales)
        self.members = members
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> "EnsemblePredictor":
        if int(self.members) < 2:
            raise DataError(f"an ensemble needs at least 2 members, got {self.members}")
        super().fit(X, y)  # chooses features and strength once, on all samples
        X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float).ravel()
        rng = np.random.default_rng(self.random_state)
        design = _design(self.space, X, self.scale_)
        self.members_ = []
        for _ in range(int(self.members)):
            idx = rng.integers(0, y.size, y.size)
            intercept, coef, _, _ = ridge_loo_error(design[idx], y[idx], self.ridge_)
            self.members_.append((intercept, *_form_parts(self.space, coef, self.scale_)))
        self.const_ = float(np.mean([m[0] for m in self.members_]))
        self.p_alpha_ = np.mean([m[1] for m in self.members_], axis=0)
        self.p_beta_ = np.mean([m[2] for m in self.members_], axis=0)
        self.Q_ = np.mean([m[3] for m in self.members_], axis=0)
        return self

    def predict_spread(self, X: np.ndarray) -> np.ndarray:
        """Standard deviation of the members' predictions per row of ``X``."""
        self._require_fit("members_")
        return _spread(self.members_, X)

    def to_form(self) -> BilinearForm:
        form = super().to_form()
        members = [{"const": float(c), "p_alpha": [float(v) for v in pa], "p_beta": [float(v) for v in pb],
                    "Q": [[int(i), int(j), float(q[i, j])] for i, j in zip(*np.nonzero(q))]}
                   for c, pa, pb, q in self.members_]
        extra = {**form.extra, "ensemble": {"method": "bootstrap", "members": members,
                                            "random_state": self.random_state}}
        return BilinearForm(form.space, form.space_hash, form.kind, form.const, form.p_alpha, form.p_beta,
                            form.Q, extra)


def _spread(members: list[tuple], X: np.ndarray) -> np.ndarray:
    preds = np.array([bilinear_rows(X, c, pa, pb, q) for c, pa, pb, q in members])
    return preds.std(axis=0, ddof=1)


def _members(form: BilinearForm, space: SearchSpace) -> list[tuple]:
    ens = form.extra.get("ensemble")
    rows = ens.get("members") if isinstance(ens, dict) else None
    if not isinstance(rows, list) or len(rows) < 2:
        raise FileFormatError("the estimator's 'ensemble' must hold at least 2 members")
    out = []
    for m in rows:
        try:
            q = np.zeros((space.num_alpha, space.num_beta))
            for i, j, v in m["Q"]:
                q[int(i), int(j)] = float(v)
            pa, pb = np.asarray(m["p_alpha"], dtype=float), np.asarray(m["p_beta"], dtype=float)
            if pa.shape != (space.num_alpha,) or pb.shape != (space.num_beta,):
                raise ValueError("sizes")
            out.append((float(m["const"]), pa, pb, q))
        except (KeyError, TypeError, ValueError, IndexError):
            raise FileFormatError("an ensemble member of the estimator is malformed") from None
    return out


def ensemble_spread_fn(form: BilinearForm, space: SearchSpace) -> Callable[[list[Architecture]], np.ndarray] | None:
    """``archs -> members' standard deviation`` for an ensemble estimator file, else None.

    Raises:
        FileFormatError: a malformed ``ensemble`` entry.
    """
    if "ensemble" not in form.extra:
        return None
    members = _members(form, space)
    return lambda archs: _spread(members, encode_archs(space, archs))
