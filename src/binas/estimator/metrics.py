"""Ranking and regression quality of an accuracy predictor: plain functions of ``(y_true, y_pred)``."""

from __future__ import annotations

import numpy as np
from scipy import stats

from binas.errors import DataError

__all__ = ["kendall_tau", "mse", "pearson", "spearman", "all_metrics"]


def _pair(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(y_true, dtype=float).ravel()
    b = np.asarray(y_pred, dtype=float).ravel()
    if a.shape != b.shape:
        raise DataError(f"y_true has {a.size} values but y_pred has {b.size}")
    if a.size < 2:
        raise DataError(f"need at least 2 values to compare, got {a.size}")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("y_true and y_pred must be finite")
    return a, b


def _finite(value: float) -> float:
    """A NaN correlation (undefined) is reported as 0: no ranking information."""
    return float(value) if np.isfinite(value) else 0.0


def _correlation(fn, y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """``fn(a, b).statistic``, or 0 when either side is constant (no ranking information)."""
    a, b = _pair(y_true, y_pred)
    if np.ptp(a) == 0 or np.ptp(b) == 0:
        return 0.0
    return _finite(fn(a, b).statistic)


def kendall_tau(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Kendall's tau-b rank correlation (0 when either side is constant: no ranking information)."""
    return _correlation(stats.kendalltau, y_true, y_pred)


def spearman(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Spearman's rank correlation."""
    return _correlation(stats.spearmanr, y_true, y_pred)


def pearson(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Pearson's linear correlation."""
    return _correlation(stats.pearsonr, y_true, y_pred)


def mse(y_true: np.ndarray, y_pred: np.ndarray) -> float:
    """Mean squared error (in the squared unit of the targets, e.g. accuracy points^2)."""
    a, b = _pair(y_true, y_pred)
    return float(np.mean((a - b) ** 2))


def all_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``{"kendall_tau", "spearman", "pearson", "mse", "n"}``."""
    return {"kendall_tau": kendall_tau(y_true, y_pred), "spearman": spearman(y_true, y_pred),
            "pearson": pearson(y_true, y_pred), "mse": mse(y_true, y_pred), "n": int(np.size(y_true))}
