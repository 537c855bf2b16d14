"""The demo's ``report.md``, ``summary.json`` and plots: found vs baseline vs random networks after the
same training, estimator ranking of held-out subnets, the exact Pareto front, LUT fidelity, insights.

Every number in the report is read from the run's artifacts; nothing is typed in.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from binas.estimator.form import BilinearForm
from binas.estimator.metrics import all_metrics
from binas.estimator.samples import Sample
from binas.insights.plots import plot_front
from binas.insights.report import write_insights
from binas.io import atomic_write_json, atomic_write_text
from binas.figures import new_figure, save_figure
from binas.lut.table import Lut
from binas.search.pareto import ParetoFront
from binas.space import SearchSpace

__all__ = ["budget_rows", "write_report"]

KIND_STYLE = {"found": ("C3", "*", 160, "found (binas)"), "argmax": ("C1", "^", 50, "estimator's argmax"),
              "baseline": ("C0", "s", 60, "hand-scaled baseline"), "random": ("0.55", "o", 25, "random (90-100% of budget)")}


def budget_rows(plan: dict[str, Any], results: dict[str, Any], latency: dict[str, Any]) -> list[dict[str, Any]]:
    """Per budget: the found network's numbers next to the baseline's and the random networks' (after the
    same training), and the found network's LUT and measured latency."""
    rows = []
    for b, budget in enumerate(plan["budgets_ms"]):
        group = [n for n in plan["networks"] if n["budget"] == b]
        found = next(n for n in group if n["kind"] == "found")
        base = next((n for n in group if n["kind"] == "baseline"), None)
        argmax = next((n for n in group if n["kind"] == "argmax"), found)
        verify = plan["searches"][b].get("verify")
        rand = [results[n["name"]]["top1"] for n in group if n["kind"] == "random"]
        timed = latency["networks"][found["timm"]]
        measured = timed["latency_ms"]
        rows.append({
            "budget_ms": budget, "found_acc": results[found["name"]]["top1"],
            "baseline_acc": results[base["name"]]["top1"] if base else None,
            "argmax_acc": results[argmax["name"]]["top1"],
            "verified_rank": verify["chosen"] + 1 if verify else 1,
            "verified_of": len(verify["candidates"]) if verify else 1,
            "random_median_acc": float(np.median(rand)), "random_best_acc": float(np.max(rand)),
            "random_n": len(rand), "lut_ms": found["lut_ms"], "measured_ms": measured,
            "latency_error_pct": 100.0 * (measured - found["lut_ms"]) / found["lut_ms"],
            "lut_same_rounds_ms": timed["lut_same_rounds_ms"],
            "same_rounds_error_pct": 100.0 * (measured - timed["lut_same_rounds_ms"]) / timed["lut_same_rounds_ms"],
            "found_predicted": found["predicted"], "found_one_shot": results[found["name"]]["one_shot"],
            "baseline_lut_ms": base["lut_ms"] if base else None, "found": found["timm"],
            "baseline": base["timm"] if base else None, "test_images": results[found["name"]]["test_images"]})
    return rows


def _scatter(x: np.ndarray, y: np.ndarray, path: Path, xlabel: str, ylabel: str, title: str) -> Path:
    fig, ax = new_figure(figsize=(5.5, 5))
    ax.scatter(x, y, s=12, alpha=0.8)
    lo, hi = float(min(x.min(), y.min())), float(max(x.max(), y.max()))
    ax.plot([lo, hi], [lo, hi], "k--", lw=1, label="y = x")
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def _comparison_plot(plan: dict[str, Any], results: dict[str, Any], path: Path) -> Path:
    """Test top-1 after the same training against LUT latency, with the budgets as vertical lines."""
    fig, ax = new_figure(figsize=(7, 4.5))
    for b, budget in enumerate(plan["budgets_ms"]):
        ax.axvline(budget, color="0.8", ls="--", lw=1)
        ax.annotate(f"budget {b + 1}", (budget, 0), xycoords=("data", "axes fraction"), xytext=(-3, 4),
                    textcoords="offset points", rotation=90, fontsize=7, ha="right", va="bottom", color="0.4")
    for kind, (color, marker, size, label) in KIND_STYLE.items():
        pts = [(n["lut_ms"], results[n["name"]]["top1"]) for n in plan["networks"] if n["kind"] == kind]
        if pts:
            xs, ys = zip(*pts)
            ax.scatter(xs, ys, color=color, marker=marker, s=size, label=label, zorder=3 if kind == "found" else 2,
                       edgecolors="k" if kind == "found" else "none", linewidths=0.5)
    ax.set_xlabel("latency on this CPU by LUT (ms)")
    images = next(iter(results.values()))["test_images"]
    ax.set_ylabel(f"test top-1 (%), {_images(images).replace('the first ', 'first ')}")
    ax.set_title("Same budget, same training: found vs baseline vs random")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    return save_figure(fig, path)


def _latency_plot(plan: dict[str, Any], latency: dict[str, Any], path: Path, clock: str) -> Path:
    """Measured end-to-end latency of every compared network against its LUT sum (+-10% band): the
    search's LUT (filled) and the LUT's entries re-timed in the same rounds as the networks (hollow)."""
    fig, ax = new_figure(figsize=(5.5, 6.5))
    timed = latency["networks"]
    values = [v for n in plan["networks"] for v in (n["lut_ms"], timed[n["timm"]]["lut_same_rounds_ms"],
                                                    timed[n["timm"]]["latency_ms"])]
    lo, hi = min(values) * 0.9, max(values) * 1.1
    grid = np.array([lo, hi])
    ax.fill_between(grid, grid * 0.9, grid * 1.1, color="C2", alpha=0.15, label="within 10%")
    ax.plot(grid, grid, "k--", lw=1, label="y = x")
    for kind, (color, marker, size, label) in KIND_STYLE.items():
        group = [n for n in plan["networks"] if n["kind"] == kind]
        if not group:
            continue
        ys = [timed[n["timm"]]["latency_ms"] for n in group]
        ax.scatter([n["lut_ms"] for n in group], ys, color=color, marker=marker, s=size * 0.6, zorder=3,
                   label=f"{label}: search's LUT")
        ax.scatter([timed[n["timm"]]["lut_same_rounds_ms"] for n in group], ys, marker=marker, s=size * 0.6,
                   facecolors="none", edgecolors=color, zorder=3, label="  same, LUT re-timed alongside")
    ax.set(xlim=(lo, hi), ylim=(lo, hi), xlabel="LUT sum (ms)", ylabel=f"measured whole network (ms, {clock} clock)",
           title="LUT prediction vs measured latency")
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.13), ncol=2, frameon=False)
    return save_figure(fig, path)


def write_report(out: Path, space: SearchSpace, form: BilinearForm, lut: Lut, samples: list[Sample],
                 plan: dict[str, Any], results: dict[str, Any], latency: dict[str, Any], front: ParetoFront,
                 source: dict[str, Any], timings: dict[str, float], config: dict[str, Any]) -> dict[str, Any]:
    """Write the plots, ``summary.json`` and ``report.md``; return the summary (with its ``headline``)."""
    pred = np.array([form.predict(space, s.arch) for s in samples])
    true = np.array([s.accuracy for s in samples])
    quality = all_metrics(true, pred)
    rows = budget_rows(plan, results, latency)
    found = [n for n in plan["networks"] if n["kind"] == "found"]
    clock = latency["timing"].get("clock", "wall")
    plots = {
        "comparison": _comparison_plot(plan, results, out / "comparison.png"),
        "estimator": _scatter(true, pred, out / "estimator.png", "measured one-shot accuracy (%)",
                              "estimated accuracy (%)", f"Estimator on {len(samples)} held-out subnets: "
                              f"Kendall tau {quality['kendall_tau']:.2f}"),
        "front": plot_front(list(front.values), list(front.accuracy), out / "front.png",
                            xlabel="latency on this CPU by LUT (ms)",
                            ylabel="estimator score (what the search maximises)",
                            marked=[(n["lut_ms"], n["predicted"], n["name"].split("-")[0]) for n in found],
                            others=[(s.resources["latency"], p) for s, p in zip(samples, pred)],
                            others_label="held-out random subnets",
                            title=f"Exact Pareto front ({len(front.values)} networks), found and random networks"),
        "latency": _latency_plot(plan, latency, out / "latency.png", clock),
    }
    insights = write_insights(space, form, lut, out / "insights", lambda: (list(front.values), list(front.accuracy)))
    headline = {"path": source["path"], "estimator_tau": quality["kendall_tau"],
                "budgets": [{k: r[k] for k in ("budget_ms", "found_acc", "baseline_acc", "random_median_acc",
                                                "random_best_acc", "lut_ms", "measured_ms", "lut_same_rounds_ms",
                                                "argmax_acc")}
                            for r in rows]}
    summary = {"headline": headline, "budgets": rows, "estimator_quality": quality, "source": source,
               "timing": latency["timing"], "lut_meta": {k: lut.meta.get(k) for k in (
                   "device", "clock", "repeats", "pinned_core", "loadavg_before", "loadavg_after", "calibration")},
               "pareto_points": len(front.values), "pareto_seconds": front.seconds, "timings_s": timings,
               "config": config}
    atomic_write_json(out / "summary.json", summary)
    lines = _markdown(space, summary, plan, results, latency, plots, insights)
    atomic_write_text(out / "report.md", "\n".join(lines) + "\n")
    return summary


def _images(n: int) -> str:
    """"all 10000 test images" for the whole Fashion-MNIST test split, else "the first N test images"."""
    return f"all {n} test images" if n >= 10000 else f"the first {n} test images"


def _fmt(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _source_text(source: dict[str, Any]) -> str:
    if source["path"] == "train":
        return (f"**Path: `train`** (`binas demo --train`): the supernet was trained in this run "
                f"({source.get('train_seconds', 0) / 60:.1f} min) with the demo's short recipe.")
    prov = source.get("provenance", {})
    machine = prov.get("machine", "unrecorded machine")
    minutes = prov.get("train_minutes")
    return (f"**Path: `pretrained`** (train once, specialise anywhere): the supernet shipped with binas "
            f"(fp16, sha256 `{source.get('file_sha256', '')[:16]}...`). Recipe: {prov.get('recipe', 'not recorded')}. "
            + (f"Trained in {minutes:.0f} min" if isinstance(minutes, (int, float)) else "Trained")
            + f" on {machine}. Only the latency LUT, the estimator, the search and the comparison ran here.")


def _markdown(space, summary, plan, results, latency, plots, insights) -> list[str]:
    rows, quality, timing = summary["budgets"], summary["estimator_quality"], summary["timing"]
    cfg, lut_meta = summary["config"], summary["lut_meta"]
    steps = cfg["finetune_steps"]
    lines = [f"# binas demo report: {space.name} on this CPU", "", _source_text(summary["source"]), "",
             f"At each of {len(rows)} latency budgets of this machine, binas's network is compared with the "
             f"hand-scaled baseline (the uniform network with the largest LUT latency within the budget) and "
             f"{cfg['random_per_budget']} random networks using {cfg['random_min_fraction'] * 100:.0f}-100% of "
             f"the budget. All get the same training: {steps} fine-tuning steps of {cfg['finetune_batch_size']} "
             f"images from their inherited supernet weights (SGD with Nesterov momentum, cosine learning rate from "
             f"{cfg['finetune_lr']}, KD from the heaviest path, no augmentation). Top-1 is measured "
             f"on {_images(rows[0]['test_images'])}.", "",
             "## Found vs baseline vs random, same budget and training", "",
             "| budget (ms) | found top-1 | baseline top-1 | random median | random best | found LUT (ms) | "
             "found measured (ms) | measured vs LUT | vs LUT re-timed alongside |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['budget_ms']:.3f} | **{r['found_acc']:.2f}** | {_fmt(r['baseline_acc'])} | "
                     f"{r['random_median_acc']:.2f} | {r['random_best_acc']:.2f} | {r['lut_ms']:.3f} | "
                     f"{r['measured_ms']:.3f} | {r['latency_error_pct']:+.1f}% | "
                     f"{r['same_rounds_error_pct']:+.1f}% |")
    lines += ["", *_verdict(rows, quality), "", f"![comparison]({plots['comparison'].name})", "",
              *_verification(plan, rows, cfg), "",
              "## Every compared network", "",
              "| net | LUT (ms) | measured (ms) | estimator score | one-shot | top-1 after training |",
              "|---|---|---|---|---|---|"]
    for n in plan["networks"]:
        lines.append(f"| {n['name']} | {n['lut_ms']:.3f} | {latency['networks'][n['timm']]['latency_ms']:.3f} | "
                     f"{n['predicted']:.2f} | {results[n['name']]['one_shot']:.2f} | {results[n['name']]['top1']:.2f} |")
    lines += ["", "Estimator score = the estimator's additive prediction, the quantity the search maximises (only "
              "its order matters; far from the measured subnets it can exceed 100); one-shot = the supernet's "
              "weights on the first "
              f"{cfg['test_images']} test images, before training. Architectures (timm strings) of the found "
              "networks and the baselines:", ""]
    lines += [f"- {n['name']}: `{n['timm']}`" for n in plan["networks"] if n["kind"] != "random"]
    lines += ["",
              "## Estimator: ranking of held-out subnets", "",
              f"{quality['n']} random subnets never used to build the estimator, measured one-shot on the first "
              f"{cfg['test_images']} test images: Kendall tau **{quality['kendall_tau']:.3f}**, Spearman "
              f"{quality['spearman']:.3f}, Pearson {quality['pearson']:.3f}.", "",
              f"![estimator]({plots['estimator'].name})", "",
              "## Exact Pareto front", "",
              f"The exact front of the whole space under the estimator and this LUT: {summary['pareto_points']} "
              f"networks in {summary['pareto_seconds']:.2f} s. Every point is at its estimator score, the quantity the "
              "search maximises: no network lies above the front; the found networks (red, the best re-scored of "
              "each budget's exact top-K) sit on it or just below, the held-out random subnets (grey) below.", "",
              f"![front]({plots['front'].name})", "",
              "## LUT vs measured latency", "", *_calibration_text(lut_meta.get("calibration")),
              "Every network that may be compared (each budget's exact top-K, the baselines, the random "
              "networks), built from its architecture right after the LUT was measured (before the "
              "verification and the training load the machine), timed end to end exactly like the LUT "
              f"entries: {timing['backend']}, {timing['threads']} thread, batch {timing['batch_size']}, "
              f"{timing['clock']} clock, pinned to core {timing.get('pinned_core')}, {timing['warmup']} warm-up "
              f"calls per visit, {timing['repeats']} interleaved rounds, each summed up by its "
              f"{timing.get('statistic', 'median')}. The LUT's entries were timed again in the same rounds (hollow "
              "markers), which separates the LUT's own error from a change of the machine's load since the "
              "LUT was measured. "
              f"Load average (1/5/15 min) when the LUT was measured: {lut_meta.get('loadavg_before')}; when the "
              f"networks were timed: {timing.get('loadavg_before')}.", "",
              f"![latency]({plots['latency'].name})", "",
              "## Insights", ""]
    summary_text = insights["report"].read_text().split("## Summary")[1].split("## Plots")[0].strip()
    lines += [summary_text, ""]
    lines += [f"![{k}](insights/{p.name})" for k, p in insights.items() if p.suffix == ".png"]
    lines += ["", "## What this run shows, and what it does not", "", *_shows(rows, quality, cfg, summary), "",
              "## Time per step (s)", ""]
    recorded = dict(summary["timings_s"])
    total = recorded.pop("total", None)
    lines += [f"- {k}: " + ("not recorded (made before this run)" if v is None else f"{v:.1f}")
              for k, v in recorded.items()]
    if total is not None:
        lines += [f"- total (wall clock; the estimator and held-out subnets ran side by side): {total:.1f}"]
    return lines


def _verification(plan: dict[str, Any], rows: list[dict[str, Any]], cfg: dict[str, Any]) -> list[str]:
    """How each found network was chosen: the exact top-K under the estimator, re-scored on the supernet."""
    searches = [s for s in plan["searches"] if s.get("verify")]
    if not searches:
        return ["The found network is the estimator's exact argmax under each budget (no verification)."]
    first = searches[0]["verify"]
    lines = ["## How the found networks were chosen", "",
             f"At each budget the exact MILP gave the estimator's top {cfg['verify_k']} networks (each differing from "
             f"the others in at least {cfg['verify_min_distance']} block positions); each was re-scored on the "
             f"supernet with its BatchNorm statistics recomputed on {first['calibration_images']} training images, "
             f"on the same {first['images']} held-out images (never test images). The best re-scored network is "
             "the found network. Re-scored one-shot top-1 (%, +- one standard error), best first by estimator:", ""]
    for b, (search, row) in enumerate(zip(plan["searches"], rows)):
        verify = search.get("verify")
        if not verify:
            continue
        scores = ", ".join(("**" if i == verify["chosen"] else "") + f"{c['verified']:.1f}+-{c['stderr']:.1f}"
                           + ("**" if i == verify["chosen"] else "") for i, c in enumerate(verify["candidates"]))
        kept = ("kept the estimator's argmax" if verify["chosen"] == 0 else
                f"chose its #{verify['chosen'] + 1}; the argmax scored {row['argmax_acc']:.2f} after the same "
                f"training, the chosen one {row['found_acc']:.2f}")
        lines.append(f"- budget {b + 1} ({search['budget_ms']:.3f} ms): {scores}; verification {kept}.")
    lines += ["", f"Re-scoring all {sum(len(s['verify']['candidates']) for s in searches)} candidates took "
              f"{first['seconds_all_budgets']:.1f} s."]
    return lines


def _calibration_text(fit: dict[str, Any] | None) -> list[str]:
    if not fit:
        return ["The search used the block sums of the LUT as measured (no calibration).", ""]
    return [f"The search used the LUT calibrated on whole networks of this machine: every entry was multiplied "
            f"by {fit['slope']:.3f}, {fit['source']} (a block sum misses what a whole network pays between its "
            "blocks; the raw LUT is `lut_latency_raw.json`, the timed networks `lut_latency_fidelity.json`). "
            "The re-timed LUT below gets the same factor.", ""]


def _signed(values: list[float], suffix: str = "") -> str:
    return ", ".join(f"{v:+.2f}{suffix}" for v in values)


def _verdict(rows: list[dict[str, Any]], quality: dict[str, float]) -> list[str]:
    n = len(rows)
    base = [r["found_acc"] - r["baseline_acc"] for r in rows if r["baseline_acc"] is not None]
    med = [r["found_acc"] - r["random_median_acc"] for r in rows]
    best = [r["found_acc"] - r["random_best_acc"] for r in rows]
    within = all(r["lut_ms"] <= r["budget_ms"] for r in rows)
    errors = [r["latency_error_pct"] for r in rows]
    again = [r["same_rounds_error_pct"] for r in rows]
    return [f"- Found >= hand-scaled baseline at {sum(g >= 0 for g in base)} of {len(base)} budgets "
            f"(margins {_signed(base)} points).",
            f"- Found >= median random network at {sum(g >= 0 for g in med)} of {n} budgets (margins "
            f"{_signed(med)} points); >= the best random network at {sum(g >= 0 for g in best)} of {n}.",
            f"- Every found network within its budget by the LUT: {'yes' if within else 'NO'}.",
            f"- Measured latency within 10% of the LUT for {sum(abs(e) <= 10 for e in errors)} of {n} found "
            f"networks (errors {_signed(errors, '%')}); against the LUT re-timed in the same rounds: "
            f"{sum(abs(e) <= 10 for e in again)} of {n} ({_signed(again, '%')}).",
            f"- Estimator Kendall tau on held-out subnets: {quality['kendall_tau']:.3f}."]


def _shows(rows: list[dict[str, Any]], quality: dict[str, float], cfg: dict[str, Any],
           summary: dict[str, Any]) -> list[str]:
    gains_med = [r["found_acc"] - r["random_median_acc"] for r in rows]
    base = [r["found_acc"] - r["baseline_acc"] for r in rows if r["baseline_acc"] is not None]
    errors = [abs(r["latency_error_pct"]) for r in rows]
    again = [abs(r["same_rounds_error_pct"]) for r in rows]
    shows = (f"**Shows:** on this machine's latency, at {len(rows)} budgets from {rows[0]['budget_ms']:.2f} to "
             f"{rows[-1]['budget_ms']:.2f} ms, the networks binas picked scored {min(gains_med):+.2f} to "
             f"{max(gains_med):+.2f} points against the median of {rows[0]['random_n']} random networks of the same "
             f"budget, and "
             + (f"{min(base):+.2f} to {max(base):+.2f} points against the hand-scaled baseline, " if base else "")
             + f"after the same {cfg['finetune_steps']}-step training, on {_images(rows[0]['test_images'])}. "
             f"The estimator ranked {quality['n']} held-out subnets at Kendall tau {quality['kendall_tau']:.2f}. "
             f"The LUT predicted the found networks' measured latency within {max(errors):.1f}% "
             f"({max(again):.1f}% against its entries re-timed in the same rounds; {summary['timing']['clock']} "
             f"clock, load average {summary['timing'].get('loadavg_before')}).")
    not_shows = (f"**Does not show:** accuracy after full training (each network got {cfg['finetune_steps']} "
                 f"steps from inherited weights, not a from-scratch training to convergence); differences "
                 f"smaller than the test noise (about {_test_noise(rows):.1f} points, one standard error at these "
                 f"accuracies on {rows[0]['test_images']} images) or than the spread between training seeds (one "
                 f"seed here); {rows[0]['random_n']} random networks per budget are a small sample of the space; "
                 f"latency on other devices, threads or batch sizes (measure their LUT).")
    return [shows, "", not_shows]


def _test_noise(rows: list[dict[str, Any]]) -> float:
    p = np.mean([r["found_acc"] for r in rows]) / 100.0
    return float(100.0 * np.sqrt(p * (1 - p) / rows[0]["test_images"]))
