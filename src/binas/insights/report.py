"""The `binas insights` report: plots, a JSON of the numbers and a Markdown summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from binas.estimator.form import BilinearForm
from binas.insights.plots import plot_choice_heatmaps, plot_depth_values, plot_front, plot_gain_per_unit
from binas.insights.values import Insights, compute_insights, summarise
from binas.io import atomic_write_json, atomic_write_text
from binas.lut.table import Lut
from binas.space import SearchSpace

__all__ = ["INSIGHTS_FORMAT", "insights_json", "write_insights"]

INSIGHTS_FORMAT = "binas.insights/1"


def insights_json(ins: Insights) -> dict[str, Any]:
    """Numbers behind the plots: per stage, position and choice."""
    stages = []
    for s, stage in enumerate(ins.space.stages):
        positions = []
        for j, choices in enumerate(stage.positions):
            row = {"position": j + 1, "values": {c.id: float(v) for c, v in zip(choices, ins.choice_values[s][j])}}
            if ins.costs is not None:
                row["costs"] = {c.id: float(v) for c, v in zip(choices, ins.costs[s][j])}
                gains = ins.gain_per_unit(s, j)
                row["gain_per_unit"] = {c.id: (None if np.isnan(g) else float(g)) for c, g in zip(choices, gains)}
            positions.append(row)
        stages.append({"stage": s + 1, "depth_values": {str(d): float(v) for d, v in
                                                         zip(stage.depths, ins.depth_values[s])},
                       "positions": positions})
    return {"format": INSIGHTS_FORMAT, "space": ins.space.name, "space_hash": ins.space.space_hash,
            "resource": ins.resource, "unit": ins.unit, "stages": stages, "summary": summarise(ins)}


def write_insights(space: SearchSpace, form: BilinearForm, lut: Lut | None, out_dir: str | Path,
                   front: Callable[[], tuple[list[float], list[float]]] | None = None,
                   autobuild: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write heatmaps, depth values, gain per unit and Pareto plots, ``insights.json`` and ``report.md``.

    Args:
        front: returns the Pareto front as (resource values, accuracies), if a LUT is given.
        autobuild: AutoBuild scores to show beside the estimator: ``{"form": its contributions form,
            "features": feature importance rows, "comparison": rank agreement with ``form``}``.

    Returns:
        Paths of everything written, by name.
    """
    out = Path(out_dir)
    ins = compute_insights(space, form, lut)
    paths = {"heatmaps": plot_choice_heatmaps(ins, out / "heatmaps.png"),
             "depth": plot_depth_values(ins, out / "depth.png")}
    if lut is not None:
        paths["gain"] = plot_gain_per_unit(ins, out / "gain_per_unit.png")
    if lut is not None and front is not None:
        xs, ys = front()
        paths["pareto"] = plot_front(xs, ys, out / "pareto.png", xlabel=f"{lut.resource} ({lut.unit})",
                                     title=f"Exact Pareto front of the whole space ({len(xs)} networks)")
    data = insights_json(ins)
    if autobuild is not None:
        paths["autobuild_heatmaps"] = plot_choice_heatmaps(compute_insights(space, autobuild["form"]),
                                                           out / "autobuild_heatmaps.png")
        data["autobuild"] = {"features": autobuild["features"], "comparison": autobuild["comparison"]}
    paths["json"] = atomic_write_json(out / "insights.json", data)
    lines = [f"# Insights: {space.name} ({form.kind} estimator)", "", "## Summary", ""]
    lines += [f"- {line}" for line in data["summary"]]
    if autobuild is not None:
        lines += _autobuild_lines(autobuild)
    lines += ["", "## Plots", ""]
    captions = {"heatmaps": "Accuracy contribution of each choice by stage and position",
                "depth": "Value of each stage depth", "gain": "Accuracy bought per resource unit",
                "pareto": "Pareto front", "autobuild_heatmaps": "AutoBuild: choice contributions of the learned model"}
    lines += [f"![{captions[k]}]({paths[k].name})" for k in captions if k in paths]
    paths["report"] = atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return paths


def _autobuild_lines(autobuild: dict[str, Any]) -> list[str]:
    """Markdown: AutoBuild's feature importance and its agreement with the estimator, stage by stage."""
    comp = autobuild["comparison"]
    lines = ["", "## AutoBuild beside this estimator", "",
             f"Rank agreement (Spearman) of per-choice values: {comp['choice_spearman']:+.2f} overall.", "",
             "| stage | choice Spearman | best depth (AutoBuild / this estimator) |", "|---|---|---|"]
    lines += [f"| {st['stage']} | {st['choice_spearman']:+.2f} | {st['best_depth']['autobuild']} / "
              f"{st['best_depth']['other']} |" for st in comp["stages"]]
    lines += ["", "AutoBuild feature importance (share of the embedding spread; permutation delta):", ""]
    lines += [f"- {row['feature']}: {row['importance']:.2f} ({row['permutation_delta']:+.3f})"
              for row in sorted(autobuild["features"], key=lambda r: -r["importance"])]
    return lines
