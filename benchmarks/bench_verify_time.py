"""What ``--verify 20`` costs on ``mobilenetv3``: exact top-1 and diversified top-20 two ways, re-scoring.

    .venv/bin/python benchmarks/bench_verify_time.py [--budgets 5] [--k 20] [--distance 2] [--params-quantile Q]

Synthetic latency LUT (``binas.search.synthetic``); two estimators: the paper's contributions form
(synthetic) and a bilinear ridge fit on 300 noisy samples of it. The optimum and the diversified
top-K are computed side by side by what ``--solver milp`` runs here (the best-first enumeration,
:func:`binas.search.exact.solve_exact`) and by HiGHS (:func:`binas.search.milp.solve_milp`, one MILP
per network); the answers must agree. The second opinion is a
quadratic kernel ridge on the same 300 samples. With ``--params-quantile Q`` every search also has
a params budget (the Q quantile of random networks' parameter counts): two budgets at once.
Process CPU seconds per budget (robust to a loaded machine), medians and maxima over the budgets.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from binas.estimator.predictors import BilinearPredictor, QuadraticPredictor, encode_archs
from binas.lut.table import analytic_lut
from binas.search import build_problem
from binas.search.exact import solve_exact
from binas.search.milp import solve_milp
from binas.search.synthetic import synthetic_contributions, synthetic_lut
from binas.search.verify import PredictorVerifier, verify_result
from binas.space import load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, default=5)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--distance", type=int, default=2)
    parser.add_argument("--params-quantile", type=float, default=None, help="add a params budget at this quantile")
    args = parser.parse_args()
    space = load_space("mobilenetv3")
    rng = np.random.default_rng(0)
    lut, truth = synthetic_lut(space, rng), synthetic_contributions(space, rng)
    archs = [space.sample(rng) for _ in range(300)]
    X = encode_archs(space, archs)
    y = np.array([truth.predict(space, a) for a in archs]) + rng.normal(0, 0.3, 300)
    judge = PredictorVerifier(QuadraticPredictor(space).fit(X, y).predict_archs, "quadratic")
    forms = {"contributions": truth, "bilinear fit": BilinearPredictor(space).fit(X, y).to_form()}
    lats = np.array([lut.value(space, space.sample(rng)) for _ in range(1000)])
    budgets = [float(np.quantile(lats, q)) for q in np.linspace(0.1, 0.9, args.budgets)]
    luts, extra = [lut], {}
    if args.params_quantile is not None:
        params = analytic_lut(space, "params")
        luts.append(params)
        extra = {"params": float(np.quantile([params.value(space, space.sample(rng)) for _ in range(1000)],
                                             args.params_quantile))}
    for name, form in forms.items():
        times: dict[str, list[float]] = {"top-1 enumeration": [], "top-1 MILP": [],
                                         f"top-{args.k} enumeration": [], f"top-{args.k} MILP per network": [],
                                         "re-scoring": []}
        for budget in budgets:
            problem = build_problem(space, form, luts, {"latency": budget, **extra})
            top1 = [_timed(times["top-1 enumeration"], lambda: solve_exact(problem)),
                    _timed(times["top-1 MILP"], lambda: solve_milp(problem))]
            top = [_timed(times[f"top-{args.k} enumeration"],
                          lambda: solve_exact(problem, top_k=args.k, min_distance=args.distance)),
                   _timed(times[f"top-{args.k} MILP per network"],
                          lambda: solve_milp(problem, top_k=args.k, min_distance=args.distance))]
            _timed(times["re-scoring"], lambda: verify_result(problem, top[0], judge))
            values = [_values(r) for r in top]
            if len(values[0]) != args.k or not np.allclose(*values, rtol=0, atol=1e-9):
                raise SystemExit(f"the two top-{args.k} sequences differ at budget {budget:.3f}")
            if abs(top1[0].objective - top1[1].objective) > 1e-9 or abs(top1[0].objective - values[0][0]) > 1e-9:
                raise SystemExit(f"the optima differ at budget {budget:.3f}")
        print(f"{name} ({len(budgets)} latency budgets{' + params <= %.4g' % extra['params'] if extra else ''}, "
              f"min distance {args.distance}, identical sequences):", flush=True)
        for label, ts in times.items():
            print(f"  {label}: median {np.median(ts):.3f} s, max {max(ts):.3f} s CPU", flush=True)


def _timed(out: list[float], fn):
    t = time.process_time()
    result = fn()
    out.append(time.process_time() - t)
    return result


def _values(result) -> np.ndarray:
    return np.array([result.objective] + [acc for _, acc, _ in result.alternatives])

if __name__ == "__main__":
    main()
