"""Heuristic solvers: corrected/faithful BCFW, evolution, random; the solver registry."""

from __future__ import annotations

import numpy as np
import pytest

from binas.search.bcfw import solve_bcfw, solve_bcfw_reference
from binas.search.evolution import EvolutionConfig, evolve, solve_evolution
from binas.search.milp import solve_milp
from binas.search.problem import SearchError, build_problem, make_resources
from binas.search.random_search import solve_random
from binas.search.registry import SOLVERS, run_solver
from binas.search.result import (STATUS_BUDGET_EXCEEDED, STATUS_FEASIBLE, STATUS_GAVE_UP, STATUS_INFEASIBLE)
from binas.search.synthetic import synthetic_contributions, synthetic_lut
from binas.space import load_space
from test_search_helpers import BruteForce, make_inputs, make_space

FAST_EVOLUTION = EvolutionConfig(population=30, generations=30, parents=10, mutants=10, crossovers=10)


@pytest.mark.parametrize("key", ["small", "perlayer"])
def test_bcfw_is_feasible_and_near_optimal_on_small_spaces(key, tmp_path) -> None:
    space = make_space(tmp_path, key)
    form, lut, params = make_inputs(space, 3)
    brute = BruteForce(space, form, [lut, params])
    gaps = []
    for q in (0.05, 0.3, 0.6, 0.95):
        budgets = {"latency": float(np.quantile(brute.res["latency"], q))}
        result = solve_bcfw(build_problem(space, form, [lut], budgets))
        assert result.status == STATUS_FEASIBLE and result.resources["latency"] <= budgets["latency"]
        best = brute.best(budgets)[0]
        assert result.objective <= best + 1e-12
        gaps.append((best - result.objective) / abs(best))
    assert max(gaps) < 0.01


def test_bcfw_multiple_budgets_stay_feasible(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 8)
    brute = BruteForce(space, form, [lut, params])
    budgets = {"latency": float(np.quantile(brute.res["latency"], 0.5)),
               "params": float(np.quantile(brute.res["params"], 0.3))}
    result = solve_bcfw(build_problem(space, form, [lut, params], budgets))
    if result.success:
        assert brute.feasible(budgets)[brute.archs.index(result.architecture)]
    else:
        assert result.status == STATUS_GAVE_UP


def test_bcfw_on_mobilenetv3_tiny_is_close_to_milp() -> None:
    space = load_space("mobilenetv3-tiny")
    rng = np.random.default_rng(0)
    form, lut = synthetic_contributions(space, rng), synthetic_lut(space, rng)
    low, _ = build_problem(space, form, [lut]).smallest("latency")
    for factor in (1.1, 1.5, 2.0):
        problem = build_problem(space, form, [lut], {"latency": low * factor})
        exact, approx = solve_milp(problem), solve_bcfw(problem)
        assert approx.success and approx.resources["latency"] <= low * factor
        assert approx.objective <= exact.objective + 1e-12
        assert (exact.objective - approx.objective) / exact.objective < 0.01


def test_bcfw_reference_reports_broken_budgets_honestly(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 1)
    brute = BruteForce(space, form, [lut])
    for q in (0.1, 0.3, 0.5, 0.7):
        budget = float(np.quantile(brute.res["latency"], q))
        result = solve_bcfw_reference(build_problem(space, form, [lut], {"latency": budget}), steps=300,
                                      sparsify_steps=20, seed=2)
        assert result.architecture is not None
        over = lut.value(space, result.architecture) > budget
        assert (result.status == STATUS_BUDGET_EXCEEDED) == over and result.success == (not over)
        if over:
            assert result.message.startswith("budget exceeded: latency")
    again = solve_bcfw_reference(build_problem(space, form, [lut], {"latency": budget}), steps=300,
                                 sparsify_steps=20, seed=2)
    assert again.architecture == result.architecture  # seeded


def test_evolution_takes_any_scorer_and_is_seeded(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 0)
    brute = BruteForce(space, form, [lut, params])
    budget = float(np.quantile(brute.res["latency"], 0.5))
    resources = make_resources(space, [lut, params], {"latency": budget})

    def most_params(archs):  # a non-bilinear scorer: params (within the latency budget)
        return np.array([params.value(space, a) for a in archs])

    out = evolve(space, most_params, resources, seed=3, config=FAST_EVOLUTION)
    assert lut.value(space, out.architecture) <= budget
    assert out.score == params.value(space, out.architecture)
    assert out.score >= np.quantile(brute.res["params"][brute.feasible({"latency": budget})], 0.9)
    assert evolve(space, most_params, resources, seed=3, config=FAST_EVOLUTION).architecture == out.architecture


def test_evolution_and_random_find_good_feasible_networks(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 2)
    brute = BruteForce(space, form, [lut])
    budget = float(np.quantile(brute.res["latency"], 0.4))
    problem = build_problem(space, form, [lut], {"latency": budget})
    best = brute.best({"latency": budget})[0]
    for result in (solve_evolution(problem, seed=1, config=FAST_EVOLUTION), solve_random(problem, seed=1,
                                                                                         num_samples=3000)):
        assert result.success and result.resources["latency"] <= budget
        assert best - 0.02 * abs(best) <= result.objective <= best + 1e-12


def test_sampling_baselines_give_up_with_a_cap(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 0)
    brute = BruteForce(space, form, [lut])
    budget = float(brute.res["latency"].min())  # only the smallest network fits
    problem = build_problem(space, form, [lut], {"latency": budget})
    config = EvolutionConfig(population=20, generations=3, parents=5, mutants=5, crossovers=5, max_tries=2)
    result = solve_evolution(problem, config=config)
    assert result.success and "gave up" in result.message  # seeded with the smallest network, reports the cap
    out = evolve(space, None, problem.resources, config=config,
                 gene_score=lambda g: np.zeros(len(g)))  # no seeds: nothing feasible is ever drawn
    assert out.architecture is None and out.gave_up >= 1
    rnd = solve_random(problem, num_samples=100)
    assert rnd.status in (STATUS_GAVE_UP, STATUS_FEASIBLE)
    if rnd.status == STATUS_GAVE_UP:
        assert rnd.message.startswith("random search gave up") and rnd.architecture is None


@pytest.mark.parametrize("name", sorted(SOLVERS))
def test_every_registered_solver_rechecks_budgets(name, tmp_path) -> None:
    space = make_space(tmp_path, "perlayer")
    form, lut, params = make_inputs(space, 4)
    brute = BruteForce(space, form, [lut, params])
    budgets = {"latency": float(np.quantile(brute.res["latency"], 0.5))}
    result = run_solver(name, build_problem(space, form, [lut], budgets), seed=0)
    assert result.solver == name and result.seconds >= 0
    over = lut.value(space, result.architecture) > budgets["latency"]
    assert result.success == (not over)
    assert over == (result.status == STATUS_BUDGET_EXCEEDED)
    infeasible = run_solver(name, build_problem(space, form, [lut], {"latency": 1e-3}))
    assert infeasible.status == STATUS_INFEASIBLE
    assert infeasible.message.startswith("infeasible: the smallest reachable latency is")


def test_registry_errors(tmp_path) -> None:
    space = make_space(tmp_path, "perlayer")
    form, lut, _ = make_inputs(space, 0)
    problem = build_problem(space, form, [lut], {"latency": 1e9})
    with pytest.raises(SearchError, match="unknown solver 'cplex'"):
        run_solver("cplex", problem)
    with pytest.raises(SearchError, match="needs --solver milp"):
        run_solver("bcfw", problem, top_k=3)
    with pytest.raises(SearchError, match="at least 1"):
        run_solver("milp", problem, top_k=0)


def test_mckp_greedy_is_the_lp_optimum_at_a_vertex() -> None:
    from scipy.optimize import linprog

    from binas.search.relaxed import _groups, mckp_vertex

    rng = np.random.default_rng(0)
    for trial in range(200):
        sizes = list(rng.integers(1, 6, size=rng.integers(1, 6)))
        groups, n = _groups(sizes), sum(sizes)
        v, w = rng.normal(size=n), rng.random(n)
        if trial % 3 == 0:  # ties
            v, w = np.round(v, 1), np.round(w, 1)
        lightest = sum(w[groups.indices[s:e]].min() for s, e in zip(groups.indptr[:-1], groups.indptr[1:]))
        cap = lightest + 2 * rng.random()
        x = mckp_vertex(v, w, cap, groups)
        ref = linprog(-v, A_ub=w[None], b_ub=[cap], A_eq=groups, b_eq=np.ones(len(sizes)), bounds=(0, 1),
                      method="highs-ds")
        assert v @ x == pytest.approx(-ref.fun, abs=1e-9)
        assert w @ x <= cap + 1e-9 and np.allclose(groups @ x, 1) and np.all(x >= 0)
        assert np.sum((x > 1e-9) & (x < 1 - 1e-9)) <= 2  # at most one fractional group
    assert mckp_vertex(np.ones(2), np.ones(2), 0.5, _groups([2])) is None


def test_random_search_takes_any_scorer(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 0)
    brute = BruteForce(space, form, [lut, params])
    budget = float(np.quantile(brute.res["latency"], 0.5))
    problem = build_problem(space, form, [lut, params], {"latency": budget})
    result = solve_random(problem, num_samples=2000, score=lambda archs: np.array(
        [params.value(space, a) for a in archs]))
    assert result.success and result.objective == params.value(space, result.architecture)
    assert result.objective >= np.quantile(brute.res["params"][brute.feasible({"latency": budget})], 0.9)
    with pytest.raises(SearchError, match="not bilinear"):
        run_solver("milp", problem, score=lambda archs: np.zeros(len(archs)))


@pytest.mark.parametrize("key", ["small", "perlayer"])
def test_gene_codec_matches_space_encoding(key, tmp_path) -> None:
    from binas.search.genes import GeneCodec

    space = make_space(tmp_path, key)
    codec = GeneCodec(space)
    genes = codec.sample(np.random.default_rng(0), 64)
    alpha, beta = codec.onehot(genes)
    for row, arch, a, b in zip(genes, codec.architectures(genes), alpha, beta):
        ref_a, ref_b = space.encode(arch)
        assert np.array_equal(a, ref_a) and np.array_equal(b, ref_b)
        back = codec.from_architecture(arch)
        assert codec.architectures(back[None, :])[0] == arch
