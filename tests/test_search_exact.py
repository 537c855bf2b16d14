"""Exact solvers against brute force on small spaces: MILP (one/several budgets, top-k, general W)
and the Pareto front."""

from __future__ import annotations

import numpy as np
import pytest

from binas.search.milp import build_model, solve_milp
from binas.search.pareto import pareto_front, prune
from binas.search.problem import SearchError, build_problem
from binas.search.result import STATUS_INFEASIBLE, STATUS_OPTIMAL
from test_search_helpers import BruteForce, make_inputs, make_space

QUANTILES = (0.02, 0.2, 0.5, 0.9, 1.0)


@pytest.mark.parametrize("key", ["small", "perlayer"])
@pytest.mark.parametrize("kind", ["contributions", "bilinear"])
def test_milp_equals_brute_force_one_budget(key, kind, tmp_path) -> None:
    space = make_space(tmp_path, key)
    form, lut, params = make_inputs(space, 11, kind)
    brute = BruteForce(space, form, [lut])
    for q in QUANTILES:
        budget = float(np.quantile(brute.res["latency"], q))
        result = solve_milp(build_problem(space, form, [lut], {"latency": budget}))
        assert result.status == STATUS_OPTIMAL and result.success
        assert result.objective == pytest.approx(brute.best({"latency": budget})[0], abs=1e-12)
        assert result.resources["latency"] <= budget
        assert result.objective == pytest.approx(form.predict(space, result.architecture))


@pytest.mark.parametrize("kind", ["contributions", "bilinear"])
def test_milp_several_budgets_and_top_k(kind, tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 5, kind)
    brute = BruteForce(space, form, [lut, params])
    for ql, qp in [(0.3, 0.3), (0.6, 0.2), (0.9, 0.5)]:
        budgets = {"latency": float(np.quantile(brute.res["latency"], ql)),
                   "params": float(np.quantile(brute.res["params"], qp))}
        result = solve_milp(build_problem(space, form, [lut, params], budgets), top_k=4)
        found = [result.architecture] + [a for a, _, _ in result.alternatives]
        values = [result.objective] + [acc for _, acc, _ in result.alternatives]
        assert len(set(found)) == 4  # distinct
        assert values == sorted(values, reverse=True)
        np.testing.assert_allclose(values, brute.best(budgets, 4), atol=1e-12)
        for arch in found:
            assert lut.value(space, arch) <= budgets["latency"] and params.value(space, arch) <= budgets["params"]


def test_milp_top_k_beyond_the_feasible_set_returns_what_exists(tmp_path) -> None:
    space = make_space(tmp_path, "perlayer")
    form, lut, _ = make_inputs(space, 2)
    brute = BruteForce(space, form, [lut])
    budget = float(np.sort(brute.res["latency"])[2])  # exactly 3 networks fit
    result = solve_milp(build_problem(space, form, [lut], {"latency": budget}), top_k=10)
    assert 1 + len(result.alternatives) == 3


def test_milp_general_w_needs_products_and_contributions_do_not(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 0, "contributions")
    general, _, _ = make_inputs(space, 0, "bilinear")
    n_plain = build_model(build_problem(space, form, [lut], {"latency": 1e9})).c.size
    n_general = build_model(build_problem(space, general, [lut], {"latency": 1e9})).c.size
    assert n_plain == space.num_alpha + space.num_beta
    assert n_general > n_plain


def test_milp_infeasible_budgets(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 0)
    brute = BruteForce(space, form, [lut, params])
    result = solve_milp(build_problem(space, form, [lut], {"latency": brute.res["latency"].min() - 1e-6}))
    assert result.status == STATUS_INFEASIBLE and not result.success and result.architecture is None
    assert result.message.startswith("infeasible: the smallest reachable latency is")
    # each budget reachable alone, not together: find a seed where the two minimisers differ
    for seed in range(10):
        form, lut, params = make_inputs(space, seed)
        brute = BruteForce(space, form, [lut, params])
        budgets = {"latency": float(brute.res["latency"].min()), "params": float(brute.res["params"].min())}
        if not brute.feasible(budgets).any():
            break
    else:
        pytest.fail("no seed gives jointly infeasible budgets")
    joint = solve_milp(build_problem(space, form, [lut, params], budgets))
    assert joint.status == STATUS_INFEASIBLE and "together" in joint.message
    assert joint.message.startswith("infeasible: no network meets latency <=")


def _same_front(front, res: np.ndarray, acc: np.ndarray) -> None:
    keep = prune(res, acc)
    np.testing.assert_allclose(front.values, res[keep], rtol=1e-12)
    np.testing.assert_allclose(front.accuracy, acc[keep], atol=1e-12)


@pytest.mark.parametrize("key", ["small", "perlayer"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_pareto_front_equals_brute_force(key, seed, tmp_path) -> None:
    space = make_space(tmp_path, key)
    form, lut, params = make_inputs(space, seed)
    brute = BruteForce(space, form, [lut, params])
    for table in (lut, params):
        front = pareto_front(build_problem(space, form, [table]))
        _same_front(front, brute.res[table.resource], brute.acc)
        for arch, value, acc in zip(front.architectures, front.values, front.accuracy):
            assert table.value(space, arch) == pytest.approx(value, rel=1e-12)
            assert form.predict(space, arch) == pytest.approx(acc, abs=1e-12)
        assert np.all(np.diff(front.values) > 0) and np.all(np.diff(front.accuracy) > 0)


def test_pareto_front_answers_every_budget_like_milp(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 4)
    front = pareto_front(build_problem(space, form, [lut]))
    for budget in front.values[::7]:
        exact = solve_milp(build_problem(space, form, [lut], {"latency": float(budget)}))
        assert front.accuracy[front.best_within(float(budget))] == pytest.approx(exact.objective, abs=1e-12)


def test_pareto_stage_local_general_q_is_exact(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 6, "bilinear")
    for s in range(len(space.stages)):  # keep only same-stage products (depth-dependent block values)
        a0 = space.alpha_offsets[s][0]
        a1 = a0 + sum(len(c) for c in space.stages[s].positions)
        b0, b1 = space.beta_offsets[s], space.beta_offsets[s] + len(space.stages[s].depths)
        form.Q[a0:a1, :b0] = 0.0
        form.Q[a0:a1, b1:] = 0.0
    brute = BruteForce(space, form, [lut])
    _same_front(pareto_front(build_problem(space, form, [lut])), brute.res["latency"], brute.acc)


def test_pareto_refuses_stage_coupled_estimators_and_several_luts(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 0, "bilinear")
    with pytest.raises(SearchError, match="couples different stages"):
        pareto_front(build_problem(space, form, [lut]))
    with pytest.raises(SearchError, match="exactly one resource"):
        pareto_front(build_problem(space, form, [lut, params]))


@pytest.mark.parametrize("kind", ["contributions", "bilinear"])
def test_dominance_pruning_keeps_the_optimum(kind, tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 9, kind)
    brute = BruteForce(space, form, [lut, params])
    budgets = {"latency": float(np.quantile(brute.res["latency"], 0.5)),
               "params": float(np.quantile(brute.res["params"], 0.5))}
    problem = build_problem(space, form, [lut, params], budgets)
    pruned = build_model(problem, prune=True)
    if kind == "contributions":
        assert np.sum(pruned.bounds.ub[:space.num_alpha] == 0) > 0
    assert solve_milp(problem).objective == pytest.approx(brute.best(budgets)[0], abs=1e-12)
