"""``binas estimator``: build the contributions estimator, sample subnets, fit and evaluate predictors."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer

from binas.cli.choices import Convention, Device, Method, PredictorKind, Split
from binas.cli.common import OUTPUT_FILE, BinasTyper, DeviceOpt, WorkersOpt, err_console, print_json, print_result
from binas.errors import BinasError, DataError

# torch, the estimators and the plots are imported inside the commands (``binas --help`` stays fast)

app = BinasTyper(help="Accuracy estimators: build the contributions estimator, sample, fit, evaluate.",
                  no_args_is_help=True)

RunOpt = Annotated[Optional[str], typer.Option("--run", help="Supernet training run directory.")]
SupernetOpt = Annotated[Optional[str], typer.Option("--supernet", help="Supernet .safetensors file.")]
DataOpt = Annotated[Optional[str], typer.Option("--data", help="Data set the supernet was trained on "
                    "(fashion-mnist, cifar10, imagefolder, synthetic; default: from the run's config).")]
DataDirOpt = Annotated[Optional[str], typer.Option("--data-dir", help="Where the data files are (default: "
                       "the run's).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON on stdout.")]
EstimatorSpaceOpt = Annotated[Optional[str], typer.Option("--space", "-s", help="Space name or YAML file (default: "
                              "the one named in the estimator).")]


@contextlib.contextmanager
def _progress(label: str, quiet: bool) -> Iterator[Callable[[int, int], None]]:
    """A progress callback ``(done, total)`` drawing a Rich bar on stderr (nothing when ``quiet``)."""
    if quiet:
        yield lambda done, total: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=err_console, transient=True) as bar:
        task = bar.add_task(label, total=None)
        yield lambda done, total: bar.update(task, completed=done, total=total)


def _data_dir(run: str | None, data: str | None, data_dir: str | None) -> str | None:
    """``--data-dir``, else the run's own when the data set also comes from the run."""
    if data_dir is not None or data is not None or run is None:
        return data_dir
    from binas.supernet.train.config import run_data

    return run_data(run)[1]


@app.command("build")
def build(
    out: Annotated[Path, typer.Option("--out", help="Estimator file to write (binas.estimator/1)."), OUTPUT_FILE],
    run: RunOpt = None, supernet: SupernetOpt = None, data: DataOpt = None, data_dir: DataDirOpt = None,
    images: Annotated[int, typer.Option("--images", help="Held-out images per measurement.")] = 500,
    convention: Annotated[Convention, typer.Option("--convention", help="Da convention: reference (A^a - A0) or "
                          "conditional (A^a - A^b at the pinned depth).")] = Convention.reference,
    method: Annotated[Method, typer.Option("--method", help="differences (the paper: contributions are "
                      "differences of measured accuracies) or regression (least squares on every per-image "
                      "outcome of the same measurements; lower variance).")] = Method.differences,
    crn: Annotated[Optional[bool], typer.Option("--crn/--no-crn", help="Common random numbers: every measurement "
                   "sees the same images and per-image random subnets (default: on for differences, off "
                   "for regression).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the images and random subnets.")] = 0,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass (per-image subnets: "
                          "larger batches group more images per choice and run faster).")] = 2000,
    resume: Annotated[bool, typer.Option("--resume", help="Continue a killed build from OUT.partial.json.")] = False,
    device: DeviceOpt = Device.auto,
    workers: WorkersOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Measure the 1 + #alpha + #beta accuracy contributions on the supernet (docs/estimator.md); torchrun-able."""
    from binas.estimator.measure import BuildConfig, partial_path
    from binas.estimator.pipeline import build_estimator, resolve_source
    from binas.lut.timing import kept_allocator
    from binas.resume import ResumeError
    from binas.runtime import open_runtime, torchrun_rank_world

    convention, method, device = convention.value, method.value, device.value
    if batch_size < 1:
        raise BinasError(f"--batch-size must be at least 1, got {batch_size}")
    crn = method == "differences" if crn is None else crn
    rank, world = torchrun_rank_world()  # under torchrun every rank measures a share; rank 0 writes and reports
    if resume and not partial_path(out, rank, world).exists():
        if not out.is_file():
            raise ResumeError(f"nothing to resume for {out}: there is no {partial_path(out, rank, world).name} "
                              "(check --out, or build without --resume)")
        if rank == 0:
            err_console.print(f"the estimator {out} is already complete: nothing to resume")
            if json_out:
                print_json({"out": str(out), "complete": True})
        return
    source, data_name = resolve_source(run, supernet, data)
    data_dir = _data_dir(run, data, data_dir)
    cfg = BuildConfig(images=images, crn=crn, seed=seed, batch_size=batch_size)
    # kept_allocator: no page faults on every large batch (1.3-2x faster on CPU); restored afterwards
    with open_runtime(device) as rt, kept_allocator():
        with _progress("measuring", json_out or not rt.is_main) as tick:  # every rank measures a share
            form = build_estimator(source, data_name, out, cfg, convention=convention, method=method,
                                   data_dir=data_dir, resume=resume, on_measured=tick, rt=rt, workers=workers)
        rank = rt.rank
    if rank != 0:
        return
    n = 1 + len(form.p_alpha) + len(form.p_beta)
    result = {"out": str(out), "kind": form.kind, "method": method, "convention": form.extra["convention"],
              "measurements": n,
              "images": images, "crn": crn, "A0": form.extra["A0"], "A0_stderr": form.extra["A0_stderr"]}
    print_result(result, json_out, lambda: f"wrote {out}: {n} measurements x {images} images "
                 f"({'CRN' if crn else 'no CRN'}), A0 = {result['A0']:.2f}% +- {result['A0_stderr']:.2f}")


@app.command("sample")
def sample(
    out: Annotated[Path, typer.Option("--out", help="Samples file to write (JSONL)."), OUTPUT_FILE],
    n: Annotated[int, typer.Option("--n", help="Number of uniformly random subnets.")] = 200,
    run: RunOpt = None, supernet: SupernetOpt = None, data: DataOpt = None, data_dir: DataDirOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random subnets.")] = 0,
    images: Annotated[Optional[int], typer.Option("--images", help="Use only the first N images of the split "
                      "(default: all).")] = None,
    split: Annotated[Split, typer.Option("--split", help="heldout (training data the supernet never saw; what "
                     "the estimator measures on) or test (an independent ground truth).")] = Split.heldout,
    lut: Annotated[Optional[list[str]], typer.Option("--lut", help="LUT file(s) whose resource to add "
                   "(repeatable).")] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Images per forward pass.", min=1)] = 128,
    device: DeviceOpt = Device.auto,
    workers: WorkersOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """One-shot accuracy of N random subnets on the held-out (or test) split, one JSON line each; torchrun-able."""
    import numpy as np

    from binas.estimator.pipeline import heldout_images, resolve_source, sample_subnets
    from binas.estimator.samples import write_samples
    from binas.lut.table import load_lut
    from binas.lut.timing import kept_allocator
    from binas.runtime import open_runtime
    from binas.supernet.store import load_supernet

    split, device = split.value, device.value
    if images is not None and images < 1:
        raise DataError(f"--images must be at least 1, got {images}")
    source, data_name = resolve_source(run, supernet, data)
    data_dir = _data_dir(run, data, data_dir)
    net = load_supernet(source)
    luts = [load_lut(p, net.space) for p in lut or []]
    with open_runtime(device) as rt, kept_allocator():  # no page faults on every batch (1.3-2x faster on CPU)
        net = net.to(rt.device, memory_format=rt.memory_format)
        x, y = heldout_images(net.space, data_name, data_dir, split=split, rt=rt, workers=workers)
        if images is not None:
            x, y = x[:images], y[:images]
        with _progress("sampling", json_out or not rt.is_main) as tick:
            samples = sample_subnets(net, x, y, n, seed=seed, luts=luts, batch_size=batch_size, on_measured=tick,
                                     rt=rt)
        if not rt.is_main:
            return
    write_samples(out, net.space, samples)
    acc = np.array([s.accuracy for s in samples])
    result = {"out": str(out), "n": n, "images": len(y), "accuracy_mean": float(acc.mean()),
              "accuracy_min": float(acc.min()), "accuracy_max": float(acc.max())}
    print_result(result, json_out, lambda: f"wrote {out}: {n} subnets on {len(y)} images, top-1 "
                 f"{acc.min():.2f}..{acc.max():.2f}% (mean {acc.mean():.2f}%)")


@app.command("fit")
def fit(
    space: Annotated[str, typer.Option("--space", "-s", help="Space name or YAML file.")],
    samples: Annotated[Path, typer.Option("--samples", help="Measured architectures (JSONL).")],
    kind: Annotated[PredictorKind, typer.Option("--kind", help="Predictor (linear, bilinear, auto and ensemble "
                    "are bilinear forms, searchable exactly; stack blends linear, auto and quadratic by "
                    "cross-validation, a judge for --verify-with).")],
    out: Annotated[Path, typer.Option("--out", help="Estimator file to write (binas.estimator/1)."), OUTPUT_FILE],
    ridge: Annotated[Optional[float], typer.Option("--ridge", help="Ridge strength for linear/bilinear/"
                     "quadratic (default: chosen by leave-one-out).")] = None,
    epochs: Annotated[Optional[int], typer.Option("--epochs", help="Training epochs of mlp/autobuild "
                      "(default: the predictor's own, 300 for mlp).")] = None,
    seed: Annotated[int, typer.Option("--seed", help="MLP random state / ensemble bootstrap / stack folds seed.")] = 0,
    members: Annotated[int, typer.Option("--members", help="Bootstrap members of --kind ensemble.")] = 20,
    json_out: JsonOpt = False,
) -> None:
    """Fit a predictor on measured architectures; bilinear-expressible kinds are searchable exactly.

    auto chooses linear vs bilinear features and the ridge strength by leave-one-out error; ensemble
    adds bootstrap members whose spread is reported with every search answer; stack weighs linear,
    auto and quadratic fits by 5-fold cross-validation.
    """
    from binas.estimator.pipeline import eval_samples, fit_samples
    from binas.estimator.samples import read_samples
    from binas.estimator.store import save_predictor
    from binas.space import load_space

    kind = kind.value
    if ridge is not None and not ridge > 0:
        raise BinasError(f"--ridge must be a positive number, got {ridge}")
    sp = load_space(space)
    data = read_samples(samples, sp)
    if kind == "stack" and ridge is not None:
        raise BinasError("--ridge does not apply to --kind stack: each member chooses its own by leave-one-out")
    params: dict[str, Any] = {"ridge": ridge}
    if kind in ("mlp", "autobuild"):
        params = {"random_state": seed, "epochs": epochs}
    elif kind == "ensemble":
        params.update(members=members, random_state=seed)
    elif kind == "stack":
        params = {"random_state": seed}
    pred = fit_samples(sp, data, kind, **params)
    save_predictor(pred, out)
    train, _, _ = eval_samples(pred, data)
    result = {"out": str(out), "kind": kind, "n": len(data), "train": train}
    if hasattr(pred, "ridge_"):
        result["ridge"] = pred.ridge_
    if hasattr(pred, "fit_info"):
        result["fit"] = pred.fit_info()

    def summary() -> Iterator[str]:
        yield (f"wrote {out}: {kind} predictor fitted on {len(data)} samples "
               f"(training Kendall-tau {train['kendall_tau']:.3f})")
        info = result.get("fit")
        if info and kind == "stack":
            weights = ", ".join(f"{k} {w:.3g}" for k, w in info["members"].items())
            yield (f"weights chosen by {info['folds']}-fold cross-validation: {weights} "
                   f"(out-of-fold MSE {info['oof_mse']:.4g})")
            if not any(info["members"].values()):
                yield ("no member predicts held-out samples better than their mean, so the stack is a constant: "
                       "as a --verify judge it keeps the estimator's order")
        elif info:
            yield (f"chosen by leave-one-out: {info['features']} features, interaction scale "
                   f"{info['interaction_scale']:g}, ridge {info['ridge']:g} (LOO MSE {info['loo_mse']:.4g})")

    print_result(result, json_out, summary)


@app.command("shrink")
def shrink(
    estimator: Annotated[Path, typer.Option("--estimator", help="Contributions estimator (estimator build).")],
    out: Annotated[Path, typer.Option("--out", help="Shrunk estimator file to write (binas.estimator/1)."),
                   OUTPUT_FILE],
    space: EstimatorSpaceOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Shrink every measured contribution by its standard error (empirical Bayes), same formulas after."""
    from binas.estimator.eb_shrink import shrink_contributions
    from binas.estimator.form import load_estimator
    from binas.artifacts import read_format
    from binas.space import load_space

    sp = load_space(space or str(read_format(estimator, "binas.estimator/1", "estimator file").get("space", "")))
    form, summary = shrink_contributions(load_estimator(estimator, sp), sp)
    form.save(out)
    taus = [g["tau"] for g in summary["groups"] if g["tau"] is not None]
    result = {"out": str(out), "groups": len(summary["groups"]),
              "groups_shrunk_to_mean": sum(t == 0.0 for t in taus), "shrinkage": summary}
    print_result(result, json_out, lambda: f"wrote {out}: {len(summary['groups'])} groups of measurements shrunk "
                 f"by their standard errors ({result['groups_shrunk_to_mean']} had no spread beyond noise and became "
                 "their mean)")


@app.command("eval")
def evaluate(
    estimator: Annotated[Path, typer.Option("--estimator", help="Estimator file (binas.estimator/1).")],
    samples: Annotated[Path, typer.Option("--samples", help="Test architectures with measured accuracy (JSONL).")],
    space: EstimatorSpaceOpt = None,
    plot: Annotated[Optional[Path], typer.Option("--plot", help="Write a predicted-vs-measured scatter PNG."),
                    OUTPUT_FILE] = None,
    json_out: JsonOpt = False,
) -> None:
    """Kendall-tau, Spearman, Pearson and MSE of an estimator on measured architectures."""
    from binas.estimator.pipeline import eval_samples
    from binas.estimator.plots import scatter_plot
    from binas.estimator.samples import read_samples
    from binas.estimator.store import load_predictor
    from binas.artifacts import read_format
    from binas.space import load_space, space_named_in

    header = read_format(estimator, "binas.estimator/1", "estimator file")
    sp = load_space(space) if space else space_named_in(header.get("space"), f"estimator file {estimator}")
    pred = load_predictor(estimator, sp)
    metrics, y_true, y_pred = eval_samples(pred, read_samples(samples, sp))
    if plot is not None:
        scatter_plot(y_true, y_pred, plot, f"{header.get('kind')}: Kendall-tau {metrics['kendall_tau']:.3f}, "
                     f"n={metrics['n']}")
    print_result(metrics, json_out, lambda: f"{estimator} ({header.get('kind')}) on {metrics['n']} architectures: "
                 f"Kendall-tau {metrics['kendall_tau']:.3f}, Spearman {metrics['spearman']:.3f}, "
                 f"Pearson {metrics['pearson']:.3f}, MSE {metrics['mse']:.4g}")
