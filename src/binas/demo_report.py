"""The demo's ``report.md``: found networks vs random ones, estimator quality, LUT fidelity, insights."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from binas.estimator.form import load_estimator
from binas.estimator.metrics import all_metrics
from binas.estimator.samples import Sample
from binas.io import atomic_write_json, atomic_write_text
from binas.figures import new_figure, save_figure
from binas.plots import plot_front
from binas.report import write_insights
from binas.resources.lut import Lut
from binas.space import SearchSpace

__all__ = ["similar_latency", "write_report"]


def similar_latency(samples: list[Sample], latency: float, tolerance: float = 0.1, at_least: int = 5) -> list[Sample]:
    """Random networks within +-``tolerance`` of ``latency`` (by LUT); the nearest ``at_least`` if fewer."""
    near = [s for s in samples if abs(s.resources["latency"] - latency) <= tolerance * latency]
    if len(near) >= at_least:
        return near
    return sorted(samples, key=lambda s: abs(s.resources["latency"] - latency))[:at_least]


def _scatter(x: np.ndarray, y: np.ndarray, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    fig, ax = new_figure(figsize=(5, 5))
    ax.scatter(x, y, s=10)
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1)
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    return save_figure(fig, path)


def write_report(out: Path, space: SearchSpace, est: Path, lut: Lut, samples: list[Sample], searched: dict[str, Any],
                 measured: dict[str, Any], timings: dict[str, float]) -> Path:
    """Write the plots, ``summary.json`` and ``report.md``; return the report's path."""
    form = load_estimator(est, space)
    pred = np.array([form.predict(space, s.arch) for s in samples])
    true = np.array([s.accuracy for s in samples])
    quality = all_metrics(true, pred)
    nets = measured["networks"]
    rows = []
    for net in nets:
        near = similar_latency(samples, net["lut_latency_ms"])
        rows.append({**net, "random_median_one_shot": float(np.median([s.accuracy for s in near])),
                     "random_count": len(near)})
    front = searched["front"]
    plots = {
        "front": plot_front(list(front.values), list(front.accuracy), out / "front.png",
                            xlabel=f"latency by LUT (ms, {lut.meta.get('backend')}, batch 1)",
                            ylabel="accuracy (%): front predicted, points measured one-shot",
                            marked=[(r["lut_latency_ms"], r["one_shot_accuracy"], r["name"]) for r in rows],
                            others=[(s.resources["latency"], s.accuracy) for s in samples],
                            title="Found networks vs random networks"),
        "estimator": _scatter(true, pred, out / "estimator.png", "measured one-shot accuracy (%)",
                              "estimated accuracy (%)",
                              f"Estimator on {len(samples)} random test subnets: Kendall tau {quality['kendall_tau']:.3f}"),
        "latency": _scatter(np.array([r["lut_latency_ms"] for r in rows]),
                            np.array([r["measured_latency_ms"] for r in rows]), out / "latency.png",
                            "LUT-predicted latency (ms)", "measured latency (ms)", "Found networks: LUT vs measured"),
    }
    insights = write_insights(space, form, lut, out / "insights",
                              lambda: (list(front.values), list(front.accuracy)))
    summary = {"estimator_quality": quality, "networks": rows, "timings_s": timings,
               "pareto_points": len(front.values), "pareto_seconds": front.seconds}
    atomic_write_json(out / "summary.json", summary)
    lines = _markdown(space, rows, quality, front, timings, measured, plots, insights)
    return atomic_write_text(out / "report.md", "\n".join(lines) + "\n")


def _markdown(space, rows, quality, front, timings, measured, plots, insights) -> list[str]:
    timing = measured["timing"]
    lines = [f"# binas demo report: {space.name}", "",
             f"Latency: {timing['backend']}, {timing['threads']} thread(s), batch {timing['batch_size']} on this CPU. "
             "Accuracies in %; one-shot = the supernet's weights on test-split images that neither the supernet nor "
             "the estimator saw; "
             "fine-tuned = brief KD fine-tuning, measured on the test split.", "",
             "## Found networks", "",
             "| net | budget (ms) | LUT latency (ms) | measured (ms) | estimated acc | one-shot acc | random nets' "
             "median one-shot (n) | fine-tuned top-1 |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {r['budget_ms']:.3f} | {r['lut_latency_ms']:.3f} | {r['measured_latency_ms']:.3f} "
                     f"| {r['predicted_accuracy']:.2f} | {r['one_shot_accuracy']:.2f} | "
                     f"{r['random_median_one_shot']:.2f} ({r['random_count']}) | {r['finetuned_top1']:.2f} |")
    beat = sum(r["one_shot_accuracy"] > r["random_median_one_shot"] for r in rows)
    lines += ["", f"{beat} of {len(rows)} found networks beat the median random network of similar latency "
              "(LUT latency within 10%) in measured one-shot accuracy. Every found network is within its budget by "
              "the LUT: " + ("yes" if all(r["lut_latency_ms"] <= r["budget_ms"] for r in rows) else "NO") + ".", "",
              "Architectures:", ""] + [f"- {r['name']}: `{r['timm']}`" for r in rows]
    lines += ["", "## Estimator quality", "",
              f"Against {quality['n']} random subnets (one-shot on test images, never used to build the estimator): "
              f"Kendall tau {quality['kendall_tau']:.3f}, Spearman "
              f"{quality['spearman']:.3f}, Pearson {quality['pearson']:.3f}, MSE {quality['mse']:.3f}.", "",
              f"Exact Pareto front: {len(front.values)} networks in {front.seconds:.3f} s.", "",
              "## Plots", ""]
    lines += [f"![{k}]({p.name})" for k, p in plots.items()]
    lines += [f"![{k}](insights/{p.name})" for k, p in insights.items() if p.suffix == ".png"]
    lines += ["", "## Insights", ""]
    summary_text = (insights["report"].read_text().split("## Summary")[1].split("## Plots")[0]).strip()
    lines += [summary_text, "", "## Time per step (s)", ""]
    lines += [f"- {k}: {v:.1f}" for k, v in timings.items()]
    return lines
