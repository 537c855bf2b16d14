"""The closed-form and MLP accuracy predictors (docs/estimator.md), scikit-learn style.

Features are the one-hot ``(alpha, beta)`` encoding of :meth:`SearchSpace.encode` concatenated
(absent blocks all zero). ``__init__`` stores hyperparameters verbatim, ``fit(X, y)`` returns
``self``, learned attributes end in ``_``.

- :class:`LinearPredictor`: ridge on the one-hot features.
- :class:`BilinearPredictor`: the reference form, linear terms plus every within-stage
  ``alpha_{s,j,c} * beta_{s,d}`` product that can be non-zero (``j <= d``); ridge / truncated SVD.
- :class:`QuadraticPredictor`: all pairwise products of the features, fitted in closed form as
  kernel ridge regression with the kernel ``(1 + x.x')^2`` (not bilinear-expressible).
- :class:`MLPPredictor`: the reference MLP ``in -> 500 -> 500 x3 -> 1`` (ReLU), Adam, seeded.

Linear and bilinear fits expose ``const_, p_alpha_, p_beta_, Q_`` and convert to a
:class:`~binas.estimator.form.BilinearForm` with :meth:`to_form`. :mod:`binas.estimator.predictors`
names every kind (these, the shrinkage forms and AutoBuild's graph model).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from binas.errors import DataError, NotFittedError
from binas.estimator.form import BilinearForm
from binas.space import Architecture, SearchSpace
from binas.space.encoding import archs_to_onehot as encode_archs
from binas.space.encoding import present_betas

if TYPE_CHECKING:
    from torch import nn

# torch is imported by the MLP alone: the closed-form predictors and the search stay numpy-only.

__all__ = ["BilinearPredictor", "LinearPredictor", "MLPPredictor", "QuadraticPredictor", "bilinear_pairs",
           "encode_archs", "ridge_loo", "ridge_loo_error", "with_products"]

_RIDGE_GRID = tuple(10.0 ** k for k in range(-4, 5))


def _check_xy(X: np.ndarray, y: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray]:
    X, y = np.asarray(X, dtype=float), np.asarray(y, dtype=float).ravel()
    if X.ndim != 2 or X.shape[1] != n_features:
        raise DataError(f"X must have shape (n, {n_features}), got {X.shape}")
    if X.shape[0] != y.size or y.size < 2:
        raise DataError(f"need at least 2 samples with one target each (X has {X.shape[0]} rows, y {y.size})")
    if not np.isfinite(y).all():
        raise DataError("the accuracies to fit on must be finite")
    return X, y


def ridge_loo(X: np.ndarray, y: np.ndarray, ridge: float | None = None,
              rtol: float = 1e-10) -> tuple[float, np.ndarray, float]:
    """Ridge regression with an unpenalised intercept via (truncated) SVD.

    With ``ridge=None`` the strength is chosen on a log grid by exact leave-one-out error.

    Returns:
        ``(intercept, weights, ridge_used)``.
    """
    intercept, w, lam, _ = ridge_loo_error(X, y, ridge, rtol)
    return intercept, w, lam


def ridge_loo_error(X: np.ndarray, y: np.ndarray, ridge: float | None = None,
                    rtol: float = 1e-10) -> tuple[float, np.ndarray, float, float]:
    """:func:`ridge_loo` plus the exact leave-one-out mean squared error of the chosen strength."""
    x_mean, y_mean = X.mean(axis=0), y.mean()
    U, s, Vt = np.linalg.svd(X - x_mean, full_matrices=False)
    keep = s > rtol * (s[0] if s.size else 0.0)  # truncated SVD: drop null directions
    U, s, Vt = U[:, keep], s[keep], Vt[keep]
    Uty = U.T @ (y - y_mean)
    best, best_err = None, None
    for lam in _RIDGE_GRID if ridge is None else (ridge,):
        shrink = s**2 / (s**2 + lam)
        resid = (y - y_mean) - U @ (shrink * Uty)
        lev = (U**2) @ shrink + 1.0 / y.size  # + intercept leverage
        err = float(np.mean((resid / np.maximum(1.0 - lev, 1e-9)) ** 2))
        if best_err is None or err < best_err:
            best, best_err = lam, err
    w = Vt.T @ (s / (s**2 + best) * Uty)
    return float(y_mean - x_mean @ w), w, float(best), float(best_err)


class _Fitted:
    """Shared helpers: the not-fitted check and prediction from architectures."""

    def _require_fit(self, attr: str) -> None:
        if not hasattr(self, attr):
            raise NotFittedError(f"this {type(self).__name__} is not fitted yet; call fit(X, y) first")

    def predict(self, X: np.ndarray) -> np.ndarray:  # pragma: no cover - overridden
        raise NotImplementedError

    def predict_archs(self, archs: list[Architecture]) -> np.ndarray:
        """Predicted accuracies of ``archs`` (the space given at construction)."""
        return self.predict(encode_archs(self.space, archs))


class LinearPredictor(_Fitted):
    """Ridge regression on the one-hot ``(alpha, beta)`` features (``ridge=None``: chosen by LOO)."""

    kind = "linear"

    def __init__(self, space: SearchSpace, ridge: float | None = None) -> None:
        self.space = space
        self.ridge = ridge

    def _design(self, X: np.ndarray) -> np.ndarray:
        return X

    def fit(self, X: np.ndarray, y: np.ndarray) -> "LinearPredictor":
        X, y = _check_xy(X, y, self.space.num_alpha + self.space.num_beta)
        self.intercept_, self.coef_, self.ridge_ = ridge_loo(self._design(X), y, self.ridge)
        self._set_form()
        return self

    def _set_form(self) -> None:
        na, nb = self.space.num_alpha, self.space.num_beta
        self.const_, self.p_alpha_, self.p_beta_ = self.intercept_, self.coef_[:na], self.coef_[na: na + nb]
        self.Q_ = np.zeros((na, nb))

    def predict(self, X: np.ndarray) -> np.ndarray:
        self._require_fit("coef_")
        return self.intercept_ + self._design(np.asarray(X, dtype=float)) @ self.coef_

    def to_form(self) -> BilinearForm:
        """The fitted model as a searchable bilinear form."""
        self._require_fit("coef_")
        return BilinearForm(self.space.name, self.space.space_hash, self.kind, float(self.const_),
                            self.p_alpha_.copy(), self.p_beta_.copy(), self.Q_.copy(),
                            {"fit": {"ridge": self.ridge_}})


def bilinear_pairs(space: SearchSpace) -> np.ndarray:
    """``(k, 2)`` (alpha index, beta index) pairs within a stage whose product can be non-zero."""
    pairs = []
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            for b in present_betas(space, s, j):
                pairs += [(space.alpha_index(s, j, c), b) for c in range(len(choices))]
    return np.array(pairs, dtype=int).reshape(-1, 2)


def with_products(X: np.ndarray, pairs: np.ndarray, num_alpha: int, scale: float = 1.0) -> np.ndarray:
    """One-hot features ``X`` with the ``alpha x beta`` products of ``pairs`` (times ``scale``) appended."""
    return np.hstack([X, scale * X[:, pairs[:, 0]] * X[:, num_alpha + pairs[:, 1]]])


class BilinearPredictor(LinearPredictor):
    """The reference bilinear form: linear terms + within-stage alpha x beta products (ridge)."""

    kind = "bilinear"

    def _design(self, X: np.ndarray) -> np.ndarray:
        return with_products(X, bilinear_pairs(self.space), self.space.num_alpha)

    def _set_form(self) -> None:
        super()._set_form()
        na, nb = self.space.num_alpha, self.space.num_beta
        pairs = bilinear_pairs(self.space)
        self.p_alpha_, self.p_beta_ = self.coef_[:na], self.coef_[na: na + nb]
        self.Q_ = np.zeros((na, nb))
        self.Q_[pairs[:, 0], pairs[:, 1]] = self.coef_[na + nb:]


class QuadraticPredictor(_Fitted):
    """All pairwise feature products, as kernel ridge regression with ``k(x, x') = (1 + x.x')^2``."""

    kind = "quadratic"

    def __init__(self, space: SearchSpace, ridge: float | None = None) -> None:
        self.space = space
        self.ridge = ridge

    @staticmethod
    def _kernel(A: np.ndarray, B: np.ndarray) -> np.ndarray:
        return (1.0 + A @ B.T) ** 2

    def fit(self, X: np.ndarray, y: np.ndarray) -> "QuadraticPredictor":
        X, y = _check_xy(X, y, self.space.num_alpha + self.space.num_beta)
        K = self._kernel(X, X)
        y_mean = float(y.mean())
        evals, evecs = np.linalg.eigh(K)
        evals = np.maximum(evals, 0.0)
        Vty = evecs.T @ (y - y_mean)
        grid = [self.ridge] if self.ridge is not None else [10.0 ** k for k in range(-2, 7)]
        best = None
        for lam in grid:  # exact leave-one-out error of kernel ridge
            dual = evecs @ (Vty / (evals + lam))
            hat_diag = (evecs**2) @ (evals / (evals + lam))
            err = float(np.mean((lam * dual / np.maximum(1.0 - hat_diag, 1e-9)) ** 2))  # (y - yhat) = lam * dual
            if best is None or err < best[0]:
                best = (err, lam, dual)
        self.ridge_, self.dual_coef_ = float(best[1]), best[2]
        self.X_fit_, self.intercept_ = X.copy(), y_mean
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        self._require_fit("dual_coef_")
        return self.intercept_ + self._kernel(np.asarray(X, dtype=float), self.X_fit_) @ self.dual_coef_


def _mlp(n_in: int, hidden: int, layers: int) -> nn.Sequential:
    from torch import nn

    mods: list[nn.Module] = [nn.Linear(n_in, hidden), nn.ReLU()]
    for _ in range(layers):
        mods += [nn.Linear(hidden, hidden), nn.ReLU()]
    mods.append(nn.Linear(hidden, 1))
    return nn.Sequential(*mods)


class MLPPredictor(_Fitted):
    """The reference MLP ``in -> hidden -> hidden x layers -> 1`` trained with Adam on standardised targets."""

    kind = "mlp"

    def __init__(self, space: SearchSpace, hidden: int = 500, layers: int = 3, epochs: int = 300,
                 lr: float = 1e-3, weight_decay: float = 1e-4, batch_size: int = 128,
                 random_state: int = 0) -> None:
        self.space = space
        self.hidden, self.layers, self.epochs = hidden, layers, epochs
        self.lr, self.weight_decay, self.batch_size = lr, weight_decay, batch_size
        self.random_state = random_state

    def hyperparameters(self) -> dict[str, float]:
        return {"hidden": self.hidden, "layers": self.layers, "epochs": self.epochs, "lr": self.lr,
                "weight_decay": self.weight_decay, "batch_size": self.batch_size,
                "random_state": self.random_state}

    def fit(self, X: np.ndarray, y: np.ndarray) -> "MLPPredictor":
        import torch
        from torch import nn

        X, y = _check_xy(X, y, self.space.num_alpha + self.space.num_beta)
        gen = torch.Generator().manual_seed(int(self.random_state))
        torch.manual_seed(int(self.random_state))
        net = _mlp(X.shape[1], int(self.hidden), int(self.layers))
        self.y_mean_, self.y_std_ = float(y.mean()), float(y.std() or 1.0)
        xt = torch.as_tensor(X, dtype=torch.float32)
        yt = torch.as_tensor((y - self.y_mean_) / self.y_std_, dtype=torch.float32)
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, int(self.epochs)))
        net.train()
        for _ in range(int(self.epochs)):
            for idx in torch.randperm(len(yt), generator=gen).split(int(self.batch_size)):
                opt.zero_grad()
                loss = nn.functional.mse_loss(net(xt[idx]).squeeze(1), yt[idx])
                loss.backward()
                opt.step()
            sched.step()
        self.net_ = net.eval()
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        import torch

        self._require_fit("net_")
        with torch.no_grad():
            out = self.net_(torch.as_tensor(np.asarray(X, dtype=float), dtype=torch.float32)).squeeze(1)
        return out.double().numpy() * self.y_std_ + self.y_mean_


