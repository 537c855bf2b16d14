"""`binas demo`: stages 1-6 of BINAS end to end on a CPU (DESIGN 9), resumable step by step.

Fashion-MNIST, ``mobilenetv3-tiny``: train the supernet, measure a latency LUT on this CPU, build the
contributions estimator (``--method regression``), measure random subnets on test images, search
three latency budgets and the exact Pareto front, export and fine-tune the found networks, measure
them, and write ``report.md``.
Every step writes its artifact atomically and is skipped when the artifact exists, so a killed demo
continues where it stopped.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from binas.codec import arch_to_json, format_timm
from binas.data import load_data
from binas.demo_report import write_report
from binas.estimator.form import load_estimator
from binas.estimator.measure import BuildConfig, evaluate_codes
from binas.errors import BinasError
from binas.estimator.pipeline import METHODS, build_estimator, heldout_tensors, sample_subnets
from binas.estimator.samples import Sample, read_samples, write_samples
from binas.evaluate import measure_latency, timing_settings, topk_accuracy
from binas.export import load_model
from binas.io import atomic_write_json, read_json
from binas.nn.supernet import FINAL_NAME, archs_to_codes, load_supernet
from binas.resources.lut import Lut, load_lut
from binas.resources.measure import MeasureSettings, measure_lut
from binas.search.milp import solve_milp
from binas.search.pareto import pareto_front
from binas.search.problem import build_problem
from binas.space import Architecture, SearchSpace, load_space
from binas.resume import check_same_settings, normalized
from binas.train.config import TrainConfig, load_config
from binas.train.finetune import CHECKPOINT as FT_CHECKPOINT
from binas.train.finetune import FinetuneConfig, finetune
from binas.train.loop import CHECKPOINT_NAME, train_supernet

__all__ = ["DemoConfig", "check_demo_config", "run_demo"]


@dataclass
class DemoConfig:
    """What the demo runs; the defaults fit a 2-core CPU in about 10 minutes (docs/demo.md)."""

    out: str = "runs/demo"  # run directory (every artifact goes here)
    space: str = "mobilenetv3-tiny"  # search space
    data: str = "fashion-mnist"  # data set
    data_dir: str | None = None  # where its files are
    supernet: dict[str, Any] = field(default_factory=lambda: {  # supernet training (see binas.train.config)
        "heaviest_epochs": 0.3, "supernet_epochs": 0.15, "batch_size": 128, "optimizer": "adamw", "lr": 0.003,
        "weight_decay": 0.01, "warmup_steps": 20, "augment": False, "checkpoint_every": 50, "log_every": 10,
        "eval_images": 1000, "bn_calibration_images": 500})
    lut_repeats: int = 15  # timed rounds per LUT entry (PyTorch, 1 thread, batch 1)
    estimator_method: str = "regression"  # differences (the paper, with CRN) | regression (no CRN)
    estimator_images: int = 600  # held-out images per estimator measurement
    test_subnets: int = 200  # random subnets measured one-shot for evaluation and comparison
    test_images: int = 1000  # test-split images per test subnet (and per found network's one-shot accuracy)
    budget_quantiles: tuple[float, ...] = (0.2, 0.5, 0.8)  # budgets: these quantiles of random nets' latency
    finetune_steps: int = 40  # brief fine-tuning of each found network
    eval_images: int | None = None  # test images for the found networks (None: the whole test split)
    latency_repeats: int = 30  # timed rounds when measuring the found networks
    seed: int = 0


class _Steps:
    """Runs named steps, skipping those whose artifact exists, and reports progress on stderr."""

    def __init__(self, log: Callable[[str], None]) -> None:
        self.log, self.timings = log, {}

    def run(self, name: str, artifact: Path, make: Callable[[], Any]) -> Path:
        started = time.perf_counter()
        if artifact.exists():
            self.log(f"[{name}] reusing {artifact}")
        else:
            self.log(f"[{name}] ...")
            make()
        self.timings[name] = round(time.perf_counter() - started, 1)
        self.log(f"[{name}] done in {self.timings[name]:.1f} s")
        return artifact


def _train_config(cfg: DemoConfig, run: Path) -> TrainConfig:
    return load_config(None, space=cfg.space, data=cfg.data, data_dir=cfg.data_dir, out=str(run), seed=cfg.seed,
                       **cfg.supernet)


def _train(cfg: DemoConfig, run: Path, quiet: bool) -> None:
    train_supernet(_train_config(cfg, run), resume=(run / CHECKPOINT_NAME).is_file(), progress=not quiet)


def _finetune_config(cfg: DemoConfig) -> FinetuneConfig:
    return FinetuneConfig(data=cfg.data, data_dir=cfg.data_dir, max_steps=cfg.finetune_steps, seed=cfg.seed)


_COUNTS = ("lut_repeats", "estimator_images", "test_subnets", "test_images", "finetune_steps", "latency_repeats")


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
    for name in ("out", "space", "data"):
        if not isinstance(getattr(cfg, name), str) or not getattr(cfg, name):
            raise BinasError(f"demo setting {name} must be a non-empty string, got {getattr(cfg, name)!r}")
    load_space(cfg.space)
    _train_config(cfg, Path(cfg.out) / "supernet")
    _finetune_config(cfg).validate()
    MeasureSettings(backend="torch", threads=1, batch_size=1, repeats=cfg.lut_repeats, seed=cfg.seed).check()
    return cfg


def _check_same_demo(cfg: DemoConfig, out: Path) -> None:
    """A demo continues only with the settings it was started with (recorded in ``demo_config.json``)."""
    path = out / "demo_config.json"
    settings = {k: v for k, v in asdict(cfg).items() if k != "out"}
    if path.is_file():
        saved = read_json(path, "demo settings")
        check_same_settings(saved if isinstance(saved, dict) else {}, settings, f"the demo in {out}")
    else:
        atomic_write_json(path, normalized(settings))


def _measure_lut(space: SearchSpace, cfg: DemoConfig, path: Path) -> None:
    settings = MeasureSettings(backend="torch", threads=1, batch_size=1, repeats=cfg.lut_repeats, seed=cfg.seed)
    measure_lut(space, settings, partial=path.with_name(path.name + ".partial")).save(path)
    path.with_name(path.name + ".partial").unlink(missing_ok=True)


def _one_shot_data(space: SearchSpace, cfg: DemoConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The images one-shot accuracies are measured on: the first ``test_images`` of the test split, which
    neither the supernet nor the estimator has seen."""
    x, y = heldout_tensors(space, cfg.data, cfg.data_dir, split="test")
    return x[: cfg.test_images], y[: cfg.test_images]


def _sample(run: Path, cfg: DemoConfig, lut: Lut, path: Path) -> None:
    net = load_supernet(run).eval()
    x, y = _one_shot_data(net.space, cfg)
    samples = sample_subnets(net, x, y, cfg.test_subnets, seed=cfg.seed + 1, luts=[lut], batch_size=128)
    write_samples(path, net.space, samples)


def _one_shot(run: Path, cfg: DemoConfig, archs: list[Architecture]) -> list[float]:
    """One-shot accuracy of ``archs`` measured exactly like the random test subnets."""
    net = load_supernet(run).eval()
    x, y = _one_shot_data(net.space, cfg)
    accs = []
    for arch in archs:
        ok = evaluate_codes(net, x, y, archs_to_codes(net.space, arch), 128)
        accs.append(float(ok.mean()) * 100.0)
    return accs


def _search(space: SearchSpace, est: Path, lut: Lut, samples: list[Sample], cfg: DemoConfig) -> dict[str, Any]:
    """The exact MILP at each budget, and the exact Pareto front."""
    form = load_estimator(est, space)
    latencies = np.array([s.resources["latency"] for s in samples])
    budgets = [float(np.quantile(latencies, q)) for q in cfg.budget_quantiles]
    found = []
    for budget in budgets:
        result = solve_milp(build_problem(space, form, [lut], {"latency": budget}))
        found.append({"budget_ms": budget, "arch": result.architecture, "predicted_accuracy": result.objective,
                      "lut_latency_ms": result.resources["latency"], "status": result.status,
                      "solver_seconds": result.seconds})
    front = pareto_front(build_problem(space, form, [lut]))
    return {"budgets": budgets, "found": found, "front": front}


def run_demo(cfg: DemoConfig, log: Callable[[str], None] = lambda _m: None, quiet: bool = False) -> dict[str, Any]:
    """Run (or continue) the whole demo; returns the paths of every artifact."""
    check_demo_config(cfg)
    out = Path(cfg.out)
    space = load_space(cfg.space)
    _check_same_demo(cfg, out)
    steps = _Steps(log)
    run = out / "supernet"
    steps.run("supernet", run / FINAL_NAME, lambda: _train(cfg, run, quiet))
    lut_path = steps.run("lut", out / "lut_latency.json", lambda: _measure_lut(space, cfg, out / "lut_latency.json"))
    lut = load_lut(lut_path, space)
    build = BuildConfig(images=cfg.estimator_images, crn=cfg.estimator_method == "differences", seed=cfg.seed)
    est = steps.run("estimator", out / "estimator.json", lambda: build_estimator(
        run, cfg.data, out / "estimator.json", build, method=cfg.estimator_method, data_dir=cfg.data_dir,
        resume=True))
    samples_path = steps.run("test subnets", out / "test_samples.jsonl", lambda: _sample(run, cfg, lut,
                                                                                       out / "test_samples.jsonl"))
    samples = read_samples(samples_path, space)
    searched = _search(space, est, lut, samples, cfg)
    models = []
    for i, item in enumerate(searched["found"]):
        model_dir = out / "models" / f"net{i + 1}"
        ft = _finetune_config(cfg)
        steps.run(f"finetune net{i + 1}", model_dir / "model.safetensors",
                  lambda a=item["arch"], d=model_dir: finetune(run, a, d, ft, resume=(d / FT_CHECKPOINT).is_file(),
                                                               progress=not quiet))
        models.append(model_dir)
    measured = steps.run("measure", out / "measured.json", lambda: _measure(space, run, cfg, lut, searched, models,
                                                                          out / "measured.json"))
    report = write_report(out, space, est, lut, samples, searched, read_json(measured), steps.timings)
    return {"out": str(out), "supernet": str(run / FINAL_NAME), "lut": str(lut_path), "estimator": str(est),
            "test_samples": str(samples_path), "report": str(report), "models": [str(m) for m in models],
            "measured": str(measured)}


def _measure(space: SearchSpace, run: Path, cfg: DemoConfig, lut: Lut, searched: dict[str, Any],
             models: list[Path], path: Path) -> None:
    """Test accuracy and latency of the fine-tuned found networks, plus their one-shot held-out accuracy."""
    test = load_data(cfg.data, "test", cfg.data_dir, image_shape=(space.in_channels, space.input_size,
                     space.input_size), num_classes=space.num_classes)
    loaded = {f"net{i + 1}": load_model(m).model for i, m in enumerate(models)}
    timing = measure_latency(loaded, space, timing_settings(lut), repeats=cfg.latency_repeats, seed=cfg.seed)
    one_shot = _one_shot(run, cfg, [f["arch"] for f in searched["found"]])
    rows = []
    for i, item in enumerate(searched["found"]):
        name = f"net{i + 1}"
        acc = topk_accuracy(loaded[name], test, limit=cfg.eval_images)
        rows.append({"name": name, "budget_ms": item["budget_ms"], "arch": arch_to_json(space, item["arch"]),
                     "lut_latency_ms": item["lut_latency_ms"], "measured_latency_ms": timing[name]["latency_ms"],
                     "latency_iqr_ms": timing[name]["iqr_ms"], "predicted_accuracy": item["predicted_accuracy"],
                     "one_shot_accuracy": one_shot[i], "finetuned_top1": acc["top1"], "finetuned_top5": acc["top5"],
                     "test_images": acc["images"], "timm": format_timm(space, item["arch"])})
    atomic_write_json(path, {"networks": rows, "timing": timing_settings(lut)})

