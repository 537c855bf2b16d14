"""Search benchmark: every solver side by side over a sweep of latency budgets on `mobilenetv3`.

    .venv/bin/python benchmarks/bench_search.py [--budgets 15] [--repeats 5] [--seed 0] [--out DIR]

Inputs are the seeded synthetic latency LUT and contributions estimator of
``benchmarks/make_synthetic.py`` (written to ``DIR``). For each budget it runs the exact MILP,
the corrected BCFW, the faithful BCFW, evolution and random search in one process, and reports
per solver: median wall time, median/max optimality gap to the MILP optimum, and how many results
meet the budget by the LUT sum. ``milp`` is what ``--solver milp`` runs (here, one budget and a
stage-separable estimator: the best-first enumeration of ``binas.search.kbest``); ``milp-highs`` is
HiGHS on the same problem (``binas.search.milp.solve_milp``), the reference for the gaps. The
exact Pareto front is timed too (median of ``--repeats``) and checked against the MILP at every
budget; a latency + params run checks multi-constraint MILP.
Results: a table on stdout and ``DIR/bench_search.json``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import scipy

sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_synthetic import make  # noqa: E402

from binas.io import atomic_write_json  # noqa: E402
from binas.lut.timing import cpu_name  # noqa: E402
from binas.search import build_problem, pareto_front, run_solver  # noqa: E402
from binas.search.inputs import load_search_inputs  # noqa: E402
from binas.search.milp import solve_milp  # noqa: E402

HIGHS = "milp-highs"
SOLVERS = ("milp", HIGHS, "bcfw", "bcfw-reference", "evolution", "random")
TIMED = ("milp", HIGHS, "bcfw")  # fast enough to repeat for a median per budget


def _machine() -> dict:
    return {"python": platform.python_version(), "platform": platform.platform(),
            "cpu": cpu_name(), "cores": os.cpu_count(), "numpy": np.__version__, "scipy": scipy.__version__,
            "load_before": os.getloadavg()[0]}



def _solve(problem, solver: str, seed: int = 0):
    return solve_milp(problem) if solver == HIGHS else run_solver(solver, problem, seed=seed)


def _run(problem, solver: str, seed: int, repeats: int) -> dict:
    times, cpu, result = [], [], None
    for _ in range(repeats if solver in TIMED else 1):
        started = time.process_time()
        result = _solve(problem, solver, seed)
        cpu.append(time.process_time() - started)
        times.append(result.seconds)
    return {"seconds": statistics.median(times), "cpu_seconds": statistics.median(cpu),
            "objective": result.objective, "status": result.status,
            "feasible": bool(result.success), "latency": result.resources.get("latency")}


def bench(n_budgets: int, repeats: int, seed: int, out: Path) -> dict:
    machine = _machine()
    paths = make("mobilenetv3", seed, out)
    space, form, (lut, params) = load_search_inputs(paths["estimator"], [paths["latency"], paths["params"]])
    base = build_problem(space, form, [lut])
    low, high = base.smallest("latency")[0], lut.value(space, space.heaviest)
    budgets = np.linspace(low * 1.1, low + 0.8 * (high - low), n_budgets)
    fronts = [pareto_front(base) for _ in range(repeats)]
    front = fronts[-1]
    rows = []
    for i, budget in enumerate(budgets):
        problem = build_problem(space, form, [lut], {"latency": float(budget)})
        row = {"budget": float(budget)}
        for solver in SOLVERS:
            row[solver] = _run(problem, solver, seed + i, repeats)
        exact = row[HIGHS]["objective"]
        for solver in SOLVERS:
            obj = row[solver]["objective"]
            row[solver]["gap_pct"] = None if obj is None else 100.0 * (exact - obj) / abs(exact)
        row["pareto_matches_milp"] = bool(abs(front.accuracy[front.best_within(float(budget))] - exact) < 1e-9)
        rows.append(row)
        print(f"budget {budget:6.2f} ms: " + "  ".join(_cell(s, row[s]) for s in SOLVERS), file=sys.stderr)
    multi = _multi(space, form, lut, params, budgets, repeats)
    return {"machine": {**machine, "load_after": os.getloadavg()[0]}, "space": "mobilenetv3", "seed": seed,
            "repeats": repeats, "pareto": {"seconds_median": statistics.median(f.seconds for f in fronts),
                                           "points": len(front.values)},
            "budgets": rows, "multi_constraint": multi, "summary": _summary(rows)}


def _cell(solver: str, r: dict) -> str:
    gap = "-" if r["gap_pct"] is None else f"{r['gap_pct']:.3f}%"
    return f"{solver} {r['seconds']:.3f}s gap {gap}" + ("" if r["feasible"] else f" [{r['status']}]")


def _multi(space, form, lut, params, budgets, repeats: int) -> dict:
    """Latency + params budgets: MILP and corrected BCFW time, gap and feasibility."""
    p_mid = float(np.median([params.value(space, space.sample(np.random.default_rng(k))) for k in range(50)]))
    out = {"params_budget": p_mid, "runs": len(budgets)}
    results = {s: [] for s in TIMED}
    for budget in budgets:
        problem = build_problem(space, form, [lut, params], {"latency": float(budget), "params": p_mid})
        for solver in TIMED:
            results[solver].append(_solve(problem, solver))
    for solver, rs in results.items():
        gaps = [100.0 * (m.objective - r.objective) / abs(m.objective)
                for m, r in zip(results[HIGHS], rs) if r.success]
        out[solver] = {"seconds_median": statistics.median(r.seconds for r in rs),
                       "seconds_max": max(r.seconds for r in rs), "gap_pct_max": max(gaps) if gaps else None,
                       "feasible": sum(bool(r.success and r.resources["params"] <= p_mid
                                            and r.resources["latency"] <= b) for r, b in zip(rs, budgets))}
    return out


def _summary(rows: list[dict]) -> dict:
    out = {}
    for s in SOLVERS:
        gaps = [r[s]["gap_pct"] for r in rows if r[s]["feasible"]]  # an over-budget network has no gap
        out[s] = {"seconds_median": statistics.median(r[s]["seconds"] for r in rows),
                  "cpu_seconds_median": statistics.median(r[s]["cpu_seconds"] for r in rows),
                  "cpu_seconds_max": max(r[s]["cpu_seconds"] for r in rows),
                  "seconds_max": max(r[s]["seconds"] for r in rows),
                  "gap_pct_median": statistics.median(gaps) if gaps else None,
                  "gap_pct_max": max(gaps) if gaps else None,
                  "feasible": sum(r[s]["feasible"] for r in rows), "runs": len(rows)}
    out["pareto_matches_milp"] = sum(r["pareto_matches_milp"] for r in rows)
    return out


def _markdown(report: dict) -> str:
    lines = ["| solver | median wall (s) | max wall (s) | median CPU (s) | max CPU (s) | median gap | max gap "
             "| within budget |", "|---|---|---|---|---|---|---|---|"]
    for s in SOLVERS:
        r = report["summary"][s]
        med = "-" if r["gap_pct_median"] is None else f"{r['gap_pct_median']:.3f}%"
        top = "-" if r["gap_pct_max"] is None else f"{r['gap_pct_max']:.3f}%"
        lines.append(f"| {s} | {r['seconds_median']:.3f} | {r['seconds_max']:.3f} | {r['cpu_seconds_median']:.3f} "
                     f"| {r['cpu_seconds_max']:.3f} | {med} | {top} | "
                     f"{r['feasible']}/{r['runs']} |")
    p, m = report["pareto"], report["multi_constraint"]
    lines.append(f"\nexact Pareto front: {p['points']} networks, median {p['seconds_median']:.3f} s; "
                 f"agrees with the MILP at {report['summary']['pareto_matches_milp']}/{len(report['budgets'])} budgets")
    for solver in TIMED:
        r = m[solver]
        lines.append(f"latency + params, {solver}: median {r['seconds_median']:.3f} s (max {r['seconds_max']:.3f} s), "
                     f"max gap {r['gap_pct_max']:.3f}%, feasible {r['feasible']}/{m['runs']}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, default=15)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path("runs/bench-search"))
    args = parser.parse_args()
    started = time.perf_counter()
    report = bench(args.budgets, args.repeats, args.seed, args.out)
    report["total_seconds"] = time.perf_counter() - started
    atomic_write_json(args.out / "bench_search.json", report)
    m = report["machine"]
    print(f"{m['cpu']} ({m['cores']} cores), load {m['load_before']:.2f} -> {m['load_after']:.2f}, "
          f"numpy {m['numpy']}, scipy {m['scipy']}")
    print(_markdown(report))
    print(f"wrote {args.out / 'bench_search.json'}")


if __name__ == "__main__":
    main()
