"""Exact diversified top-K by best-first enumeration against brute force, and its MILP hand-over."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np
import pytest

from binas.search import exact, kbest
from binas.search.kbest import diversified_top_k, enumerable
from binas.search.exact import solve_exact
from binas.search.milp import position_distance, solve_milp
from binas.search.synthetic import random_bilinear
from test_search_helpers import BruteForce, make_inputs, make_space, problem_for


def _within_stage(space, seed: int):
    """A random bilinear form with the cross-stage products removed (stage-separable)."""
    form = random_bilinear(space, np.random.default_rng(seed), density=0.8)
    q = form.Q.copy()
    for s, stage in enumerate(space.stages):
        rows = slice(space.alpha_offsets[s][0], space.alpha_offsets[s][-1] + len(stage.positions[-1]))
        keep = q[rows, space.beta_offsets[s]:space.beta_offsets[s] + len(stage.depths)].copy()
        q[rows] = 0.0
        q[rows, space.beta_offsets[s]:space.beta_offsets[s] + len(stage.depths)] = keep
    return dataclasses.replace(form, Q=q)


def _greedy(brute: BruteForce, space, ok: np.ndarray, k: int, distance: int) -> list[float]:
    """Brute-force values of the exact diversified sequence: the best feasible network far from every earlier pick."""
    picked: list[int] = []
    for i in np.argsort(-brute.acc, kind="stable"):
        if ok[i] and all(position_distance(space, brute.archs[i], brute.archs[j]) >= distance for j in picked):
            picked.append(int(i))
            if len(picked) == k:
                break
    return [float(brute.acc[i]) for i in picked]


@pytest.mark.parametrize("kind", ["contributions", "within-stage"])
@pytest.mark.parametrize("distance", [1, 2, 3])
@pytest.mark.parametrize("quantile", [0.2, 0.7, None])
def test_enumeration_is_the_exact_diversified_sequence(tmp_path, kind, distance, quantile) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 11)
    if kind == "within-stage":
        form = _within_stage(space, 11)
    brute = BruteForce(space, form, [lut])
    budgets = {} if quantile is None else {"latency": float(np.quantile(brute.res["latency"], quantile))}
    problem = problem_for(space, form, [lut], budgets)
    assert enumerable(problem)
    got, complete = diversified_top_k(problem, 6, distance)
    assert complete
    ok = brute.feasible(budgets)
    np.testing.assert_allclose([form.predict(space, a) for a in got], _greedy(brute, space, ok, 6, distance),
                               atol=1e-9)
    assert all(problem.feasible(a) for a in got)
    assert all(position_distance(space, a, b) >= distance for i, a in enumerate(got) for b in got[:i])


def test_a_capped_enumeration_hands_over_to_the_milp(tmp_path, monkeypatch) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 3)
    brute = BruteForce(space, form, [lut])
    budget = float(np.quantile(brute.res["latency"], 0.5))
    problem = problem_for(space, form, [lut], {"latency": budget})
    expected = _greedy(brute, space, brute.res["latency"] <= budget, 6, 2)
    partial, complete = diversified_top_k(problem, 6, 2, max_networks=3)
    assert not complete and 1 <= len(partial) < 6
    monkeypatch.setattr(exact, "diversified_top_k", functools.partial(diversified_top_k, max_networks=3))
    for result in (solve_exact(problem, top_k=6, min_distance=2), solve_milp(problem, top_k=6, min_distance=2)):
        values = [result.objective] + [a[1] for a in result.alternatives]
        np.testing.assert_allclose(values, expected, atol=1e-9)


def test_solve_exact_top_1_and_infeasible_budgets(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 4)
    brute = BruteForce(space, form, [lut])
    for q in (0.0, 0.3, 1.0):
        budget = float(np.quantile(brute.res["latency"], q))
        result = solve_exact(problem_for(space, form, [lut], {"latency": budget}))
        assert result.status == "optimal" and result.gap == 0.0
        assert result.objective == pytest.approx(brute.best({"latency": budget})[0], abs=1e-12)
    result = solve_exact(problem_for(space, form, [lut], {"latency": float(brute.res["latency"].min()) - 1e-6}))
    assert result.status == "infeasible" and result.message.startswith("infeasible: the smallest reachable latency")


@pytest.mark.parametrize("kind", ["contributions", "within-stage"])
@pytest.mark.parametrize("quantiles", [(0.3, 0.3), (0.5, 0.8), (0.8, 0.2), (0.05, 0.05)])
def test_several_budgets_enumerate_the_exact_sequence(tmp_path, kind, quantiles) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 12)
    if kind == "within-stage":
        form = _within_stage(space, 12)
    brute = BruteForce(space, form, [lut, params])
    budgets = {name: float(np.quantile(brute.res[name], q)) for name, q in zip(("latency", "params"), quantiles)}
    problem = problem_for(space, form, [lut, params], budgets)
    assert enumerable(problem)
    got, complete = diversified_top_k(problem, 6, 2)
    assert complete and all(problem.feasible(a) for a in got)
    expected = _greedy(brute, space, brute.feasible(budgets), 6, 2)
    np.testing.assert_allclose([form.predict(space, a) for a in got], expected, atol=1e-9)
    result = solve_exact(problem, top_k=3)
    if brute.feasible(budgets).any():
        assert result.objective == pytest.approx(brute.best(budgets)[0], abs=1e-12)
    else:  # each budget reachable alone, not together: the MILP says so
        assert result.status == "infeasible" and "together" in result.message


def test_cross_stage_forms_and_too_many_budgets_use_the_milp(tmp_path, monkeypatch) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 5)
    general, _, _ = make_inputs(space, 5, "bilinear")
    assert not enumerable(problem_for(space, general, [lut], {"latency": 1e9}))
    monkeypatch.setattr(kbest, "MAX_BUDGETS", 1)
    assert not enumerable(problem_for(space, form, [lut, params], {"latency": 1e9, "params": 1e12}))
    with pytest.raises(ValueError):
        diversified_top_k(problem_for(space, general, [lut], {"latency": 1e9}), 3)


def test_skip_choices_and_distances_beyond_the_positions(tmp_path) -> None:
    space = make_space(tmp_path, "perlayer")  # one position per stage, with skip choices
    form, lut, _ = make_inputs(space, 9)
    brute = BruteForce(space, form, [lut])
    budget = {"latency": float(np.quantile(brute.res["latency"], 0.4))}
    problem = problem_for(space, form, [lut], budget)
    for distance in (1, 2):
        got, complete = diversified_top_k(problem, 8, distance)
        np.testing.assert_allclose([form.predict(space, a) for a in got],
                                   _greedy(brute, space, brute.feasible(budget), 8, distance), atol=1e-9)
    positions = space.layout.num_positions
    got, complete = diversified_top_k(problem, 3, positions + 1)  # nothing can be that far: one network
    assert complete and len(got) == 1
    result = solve_exact(problem, top_k=3, min_distance=positions + 1)
    assert result.alternatives == () and result.objective == pytest.approx(brute.best(budget)[0], abs=1e-12)


def test_ties_are_followed_down_not_across(tmp_path) -> None:
    """An estimator of a few distinct values (tiny measurements) ties most nodes; the search stays small.

    Breadth-first among ties once took 9 s and 0.5 GB on ``mobilenetv3-tiny`` and ran out of memory on a
    demo run; deeper nodes first reaches the networks in a few hundred steps.
    """
    from binas.space import load_space

    space = load_space("mobilenetv3-tiny")
    rng = np.random.default_rng(0)
    form, lut, _ = make_inputs(space, 0)
    levels = lambda shape: rng.choice([-12.5, 0.0, 0.0, 12.5], shape)  # noqa: E731
    quantised = dataclasses.replace(form, p_alpha=levels(form.p_alpha.shape), p_beta=levels(form.p_beta.shape),
                                    Q=np.where(form.Q != 0, levels(form.Q.shape), 0.0))
    lats = [lut.value(space, space.sample(rng)) for _ in range(200)]
    for q in (0.2, 0.5, 0.8):
        problem = problem_for(space, quantised, [lut], {"latency": float(np.quantile(lats, q))})
        got, complete = diversified_top_k(problem, 8, 2, max_steps=5_000)
        assert complete and len(got) == 8
        values = [quantised.predict(space, a) for a in got]
        assert values[0] == pytest.approx(solve_milp(problem).objective, abs=1e-9)
        assert all(position_distance(space, a, b) >= 2 for i, a in enumerate(got) for b in got[:i])
