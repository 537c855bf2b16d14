"""What ``--verify 20`` costs on ``mobilenetv3``: exact top-1 vs diversified top-20 + re-scoring.

    .venv/bin/python benchmarks/bench_verify_time.py [--budgets 5] [--k 20]

Synthetic latency LUT (``binas.search.synthetic``); two estimators: the paper's contributions form
(synthetic) and a bilinear ridge fit on 300 noisy samples of it. The second opinion is a quadratic
kernel ridge on the same 300 samples. Process CPU seconds per budget (robust to a loaded machine).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from binas.estimator.predictors import BilinearPredictor, QuadraticPredictor, encode_archs
from binas.search import build_problem
from binas.search.milp import solve_milp
from binas.search.synthetic import synthetic_contributions, synthetic_lut
from binas.search.verify import PredictorVerifier, verify_result
from binas.space import load_space


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budgets", type=int, default=5)
    parser.add_argument("--k", type=int, default=20)
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
    for name, form in forms.items():
        t1, tk, tv = [], [], []
        for budget in budgets:
            problem = build_problem(space, form, [lut], {"latency": budget})
            t = time.process_time()
            solve_milp(problem)
            t1.append(time.process_time() - t)
            t = time.process_time()
            top = solve_milp(problem, top_k=args.k, min_distance=2)
            tk.append(time.process_time() - t)
            t = time.process_time()
            verify_result(problem, top, judge)
            tv.append(time.process_time() - t)
        print(f"{name}: top-1 median {np.median(t1):.3f} s (max {max(t1):.3f}); top-{args.k} median "
              f"{np.median(tk):.3f} s (max {max(tk):.3f}); re-scoring median {np.median(tv):.4f} s "
              f"(max {max(tv):.4f}); CPU s per budget, {len(budgets)} budgets", flush=True)


if __name__ == "__main__":
    main()
