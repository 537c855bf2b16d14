"""Benchmark: ranking quality of the contributions estimator vs fitted predictors (docs/estimator.md).

On a trained supernet (CPU pipeline: Fashion-MNIST, ``mobilenetv3-tiny``) it measures

1. ground truth: one-shot top-1 of ``--test-n`` uniformly random subnets on ``--test-images`` images
   of ``--truth-split`` (default: the whole test split, disjoint from the estimator's held-out images,
   the same images for every subnet), and its noise ceiling: the split-half reliability of that
   ground truth and the Kendall-tau a noise-free predictor could reach against it;
2. the per-image outcomes (top-1 correctness and true-class probability) of all 1 + #alpha + #beta
   contribution measurements at ``--max-images`` held-out images each, with and without common random
   numbers (CRN). A build at N images uses a prefix of the images/contexts of a build at more images
   (same seed), so every smaller N is read off the same arrays, and disjoint chunks of N images give
   independent replicates (medians reported). Estimators are formed from the top-1 measurements (the
   paper) and from the mean true-class probability (``--metric prob`` of ``binas estimator build``);
3. linear / bilinear / quadratic / MLP predictors fitted on ``--train-sizes`` random subnets whose
   one-shot top-1 is measured on ``--train-images`` held-out images each.

Results (JSON, Markdown table, plots) go to ``--out-dir``; expensive arrays are cached there, so a
re-run with other analysis settings is cheap. Example (the numbers in docs/estimator.md)::

    .venv/bin/python benchmarks/bench_estimator.py --run runs/fmnist-tiny --out-dir docs/estimator
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from binas.estimator.contributions import CONVENTIONS, contributions_form, measurement_plan
from binas.estimator.measure import BuildConfig, image_outcomes, measurement_inputs
from binas.estimator.metrics import all_metrics, kendall_tau
from binas.estimator.pipeline import fit_samples, heldout_tensors, resolve_source
from binas.estimator.plots import scatter_plot
from binas.estimator.predictors import encode_archs
from binas.estimator.regression import OutcomeRegression
from binas.estimator.samples import Sample
from binas.estimator.store import FormPredictor
from binas.io import atomic_write_json, atomic_write_text
from binas.lut.timing import steady_allocator
from binas.space.cost import network_cost
from binas.supernet.model import archs_to_codes
from binas.supernet.store import load_supernet

METRICS = ("top1", "prob")  # what a measurement averages: 0/1 correctness or the true-class probability


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--run", help="supernet training run directory")
    p.add_argument("--supernet", help="supernet .safetensors file (instead of --run)")
    p.add_argument("--data", default=None, help="data set (default: the run's)")
    p.add_argument("--out-dir", default="docs/estimator", help="results, plots and caches")
    p.add_argument("--cache-dir", default=None, help="samples/measurement caches (default: OUT_DIR/cache)")
    p.add_argument("--max-images", type=int, default=2000, help="images per measurement of the largest build")
    p.add_argument("--image-steps", default="25,50,100,200,300,500,700,1000,1500,2000,3000,6000",
                   help="images per measurement to report (those <= --max-images)")
    p.add_argument("--max-replicates", type=int, default=8, help="disjoint replicates per image count")
    p.add_argument("--test-n", type=int, default=200, help="held-out random subnets (ground truth)")
    p.add_argument("--truth-split", default="test", choices=("test", "heldout"), help="ground-truth images")
    p.add_argument("--test-images", type=int, default=0, help="images per ground-truth subnet (0: the whole split)")
    p.add_argument("--train-sizes", default="256,1000,2560", help="training-set sizes of the predictors")
    p.add_argument("--train-images", type=int, default=500, help="held-out images per training subnet")
    p.add_argument("--mlp-epochs", type=int, default=300)
    p.add_argument("--batch-size", type=int, default=128, help="images per forward pass of one subnet")
    p.add_argument("--routed-batch-size", type=int, default=2000,
                   help="images per forward pass with per-image subnets (larger groups per choice run faster)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--only", default=None, help="fill only these caches and stop (comma list of "
                   "test, crn, nocrn, train, predictors), e.g. to run two processes side by side")
    return p.parse_args()


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def _save_npz(path: Path, **arrays: np.ndarray) -> None:
    tmp = path.with_name(path.name + ".tmp.npz")
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)


def subnet_outcomes(path: Path, net, x, y, archs, batch_size: int, keep_images: bool) -> dict[str, np.ndarray]:
    """Top-1 correctness and true-class probability of every architecture on ``x, y`` (cached, resumable).

    With ``keep_images`` the per-image arrays ``ok``/``p`` ``(n, images)`` are kept (ground truth:
    split-half reliability), otherwise only the per-subnet means ``acc``/``prob`` (in %).
    """
    done = dict(np.load(path)) if path.is_file() else {}
    n_done = len(done.get("acc", []))
    ok_rows = list(done.get("ok", []))
    p_rows = list(done.get("p", []))
    acc, prob = list(done.get("acc", [])), list(done.get("prob", []))
    t0 = time.perf_counter()
    for i in range(n_done, len(archs)):
        ok, p = image_outcomes(net, x, y, archs_to_codes(net.space, archs[i]), batch_size)
        acc.append(ok.mean() * 100.0)
        prob.append(p.mean() * 100.0)
        if keep_images:
            ok_rows.append(ok)
            p_rows.append(p.astype(np.float16))
        if (i + 1) % 50 == 0 or i + 1 == len(archs):
            arrays = {"acc": np.array(acc), "prob": np.array(prob)}
            if keep_images:
                arrays.update(ok=np.stack(ok_rows), p=np.stack(p_rows))
            _save_npz(path, **arrays)
            log(f"{i + 1}/{len(archs)} subnets x {x.shape[0]} images ({time.perf_counter() - t0:.0f} s) -> {path}")
    out = dict(np.load(path))
    return {k: v[: len(archs)] for k, v in out.items()}


def measurement_outcomes(net, x, y, crn: bool, args, path: Path) -> dict[str, np.ndarray]:
    """``ok``, ``p``: ``(measurements, max_images)`` per-image outcomes of every measurement (cached)."""
    if path.is_file():
        cached = dict(np.load(path))
        if cached["ok"].shape[1] >= args.max_images:
            return {k: v[:, : args.max_images] for k, v in cached.items()}
    space, cfg = net.space, BuildConfig(images=args.max_images, crn=crn, seed=args.seed)
    t0, oks, ps = time.perf_counter(), [], []
    for k, m in enumerate(measurement_plan(space)):
        idx, codes = measurement_inputs(space, k, m, x.shape[0], cfg)
        t = torch.from_numpy(idx)
        ok, p = image_outcomes(net, x.index_select(0, t), y.index_select(0, t), codes, args.routed_batch_size)
        oks.append(ok)
        ps.append(p.astype(np.float16))
        if (k + 1) % 32 == 0:
            log(f"crn={crn}: {k + 1} measurements ({time.perf_counter() - t0:.0f} s)")
    out = {"ok": np.stack(oks), "p": np.stack(ps)}
    _save_npz(path, **out)
    log(f"measurements (crn={crn}) {out['ok'].shape} in {time.perf_counter() - t0:.0f} s")
    return out


def form_from_rows(space, rows: np.ndarray, convention: str, meta: dict):
    """The contributions estimator of per-image outcome rows (one row per measurement, values in [0, 1])."""
    keys = [m.key for m in measurement_plan(space)]
    rows = rows.astype(np.float64)
    acc = {k: float(r.mean()) * 100 for k, r in zip(keys, rows)}
    err = {k: float(r.std(ddof=1) / np.sqrt(r.size)) * 100 for k, r in zip(keys, rows)}
    return contributions_form(space, acc, err, convention, meta)


def noise_ceiling(truth: dict[str, np.ndarray]) -> dict[str, float]:
    """How well any predictor could rank against this ground truth, given its measurement noise.

    The split-half Pearson correlation r of the subnets' accuracies on the even and the odd images,
    stepped up to the whole image set (Spearman-Brown: rel = 2r / (1 + r)), is the reliability; a
    noise-free predictor then correlates sqrt(rel) with the measured truth, which for bivariate normal
    scores is a Kendall-tau of (2/pi) arcsin(sqrt(rel)).
    """
    ok = truth["ok"].astype(np.float64)
    even, odd = ok[:, 0::2].mean(1) * 100, ok[:, 1::2].mean(1) * 100
    r = float(np.nan_to_num(np.corrcoef(even, odd)[0, 1])) if even.std() > 0 and odd.std() > 0 else 0.0
    rel = max(0.0, 2 * r / (1 + r))
    return {"split_half_pearson": r, "split_half_tau": kendall_tau(even, odd), "reliability": rel,
            "tau_ceiling": 2 / math.pi * math.asin(math.sqrt(rel)), "images": int(ok.shape[1]),
            "std": float(truth["acc"].std(ddof=1)), "mean": float(truth["acc"].mean())}


def contributions_table(space, outcomes: dict, test_archs, y_true: np.ndarray, args) -> list[dict]:
    X = encode_archs(space, test_archs)
    rows = []
    for n in [int(v) for v in args.image_steps.split(",") if int(v) <= args.max_images]:
        reps = min(args.max_images // n, args.max_replicates)
        for crn, out in outcomes.items():
            for metric, arr in (("top1", out["ok"]), ("prob", out["p"])):
                for conv in CONVENTIONS:
                    taus = [all_metrics(y_true, FormPredictor(form_from_rows(space, arr[:, r * n:(r + 1) * n], conv,
                                                                             {}), space).predict(X))["kendall_tau"]
                            for r in range(reps)]
                    rows.append({"images": n, "crn": crn, "metric": metric, "convention": conv, "replicates": reps,
                                 "tau_median": float(np.median(taus)), "tau_min": float(min(taus)),
                                 "tau_max": float(max(taus)), "image_evals": n * arr.shape[0]})
    return rows


def regression_table(space, outcomes: dict, x_count: int, test_archs, y_true: np.ndarray, args) -> list[dict]:
    """Kendall-tau of the least-squares contributions (``--method regression``) from the same measurements.

    Linear features at every image count (median over replicates); the bilinear feature set (about
    3x the features, 10x the solve cost) at the largest image count only.
    """
    plan = measurement_plan(space)
    X = encode_archs(space, test_archs)
    rows = []
    for crn, out in outcomes.items():
        cfg = BuildConfig(images=args.max_images, crn=crn, seed=args.seed)
        inputs = [measurement_inputs(space, k, m, x_count, cfg) for k, m in enumerate(plan)]
        steps = [int(v) for v in args.image_steps.split(",") if int(v) <= args.max_images]
        for n in steps:
            for bilinear in ((False, True) if n == steps[-1] else (False,)):
                reps = 1 if bilinear else min(args.max_images // n, args.max_replicates)
                taus = []
                for r in range(reps):
                    cols = slice(r * n, (r + 1) * n)
                    reg = OutcomeRegression(space, x_count, bilinear=bilinear).add_all(
                        (codes[cols], idx[cols], ok[cols]) for (idx, codes), ok in zip(inputs, out["ok"]))
                    taus.append(all_metrics(y_true, FormPredictor(reg.to_form(), space).predict(X))["kendall_tau"])
                rows.append({"images": n, "crn": crn, "metric": "top1",
                             "convention": "regression-bilinear" if bilinear else "regression", "replicates": reps,
                             "tau_median": float(np.median(taus)), "tau_min": float(min(taus)),
                             "tau_max": float(max(taus)), "image_evals": n * len(plan)})
                log(f"regression crn={crn} n={n} bilinear={bilinear}: tau {rows[-1]['tau_median']:.3f}")
    return rows


def cached_predictor_table(space, train, test_archs, y_true, args, path: Path) -> list[dict]:
    """:func:`predictor_table`, reused from ``path`` when made with the same settings."""
    key = {k: getattr(args, k) for k in ("train_sizes", "train_images", "test_n", "test_images", "truth_split",
                                         "mlp_epochs", "seed")}
    if path.is_file():
        obj = json.loads(path.read_text())
        if obj.get("settings") == key:
            return obj["rows"]
    rows = predictor_table(space, train, test_archs, y_true, args)
    atomic_write_json(path, {"settings": key, "rows": rows})
    return rows


def predictor_table(space, train, test_archs, y_true, args) -> list[dict]:
    """Every predictor kind fitted on the first n training subnets (labels: top-1, and true-class prob)."""
    archs, outcomes = train
    rows = []
    for n in [int(v) for v in args.train_sizes.split(",")]:
        if n > len(archs):
            continue
        for label in ("acc", "prob"):
            samples = [Sample(a, float(v)) for a, v in zip(archs[:n], outcomes[label][:n])]
            for kind in ("linear", "bilinear", "quadratic", "mlp"):
                t0 = time.perf_counter()
                params = {"epochs": args.mlp_epochs, "random_state": args.seed} if kind == "mlp" else {}
                pred = fit_samples(space, samples, kind, **params)
                metrics = all_metrics(y_true, pred.predict_archs(test_archs))
                rows.append({"kind": kind, "samples": n, "labels": "top1" if label == "acc" else "prob", **metrics,
                             "fit_seconds": time.perf_counter() - t0, "image_evals": n * args.train_images})
                log(f"{kind} on {n} ({label}): tau {metrics['kendall_tau']:.3f}")
    return rows


def images_to_reach(rows: list[dict], metric: str, convention: str) -> list[dict]:
    """Smallest image count whose median tau reaches each target, with and without CRN."""
    out = []
    sub = [r for r in rows if r["convention"] == convention and r["metric"] == metric]
    best = max(r["tau_median"] for r in sub)
    for target in sorted({round(best * f, 3) for f in (0.5, 0.8, 0.9)}):
        need = {}
        for crn in (True, False):
            hits = [r["images"] for r in sub if r["crn"] == crn and r["tau_median"] >= target]
            need["crn" if crn else "no_crn"] = min(hits) if hits else None
        out.append({"metric": metric, "convention": convention, "target_tau": target, **need})
    return out


def crn_savings(rows: list[dict], metric: str, convention: str) -> list[dict]:
    """For every image count N without CRN: the fewest images with CRN whose median tau is at least as high."""
    sub = [r for r in rows if r["convention"] == convention and r["metric"] == metric]
    with_crn = sorted((r["images"], r["tau_median"]) for r in sub if r["crn"])
    out = []
    for r in sorted((r for r in sub if not r["crn"]), key=lambda r: r["images"]):
        need = next((n for n, tau in with_crn if tau >= r["tau_median"]), None)
        out.append({"metric": metric, "convention": convention, "images_no_crn": r["images"],
                    "tau_no_crn": r["tau_median"], "images_crn": need,
                    "ratio": None if need is None else need / r["images"]})
    return out


def plot_curves(rows: list[dict], ceiling: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), dpi=120, sharey=True)
    for ax, metric in zip(axes, METRICS):
        convs = [c for c in ("reference", "conditional", "regression") if any(
            r["convention"] == c and r["metric"] == metric for r in rows)]
        for crn in (True, False):
            for conv, style in zip(convs, ("-", "--", "-.")):
                sub = [r for r in rows if r["crn"] == crn and r["convention"] == conv and r["metric"] == metric]
                ax.plot([r["images"] for r in sub], [r["tau_median"] for r in sub], style, marker="o", ms=3,
                        label=f"{conv}, {'CRN' if crn else 'no CRN'}")
        ax.axhline(ceiling, color="grey", lw=0.8, ls=":", label="noise ceiling of the ground truth")
        ax.set_xscale("log")
        ax.set_xlabel("images per measurement")
        ax.set_title(f"measurements of {'top-1' if metric == 'top1' else 'true-class probability'}", fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("Kendall-tau vs test top-1 (median)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def markdown(result: dict) -> str:
    c = result["ground_truth"]
    lines = [f"Ground truth: {result['settings']['test_n']} subnets x {c['images']} {result['settings']['truth_split']} "
             f"images, top-1 mean {c['mean']:.2f}%, std {c['std']:.3f}; split-half Pearson {c['split_half_pearson']:.3f}, "
             f"split-half tau {c['split_half_tau']:.3f}, reliability {c['reliability']:.3f}, noise-free tau ceiling "
             f"{c['tau_ceiling']:.3f}; tau(MACs) {result['tau_macs']:.3f}, tau(params) {result['tau_params']:.3f}.", "",
             "| images/measurement | CRN | measures | convention | tau median | tau min..max | replicates |",
             "|---|---|---|---|---|---|---|"]
    for r in result["contributions"]:
        lines.append(f"| {r['images']} | {'yes' if r['crn'] else 'no'} | {r['metric']} | {r['convention']} | "
                     f"{r['tau_median']:.3f} | {r['tau_min']:.3f}..{r['tau_max']:.3f} | {r['replicates']} |")
    lines += ["", "| predictor | samples | labels | Kendall-tau | Spearman | Pearson | MSE | fit s |",
              "|---|---|---|---|---|---|---|---|"]
    for r in result["predictors"]:
        lines.append(f"| {r['kind']} | {r['samples']} | {r['labels']} | {r['kendall_tau']:.3f} | {r['spearman']:.3f} | "
                     f"{r['pearson']:.3f} | {r['mse']:.3f} | {r['fit_seconds']:.1f} |")
    lines += ["", "| convention | images without CRN | tau without CRN | fewest images with CRN reaching it | ratio |",
              "|---|---|---|---|---|"]
    for r in result["crn_savings"]:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}"
        lines.append(f"| {r['convention']} | {r['images_no_crn']} | {r['tau_no_crn']:.3f} | {r['images_crn']} | {ratio} |")
    lines += ["", "| measures | convention | target tau | images (CRN) | images (no CRN) |", "|---|---|---|---|---|"]
    for r in result["images_to_reach"]:
        lines.append(f"| {r['metric']} | {r['convention']} | {r['target_tau']} | {r['crn']} | {r['no_crn']} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    steady_allocator()  # no page faults on every large batch (about 1.3-2x faster here)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    cache = Path(args.cache_dir) if args.cache_dir else out / "cache"  # delete it after changing the supernet
    cache.mkdir(parents=True, exist_ok=True)
    source, data = resolve_source(args.run, args.supernet, args.data)
    net = load_supernet(source).eval()
    space = net.space
    x, y = heldout_tensors(space, data)
    tx, ty = heldout_tensors(space, data, split=args.truth_split)
    if args.test_images:
        perm = torch.from_numpy(np.random.default_rng([args.seed, 77]).permutation(tx.shape[0]))[: args.test_images]
        tx, ty = tx[perm], ty[perm]
    log(f"{space.name}: {x.shape[0]} held-out images, {len(measurement_plan(space))} measurements, "
        f"ground truth on {tx.shape[0]} {args.truth_split} images")
    rng_test, rng_train = np.random.default_rng(args.seed + 1000), np.random.default_rng(args.seed + 2000)
    test_archs = [space.sample(rng_test) for _ in range(args.test_n)]
    train_archs = [space.sample(rng_train) for _ in range(max(int(v) for v in args.train_sizes.split(",")))]
    bs = args.batch_size
    parts = {
        "test": lambda: subnet_outcomes(cache / "test_outcomes.npz", net, tx, ty, test_archs, bs, True),
        "crn": lambda: measurement_outcomes(net, x, y, True, args, cache / "measure_crn.npz"),
        "nocrn": lambda: measurement_outcomes(net, x, y, False, args, cache / "measure_nocrn.npz"),
        "train": lambda: (train_archs, subnet_outcomes(cache / "train_outcomes.npz", net, x[: args.train_images],
                                                       y[: args.train_images], train_archs, bs, False)),
    }
    parts["predictors"] = lambda: cached_predictor_table(space, parts["train"](), test_archs, parts["test"]()["acc"],
                                                         args, cache / "predictors.json")
    if args.only:
        for name in args.only.split(","):
            parts[name]()
        return
    truth = parts["test"]()
    y_true = truth["acc"]
    outcomes = {True: parts["crn"](), False: parts["nocrn"]()}
    contrib = contributions_table(space, outcomes, test_archs, y_true, args)
    contrib += regression_table(space, outcomes, x.shape[0], test_archs, y_true, args)
    preds = parts["predictors"]()
    costs = [network_cost(space, a) for a in test_archs]
    ceiling = noise_ceiling(truth)
    result = {"settings": vars(args), "space": space.name, "heldout_images": int(x.shape[0]),
              "ground_truth": ceiling, "test_accuracy_range": [float(y_true.min()), float(y_true.max())],
              "tau_macs": kendall_tau(y_true, np.array([c["macs"] for c in costs])),
              "tau_params": kendall_tau(y_true, np.array([c["params"] for c in costs])),
              "contributions": contrib, "predictors": preds,
              "images_to_reach": [row for metric, conv in [(m, c) for m in METRICS for c in CONVENTIONS]
                                  + [("top1", "regression")] for row in images_to_reach(contrib, metric, conv)],
              "crn_savings": [row for conv in CONVENTIONS for row in crn_savings(contrib, "top1", conv)]}
    atomic_write_json(out / "bench_results.json", result)
    atomic_write_text(out / "bench_results.md", markdown(result))
    plot_curves(contrib, ceiling["tau_ceiling"], out / "tau_vs_images.png")
    best = max((r for r in contrib if r["crn"] and r["images"] == args.max_images), key=lambda r: r["tau_median"])
    rows = outcomes[True]["ok" if best["metric"] == "top1" else "p"]
    form = form_from_rows(space, rows, best["convention"], {})
    scatter_plot(y_true, FormPredictor(form, space).predict_archs(test_archs), out / "contributions_scatter.png",
                 f"contributions ({best['metric']}, {best['convention']}, CRN, {args.max_images} images)")
    print(markdown(result))


if __name__ == "__main__":
    main()
