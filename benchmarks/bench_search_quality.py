"""Search quality: regret of the returned network against the true best under the same budget.

    .venv/bin/python benchmarks/bench_search_quality.py [--quick] [--seeds 3] [--out DIR]

Truths are generated here, on a 3-stage space (depths 1-3, 4 choices per position: 592,704
networks) small enough to enumerate: every network's true value and LUT sum is computed, so the
true best under a budget is exact for any truth (no MILP encoding of the truth needed). Truths:

- ``bilinear``: a within-stage bilinear form (bigger blocks and deeper stages gain, depth-dependent
  block values) -- what the bilinear estimator can represent;
- ``saturating``: additive trends passed through a saturating function (diminishing returns of
  the whole network's size), plus a depth penalty when all stages are deep;
- ``pairs``: additive trends plus cross-stage interactions (one stage's depth x another stage's
  choices) and 6 strongly interacting block pairs in different stages.

Each seed measures N random networks (N = 50/100/300) with Gaussian noise (sd 0.3 points) and
every method returns one network per budget (5 budgets: 10/25/50/75/90% quantiles of the LUT sums):

- ``milp-linear``, ``milp-bilinear``: exact MILP on the ridge fits (leave-one-out strength);
- ``milp-auto``: linear vs bilinear and strength by leave-one-out (``estimator fit --kind auto``);
- ``milp-ensemble``: the mean of 20 bootstrap ``auto`` fits;
- ``verify-quad`` / ``verify-mlp``: exact top-20 (min distance 2) of the ``auto`` fit, re-ranked by a
  quadratic kernel ridge / an MLP fitted on the same N samples (``search --verify 20 --verify-with``);
- ``verify-stack``: the same top-20 re-ranked by the stacked judge (``estimator fit --kind stack``):
  the linear, ``auto`` and quadratic fits blended with non-negative weights fitted to their 5-fold
  out-of-fold predictions, so that it leans on whichever fit predicts held-out samples best;
- ``evo-mlp``: evolution with that MLP as the score, on the same N measured samples;
- ``verify-measure``: the synthetic counterpart of ``search --verify K --run RUN`` (one-shot
  measurement of the candidates on the supernet) at the same N evaluations: the ``auto`` fit on the
  first N - K samples (K at most N / 2), its exact top-K measured like every sample (truth + the same noise), the best
  measured returned. A measurement here is the truth plus noise; a supernet's one-shot score is a
  proxy with its own ranking error (docs/ground-truth.md), so this is its best case;
- ``verify-measure-2`` / ``verify-measure-4``: the same K measurements in two / four rounds: the fit's
  top K/R measured, the fit redone with them, its best K/R among the rest measured, and so on; the best
  measured of all returned.

Regret = true best under the budget - true value of the returned network (points; 0 is perfect).
Times are process CPU seconds (robust to a loaded machine).
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import numpy as np

from binas.estimator.predictors import (BilinearPredictor, LinearPredictor, MLPPredictor, QuadraticPredictor,
                                        bilinear_pairs)
from binas.estimator.shrinkage import AutoPredictor, EnsemblePredictor
from binas.estimator.stacking import StackPredictor
from binas.io import atomic_write_json
from binas.search import build_problem
from binas.search.evolution import EvolutionConfig, evolve
from binas.search.exact import solve_exact
from binas.search.problem import make_resources
from binas.search.rounds import auto_refit, verify_in_rounds
from binas.search.synthetic import synthetic_lut
from binas.search.verify import PredictorVerifier, verify_result
from binas.space import Architecture, SearchSpace, space_from_dict

SPACE = {"name": "bench-quality", "input_size": 32, "in_channels": 3, "num_classes": 10,
         "stem": {"out_channels": 16, "kernel_size": 3, "stride": 2},
         "stages": [{"out_channels": 24, "stride": 2, "depths": [1, 2, 3], "choices": ["e3k3", "e3k5", "e6k3", "e6k5se"]},
                    {"out_channels": 40, "stride": 2, "depths": [1, 2, 3], "choices": ["e3k3", "e3k5", "e6k3", "e6k5se"]},
                    {"out_channels": 80, "stride": 2, "depths": [1, 2, 3], "choices": ["e3k3", "e3k5", "e6k3", "e6k5se"]}],
         "head": {"features": 256}}
NOISE = 0.3
QUANTILES = (0.1, 0.25, 0.5, 0.75, 0.9)
K, MIN_DISTANCE = 20, 2
MLP = {"hidden": 128, "layers": 2, "epochs": 200}
EVOLUTION = EvolutionConfig(population=50, generations=100, parents=12, mutants=25, crossovers=25)


def enumerate_space(space: SearchSpace) -> tuple[list[list[tuple]], np.ndarray]:
    """Every stage's configurations ``(depth, blocks)`` and the one-hot features of every network.

    Network ``i`` has configuration ``np.unravel_index(i, sizes)[s]`` in stage ``s``.
    """
    per_stage, alpha_parts, beta_parts = [], [], []
    for s, stage in enumerate(space.stages):
        opts = [(d, ids) for d in stage.depths
                for ids in itertools.product(*[[c.id for c in stage.positions[j]] for j in range(d)])]
        per_stage.append(opts)
        a = np.zeros((len(opts), space.num_alpha))
        b = np.zeros((len(opts), space.num_beta))
        for k, (d, ids) in enumerate(opts):
            b[k, space.beta_index(s, d)] = 1.0
            for j, cid in enumerate(ids):
                a[k, space.alpha_index(s, j, [c.id for c in stage.positions[j]].index(cid))] = 1.0
        alpha_parts.append(a)
        beta_parts.append(b)
    grids = np.indices([len(o) for o in per_stage]).reshape(len(per_stage), -1)  # (stages, networks)
    X = sum(np.hstack([alpha_parts[s], beta_parts[s]])[grids[s]] for s in range(len(per_stage)))
    return per_stage, X


def arch_index(per_stage: list[list[tuple]], arch: Architecture) -> int:
    """Row of ``arch`` in the enumeration of :func:`enumerate_space`."""
    ks = [opts.index((d, tuple(b))) for opts, d, b in zip(per_stage, arch.depths, arch.blocks)]
    return int(np.ravel_multi_index(ks, [len(o) for o in per_stage]))


def make_truths(space: SearchSpace, X: np.ndarray, macs: np.ndarray, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """True accuracy (%) of every network under each synthetic truth."""
    na, nb = space.num_alpha, space.num_beta
    A, B = X[:, :na], X[:, na:]
    size = np.log(macs / macs.min())  # trend: bigger networks are better
    choice_gain = rng.normal(0, 0.4, na) + np.tile([0.0, 0.3, 0.5, 0.8], na // 4)
    depth_gain = np.tile([0.0, 0.8, 1.2], nb // 3) + rng.normal(0, 0.2, nb)
    additive = 70 + A @ choice_gain + B @ depth_gain
    pairs = bilinear_pairs(space)
    q = rng.normal(0, 0.5, len(pairs))
    bilinear = additive + (A[:, pairs[:, 0]] * B[:, pairs[:, 1]]) @ q
    total = A @ choice_gain + B @ depth_gain
    saturating = 70 + 6 * np.tanh(total / 6) + 0.8 * size - 1.5 * (B[:, 2::3].sum(axis=1) == 3)
    cross = np.zeros((na, nb))  # stage s's choices x another stage's depth
    for a in range(na):
        for b in range(nb):
            if a * len(space.stages) // na != b // 3:
                cross[a, b] = rng.normal(0, 0.3) if rng.random() < 0.3 else 0.0
    strong = np.zeros(X.shape[0])
    for _ in range(6):  # strongly interacting block pairs in different stages
        a, b = rng.choice(na, 2, replace=False)
        strong += rng.choice([-1.5, 1.5]) * A[:, a] * A[:, b]
    pairwise = additive + np.sum((A @ cross) * B, axis=1) + strong
    return {"bilinear": bilinear, "saturating": saturating, "pairs": pairwise}


def _fits(space, Xs, ys, seed):
    out = {"linear": LinearPredictor(space).fit(Xs, ys), "bilinear": BilinearPredictor(space).fit(Xs, ys),
           "auto": AutoPredictor(space).fit(Xs, ys),
           "ensemble": EnsemblePredictor(space, members=20, random_state=seed).fit(Xs, ys),
           "quad": QuadraticPredictor(space).fit(Xs, ys)}
    out["mlp"] = MLPPredictor(space, random_state=seed, **MLP).fit(Xs, ys)
    out["stack"] = StackPredictor(space, random_state=seed).fit(Xs, ys)
    return out


def run_one(space, per_stage, X, truth, lut_obj, lut, budgets, n, seed, k: int = K) -> dict[str, list]:
    """Regret, feasibility and time of every method at every budget for one (truth, N, seed)."""
    rng = np.random.default_rng(1000 + seed)
    idx = rng.choice(X.shape[0], n, replace=False)
    Xs = X[idx]
    ys = truth[idx] + rng.normal(0, NOISE, n)
    fits = _fits(space, Xs, ys, seed)
    k_measured = min(k, n // 2)  # verify-measure: n - k_measured samples fitted, k_measured candidates measured
    fit_before_measuring = AutoPredictor(space).fit(Xs[: n - k_measured], ys[: n - k_measured])
    noise_streams = {name: np.random.default_rng([2000 + i, seed]) for i, name in enumerate(("one", "two", "four"))}

    def measurer(stream: str):
        def measure(archs: list[Architecture]) -> np.ndarray:
            rows = [arch_index(per_stage, a) for a in archs]
            return truth[rows] + noise_streams[stream].normal(0, NOISE, len(rows))
        return measure

    out: dict[str, list] = {}

    def record(name, budget, best, arch, seconds):
        i = arch_index(per_stage, arch)
        out.setdefault(name, []).append({"regret": float(best - truth[i]), "feasible": bool(lut[i] <= budget),
                                         "seconds": seconds})

    for budget in budgets:
        best = float(truth[lut <= budget].max())
        for kind in ("linear", "bilinear", "auto", "ensemble"):
            problem = build_problem(space, fits[kind].to_form(), [lut_obj], {"latency": budget})
            t = time.process_time()
            res = solve_exact(problem)
            record(f"milp-{kind}", budget, best, res.architecture, time.process_time() - t)
        problem = build_problem(space, fits["auto"].to_form(), [lut_obj], {"latency": budget})
        t = time.process_time()
        top = solve_exact(problem, top_k=k, min_distance=MIN_DISTANCE)
        t_top = time.process_time() - t
        for judge in ("quad", "mlp", "stack"):
            t = time.process_time()
            cands, chosen, _ = verify_result(problem, top, PredictorVerifier(fits[judge].predict_archs, judge))
            t_verify = time.process_time() - t
            record(f"verify-{judge}", budget, best, cands[chosen].architecture, t_top + t_verify)
            out.setdefault(f"verify-{judge}-rescore-seconds", []).append(t_verify)
        out.setdefault(f"top{k}-seconds", []).append(t_top)
        t = time.process_time()
        problem = build_problem(space, fit_before_measuring.to_form(), [lut_obj], {"latency": budget})
        top = solve_exact(problem, top_k=k_measured, min_distance=MIN_DISTANCE)
        cands, chosen, _ = verify_result(problem, top, PredictorVerifier(measurer("one"), "measured"))
        record("verify-measure", budget, best, cands[chosen].architecture, time.process_time() - t)
        for rounds, stream in ((2, "two"), (4, "four")):  # search --verify K --verify-rounds R --samples
            t = time.process_time()
            cands, chosen, _ = verify_in_rounds(problem, PredictorVerifier(measurer(stream), "measured"),
                                                k_measured, rounds, MIN_DISTANCE,
                                                auto_refit(space, Xs[: n - k_measured], ys[: n - k_measured]))
            record(f"verify-measure-{rounds}", budget, best, cands[chosen].architecture, time.process_time() - t)
        t = time.process_time()
        evo = evolve(space, fits["mlp"].predict_archs, make_resources(space, [lut_obj], {"latency": budget}),
                     seed=seed, config=EVOLUTION)
        record("evo-mlp", budget, best, evo.architecture, time.process_time() - t)
    return out



def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one seed, N=50, two budgets (smoke test)")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0, help="seeds run are first-seed .. first-seed + seeds - 1")
    parser.add_argument("--ns", type=int, nargs="+", default=[50, 100, 300], help="measured networks per fit")
    parser.add_argument("--k", type=int, default=K, help="candidates re-ranked by the verify-* methods")
    parser.add_argument("--out", type=Path, default=Path("runs/bench-search-quality"))
    args = parser.parse_args()
    space = space_from_dict(SPACE)
    rng = np.random.default_rng(0)
    lut_obj = synthetic_lut(space, rng)
    per_stage, X = enumerate_space(space)
    lut = lut_obj.fixed + X[:, :space.num_alpha] @ lut_obj.alpha_vector(space)
    macs = 1.0 + X[:, :space.num_alpha] @ lut_obj.alpha_vector(space)  # latency tracks MACs (synthetic LUT)
    truths = make_truths(space, X, macs, rng)
    ns, seeds, quantiles = ((50,), 1, (0.25, 0.75)) if args.quick else (tuple(args.ns), args.seeds, QUANTILES)
    budgets = [float(np.quantile(lut, q)) for q in quantiles]
    rows = []
    started = time.process_time()
    for name, truth in truths.items():
        for n in ns:
            merged: dict[str, list] = {}
            for seed in range(args.first_seed, args.first_seed + seeds):
                for k, v in run_one(space, per_stage, X, truth, lut_obj, lut, budgets, n, seed, args.k).items():
                    merged.setdefault(k, []).extend(v)
            for method, vals in merged.items():
                if method.endswith("seconds"):
                    rows.append({"truth": name, "n": n, "method": method, "median": float(np.median(vals)),
                                 "max": float(np.max(vals))})
                    continue
                reg = np.array([v["regret"] for v in vals])
                rows.append({"truth": name, "n": n, "method": method, "mean_regret": float(reg.mean()),
                             "max_regret": float(reg.max()), "feasible": f"{sum(v['feasible'] for v in vals)}/{len(vals)}",
                             "median_seconds": float(np.median([v["seconds"] for v in vals]))})
            print(f"{name} N={n} done ({time.process_time() - started:.0f} s)", flush=True)
    result = {"networks": X.shape[0], "budgets": budgets, "seeds": seeds, "noise_sd": NOISE, "k": args.k,
              "min_distance": MIN_DISTANCE, "rows": rows, "seconds": time.process_time() - started}
    atomic_write_json(args.out / "bench_search_quality.json", result)
    for r in rows:
        if "mean_regret" in r:
            print(f"{r['truth']:>10} N={r['n']:<3} {r['method']:<14} mean regret {r['mean_regret']:.3f}  max "
                  f"{r['max_regret']:.3f}  feasible {r['feasible']}  median {r['median_seconds']:.3f} s")
        else:
            print(f"{r['truth']:>10} N={r['n']:<3} {r['method']:<30} median {r['median']:.4f} s  max {r['max']:.4f} s")
    print(json.dumps({"seconds": result["seconds"]}))


if __name__ == "__main__":
    main()
