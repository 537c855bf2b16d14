"""The bilinear search problem: resource/accuracy forms, validation, structure detection."""

from __future__ import annotations

import numpy as np
import pytest

from binas.errors import FileFormatError
from binas.lut.table import analytic_lut
from binas.search.problem import SearchError, block_form, build_problem, lifted_accuracy
from binas.search.relaxed import Relaxation
from binas.search.synthetic import random_bilinear, synthetic_contributions, synthetic_lut
from binas.space import load_space
from test_search_helpers import BruteForce, make_inputs, make_space


@pytest.mark.parametrize("name", ["mobilenetv3", "mobilenetv3-tiny", "small", "perlayer"])
def test_block_form_equals_lut_sum(name, tmp_path, rng) -> None:
    space = load_space(name) if name.startswith("mobile") else make_space(tmp_path, name)
    lut = synthetic_lut(space, rng)
    p, theta = block_form(space, lut.alpha_vector(space))
    relax_point = Relaxation(build_problem(space, synthetic_contributions(space, rng), [lut])).vertex
    for _ in range(30):
        arch = space.sample(rng)
        a, b = relax_point(arch)  # absent positions hold a choice: the cumulative form must ignore it
        assert lut.value(space, arch) == pytest.approx(lut.fixed + p @ a + a @ theta @ b, rel=1e-12)
        alpha, beta = space.encode(arch)  # one-hot with absent blocks all zeros
        assert lut.value(space, arch) == pytest.approx(lut.fixed + p @ alpha + alpha @ theta @ beta, rel=1e-12)


def test_block_form_is_cumulative_not_matching_depth(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    t = np.ones(space.num_alpha)
    p, theta = block_form(space, t)
    # stage 1 (depths 1,2,3): position 3 (index 2) counts at depth 3 only, position 2 at depths 2 and 3
    a = space.alpha_offsets[0][1]
    assert theta[a, space.beta_index(0, 2)] == 1 and theta[a, space.beta_index(0, 3)] == 1
    assert theta[a, space.beta_index(0, 1)] == 0 and p[a] == 0
    assert p[space.alpha_offsets[0][0]] == 1  # always present


@pytest.mark.parametrize("kind", ["contributions", "bilinear"])
def test_lifted_accuracy_matches_predict_at_vertices(kind, tmp_path, rng) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 3, kind)
    if kind == "bilinear":  # keep it stage-separable so the lifted form is exact at vertices
        for s in range(2):
            rows = slice(space.alpha_offsets[s][0], space.alpha_offsets[s][-1] + len(space.stages[s].positions[-1]))
            other = [b for b in range(space.num_beta) if not space.beta_offsets[s] <= b < space.beta_offsets[s] + len(space.stages[s].depths)]
            form.Q[rows, other] = 0.0
    problem = build_problem(space, form, [lut])
    assert problem.stage_separable
    p, q = lifted_accuracy(space, form)
    relax = Relaxation(problem)
    for arch in list(space.enumerate())[::37]:
        a, b = relax.vertex(arch)
        assert relax.accuracy(a, b) == pytest.approx(form.predict(space, arch), abs=1e-12)


def test_stage_separable_detection(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, _ = make_inputs(space, 1)
    assert build_problem(space, form, [lut]).stage_separable
    general = random_bilinear(space, np.random.default_rng(0), density=1.0)
    assert not build_problem(space, general, [lut]).stage_separable


def test_smallest_is_exact(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 2)
    brute = BruteForce(space, form, [lut, params])
    problem = build_problem(space, form, [lut, params])
    for name in ("latency", "params"):
        value, arch = problem.smallest(name)
        assert value == pytest.approx(brute.res[name].min(), rel=1e-12)
        assert problem.evaluate(arch)[1][name] == pytest.approx(value)


def test_evaluate_is_independent_of_the_solver(tmp_path, rng) -> None:
    space = make_space(tmp_path, "perlayer")
    form, lut, params = make_inputs(space, 0)
    problem = build_problem(space, form, [lut, params], {"latency": 1e9})
    arch = space.sample(rng)
    acc, res = problem.evaluate(arch)
    assert acc == form.predict(space, arch)
    assert res == {"latency": lut.value(space, arch), "params": params.value(space, arch)}


def test_build_problem_errors(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 0)
    with pytest.raises(SearchError, match="no LUT with resource 'energy'"):
        build_problem(space, form, [lut], {"energy": 3})
    with pytest.raises(SearchError, match="same resource 'latency'"):
        build_problem(space, form, [lut, lut], {})
    other = load_space("mobilenetv3-tiny")
    with pytest.raises(FileFormatError, match="made for space"):
        build_problem(space, form, [analytic_lut(other, "params")], {})


def test_infeasibility_messages(tmp_path) -> None:
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 0)
    low, _ = build_problem(space, form, [lut]).smallest("latency")
    message = build_problem(space, form, [lut], {"latency": low * 0.9}).infeasibility_message()
    assert message.startswith(f"infeasible: the smallest reachable latency is {low:.6g} ms")
    assert build_problem(space, form, [lut], {"latency": low}).infeasibility_message() is None


def test_lut_sum_is_bitwise_lut_value(tmp_path, rng) -> None:
    from binas.search.problem import lut_sum

    space = load_space("mobilenetv3")
    lut = synthetic_lut(space, rng)
    for _ in range(50):
        arch = space.sample(rng)
        assert lut_sum(lut, arch) == lut.value(space, arch)
