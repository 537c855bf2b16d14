"""Matplotlib figures of the insights (written atomically as PNG; no backend is selected, see binas.figures)."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from matplotlib import colormaps

from binas.figures import new_figure, save_figure
from binas.insights.values import Insights

__all__ = ["save_figure", "plot_choice_heatmaps", "plot_depth_values", "plot_gain_per_unit", "plot_front"]


def plot_choice_heatmaps(ins: Insights, path: str | Path) -> Path:
    """One heatmap per stage: positions x choices, colour = accuracy contribution (points)."""
    n = len(ins.space.stages)
    fig, axes = new_figure(1, n, figsize=(3.2 * n, 3.4), squeeze=False)
    vmax = max(float(np.max(np.abs(v))) for stage in ins.choice_values for v in stage) or 1.0
    for s, ax in enumerate(axes[0]):
        stage = ins.space.stages[s]
        width = max(len(p) for p in stage.positions)
        grid = np.full((stage.num_positions, width), np.nan)
        for j, v in enumerate(ins.choice_values[s]):
            grid[j, : len(v)] = v
        im = ax.imshow(grid, cmap="RdBu", vmin=-vmax, vmax=vmax, aspect="auto")
        ax.set_title(f"stage {s + 1}")
        ax.set_yticks(range(stage.num_positions))
        ax.set_yticklabels([f"pos {j + 1}" for j in range(stage.num_positions)] if s == 0 else [])
        ax.set_xticks(range(len(stage.positions[0])), [c.id for c in stage.positions[0]], rotation=90, fontsize=7)
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="accuracy contribution (points)")
    fig.suptitle("Accuracy contribution of each choice (Da) by stage and position", y=1.04)
    return save_figure(fig, path)


def plot_depth_values(ins: Insights, path: str | Path) -> Path:
    """Grouped bars: Db per stage and depth option."""
    fig, ax = new_figure(figsize=(6.5, 3.5))
    for s, (stage, values) in enumerate(zip(ins.space.stages, ins.depth_values)):
        offsets = np.linspace(-0.3, 0.3, len(stage.depths)) if len(stage.depths) > 1 else [0.0]
        for off, d, v in zip(offsets, stage.depths, values):
            ax.bar(s + off, v, width=0.6 / max(len(stage.depths), 1), color=colormaps['viridis'](d / 5))
            ax.text(s + off, v, str(d), ha="center", va="bottom" if v >= 0 else "top", fontsize=7)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(ins.space.stages)), [f"stage {s + 1}" for s in range(len(ins.space.stages))])
    ax.set_ylabel("accuracy vs uniform (points)")
    ax.set_title("Value of each stage depth (Db; bar labels = depth)")
    return save_figure(fig, path)


def plot_gain_per_unit(ins: Insights, path: str | Path) -> Path:
    """Scatter of every choice: extra cost vs extra accuracy relative to the cheapest at its position."""
    fig, ax = new_figure(figsize=(6.5, 4))
    for s, stage in enumerate(ins.space.stages):
        xs, ys = [], []
        for j in range(stage.num_positions):
            v, t = ins.choice_values[s][j], ins.costs[s][j]
            k = int(np.argmin(t))
            xs.extend(t - t[k])
            ys.extend(v - v[k])
        ax.scatter(xs, ys, s=12, label=f"stage {s + 1}")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xlabel(f"extra {ins.resource} ({ins.unit}) vs cheapest choice at the position")
    ax.set_ylabel("extra accuracy (points)")
    ax.set_title("What to buy first: steep points give most accuracy per unit")
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_front(front_x: Sequence[float], front_y: Sequence[float], path: str | Path, *, xlabel: str,
               ylabel: str = "predicted accuracy (%)", marked: Sequence[tuple[float, float, str]] = (),
               others: Sequence[tuple[float, float]] = (), others_label: str = "random networks",
               title: str = "Pareto front") -> Path:
    """A front as a step line, optional other points (grey) and marked networks (labelled)."""
    fig, ax = new_figure(figsize=(6.5, 4))
    if others:
        ox, oy = zip(*others)
        ax.scatter(ox, oy, s=8, color="0.7", label=others_label)
    ax.step(front_x, front_y, where="post", color="C0", label="Pareto front")
    for x, y, label in marked:
        ax.scatter([x], [y], color="C3", zorder=3)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, -10), fontsize=8)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)
