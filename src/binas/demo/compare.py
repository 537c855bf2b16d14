"""The compared networks of the demo: at each budget the found network (the exact top-K re-scored on
the supernet), the estimator's own argmax when verification chose another, the hand-scaled baseline
and random networks of the same budget; then the same training and test for all of them."""

from __future__ import annotations

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from binas.baselines import scaled_baseline
from binas.codec import format_timm, parse_timm
from binas.data import load_data
from binas.demo.config import DemoConfig, finetune_settings
from binas.deploy.evaluate import topk_accuracy
from binas.deploy.export import load_model
from binas.deploy.finetune import CHECKPOINT, FinetuneConfig, finetune
from binas.errors import BinasError
from binas.estimator.form import BilinearForm
from binas.estimator.measure import evaluate_codes
from binas.estimator.pipeline import heldout_tensors
from binas.estimator.samples import Sample
from binas.io import atomic_write_json
from binas.lut.table import Lut
from binas.search.milp import solve_milp
from binas.search.problem import build_problem
from binas.search.verify import verify_result
from binas.search.verify_supernet import SupernetVerifier
from binas.space import Architecture, SearchSpace
from binas.supernet.model import Supernet, archs_to_codes
from binas.supernet.store import load_supernet

__all__ = ["one_shot_data", "plan_networks", "random_under_budget", "train_all"]


def one_shot_data(space: SearchSpace, cfg: DemoConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """The images one-shot accuracies are reported on: the first ``test_images`` of the test split, which
    neither the supernet nor the estimator nor the verification has seen."""
    x, y = heldout_tensors(space, cfg.data, cfg.data_dir, split="test")
    return x[: cfg.test_images], y[: cfg.test_images]


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


def _verifier(net: Supernet, cfg: DemoConfig) -> SupernetVerifier:
    """Per-candidate BN recalibration on ``calibration_images`` training images, then top-1 on
    ``verify_images`` held-out images; both drawn once from the seed and shared by every candidate."""
    x, y = heldout_tensors(net.space, cfg.data, cfg.data_dir)
    rng = np.random.default_rng([cfg.seed, 0x5E1EC7])
    idx = torch.from_numpy(rng.permutation(x.shape[0])[: cfg.verify_images])
    xt, _ = heldout_tensors(net.space, cfg.data, cfg.data_dir, split="train")
    calib = xt[torch.from_numpy(rng.permutation(xt.shape[0])[: cfg.calibration_images])]
    return SupernetVerifier(net, x[idx], y[idx], calib)


def _search(space: SearchSpace, form: BilinearForm, lut: Lut, budget: float, cfg: DemoConfig,
            verifier: SupernetVerifier | None) -> tuple[Architecture, Architecture, dict[str, Any]]:
    """``(found, the estimator's argmax, record)`` at one budget: the exact top-K (pairwise at least
    ``verify_min_distance`` positions apart), the best by the verifier wins."""
    problem = build_problem(space, form, [lut], {"latency": budget})
    result = solve_milp(problem, top_k=cfg.verify_k, min_distance=cfg.verify_min_distance)
    if result.architecture is None:
        raise BinasError(f"no network at the {budget:.3f} ms budget: {result.message}")
    record: dict[str, Any] = {"budget_ms": budget, "status": result.status, "solver_seconds": result.seconds}
    if verifier is None:
        return result.architecture, result.architecture, record
    started = time.perf_counter()
    candidates, best, extra = verify_result(problem, result, verifier)
    record["verify"] = {"seconds": time.perf_counter() - started, "chosen": best, **extra, "candidates": [
        {"timm": format_timm(space, c.architecture), "estimated": c.estimated, "verified": c.verified,
         "stderr": c.verified_stderr, "lut_ms": c.resources["latency"]} for c in candidates]}
    return candidates[best].architecture, result.architecture, record


def plan_networks(space: SearchSpace, run: Path, form: BilinearForm, lut: Lut, samples: list[Sample],
                  cfg: DemoConfig, path: Path) -> None:
    """Budgets (quantiles of the held-out subnets' LUT latency), and at each the compared networks."""
    net = load_supernet(run).eval()
    verifier = _verifier(net, cfg) if cfg.verify_k > 1 else None
    latencies = np.array([s.resources["latency"] for s in samples])
    budgets = [float(np.quantile(latencies, q)) for q in cfg.budget_quantiles]
    rng = np.random.default_rng([cfg.seed, 0xB0D6E7])
    nets: list[dict[str, Any]] = []
    searches = []
    for b, budget in enumerate(budgets):
        found, argmax, record = _search(space, form, lut, budget, cfg, verifier)
        searches.append(record)
        group = [("found", found)] + ([("argmax", argmax)] if argmax != found else [])
        baseline = scaled_baseline(space, [lut], [budget])
        if baseline is not None:
            group.append(("baseline", baseline))
        group += [(f"random{i + 1}", a) for i, a in enumerate(
            random_under_budget(space, lut, budget, cfg.random_per_budget, cfg.random_min_fraction, rng))]
        for kind, arch in group:
            nets.append({"name": f"b{b + 1}-{kind}", "budget": b, "kind": kind.rstrip("0123456789"),
                         "timm": format_timm(space, arch), "lut_ms": float(lut.value(space, arch)),
                         "predicted": float(form.predict(space, arch))})
    x, y = one_shot_data(space, cfg)
    for n in nets:  # one-shot on test images, exactly like the held-out subnets (no BN recalibration)
        codes = archs_to_codes(space, parse_timm(space, n["timm"]))
        n["one_shot"] = float(evaluate_codes(net, x, y, codes, 500).mean()) * 100.0
    atomic_write_json(path, {"budgets_ms": budgets, "searches": searches, "networks": nets})


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


def train_all(run: Path, nets: list[dict[str, Any]], cfg: DemoConfig, out: Path,
              log: Callable[[str], None]) -> None:
    """The same training and test of every compared network, ``workers`` processes side by side."""
    ft = finetune_settings(cfg)
    jobs = [{"name": n["name"], "timm": n["timm"], "run": str(run), "dir": str(out / n["name"]), "finetune": ft,
             "eval_images": cfg.eval_images} for n in nets if not (out / n["name"] / "result.json").is_file()]

    def report(i: int, r: dict[str, Any]) -> None:
        log(f"  {r['name']}: top-1 {r['top1']:.2f}% ({i + 1}/{len(jobs)}, {r['train_seconds']:.0f} s training)")

    if cfg.workers == 1 or len(jobs) <= 1:
        for i, job in enumerate(jobs):
            report(i, _train_and_test(job))
        return
    with ProcessPoolExecutor(cfg.workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for i, r in enumerate(pool.map(_train_and_test, jobs)):
            report(i, r)
