"""`binas demo`: BINAS end to end on a CPU, and a fair comparison of its networks (docs/demo.md).

Default path ("pretrained", train once, specialise anywhere): unpack the supernet shipped with
binas, measure *this* machine's latency LUT, build the estimator, and search three latency budgets.
``--train`` ("train") trains the supernet here first. Then, at each budget, the found network, the
hand-scaled baseline (:func:`binas.baselines.scaled_baseline`) and several random networks that use
90-100% of the same budget all get the *same* training (a fixed number of fine-tuning steps from
their inherited supernet weights) and are measured on every test image; their end-to-end latency is
measured the way the LUT was taken. ``report.md`` shows the result.

Every step writes its artifact atomically and is skipped when the artifact exists, so a killed demo
continues where it stopped.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch

from binas.baselines import scaled_baseline
from binas.codec import format_timm, parse_timm
from binas.data import load_data
from binas.demo_report import write_report
from binas.errors import BinasError
from binas.estimator.form import load_estimator
from binas.estimator.measure import BuildConfig, evaluate_codes
from binas.estimator.pipeline import METHODS, build_estimator, heldout_tensors, sample_subnets
from binas.estimator.samples import Sample, read_samples, write_samples
from binas.evaluate import topk_accuracy
from binas.export import load_model
from binas.io import atomic_write_json, read_json
from binas.nn.supernet import FINAL_NAME, archs_to_codes, load_supernet
from binas.pretrained import packaged_path, unpack_supernet
from binas.resources.lut import Lut, load_lut
from binas.resources.measure import OVERHEAD, MeasureSettings, build_entry, lut_entries, lut_from_samples, measure_lut
from binas.resources.timing import CLOCKS, make_backend, timing_rounds
from binas.resume import check_same_settings, normalized
from binas.search.milp import solve_milp
from binas.search.pareto import pareto_front
from binas.search.problem import build_problem
from binas.space import Architecture, SearchSpace, load_space
from binas.train.config import load_config
from binas.train.finetune import CHECKPOINT, FinetuneConfig, finetune
from binas.train.loop import CHECKPOINT_NAME, train_supernet

__all__ = ["DemoConfig", "check_demo_config", "random_under_budget", "run_demo"]

SOURCE_FILE = "source.json"  # in the supernet directory: which path made it


@dataclass
class DemoConfig:
    """What the demo runs; the defaults fit a quiet 2-core CPU in about 10 minutes (docs/demo.md)."""

    out: str = "runs/demo"  # run directory (every artifact goes here)
    space: str = "mobilenetv3-tiny"  # search space
    data: str = "fashion-mnist"  # data set
    data_dir: str | None = None  # where its files are
    train: bool = False  # True: train the supernet here ("train" path); False: the shipped one ("pretrained")
    pretrained: str | None = None  # a packed supernet file (None: the one shipped with binas)
    supernet: dict[str, Any] = field(default_factory=lambda: {  # supernet training of --train (binas.train.config)
        "heaviest_epochs": 0.3, "supernet_epochs": 0.15, "batch_size": 128, "optimizer": "adamw", "lr": 0.003,
        "weight_decay": 0.01, "warmup_steps": 20, "augment": False, "checkpoint_every": 50, "log_every": 10,
        "eval_images": 1000, "bn_calibration_images": 500})
    lut_repeats: int = 20  # timed rounds per LUT entry (PyTorch, 1 thread, batch 1)
    latency_clock: str = "cpu"  # cpu: the thread's CPU time (robust on a busy machine) | wall
    estimator_method: str = "regression"  # differences (the paper, with CRN) | regression (no CRN)
    estimator_images: int = 400  # held-out images per estimator measurement
    test_subnets: int = 100  # held-out random subnets that score the estimator (one-shot on test images)
    test_images: int = 1000  # test-split images per held-out subnet
    budget_quantiles: tuple[float, ...] = (0.2, 0.5, 0.8)  # budgets: these quantiles of the subnets' LUT latency
    random_per_budget: int = 5  # random networks trained at each budget
    random_min_fraction: float = 0.9  # they use between this fraction and all of the budget (by the LUT)
    finetune_steps: int = 40  # the same training for every compared network: steps from inherited weights
    finetune_batch_size: int = 128  # images per step
    eval_images: int | None = None  # test images per compared network (None: the whole test split)
    latency_repeats: int = 30  # interleaved timed rounds of the compared networks
    workers: int = 2  # processes that train the compared networks side by side (one thread each)
    seed: int = 0


def _train_config(cfg: DemoConfig, run: Path) -> Any:
    return load_config(None, space=cfg.space, data=cfg.data, data_dir=cfg.data_dir, out=str(run), seed=cfg.seed,
                       **cfg.supernet)


def _finetune_settings(cfg: DemoConfig) -> dict[str, Any]:
    """The same training of every compared network (``binas.train.finetune.FinetuneConfig`` fields)."""
    return {"data": cfg.data, "data_dir": cfg.data_dir, "max_steps": cfg.finetune_steps, "augment": False,
            "batch_size": cfg.finetune_batch_size, "seed": cfg.seed}


_COUNTS = ("lut_repeats", "estimator_images", "test_subnets", "test_images", "finetune_steps", "latency_repeats",
           "random_per_budget", "finetune_batch_size", "workers")


def check_demo_config(cfg: DemoConfig) -> DemoConfig:
    """Validate every demo setting before any work (each stage's own checks included).

    Raises:
        BinasError: naming the first bad setting.
    """
    def whole(name: str, value: Any, least: int) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise BinasError(f"demo setting {name} must be a whole number >= {least}, got {value!r}")

    for name in _COUNTS:
        whole(name, getattr(cfg, name), 1)
    whole("seed", cfg.seed, 0)
    if cfg.eval_images is not None:
        whole("eval_images", cfg.eval_images, 1)
    if not isinstance(cfg.supernet, dict):
        raise BinasError(f"demo setting supernet must be a mapping of training options, got {cfg.supernet!r}")
    if cfg.estimator_method not in METHODS:
        raise BinasError(f"demo setting estimator_method must be one of {list(METHODS)}, got {cfg.estimator_method!r}")
    q = cfg.budget_quantiles
    if not isinstance(q, (list, tuple)) or not 1 <= len(q) <= 10 or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < 1 for v in q):
        raise BinasError(f"demo setting budget_quantiles must list 1 to 10 numbers in (0, 1), got {q!r}")
    frac = cfg.random_min_fraction
    if isinstance(frac, bool) or not isinstance(frac, (int, float)) or not 0 <= frac < 1:
        raise BinasError(f"demo setting random_min_fraction must be a number in [0, 1), got {frac!r}")
    if cfg.latency_clock not in CLOCKS:
        raise BinasError(f"demo setting latency_clock must be one of {sorted(CLOCKS)}, got {cfg.latency_clock!r}")
    if not isinstance(cfg.train, bool):
        raise BinasError(f"demo setting train must be true or false, got {cfg.train!r}")
    for name in ("out", "space", "data"):
        if not isinstance(getattr(cfg, name), str) or not getattr(cfg, name):
            raise BinasError(f"demo setting {name} must be a non-empty string, got {getattr(cfg, name)!r}")
    load_space(cfg.space)
    _train_config(cfg, Path(cfg.out) / "supernet")
    FinetuneConfig(**_finetune_settings(cfg)).validate()
    MeasureSettings(backend="torch", threads=1, batch_size=1, repeats=cfg.lut_repeats, seed=cfg.seed,
                    clock=cfg.latency_clock).check()
    return cfg


def _check_same_demo(cfg: DemoConfig, out: Path) -> None:
    """A demo continues only with the settings it was started with (recorded in ``demo_config.json``).

    Until its supernet step has finished nothing depends on them yet, so a demo whose first step failed
    (say, a mistyped ``--pretrained``) starts again with the new settings.
    """
    path = out / "demo_config.json"
    settings = {k: v for k, v in asdict(cfg).items() if k not in ("out", "workers")}
    if path.is_file() and (out / "supernet" / SOURCE_FILE).is_file():
        saved = read_json(path, "demo settings")
        check_same_settings(saved if isinstance(saved, dict) else {}, settings, f"the demo in {out}")
    else:
        atomic_write_json(path, normalized(settings))


class _Steps:
    """Runs named steps, skipping those whose artifact exists, and reports progress on stderr.

    The seconds a step took when it ran are kept in ``timings.json`` (a resumed demo reports them, not
    the time it took to reuse the artifact); a step whose run was not recorded shows as ``None``.
    """

    def __init__(self, log: Callable[[str], None], record: Path) -> None:
        self.log, self.record = log, record
        self.timings: dict[str, float | None] = read_json(record, "demo timings") if record.is_file() else {}

    def run(self, name: str, artifact: Path, make: Callable[[], Any]) -> Path:
        started = time.perf_counter()
        if artifact.exists():
            self.log(f"[{name}] reusing {artifact}")
            self.timings.setdefault(name, None)
            return artifact
        self.log(f"[{name}] ...")
        make()
        self.timings[name] = round(time.perf_counter() - started, 1)
        atomic_write_json(self.record, self.timings)
        self.log(f"[{name}] done in {self.timings[name]:.1f} s")
        return artifact


@contextlib.contextmanager
def pinned() -> Iterator[int | None]:
    """Pin this process to one core (the last allowed) while timing; yields it (None where unsupported)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    before = os.sched_getaffinity(0)
    core = max(before)
    os.sched_setaffinity(0, {core})
    try:
        yield core
    finally:
        os.sched_setaffinity(0, before)


def _load() -> list[float]:
    return [round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else []


# --------------------------------------------------------------------------- supernet
def _supernet(cfg: DemoConfig, run: Path, quiet: bool) -> None:
    """Train the supernet here (``train``) or unpack the shipped one (``pretrained``) into ``run``."""
    run.mkdir(parents=True, exist_ok=True)
    if cfg.train:
        started = time.perf_counter()
        train_supernet(_train_config(cfg, run), resume=(run / CHECKPOINT_NAME).is_file(), progress=not quiet)
        source = {"path": "train", "recipe": dict(cfg.supernet), "train_seconds": round(time.perf_counter() - started)}
    else:
        packed = Path(cfg.pretrained) if cfg.pretrained else packaged_path()
        info = unpack_supernet(packed, run / FINAL_NAME)
        source = {"path": "pretrained", "file": str(packed), **info}
    atomic_write_json(run / SOURCE_FILE, source)


def _check_source(cfg: DemoConfig, run: Path) -> dict[str, Any]:
    """The recorded source of the supernet in ``run``; refuses a run made by the other path."""
    source = read_json(run / SOURCE_FILE, "demo supernet record")
    wanted = "train" if cfg.train else "pretrained"
    if source.get("path") != wanted:
        raise BinasError(f"{run.parent} holds a demo run of the {source.get('path')!r} path, not {wanted!r}; "
                         "choose another --out")
    return source


# --------------------------------------------------------------------------- measurements
def _measure_lut(space: SearchSpace, cfg: DemoConfig, path: Path) -> None:
    settings = MeasureSettings(backend="torch", threads=1, batch_size=1, repeats=cfg.lut_repeats, seed=cfg.seed,
                               clock=cfg.latency_clock)
    partial = path.with_name(path.name + ".partial")
    load_before = _load()
    with pinned() as core:
        lut = measure_lut(space, settings, partial=partial)
    lut.meta.update({"pinned_core": core, "loadavg_before": load_before, "loadavg_after": _load()})
    lut.save(path)
    partial.unlink(missing_ok=True)


def _one_shot_data(space: SearchSpace, cfg: DemoConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The images one-shot accuracies are measured on: the first ``test_images`` of the test split, which
    neither the supernet nor the estimator has seen."""
    x, y = heldout_tensors(space, cfg.data, cfg.data_dir, split="test")
    return x[: cfg.test_images], y[: cfg.test_images]


def _sample(run: Path, cfg: DemoConfig, lut: Lut, path: Path) -> None:
    net = load_supernet(run).eval()
    x, y = _one_shot_data(net.space, cfg)
    samples = sample_subnets(net, x, y, cfg.test_subnets, seed=cfg.seed + 1, luts=[lut], batch_size=500)
    write_samples(path, net.space, samples)


# --------------------------------------------------------------------------- the compared networks
def random_under_budget(space: SearchSpace, lut: Lut, budget: float, n: int, min_fraction: float,
                        rng: np.random.Generator, max_draws: int = 200_000) -> list[Architecture]:
    """``n`` distinct uniformly random networks whose LUT latency lies in ``[min_fraction * budget, budget]``.

    Raises:
        BinasError: fewer than ``n`` such networks in ``max_draws`` draws.
    """
    found: dict[Architecture, None] = {}
    for _ in range(max_draws):
        arch = space.sample(rng)
        if min_fraction * budget <= lut.value(space, arch) <= budget:
            found[arch] = None
            if len(found) == n:
                return list(found)
    raise BinasError(f"only {len(found)} of {n} random networks found with latency in "
                     f"[{min_fraction * budget:.3f}, {budget:.3f}] ms; lower random_min_fraction")


def _plan(space: SearchSpace, run: Path, est: Path, lut: Lut, samples: list[Sample], cfg: DemoConfig,
          path: Path) -> None:
    """Budgets, and at each: the found network, the hand-scaled baseline and the random networks."""
    form = load_estimator(est, space)
    latencies = np.array([s.resources["latency"] for s in samples])
    budgets = [float(np.quantile(latencies, q)) for q in cfg.budget_quantiles]
    rng = np.random.default_rng([cfg.seed, 0xB0D6E7])
    nets: list[dict[str, Any]] = []
    searches = []
    for b, budget in enumerate(budgets):
        result = solve_milp(build_problem(space, form, [lut], {"latency": budget}))
        searches.append({"budget_ms": budget, "status": result.status, "solver_seconds": result.seconds})
        group = [("found", result.architecture)]
        baseline = scaled_baseline(space, [lut], [budget])
        if baseline is not None:
            group.append(("baseline", baseline))
        group += [(f"random{i + 1}", a) for i, a in enumerate(
            random_under_budget(space, lut, budget, cfg.random_per_budget, cfg.random_min_fraction, rng))]
        for kind, arch in group:
            nets.append({"name": f"b{b + 1}-{kind}", "budget": b, "kind": kind.rstrip("0123456789"),
                         "timm": format_timm(space, arch), "lut_ms": float(lut.value(space, arch)),
                         "predicted": float(form.predict(space, arch))})
    one_shot = _one_shot(run, cfg, [parse_timm(space, n["timm"]) for n in nets])
    for net, acc in zip(nets, one_shot):
        net["one_shot"] = acc
    atomic_write_json(path, {"budgets_ms": budgets, "searches": searches, "networks": nets})


def _one_shot(run: Path, cfg: DemoConfig, archs: list[Architecture]) -> list[float]:
    """One-shot accuracy of ``archs`` measured exactly like the held-out subnets."""
    net = load_supernet(run).eval()
    x, y = _one_shot_data(net.space, cfg)
    return [float(evaluate_codes(net, x, y, archs_to_codes(net.space, a), 500).mean()) * 100.0 for a in archs]


def _train_and_test(job: dict[str, Any]) -> dict[str, Any]:
    """The same training for every compared network, then top-1 on the test split (one process, one thread)."""
    torch.set_num_threads(1)
    out = Path(job["dir"])
    space = load_supernet(job["run"]).space
    arch = parse_timm(space, job["timm"])
    cfg = FinetuneConfig(**job["finetune"])
    started = time.perf_counter()
    finetune(job["run"], arch, out, cfg, resume=(out / CHECKPOINT).is_file(), progress=False)
    train_seconds = time.perf_counter() - started
    model = load_model(out).model
    test = load_data(cfg.data, "test", cfg.data_dir, image_shape=(space.in_channels, space.input_size,
                     space.input_size), num_classes=space.num_classes)
    acc = topk_accuracy(model, test, limit=job["eval_images"])
    result = {"name": job["name"], "top1": acc["top1"], "top5": acc["top5"], "test_images": acc["images"],
              "train_seconds": round(train_seconds, 1), "finetune": job["finetune"]}
    atomic_write_json(out / "result.json", result)
    return result


def _train_all(run: Path, nets: list[dict[str, Any]], cfg: DemoConfig, out: Path,
               log: Callable[[str], None]) -> None:
    ft = _finetune_settings(cfg)
    jobs = [{"name": n["name"], "timm": n["timm"], "run": str(run), "dir": str(out / n["name"]), "finetune": ft,
             "eval_images": cfg.eval_images} for n in nets if not (out / n["name"] / "result.json").is_file()]
    if not jobs:
        return
    if cfg.workers == 1:
        for i, job in enumerate(jobs):
            r = _train_and_test(job)
            log(f"  {r['name']}: top-1 {r['top1']:.2f}% ({i + 1}/{len(jobs)}, {r['train_seconds']:.0f} s training)")
        return
    with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i, r in enumerate(pool.map(_train_and_test, jobs)):
            log(f"  {r['name']}: top-1 {r['top1']:.2f}% ({i + 1}/{len(jobs)}, {r['train_seconds']:.0f} s training)")


def _measure_latency(space: SearchSpace, lut: Lut, nets: list[dict[str, Any]], cfg: DemoConfig, out: Path,
                     path: Path) -> None:
    """End-to-end latency of every compared network, timed exactly like the LUT's entries.

    Same backend, threads, batch, clock, warm-up and harness, pinned to one core, medians over
    interleaved rounds; and the LUT's entries are timed again *in the same rounds*, so the report can
    tell the LUT's error from drift of a shared machine's load since the LUT was measured.
    """
    settings = MeasureSettings(backend=lut.meta.get("backend", "torch"), threads=int(lut.meta.get("threads", 1)),
                               batch_size=int(lut.meta.get("batch_size", 1)), repeats=cfg.latency_repeats,
                               warmup=int(lut.meta.get("warmup", 2)), seed=cfg.seed, clock=lut.meta.get("clock", "wall"))
    backend = make_backend(settings.backend, settings.threads, settings.clock)
    torch.manual_seed(cfg.seed)
    runners = {OVERHEAD: backend.noop()}
    for entry in lut_entries(space, settings.batch_size):
        runners[entry.name] = backend.prepare(build_entry(space, entry), [torch.randn(s) for s in entry.shapes])
    shape = (settings.batch_size, space.in_channels, space.input_size, space.input_size)
    for n in nets:  # the trained networks, in the memory format of the LUT's freshly built blocks
        model = load_model(out / n["name"]).model.eval().to(memory_format=torch.contiguous_format)
        runners["net:" + n["name"]] = backend.prepare(model, [torch.randn(shape)])
    for runner in runners.values():
        runner.call()  # lazy initialisation, never timed
    samples: dict[str, list[float]] = {}
    load_before = _load()
    with pinned() as core:
        timing_rounds(backend, runners, samples, range(settings.repeats), settings.warmup, settings.seed)
    session = lut_from_samples(space, settings, {k: v for k, v in samples.items() if not k.startswith("net:")},
                               backend.describe())
    networks = {}
    for n in nets:
        values = samples["net:" + n["name"]]
        networks[n["name"]] = {"latency_ms": float(np.median(values)),
                               "iqr_ms": float(np.subtract(*np.percentile(values, [75, 25]))),
                               "lut_same_rounds_ms": float(session.value(space, parse_timm(space, n["timm"])))}
    atomic_write_json(path, {"timing": {**asdict(settings), "pinned_core": core, "loadavg_before": load_before,
                                        "loadavg_after": _load()}, "networks": networks})


# --------------------------------------------------------------------------- the whole demo
def run_demo(cfg: DemoConfig, log: Callable[[str], None] = lambda _m: None, quiet: bool = False) -> dict[str, Any]:
    """Run (or continue) the whole demo; returns the headline numbers and the paths of every artifact."""
    check_demo_config(cfg)
    out = Path(cfg.out)
    space = load_space(cfg.space)
    out.mkdir(parents=True, exist_ok=True)
    _check_same_demo(cfg, out)
    steps = _Steps(log, out / "timings.json")
    run = out / "supernet"
    steps.run("supernet", run / SOURCE_FILE, lambda: _supernet(cfg, run, quiet))
    source = _check_source(cfg, run)
    if load_supernet(run).space.space_hash != space.space_hash:
        raise BinasError(f"the demo supernet in {run} is not for space {space.name!r}")
    lut_path = steps.run("lut", out / "lut_latency.json", lambda: _measure_lut(space, cfg, out / "lut_latency.json"))
    lut = load_lut(lut_path, space)
    build = BuildConfig(images=cfg.estimator_images, crn=cfg.estimator_method == "differences", seed=cfg.seed)
    est = steps.run("estimator", out / "estimator.json", lambda: build_estimator(
        run, cfg.data, out / "estimator.json", build, method=cfg.estimator_method, data_dir=cfg.data_dir,
        resume=True))
    samples_path = steps.run("held-out subnets", out / "test_samples.jsonl",
                             lambda: _sample(run, cfg, lut, out / "test_samples.jsonl"))
    samples = read_samples(samples_path, space)
    plan_path = steps.run("search", out / "plan.json", lambda: _plan(space, run, est, lut, samples, cfg,
                                                                      out / "plan.json"))
    plan = read_json(plan_path, "demo plan")
    nets_dir = out / "nets"
    steps.run("same training", nets_dir / "results.json", lambda: (
        _train_all(run, plan["networks"], cfg, nets_dir, log),
        atomic_write_json(nets_dir / "results.json",
                          {n["name"]: read_json(nets_dir / n["name"] / "result.json") for n in plan["networks"]})))
    latency = steps.run("latency", out / "latency.json", lambda: _measure_latency(
        space, lut, plan["networks"], cfg, nets_dir, out / "latency.json"))
    front = pareto_front(build_problem(space, load_estimator(est, space), [lut]))
    summary = write_report(out, space, load_estimator(est, space), lut, samples, plan,
                           read_json(nets_dir / "results.json"), read_json(latency), front, source,
                           steps.timings, asdict(cfg))
    return {**summary["headline"], "out": str(out), "report": str(out / "report.md"),
            "summary": str(out / "summary.json"), "supernet": str(run / FINAL_NAME), "lut": str(lut_path),
            "estimator": str(est), "test_samples": str(samples_path), "plan": str(plan_path),
            "latency": str(latency)}
