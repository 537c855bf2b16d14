"""Scatter plot of predicted vs measured accuracy (PNG, written atomically)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from binas.io import atomic_write_bytes

__all__ = ["scatter_plot"]


def scatter_plot(y_true: np.ndarray, y_pred: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Predicted (y) vs measured (x) accuracy with the identity line; returns the written path."""
    from binas.figures import new_figure

    fig, ax = new_figure(figsize=(4.5, 4.5), dpi=120)
    ax.scatter(y_true, y_pred, s=8, alpha=0.7)
    lo = float(min(np.min(y_true), np.min(y_pred)))
    hi = float(max(np.max(y_true), np.max(y_pred)))
    ax.plot([lo, hi], [lo, hi], color="grey", linewidth=0.8, linestyle="--")
    ax.set_xlabel("measured top-1 (%)")
    ax.set_ylabel("predicted top-1 (%)")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return atomic_write_bytes(path, buf.getvalue())
