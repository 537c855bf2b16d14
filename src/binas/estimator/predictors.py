"""Every kind of accuracy predictor by name (docs/estimator.md): :data:`PREDICTORS`, :func:`make_predictor`.

Kinds: ``linear``, ``bilinear``, ``quadratic``, ``mlp`` (:mod:`binas.estimator.models`), ``auto`` and
``ensemble`` (:mod:`binas.estimator.shrinkage`), ``stack`` (:mod:`binas.estimator.stacking`),
``autobuild`` (:mod:`binas.autobuild.predictor`).
Features are the one-hot ``(alpha, beta)`` encoding of :mod:`binas.space.encoding` (absent blocks all
zero). ``__init__`` stores hyperparameters verbatim, ``fit(X, y)`` returns ``self``, learned
attributes end in ``_``.
"""

from __future__ import annotations

from binas.errors import DataError, NotFittedError
from binas.estimator.models import (BilinearPredictor, LinearPredictor, MLPPredictor, QuadraticPredictor, _Fitted,
                                    bilinear_pairs, encode_archs, ridge_loo, ridge_loo_error)
from binas.estimator.shrinkage import AutoPredictor, EnsemblePredictor
from binas.estimator.stacking import StackPredictor
from binas.space import SearchSpace

__all__ = ["BilinearPredictor", "LinearPredictor", "MLPPredictor", "NotFittedError", "PREDICTORS",
           "QuadraticPredictor", "bilinear_pairs", "encode_archs", "make_predictor", "ridge_loo", "ridge_loo_error"]


def _autobuild(space: SearchSpace, **params: object) -> _Fitted:
    """The AutoBuild graph predictor (imported here: it needs torch, the other kinds do not)."""
    from binas.autobuild.predictor import AutoBuildPredictor

    return AutoBuildPredictor(space, **params)


PREDICTORS = {"linear": LinearPredictor, "bilinear": BilinearPredictor, "quadratic": QuadraticPredictor,
              "mlp": MLPPredictor, "autobuild": _autobuild, "auto": AutoPredictor, "ensemble": EnsemblePredictor,
              "stack": StackPredictor}


def make_predictor(kind: str, space: SearchSpace, **params: object) -> _Fitted:
    """A fresh predictor of ``kind`` (one of :data:`PREDICTORS`)."""
    if kind not in PREDICTORS:
        raise DataError(f"unknown predictor kind {kind!r} (known: {', '.join(PREDICTORS)})")
    return PREDICTORS[kind](space, **params)
