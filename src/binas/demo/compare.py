"""The compared networks of the demo: at each budget the found network (the exact top-K re-scored on
the supernet), the estimator's own argmax when verification chose another, the hand-scaled baseline
and random networks of the same budget (:func:`candidates`, then :func:`plan_networks`); then the
same training and test for all of them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from binas.baselines import scaled_baseline
from binas.codec import format_timm, parse_timm
from binas.data import load_data
from binas.demo.config import DemoConfig, finetune_settings
from binas.demo.pool import in_processes
from binas.deploy.evaluate import topk_accuracy
from binas.deploy.export import load_model
from binas.deploy.finetune import CHECKPOINT, FinetuneConfig, finetune
from binas.errors import BinasError
from binas.estimator.form import BilinearForm
from binas.estimator.measure import evaluate_codes
from binas.estimator.pipeline import heldout_tensors
from binas.estimator.samples import Sample
from binas.io import atomic_write_json, read_json
from binas.lut.table import Lut
from binas.search.exact import solve_exact
from binas.search.problem import SearchProblem, build_problem
from binas.search.result import SearchResult
from binas.search.verify import Verdict, verify_result
from binas.search.verify_supernet import SupernetVerifier, verdict_from_correctness
from binas.space import Architecture, SearchSpace
from binas.supernet.model import Supernet, archs_to_codes
from binas.supernet.store import load_supernet

__all__ = ["Budget", "candidates", "one_shot_data", "plan_networks", "random_under_budget", "train_all"]


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


def _correctness(run: str, cfg: DemoConfig, timms: list[str]) -> np.ndarray:
    """Per-image correctness of the candidates ``timms`` under :func:`_verifier` (one worker's share)."""
    net = load_supernet(run).eval()
    return _verifier(net, cfg).correctness([parse_timm(net.space, t) for t in timms]).astype(np.uint8)


class _Measured:
    """A verifier reading per-image correctness measured beforehand (all budgets' candidates at once)."""

    name = "supernet"

    def __init__(self, space: SearchSpace, rows: dict[str, np.ndarray], calibration_images: int) -> None:
        self.space, self.rows, self.calibration_images = space, rows, calibration_images

    def verify(self, archs: list[Architecture]) -> Verdict:
        correct = np.array([self.rows[format_timm(self.space, a)] for a in archs], dtype=float)
        return verdict_from_correctness(correct, self.calibration_images)


def _verified(space: SearchSpace, run: Path, results: list[SearchResult], cfg: DemoConfig) -> _Measured:
    """Every distinct candidate of every budget scored on the supernet, spread over ``workers`` processes."""
    timms = list(dict.fromkeys(format_timm(space, a) for r in results
                               for a in [r.architecture] + [alt[0] for alt in r.alternatives]))
    shares = [timms[i::cfg.workers] for i in range(cfg.workers) if timms[i::cfg.workers]]
    rows: dict[str, np.ndarray] = {}
    for share, correct in zip(shares, in_processes([partial(_correctness, str(run), cfg, s) for s in shares],
                                                   cfg.workers)):
        rows.update(zip(share, correct))
    return _Measured(space, rows, cfg.calibration_images)


@dataclass(frozen=True)
class Budget:
    """One budget of the demo and the networks that may be compared under it."""

    budget_ms: float
    problem: SearchProblem
    result: SearchResult  # the estimator's exact top ``verify_k`` (pairwise ``verify_min_distance`` apart)
    baseline: Architecture | None
    random: tuple[Architecture, ...]

    def architectures(self) -> list[Architecture]:
        """Every network that may be compared here (the found one is among the top-K)."""
        top = [self.result.architecture] + [alt[0] for alt in self.result.alternatives]
        return top + ([self.baseline] if self.baseline is not None else []) + list(self.random)


def candidates(space: SearchSpace, form: BilinearForm, lut: Lut, samples: list[Sample],
               cfg: DemoConfig) -> list[Budget]:
    """Budgets (quantiles of the held-out subnets' LUT latency) and, at each, the exact top-K of the
    estimator, the hand-scaled baseline and the random networks. Deterministic and fast (no network runs):
    the latency step times all of them before the verification picks the found network."""
    latencies = np.array([s.resources["latency"] for s in samples])
    rng = np.random.default_rng([cfg.seed, 0xB0D6E7])
    out = []
    for q in cfg.budget_quantiles:
        budget = float(np.quantile(latencies, q))
        problem = build_problem(space, form, [lut], {"latency": budget})
        result = solve_exact(problem, top_k=cfg.verify_k, min_distance=cfg.verify_min_distance)
        if result.architecture is None:
            raise BinasError(f"no network at the {budget:.3f} ms budget: {result.message}")
        randoms = random_under_budget(space, lut, budget, cfg.random_per_budget, cfg.random_min_fraction, rng)
        out.append(Budget(budget, problem, result, scaled_baseline(space, [lut], [budget]), tuple(randoms)))
    return out


def plan_networks(space: SearchSpace, run: Path, form: BilinearForm, lut: Lut, budgets: list[Budget],
                  cfg: DemoConfig, path: Path) -> None:
    """At each budget the compared networks: the best of the exact top-K re-scored on the supernet is the
    found network; the estimator's own argmax is also trained when it is another network."""
    results = [b.result for b in budgets]
    started = time.perf_counter()
    judge = _verified(space, run, results, cfg) if cfg.verify_k > 1 else None
    verify_seconds = time.perf_counter() - started
    nets: list[dict[str, Any]] = []
    searches = []
    for b, budget in enumerate(budgets):
        result = budget.result
        record: dict[str, Any] = {"budget_ms": budget.budget_ms, "status": result.status,
                                  "solver_seconds": result.seconds}
        found = argmax = result.architecture
        if judge is not None:
            ranked, best, extra = verify_result(budget.problem, result, judge)
            found = ranked[best].architecture
            record["verify"] = {"seconds_all_budgets": verify_seconds, "chosen": best, **extra, "candidates": [
                {"timm": format_timm(space, c.architecture), "estimated": c.estimated, "verified": c.verified,
                 "stderr": c.verified_stderr, "lut_ms": c.resources["latency"]} for c in ranked]}
        searches.append(record)
        group = [("found", found)] + ([("argmax", argmax)] if argmax != found else [])
        if budget.baseline is not None:
            group.append(("baseline", budget.baseline))
        group += [(f"random{i + 1}", a) for i, a in enumerate(budget.random)]
        for kind, arch in group:
            nets.append({"name": f"b{b + 1}-{kind}", "budget": b, "kind": kind.rstrip("0123456789"),
                         "timm": format_timm(space, arch), "lut_ms": float(lut.value(space, arch)),
                         "predicted": float(form.predict(space, arch))})
    atomic_write_json(path, {"budgets_ms": [b.budget_ms for b in budgets], "searches": searches, "networks": nets})


def _train_and_test(job: dict[str, Any]) -> dict[str, Any]:
    """One compared network: its one-shot accuracy on the first ``test_images`` test images (the supernet's
    weights, as the held-out subnets were measured), then the same training, then top-1 on the test split."""
    out = Path(job["dir"])
    net = load_supernet(job["run"]).eval()
    space = net.space
    arch = parse_timm(space, job["timm"])
    x, y = job["one_shot_data"]
    one_shot = float(evaluate_codes(net, x, y, archs_to_codes(space, arch), 500).mean()) * 100.0
    del net
    cfg = FinetuneConfig(**job["finetune"])
    started = time.perf_counter()
    finetune(job["run"], arch, out, cfg, resume=(out / CHECKPOINT).is_file(), progress=False)
    train_seconds = time.perf_counter() - started
    model = load_model(out).model
    test = load_data(cfg.data, "test", cfg.data_dir, image_shape=(space.in_channels, space.input_size,
                     space.input_size), num_classes=space.num_classes)
    acc = topk_accuracy(model, test, limit=job["eval_images"])
    result = {"name": job["name"], "top1": acc["top1"], "top5": acc["top5"], "test_images": acc["images"],
              "one_shot": one_shot, "train_seconds": round(train_seconds, 1), "finetune": job["finetune"]}
    atomic_write_json(out / "result.json", result)
    return result


def train_all(run: Path, nets: list[dict[str, Any]], cfg: DemoConfig, out: Path,
              log: Callable[[str], None]) -> None:
    """The same training and test of every compared network, ``workers`` processes side by side.

    A network compared at several budgets (or as two kinds) is trained once: the training is
    deterministic, so its other names get the same result, marked ``same_network_as``.
    """
    ft = finetune_settings(cfg)
    data = one_shot_data(load_supernet(run).space, cfg)
    trained_as: dict[str, str] = {}
    for n in nets:
        trained_as.setdefault(n["timm"], n["name"])
    jobs = [{"name": n["name"], "timm": n["timm"], "run": str(run), "dir": str(out / n["name"]), "finetune": ft,
             "eval_images": cfg.eval_images, "one_shot_data": data}
            for n in nets if trained_as[n["timm"]] == n["name"] and not (out / n["name"] / "result.json").is_file()]
    for i, r in enumerate(in_processes([partial(_train_and_test, job) for job in jobs], cfg.workers)):
        log(f"  {r['name']}: top-1 {r['top1']:.2f}% ({i + 1}/{len(jobs)}, {r['train_seconds']:.0f} s training)")
    for n in nets:
        first = trained_as[n["timm"]]
        if first != n["name"]:
            result = read_json(out / first / "result.json", "demo training result")
            atomic_write_json(out / n["name"] / "result.json", {**result, "name": n["name"], "same_network_as": first})
