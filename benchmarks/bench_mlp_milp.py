"""Can a small ReLU MLP be searched exactly? Big-M MILP encoding on ``mobilenetv3``, timed.

    .venv/bin/python benchmarks/bench_mlp_milp.py [--time-limit 60]

An MLP ``x -> relu(W1 x + b1) -> ... -> w.z + b`` over the one-hot (alpha, beta) features is fitted
on 300 random networks of a synthetic truth. Each hidden unit becomes ``z >= h, z >= 0,
z <= h - L (1 - d), z <= U d`` with a binary ``d`` and interval bounds ``L, U`` of ``h`` over the
features in [0, 1] (layer by layer); the network structure and the latency budget are the rows of
:mod:`binas.search.milp`. The MILP is solved by HiGHS with a time limit; the script reports the
solve time and status for several widths, depths and budgets.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix, hstack, vstack

from binas.estimator.predictors import MLPPredictor, encode_archs
from binas.search.milp import _structure_rows
from binas.search.quiet import stdout_to_stderr
from binas.search.synthetic import synthetic_contributions, synthetic_lut
from binas.space import load_space


def encode(space, mlp, lut_t, fixed, budget, time_limit):
    """Solve max MLP(x) s.t. structure and latency <= budget: (status, seconds, MILP value, MLP at the answer)."""
    layers = [m for m in mlp.net_ if isinstance(m, torch.nn.Linear)]
    n_x = space.num_alpha + space.num_beta
    lo, hi = np.zeros(n_x), np.ones(n_x)
    cols = n_x  # variables: x | (z, d) per hidden layer
    rows, lbs, ubs = [], [], []
    prev = list(range(n_x))
    for layer in layers[:-1]:
        W, b = layer.weight.detach().double().numpy(), layer.bias.detach().double().numpy()
        L = b + np.minimum(W, 0) @ hi + np.maximum(W, 0) @ lo
        U = b + np.maximum(W, 0) @ hi + np.minimum(W, 0) @ lo
        k = W.shape[0]
        z, d = cols + np.arange(k), cols + k + np.arange(k)
        cols += 2 * k
        for i in range(k):
            # z - W x >= b ; z - W x - L d <= b - L ; z - U d <= 0
            rows.append(({z[i]: 1.0, **{p: -W[i, j] for j, p in enumerate(prev)}}, b[i], np.inf))
            rows.append(({z[i]: 1.0, d[i]: -L[i], **{p: -W[i, j] for j, p in enumerate(prev)}}, -np.inf, b[i] - L[i]))
            rows.append(({z[i]: 1.0, d[i]: -max(U[i], 0.0)}, -np.inf, 0.0))
        prev, lo, hi = list(z), np.zeros(k), np.maximum(U, 0.0)
    W, b = layers[-1].weight.detach().double().numpy()[0], float(layers[-1].bias.detach())
    c = np.zeros(cols)
    c[prev] = -W
    r_idx, c_idx, vals = [], [], []
    for r, (coef, _, _) in enumerate(rows):
        for j, v in coef.items():
            r_idx.append(r); c_idx.append(j); vals.append(v)
    relu = coo_matrix((vals, (r_idx, c_idx)), shape=(len(rows), cols)).tocsr()
    eq, rhs = _structure_rows(space, n_x)
    eq = hstack([eq, coo_matrix((eq.shape[0], cols - n_x))]).tocsr()
    budget_row = np.zeros((1, cols))
    budget_row[0, :space.num_alpha] = lut_t
    integrality = np.zeros(cols)
    integrality[:n_x] = 1
    d_mask = np.zeros(cols, dtype=bool)
    pos = n_x
    for layer in layers[:-1]:
        k = layer.weight.shape[0]
        d_mask[pos + k:pos + 2 * k] = True
        pos += 2 * k
    integrality[d_mask] = 1
    upper = np.full(cols, np.inf)
    upper[:n_x] = 1
    upper[d_mask] = 1
    cons = [LinearConstraint(eq, rhs, rhs), LinearConstraint(relu, [r[1] for r in rows], [r[2] for r in rows]),
            LinearConstraint(budget_row, -np.inf, budget - fixed)]
    t = time.perf_counter()
    with stdout_to_stderr():
        res = milp(c, integrality=integrality, bounds=Bounds(0, upper), constraints=cons,
                   options={"time_limit": time_limit, "mip_rel_gap": 1e-6})
    seconds = time.perf_counter() - t
    if res.x is None:
        return res.status, seconds, None, None
    value = (-res.fun + b) * mlp.y_std_ + mlp.y_mean_  # the MLP predicts standardised targets
    check = float(mlp.predict(np.round(res.x[:n_x])[None, :])[0])  # the network's own prediction at the answer
    return res.status, seconds, value, check


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--time-limit", type=float, default=60.0)
    args = parser.parse_args()
    space = load_space("mobilenetv3")
    rng = np.random.default_rng(0)
    lut = synthetic_lut(space, rng)
    truth = synthetic_contributions(space, rng)
    archs = [space.sample(rng) for _ in range(300)]
    X = encode_archs(space, archs)
    y = np.array([truth.predict(space, a) for a in archs]) + rng.normal(0, 0.3, 300)
    t_lut = lut.alpha_vector(space)
    lats = np.array([lut.value(space, space.sample(rng)) for _ in range(500)])
    budgets = [float(np.quantile(lats, q)) for q in (0.25, 0.5, 0.75)]
    for hidden, depth in ((8, 0), (16, 0), (32, 0), (16, 1)):
        mlp = MLPPredictor(space, hidden=hidden, layers=depth, epochs=200, random_state=0).fit(X, y)
        for budget in budgets:
            status, seconds, value, check = encode(space, mlp, t_lut, lut.fixed, budget, args.time_limit)
            word = {0: "optimal", 1: "time limit"}.get(status, f"status {status}")
            print(f"hidden {hidden} x {depth + 1} layer(s), latency <= {budget:.2f} ms: {word} in {seconds:.2f} s"
                  f" (MILP value {value if value is None else round(value, 4)}, MLP at the answer "
                  f"{check if check is None else round(check, 4)})", flush=True)


if __name__ == "__main__":
    main()
