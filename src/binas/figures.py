"""Figures without pyplot: no matplotlib backend is selected or changed, nothing global is touched.

:func:`new_figure` makes a :class:`matplotlib.figure.Figure` (which renders PNG with Agg on its own),
:func:`save_figure` writes it atomically. The caller's pyplot state and backend stay as they were.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from binas.io import atomic_write_bytes

__all__ = ["new_figure", "save_figure"]


def new_figure(nrows: int = 1, ncols: int = 1, **kwargs: Any) -> tuple[Any, Any]:
    """``(figure, axes)`` as ``pyplot.subplots`` gives them (``figsize``/``dpi`` go to the figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=kwargs.pop("figsize", None), dpi=kwargs.pop("dpi", None))
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig: Any, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` as PNG atomically (tight bounding box)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return atomic_write_bytes(path, buf.getvalue())
