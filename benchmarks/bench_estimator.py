"""Benchmark: ranking quality of the contributions estimator vs fitted predictors (DESIGN 10).

On a trained supernet (CPU pipeline: Fashion-MNIST, ``mobilenetv3-tiny``) it measures

1. ground truth: one-shot top-1 of ``--test-n`` uniformly random subnets on ``--test-images``
   held-out images (the same images for every subnet);
2. the per-image correctness of all 1 + #alpha + #beta contribution measurements at ``--max-images``
   images each, with and without common random numbers (CRN). Because a build at N images uses a
   prefix of the images/contexts of a build at more images (same seed), every smaller N is read off
   the same arrays, and disjoint chunks of N images give independent replicates (medians reported);
3. linear / bilinear / quadratic / MLP predictors fitted on ``--train-sizes`` random subnets whose
   one-shot accuracy is measured on ``--train-images`` images each.

Results (JSON, Markdown table, plots) go to ``--out-dir``; expensive arrays are cached there, so a
re-run with other analysis settings is cheap. Example (the numbers in docs/estimator.md)::

    .venv/bin/python benchmarks/bench_estimator.py --run runs/fmnist-tiny --out-dir docs/estimator
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from binas.estimator.contributions import CONVENTIONS, contributions_form, measurement_plan
from binas.estimator.measure import BuildConfig, evaluate_codes, measurement_inputs
from binas.estimator.metrics import all_metrics
from binas.estimator.predictors import encode_archs
from binas.estimator.pipeline import fit_samples, heldout_tensors, resolve_source
from binas.estimator.plots import scatter_plot
from binas.estimator.samples import Sample, read_samples, write_samples
from binas.estimator.store import FormPredictor
from binas.io import atomic_write_json, atomic_write_text
from binas.nn.supernet import archs_to_codes, load_supernet
from binas.resources.analytic import network_cost


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", help="supernet training run directory")
    p.add_argument("--supernet", help="supernet .safetensors file (instead of --run)")
    p.add_argument("--data", default=None, help="data set (default: the run's)")
    p.add_argument("--out-dir", default="docs/estimator", help="results, plots and caches")
    p.add_argument("--cache-dir", default=None, help="samples/measurement caches (default: OUT_DIR/cache)")
    p.add_argument("--max-images", type=int, default=400, help="images per measurement of the largest build")
    p.add_argument("--image-steps", default="10,15,20,30,50,70,100,140,200,280,400",
                   help="images per measurement to report (those <= --max-images)")
    p.add_argument("--max-replicates", type=int, default=8, help="disjoint replicates per image count")
    p.add_argument("--test-n", type=int, default=200, help="held-out random subnets (ground truth)")
    p.add_argument("--test-images", type=int, default=1000, help="images per ground-truth subnet")
    p.add_argument("--train-sizes", default="256,1000,2560", help="training-set sizes of the predictors")
    p.add_argument("--train-images", type=int, default=200, help="images per training subnet")
    p.add_argument("--mlp-epochs", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--only", default=None, help="fill only these caches and stop (comma list of "
                   "test, crn, nocrn, train, predictors), e.g. to run two processes side by side")
    return p.parse_args()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def cached_samples(path: Path, net, x, y, n: int, seed: int):
    """The first ``n`` random subnets of ``seed`` with one-shot accuracy on ``x, y``.

    The cache is extended 100 subnets at a time (a killed run keeps what it measured): subnet i is
    the i-th draw of ``space.sample`` from ``seed``, whatever ``n`` is.
    """
    space = net.space
    samples = read_samples(path, space) if path.is_file() else []
    rng = np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    t0, start = time.perf_counter(), len(samples)
    for i in range(start, n):
        ok = evaluate_codes(net, x, y, archs_to_codes(space, archs[i]), 512)
        res = {k: float(v) for k, v in network_cost(space, archs[i]).items()}
        samples.append(Sample(archs[i], float(ok.mean()) * 100.0, res))
        if (i + 1) % 100 == 0 or i + 1 == n:
            write_samples(path, space, samples)
            log(f"{i + 1}/{n} subnets x {x.shape[0]} images ({time.perf_counter() - t0:.0f} s) -> {path}")
    return samples[:n]


def correctness(net, x, y, crn: bool, args, path: Path) -> np.ndarray:
    """``(measurements, max_images)`` per-image 0/1 correctness of every measurement (cached)."""
    if path.is_file():
        ok = np.load(path)["ok"]
        if ok.shape[1] >= args.max_images:
            return ok[:, : args.max_images]
    space, cfg = net.space, BuildConfig(images=args.max_images, crn=crn, seed=args.seed)
    t0, rows = time.perf_counter(), []
    for k, m in enumerate(measurement_plan(space)):
        idx, codes = measurement_inputs(space, k, m, x.shape[0], cfg)
        t = torch.from_numpy(idx)
        rows.append(evaluate_codes(net, x.index_select(0, t), y.index_select(0, t), codes))
        if (k + 1) % 32 == 0:
            log(f"crn={crn}: {k + 1} measurements ({time.perf_counter() - t0:.0f} s)")
    ok = np.stack(rows)
    np.savez_compressed(path, ok=ok)
    log(f"measurements (crn={crn}) {ok.shape} in {time.perf_counter() - t0:.0f} s")
    return ok


def form_from_rows(space, ok: np.ndarray, convention: str, meta: dict):
    keys = [m.key for m in measurement_plan(space)]
    acc = {k: float(r.mean()) * 100 for k, r in zip(keys, ok)}
    err = {k: float(r.std(ddof=1) / np.sqrt(r.size)) * 100 for k, r in zip(keys, ok)}
    return contributions_form(space, acc, err, convention, meta)


def contributions_table(space, oks: dict, test, args) -> list[dict]:
    X, y_true = encode_archs(space, [s.arch for s in test]), np.array([s.accuracy for s in test])
    rows = []
    for n in [int(v) for v in args.image_steps.split(",") if int(v) <= args.max_images]:
        reps = min(args.max_images // n, args.max_replicates)
        for crn, ok in oks.items():
            for conv in CONVENTIONS:
                taus = []
                for r in range(reps):
                    form = form_from_rows(space, ok[:, r * n:(r + 1) * n], conv, {})
                    taus.append(all_metrics(y_true, FormPredictor(form, space).predict(X))["kendall_tau"])
                rows.append({"images": n, "crn": crn, "convention": conv, "replicates": reps,
                             "tau_median": float(np.median(taus)), "tau_min": float(min(taus)),
                             "tau_max": float(max(taus)), "image_evals": n * len(ok)})
    return rows


def cached_predictor_table(space, train, test, args, path: Path) -> list[dict]:
    """:func:`predictor_table`, reused from ``path`` when made with the same settings."""
    key = {k: getattr(args, k) for k in ("train_sizes", "train_images", "test_n", "test_images", "mlp_epochs", "seed")}
    if path.is_file():
        obj = json.loads(path.read_text())
        if obj.get("settings") == key:
            return obj["rows"]
    rows = predictor_table(space, train, test, args)
    atomic_write_json(path, {"settings": key, "rows": rows})
    return rows


def predictor_table(space, train, test, args) -> list[dict]:
    archs, y_true = [s.arch for s in test], np.array([s.accuracy for s in test])
    rows = []
    for n in [int(v) for v in args.train_sizes.split(",")]:
        if n > len(train):
            continue
        for kind in ("linear", "bilinear", "quadratic", "mlp"):
            t0 = time.perf_counter()
            params = {"epochs": args.mlp_epochs, "random_state": args.seed} if kind == "mlp" else {}
            pred = fit_samples(space, train[:n], kind, **params)
            metrics = all_metrics(y_true, pred.predict_archs(archs))
            rows.append({"kind": kind, "samples": n, **metrics, "fit_seconds": time.perf_counter() - t0,
                         "image_evals": n * args.train_images})
            log(f"{kind} on {n}: tau {metrics['kendall_tau']:.3f}")
    return rows


def images_to_reach(rows: list[dict], convention: str) -> list[dict]:
    """Smallest image count whose median tau reaches each target, with and without CRN."""
    out = []
    sub = [r for r in rows if r["convention"] == convention]
    best = max(r["tau_median"] for r in sub)
    for target in sorted({round(best * f, 3) for f in (0.8, 0.9, 0.95)}):
        need = {}
        for crn in (True, False):
            hits = [r["images"] for r in sub if r["crn"] == crn and r["tau_median"] >= target]
            need["crn" if crn else "no_crn"] = min(hits) if hits else None
        out.append({"convention": convention, "target_tau": target, **need})
    return out


def plot_curves(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.6), dpi=120)
    for crn in (True, False):
        for conv, style in zip(CONVENTIONS, ("-", "--")):
            sub = [r for r in rows if r["crn"] == crn and r["convention"] == conv]
            ax.plot([r["images"] for r in sub], [r["tau_median"] for r in sub], style, marker="o",
                    label=f"{conv}, {'CRN' if crn else 'no CRN'}")
    ax.set_xscale("log")
    ax.set_xlabel("images per measurement")
    ax.set_ylabel("Kendall-tau (median)")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown(result: dict) -> str:
    lines = ["| images/measurement | CRN | convention | tau median | tau min..max | replicates |",
             "|---|---|---|---|---|---|"]
    for r in result["contributions"]:
        lines.append(f"| {r['images']} | {'yes' if r['crn'] else 'no'} | {r['convention']} | {r['tau_median']:.3f} "
                     f"| {r['tau_min']:.3f}..{r['tau_max']:.3f} | {r['replicates']} |")
    lines += ["", "| predictor | samples | Kendall-tau | Spearman | Pearson | MSE | fit s |", "|---|---|---|---|---|---|---|"]
    for r in result["predictors"]:
        lines.append(f"| {r['kind']} | {r['samples']} | {r['kendall_tau']:.3f} | {r['spearman']:.3f} | "
                     f"{r['pearson']:.3f} | {r['mse']:.3f} | {r['fit_seconds']:.1f} |")
    lines += ["", "| convention | target tau | images (CRN) | images (no CRN) |", "|---|---|---|---|"]
    for r in result["images_to_reach"]:
        lines.append(f"| {r['convention']} | {r['target_tau']} | {r['crn']} | {r['no_crn']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache_dir) if args.cache_dir else out / "cache"  # delete it after changing the supernet
    cache.mkdir(parents=True, exist_ok=True)
    source, data = resolve_source(args.run, args.supernet, args.data)
    net = load_supernet(source).eval()
    space = net.space
    x, y = heldout_tensors(space, data)
    log(f"{space.name}: {x.shape[0]} held-out images, {len(measurement_plan(space))} measurements")
    perm = torch.from_numpy(np.random.default_rng([args.seed, 77]).permutation(x.shape[0]))
    gx, gy = x[perm[: args.test_images]], y[perm[: args.test_images]]
    train_n = max(int(v) for v in args.train_sizes.split(","))
    parts = {
        "test": lambda: cached_samples(cache / "test_samples.jsonl", net, gx, gy, args.test_n, args.seed + 1000),
        "crn": lambda: correctness(net, x, y, True, args, cache / "measure_crn.npz"),
        "nocrn": lambda: correctness(net, x, y, False, args, cache / "measure_nocrn.npz"),
        "train": lambda: cached_samples(cache / "train_samples.jsonl", net, gx[: args.train_images],
                                        gy[: args.train_images], train_n, args.seed + 2000),
    }
    parts["predictors"] = lambda: cached_predictor_table(space, parts["train"](), parts["test"](), args,
                                                         cache / "predictors.json")
    if args.only:
        for name in args.only.split(","):
            parts[name]()
        return
    test = parts["test"]()
    oks = {True: parts["crn"](), False: parts["nocrn"]()}
    contrib = contributions_table(space, oks, test, args)
    preds = parts["predictors"]()
    result = {"settings": vars(args), "space": space.name, "heldout_images": int(x.shape[0]),
              "test_accuracy_range": [min(s.accuracy for s in test), max(s.accuracy for s in test)],
              "contributions": contrib, "predictors": preds,
              "images_to_reach": images_to_reach(contrib, "reference") + images_to_reach(contrib, "conditional")}
    atomic_write_json(out / "bench_results.json", result)
    atomic_write_text(out / "bench_results.md", markdown(result))
    plot_curves(contrib, out / "tau_vs_images.png")
    best = max(contrib, key=lambda r: (r["images"], r["tau_median"]) if r["crn"] else (0, 0))
    form = form_from_rows(space, oks[True], best["convention"], {})
    y_true = np.array([s.accuracy for s in test])
    scatter_plot(y_true, FormPredictor(form, space).predict_archs([s.arch for s in test]),
                 out / "contributions_scatter.png",
                 f"contributions ({best['convention']}, CRN, {args.max_images} images)")
    print(markdown(result))


if __name__ == "__main__":
    main()
