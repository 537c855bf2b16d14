"""Benchmark: AutoBuild vs the BINAS contributions estimator vs fitted bilinear and MLP predictors.

For every training-set size N (``--sizes``, default 100 300 1000 evaluated architectures) and seed:

1. ranking: Kendall-tau of every predictor on ``--test-n`` held-out random networks;
2. building/finding: under three latency budgets (25/50/75% between the smallest and the heaviest
   network's LUT latency), the network each approach returns, and its *measured* accuracy:
   AutoBuild builds directly from its top units (``build_architecture``); the bilinear and
   contributions forms are solved exactly (MILP); the MLP and, for reference, the AutoBuild model
   are searched by evolution (``--evo-generations``, reduced from the reference 500 to fit a CPU).

Ground truth (``--oracle``):

- ``synthetic`` (default; no supernet needed): a seeded accuracy function with known structure:
  per-block gains from expansion/kernel/SE that grow in later stages and shrink along a stage,
  depth gains, diminishing returns between consecutive wide blocks, a saturating map to 55-92%
  and Gaussian measurement noise (``--noise`` points) on every evaluation. The latency LUT is
  ``binas.search.synthetic.synthetic_lut``. "Measured accuracy" of a returned network is its
  noiseless value.
- ``random-additive``: 80 + independent random values per (stage, position, choice) and per
  depth, plus the same noise: no structure shared between positions (exactly a bilinear form).
- ``supernet``: one-shot top-1 of a trained supernet (``--run DIR`` or ``--supernet FILE``, ``--data``):
  every evaluation the methods learn from is on the same ``--images`` held-out images, while the
  ground truth (Kendall-tau on the test networks, accuracy of the networks found) is top-1 on
  ``--truth-images`` images of the test split, which no method sees; needs ``--lut`` (a latency LUT
  of the space).

The contributions estimator is measured with the same oracle on ``C`` random contexts per
measurement (1 + #alpha + #beta measurements), i.e. ``(1 + #alpha + #beta) * C`` evaluated
networks; it is reported at the C whose total is closest to N (at least 1).

    .venv/bin/python benchmarks/bench_autobuild.py [--sizes 100 300 1000] [--seeds 0 1 2] [--out FILE.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from binas.autobuild import AutoBuildPredictor, build_architecture
from binas.autobuild.build import score_units
from binas.estimator.contributions import codes_for_contexts, contributions_form, measurement_plan, sample_contexts
from binas.estimator.metrics import kendall_tau
from binas.estimator.predictors import BilinearPredictor, MLPPredictor, encode_archs
from binas.io import atomic_write_json
from binas.lut.table import Lut, load_lut
from binas.lut.timing import steady_allocator
from binas.search.evolution import EvolutionConfig, evolve
from binas.search.problem import Resource, build_problem
from binas.search.registry import run_solver
from binas.search.synthetic import synthetic_lut
from binas.space import Architecture, SearchSpace, load_space
from binas.supernet.model import codes_to_archs

Oracle = Callable[[list[Architecture]], np.ndarray]


# --------------------------------------------------------------------- ground truths
def synthetic_truth(space: SearchSpace, seed: int) -> Oracle:
    """Noiseless accuracy (%) with known structure (see the module docstring)."""
    rng = np.random.default_rng(1000 + seed)
    jitter = rng.normal(0, 0.08, space.num_alpha)
    S = len(space.stages)

    def raw_one(arch: Architecture) -> float:
        total = 0.0
        for s, (d, blocks) in enumerate(zip(arch.depths, arch.blocks)):
            late = s / max(1, S - 1)
            total += (0.3 + 0.9 * late) * (d - space.stages[s].min_depth)
            prev_wide = False
            for j, cid in enumerate(blocks):
                c = space.stages[s].positions[j][space.choice_index(s, j, cid)]
                if c.is_skip:
                    continue
                gain = (0.4 + 0.8 * late) * np.log(c.expand_ratio) / np.log(6) + (0.35 - 0.25 * late) * (c.kernel_size > 3)
                gain += (0.1 + 0.3 * late) * c.se + jitter[space.alpha_index(s, j, cid)]
                total += gain / (1.0 + 0.5 * j)
                wide = c.expand_ratio >= 6
                total -= 0.25 if (wide and prev_wide) else 0.0
                prev_wide = wide
        return total

    def truth(archs: list[Architecture]) -> np.ndarray:
        raw = np.array([raw_one(a) for a in archs])
        return 92.0 - 37.0 * np.exp(-raw / 6.0)

    return truth


def random_additive_truth(space: SearchSpace, seed: int) -> Oracle:
    """Noiseless accuracy = 80 + independent random values per (stage, position, choice) and depth.

    No structure shared between positions: the worst case for a feature-factorised model and the
    best case for the one-hot bilinear form (it is exactly that form).
    """
    rng = np.random.default_rng(2000 + seed)
    w_a, w_b = rng.normal(0, 0.3, space.num_alpha), rng.normal(0, 0.6, space.num_beta)

    def truth(archs: list[Architecture]) -> np.ndarray:
        X = encode_archs(space, archs)
        return 80.0 + X[:, : space.num_alpha] @ w_a + X[:, space.num_alpha:] @ w_b

    return truth


def supernet_oracle(run: str | None, supernet: str | None, data: str, images: int,
                    split: str = "heldout") -> tuple[SearchSpace, Oracle]:
    """One-shot top-1 (%) on the first ``images`` images of ``split`` (0: all), memoised per architecture."""
    from binas.estimator.measure import evaluate_codes
    from binas.estimator.pipeline import heldout_tensors, resolve_source
    from binas.supernet.model import archs_to_codes
    from binas.supernet.store import load_supernet

    source, data_name = resolve_source(run, supernet, data)
    net = load_supernet(source)
    x, y = heldout_tensors(net.space, data_name, None, split=split)
    if images:
        x, y = x[:images], y[:images]
    memo: dict[Architecture, float] = {}

    def oracle(archs: list[Architecture]) -> np.ndarray:
        for a in archs:
            if a not in memo:
                memo[a] = float(evaluate_codes(net, x, y, archs_to_codes(net.space, a), 128).mean()) * 100
        return np.array([memo[a] for a in archs])

    return net.space, oracle


# --------------------------------------------------------------------- estimators
def contributions(space: SearchSpace, measure: Oracle, contexts: int, seed: int):
    """The contributions form (docs/estimator.md) measured with the oracle on ``contexts`` shared contexts (CRN)."""
    u = sample_contexts(space, contexts, np.random.default_rng(seed))
    acc, err = {}, {}
    for m in measurement_plan(space):
        values = measure(codes_to_archs(space, codes_for_contexts(space, m, u)))
        acc[m.key], err[m.key] = float(values.mean()), float(values.std() / np.sqrt(len(values)))
    return contributions_form(space, acc, err, "reference")


def _resource(space: SearchSpace, lut: Lut, budget: float) -> Resource:
    return Resource(lut.resource, lut.unit, lut.fixed, lut.alpha_vector(space), budget)


def find_networks(name: str, model, space: SearchSpace, lut: Lut, budgets: list[float], evo: EvolutionConfig,
                  seed: int) -> list[Architecture | None]:
    out = []
    scored = score_units(model, [lut], seed=seed) if name == "autobuild" else None
    for b in budgets:
        if name == "autobuild":
            out.append(build_architecture(model, [lut], {lut.resource: b}, top_k=3, scored=scored).architecture)
        elif name in ("bilinear", "contributions"):
            form = model.to_form() if name == "bilinear" else model
            out.append(run_solver("milp", build_problem(space, form, [lut], {lut.resource: b})).architecture)
        else:  # evolution with the model as the scorer
            res = evolve(space, model.predict_archs, [_resource(space, lut, b)], seed=seed, config=evo,
                         seeds=[space.smallest])
            out.append(res.architecture)
    return out


# --------------------------------------------------------------------- one run
def run_one(space: SearchSpace, truth: Oracle, measure: Oracle, lut: Lut, n: int, seed: int, args,
            rank_truth: Oracle | None = None) -> dict:
    """One training-set size and seed; Kendall-tau is taken against ``rank_truth`` (default ``measure``)."""
    rng = np.random.default_rng(seed)
    train = [space.sample(rng) for _ in range(n)]
    test_rng = np.random.default_rng(10_000 + seed)
    test = [space.sample(test_rng) for _ in range(args.test_n)]
    y_train, y_test = measure(train), (rank_truth or measure)(test)
    lo, hi = lut.value(space, space.smallest), lut.value(space, space.heaviest)
    budgets = [lo + q * (hi - lo) for q in (0.25, 0.5, 0.75)]
    evo = EvolutionConfig(population=100, generations=args.evo_generations)
    X = encode_archs(space, train)
    C = max(1, round(n / (1 + space.num_alpha + space.num_beta)))
    timers, models = {}, {}
    for name, fit in [
        ("autobuild", lambda: AutoBuildPredictor(space, random_state=seed).fit_archs(train, y_train)),
        ("bilinear", lambda: BilinearPredictor(space).fit(X, y_train)),
        ("mlp", lambda: MLPPredictor(space, random_state=seed).fit(X, y_train)),
        ("contributions", lambda: contributions(space, measure, C, seed)),
    ]:
        t0 = time.perf_counter()
        models[name] = fit()
        timers[name] = time.perf_counter() - t0
    row = {"n": n, "seed": seed, "budgets_ms": budgets, "contributions_contexts": C,
           "contributions_evaluations": C * (1 + space.num_alpha + space.num_beta), "methods": {}}
    for name, model in models.items():
        pred = (np.array([model.predict(space, a) for a in test]) if name == "contributions"
                else model.predict_archs(test))
        t0 = time.perf_counter()
        archs = find_networks(name, model, space, lut, budgets, evo, seed)
        row["methods"][name] = {"kendall_tau": kendall_tau(y_test, pred), "fit_s": timers[name],
                                "find_s": time.perf_counter() - t0,
                                "accuracy": [float(truth([a])[0]) if a is not None else None for a in archs],
                                "latency_ms": [lut.value(space, a) if a is not None else None for a in archs]}
    archs = find_networks("autobuild-evolution", models["autobuild"], space, lut, budgets, evo, seed)
    row["methods"]["autobuild-evolution"] = {"accuracy": [float(truth([a])[0]) for a in archs],
                                             "latency_ms": [lut.value(space, a) for a in archs]}
    feasible = [[a for a in test if lut.value(space, a) <= b] for b in budgets]
    row["best_random_test"] = [float(truth(f).max()) if f else None for f in feasible]
    return row


def summarise(rows: list[dict]) -> str:
    names = ["autobuild", "contributions", "bilinear", "mlp", "autobuild-evolution"]
    lines = ["| N | method | Kendall-tau | acc @25% | acc @50% | acc @75% | fit s | find s |",
             "|---|---|---|---|---|---|---|---|"]
    for n in sorted({r["n"] for r in rows}):
        group = [r for r in rows if r["n"] == n]
        for name in names:
            ms = [r["methods"][name] for r in group]
            tau = np.median([m["kendall_tau"] for m in ms]) if "kendall_tau" in ms[0] else float("nan")
            acc = [np.median([m["accuracy"][i] for m in ms]) for i in range(3)]
            fit = np.median([m.get("fit_s", np.nan) for m in ms])
            find = np.median([m.get("find_s", np.nan) for m in ms])
            label = name + (f" (C={group[0]['contributions_contexts']}, {group[0]['contributions_evaluations']} evals)"
                            if name == "contributions" else "")
            lines.append(f"| {n} | {label} | {tau:.3f} | " + " | ".join(f"{a:.2f}" for a in acc)
                         + f" | {fit:.1f} | {find:.1f} |")
        best = [np.median([np.nan if r["best_random_test"][i] is None else r["best_random_test"][i] for r in group])
                for i in range(3)]
        lines.append(f"| {n} | best of the random test networks | - | " + " | ".join(f"{b:.2f}" for b in best)
                     + " | - | - |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--oracle", choices=("synthetic", "random-additive", "supernet"), default="synthetic")
    ap.add_argument("--space", default="mobilenetv3-tiny")
    ap.add_argument("--run"), ap.add_argument("--supernet"), ap.add_argument("--lut")
    ap.add_argument("--data", default="fashion-mnist")
    ap.add_argument("--images", type=int, default=1000, help="supernet oracle: held-out images per evaluation")
    ap.add_argument("--truth-images", type=int, default=10000,
                    help="supernet oracle: test-split images for the ground truth (0: all)")
    ap.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--test-n", type=int, default=500)
    ap.add_argument("--noise", type=float, default=0.3, help="Gaussian noise (points) of a synthetic evaluation.")
    ap.add_argument("--evo-generations", type=int, default=100)
    ap.add_argument("--out", type=Path, default=Path("docs/autobuild-bench.json"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    steady_allocator()
    if args.oracle == "supernet":
        space, measure = supernet_oracle(args.run, args.supernet, args.data, args.images)
        _, truth = supernet_oracle(args.run, args.supernet, args.data, args.truth_images, split="test")
        lut = load_lut(args.lut, space)
    else:
        space = load_space(args.space)
        truth = (synthetic_truth if args.oracle == "synthetic" else random_additive_truth)(space, 0)
        noise_rng = np.random.default_rng(123)
        measure = lambda archs: truth(archs) + noise_rng.normal(0, args.noise, len(archs))  # noqa: E731
        lut = load_lut(args.lut, space) if args.lut else synthetic_lut(space, np.random.default_rng(0))
    rows = []
    for n in args.sizes:
        for seed in args.seeds:
            t0 = time.perf_counter()
            rows.append(run_one(space, truth, measure, lut, n, seed, args,
                                truth if args.oracle == "supernet" else None))
            print(f"N={n} seed={seed}: {time.perf_counter() - t0:.0f} s", flush=True)
            table = summarise(rows)  # written after every run so a long benchmark can be read early
            atomic_write_json(args.out, {"oracle": args.oracle, "space": space.name, "noise": args.noise,
                                         "command": " ".join(sys.argv), "rows": rows, "table": table})
    print(table)


if __name__ == "__main__":
    main()
