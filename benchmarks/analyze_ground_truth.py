"""Analyse the stand-alone ground truth: seed agreement, proxies, one-shot and estimators, search outcome.

Reads the ground-truth JSONL (one line per training run), the one-shot files written by
``ground_truth_oneshot.py`` and any estimator/predictor files, and writes
``docs/ground-truth/analysis.json`` plus plots. Every number of docs/ground-truth.md comes from it.

    python benchmarks/analyze_ground_truth.py \
        --estimator regression=runs/fm-full/est-regression.json --estimator mlp=runs/fm-full/mlp.json \
        --budgets 5.5 6.0 6.5
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from binas.codec import parse_timm
from binas.estimator.metrics import kendall_tau, spearman
from binas.estimator.store import load_predictor
from binas.io import atomic_write_json, read_json
from binas.space import load_space

sys.path.insert(0, str(Path(__file__).resolve().parent))
from ground_truth import DEFAULT_EXTRA, DEFAULT_OUT, read_lines, run_main  # noqa: E402

METHOD_NAMES = {"binas": "binas", "binas-verify": "binas --verify", "evolution-mlp": "evolution + MLP"}
RANDOM_PER_BUDGET = 20  # "the best of 20 random networks under the same budget"


def per_arch(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Lines grouped by architecture: mean test accuracy, per-seed accuracies, resources and kind."""
    out: dict[str, dict[str, Any]] = {}
    for r in rows:
        a = out.setdefault(r["arch"], {"seeds": {}, "kind": r["kind"], "index": r["index"], "lut_ms": r["lut_ms"],
                                        "macs": r["macs"], "params": r["params"]})
        a["seeds"][r["seed"]] = r["test_acc"]
    for a in out.values():
        a["acc"] = float(np.mean(list(a["seeds"].values())))
    return out


def seed_agreement(archs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Kendall-tau between seed 0 and seed 1 over the architectures trained with both."""
    pairs = np.array([(a["seeds"][0], a["seeds"][1]) for a in archs.values() if {0, 1} <= set(a["seeds"])])
    if len(pairs) < 3:
        return {"n": int(len(pairs))}
    seed_var = float(np.var(pairs[:, 0] - pairs[:, 1], ddof=1) / 2)  # variance of one run around its arch mean
    arch_var = max(0.0, float(np.var(pairs.mean(1), ddof=1)) - seed_var / 2)  # between-architecture variance
    return {"n": int(len(pairs)), "kendall_tau": kendall_tau(pairs[:, 0], pairs[:, 1]),
            "spearman": spearman(pairs[:, 0], pairs[:, 1]), "seed_sd": seed_var ** 0.5, "arch_sd": arch_var ** 0.5,
            # share of one run's variance that is the architecture's (intraclass correlation)
            "icc": arch_var / (arch_var + seed_var) if arch_var + seed_var > 0 else None}


def recipe_trial(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """A trial recipe's lines: its hash, seed agreement (where it has pairs) and every accuracy by index."""
    archs = per_arch(rows)
    return {"recipe": rows[0]["recipe"], **seed_agreement(archs),
            "accuracies": {str(a["index"]): a["seeds"] for a in archs.values()}}


def taus(truth: dict[str, float], scores: dict[str, float], samples: set[str] = frozenset()) -> dict[str, Any]:
    """Rank agreement of ``scores`` with ``truth`` over every architecture both hold, and (``samples_*``)
    over the uniform samples alone (the ladder and the searches' networks widen the spread)."""
    def agreement(keys: list[str], prefix: str) -> dict[str, Any]:
        t = np.array([truth[k] for k in keys])
        s = np.array([scores[k] for k in keys])
        return {f"{prefix}n": len(keys), f"{prefix}kendall_tau": kendall_tau(t, s) if len(keys) > 2 else None,
                f"{prefix}spearman": spearman(t, s) if len(keys) > 2 else None}

    keys = sorted(set(truth) & set(scores))
    out = agreement(keys, "")
    if samples:
        out.update(agreement([k for k in keys if k in samples], "samples_"))
    return out


def search_outcome(archs: dict[str, dict[str, Any]], found: dict[str, str], budget: float) -> dict[str, Any]:
    """Found vs random vs hand-scaled baseline vs best trained, all under ``budget`` (LUT ms).

    ``found`` maps ``found:METHOD@BUDGET`` and ``scaled@BUDGET`` to the network (extra-archs.jsonl).
    """
    within = {k: a for k, a in archs.items() if a["lut_ms"] <= budget}
    samples = sorted((a for a in within.values() if a["kind"] == "sample"), key=lambda a: a["index"])
    rand = [a["acc"] for a in samples[:RANDOM_PER_BUDGET]]
    best = max((a["acc"] for a in within.values()), default=None)
    scaled = archs.get(found.get(f"scaled@{budget:g}", ""))
    out: dict[str, Any] = {
        "budget_ms": budget, "n_random": len(rand),
        "random_median_acc": float(np.median(rand)) if rand else None,
        "random_best_acc": float(np.max(rand)) if rand else None,
        "baseline_acc": scaled["acc"] if scaled else None,
        "baseline_ms": scaled["lut_ms"] if scaled else None,
        "best_trained_acc": best, "n_trained_within": len(within), "found": {}}
    for kind, text in found.items():
        if kind.startswith("found:") and kind.endswith(f"@{budget:g}") and text in archs:
            a = archs[text]
            out["found"][kind[len("found:"):].rsplit("@", 1)[0]] = {
                "acc": a["acc"], "seeds": len(a["seeds"]), "lut_ms": a["lut_ms"], "regret": best - a["acc"],
                "vs_random_median": a["acc"] - out["random_median_acc"] if rand else None,
                "vs_random_best": a["acc"] - out["random_best_acc"] if rand else None,
                "vs_baseline": a["acc"] - scaled["acc"] if scaled else None}
    return out


def scatter(path: Path, x: list[float], y: list[float], xlabel: str, ylabel: str, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(4.6, 4.0))
    ax.scatter(x, y, s=12, alpha=0.75)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def outcome_plot(path: Path, outcomes: list[dict[str, Any]]) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.6))
    methods = sorted({m for o in outcomes for m in o["found"]})
    for k, o in enumerate(outcomes):
        xs = k + np.linspace(-0.3, 0.3, 4 + len(methods))
        vals = [o["random_median_acc"], o["random_best_acc"], o["baseline_acc"], o["best_trained_acc"]]
        vals += [o["found"][m]["acc"] if m in o["found"] else None for m in methods]
        labels = ["random median", "random best of 20", "hand-scaled", "best trained"] + [METHOD_NAMES.get(m, m)
                                                                                          for m in methods]
        for i, (x, v, lab) in enumerate(zip(xs, vals, labels)):
            if v is not None:
                ax.bar(x, v, width=0.6 / len(xs), color=f"C{i}", label=lab if k == 0 else None)
    ax.set_xticks(range(len(outcomes)), [f"<= {o['budget_ms']:g} ms" for o in outcomes])
    accs = [v for o in outcomes for v in (o["random_median_acc"], o["best_trained_acc"]) if v is not None]
    if accs:
        ax.set_ylim(min(accs) - 3, max(accs) + 1.5)
    ax.set_ylabel("stand-alone test top-1 (%)")
    ax.legend(fontsize=7, ncol=4, loc="upper center", bbox_to_anchor=(0.5, -0.1), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--ground-truth", type=Path, default=DEFAULT_OUT)
    p.add_argument("--estimator", action="append", default=[], help="LABEL=PATH of an estimator/predictor file")
    p.add_argument("--budgets", type=float, nargs="*", default=[5.5, 6.0, 6.5])
    p.add_argument("--extra", type=Path, default=DEFAULT_EXTRA, help="networks found by ground_truth_search.py")
    p.add_argument("--out", type=Path, default=None, help="default: analysis.json beside the data file "
                   "(the plots are written beside it)")
    args = p.parse_args(argv)
    folder = args.ground_truth.parent  # the one-shot files and trials beside the data file
    out = args.out or folder / "analysis.json"
    plots = out.parent
    rows = read_lines(args.ground_truth)
    if not rows:
        print(f"error: {args.ground_truth} holds no complete ground-truth line", file=sys.stderr)
        return 2
    recipes = sorted({r["recipe"] for r in rows})
    if len(recipes) != 1:
        print(f"error: {args.ground_truth} mixes recipes {recipes}", file=sys.stderr)
        return 2
    space = load_space(rows[0]["space"])
    predictors = {label: load_predictor(path, space)
                  for label, _, path in (spec.partition("=") for spec in args.estimator)}
    archs = per_arch(rows)
    truth = {k: a["acc"] for k, a in archs.items()}
    samples = {k for k, a in archs.items() if a["kind"] == "sample"}
    result: dict[str, Any] = {
        "format": "binas.ground-truth-analysis/1", "recipe": recipes[0], "runs": len(rows), "archs": len(archs),
        "acc_range": [min(truth.values()), max(truth.values())],
        "seed_agreement": seed_agreement(archs),
        "recipe_trials": {path.stem: recipe_trial(trial) for path in sorted((folder / "trials").glob("*.jsonl"))
                          if (trial := read_lines(path))},
        "proxies": {name: taus(truth, {k: a[name] for k, a in archs.items()}, samples)
                    for name in ("macs", "params", "lut_ms")},
        "oneshot": {}, "estimators": {}}
    for path in sorted(folder.glob("oneshot-*.json")):
        obj = read_json(path, "one-shot file")
        for metric in ("oneshot", "oneshot_bn"):
            scores = {k: v[metric] for k, v in obj["archs"].items()}
            result["oneshot"][f"{obj['label']}/{metric}"] = taus(truth, scores, samples)
        if obj["label"] == "full":
            keys = [k for k in obj["archs"] if k in truth]
            scatter(plots / "oneshot-vs-standalone.png", [obj["archs"][k]["oneshot_bn"] for k in keys],
                    [truth[k] for k in keys], "one-shot top-1 with BN recalibration (%)", "stand-alone top-1 (%)",
                    f"one-shot vs stand-alone: Kendall-tau {result['oneshot']['full/oneshot_bn']['kendall_tau']:.3f}")
    keys = sorted(truth)
    for label, pred in predictors.items():
        scores = dict(zip(keys, np.asarray(pred.predict_archs([parse_timm(space, k) for k in keys]), dtype=float)))
        result["estimators"][label] = taus(truth, scores, samples)
        scatter(plots / f"estimator-{label}.png", [scores[k] for k in keys], [truth[k] for k in keys],
                f"{label} prediction", "stand-alone top-1 (%)",
                f"{label}: Kendall-tau {result['estimators'][label]['kendall_tau']:.3f}")
    found = {row["kind"]: row["arch"] for row in read_lines(args.extra)}
    result["search"] = [search_outcome(archs, found, b) for b in args.budgets]
    outcome_plot(plots / "search-outcome.png", result["search"])
    atomic_write_json(out, result)
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(run_main(main))
