"""AutoBuild: building under budgets, the reduced space round trip (load, re-keyed files, search), CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from binas.autobuild import AutoBuildError, AutoBuildPredictor, build_architecture, load_autobuild, save_autobuild
from binas.autobuild.outputs import write_outputs
from binas.autobuild.reduce import reduced_space, restrict_form, restrict_lut, space_yaml
from binas.cli import app
from binas.estimator.predictors import BilinearPredictor, encode_archs
from binas.lut.table import analytic_lut, load_lut
from binas.search.problem import format_amount
from binas.space import load_space
from test_autobuild import FAST, additive_truth, small_space

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    torch.set_num_threads(1)
    space = small_space()
    truth = additive_truth(space)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(240)]
    model = AutoBuildPredictor(space, **FAST).fit_archs(archs, truth(archs))
    lut = analytic_lut(space, "macs")
    budget = 0.5 * (lut.value(space, space.smallest) + lut.value(space, space.heaviest))
    folder = tmp_path_factory.mktemp("ab")
    (folder / "space.yaml").write_text(space_yaml(space))
    save_autobuild(model, folder / "model.json")
    lut.save(folder / "macs.json")
    analytic_lut(space, "params").save(folder / "params.json")
    form = BilinearPredictor(space).fit(encode_archs(space, archs), truth(archs)).to_form()
    form.save(folder / "bilinear.json")
    return {"space": space, "truth": truth, "model": model, "lut": lut, "budget": budget, "dir": folder,
            "form": form}


def test_build_fits_the_budget_and_beats_random_networks(setup) -> None:
    space, model, lut, budget, truth = setup["space"], setup["model"], setup["lut"], setup["budget"], setup["truth"]
    result = build_architecture(model, [lut], {"macs": budget}, top_k=3, pool=32)
    arch = space.validate(result.architecture)
    assert result.resources["macs"] == lut.value(space, arch) <= budget
    assert result.predicted_accuracy == pytest.approx(model.predict_archs([arch])[0], abs=1e-6)
    rng = np.random.default_rng(1)
    feasible = [a for a in (space.sample(rng) for _ in range(3000)) if lut.value(space, a) <= budget]
    pred = model.predict_archs(feasible)
    assert result.predicted_accuracy >= np.quantile(pred, 0.99)
    assert truth([arch])[0] >= np.quantile(truth(feasible), 0.9)
    assert all(len(k) == 3 for k in result.kept) and result.exhaustive


def test_build_errors(setup) -> None:
    space, model, lut = setup["space"], setup["model"], setup["lut"]
    smallest = lut.value(space, space.smallest)
    with pytest.raises(AutoBuildError, match=re.escape(f"smallest reachable macs is {format_amount(smallest, 'count')}")):
        build_architecture(model, [lut], {"macs": smallest - 1}, pool=8)
    with pytest.raises(AutoBuildError, match="needs a LUT of resource 'latency'"):
        build_architecture(model, [lut], {"latency": 3.0}, pool=8)
    with pytest.raises(AutoBuildError, match="top-k"):
        build_architecture(model, [lut], {}, top_k=0, pool=8)


def test_reduced_space_contains_units_and_rekeys_exactly(setup) -> None:
    space, lut, form = setup["space"], setup["lut"], setup["form"]
    units = [[(2, ("e3k3", "e6k5se")), (3, ("e6k3", "e6k5se", "e3k3"))], [(1, ("e3k5se",))],
             [(1, ("e6k3",)), (2, ("e3k3", "e3k3"))]]
    red = reduced_space(space, units, "small-reduced")
    assert red.stages[0].depths == (2, 3) and [c.id for c in red.stages[0].positions[0]] == ["e3k3", "e6k3"]
    assert red.stages[1].depths == (1,) and red.stages[1].num_positions == 1
    assert red.size == (2 * 2 + 2 * 2 * 1) * 1 * (1 + 1 * 1)
    rng = np.random.default_rng(2)
    r_lut, r_form = restrict_lut(lut, space, red), restrict_form(form, space, red)
    for arch in (red.sample(rng) for _ in range(20)):
        space.validate(arch)  # every reduced network is a network of the full space
        assert r_lut.value(red, arch) == lut.value(space, arch)
        assert r_form.predict(red, arch) == pytest.approx(form.predict(space, arch), abs=1e-9)


def test_outputs_round_trip_and_the_reduced_space_is_searchable(setup, tmp_path) -> None:
    space, model, lut, budget = setup["space"], setup["model"], setup["lut"], setup["budget"]
    result = build_architecture(model, [lut], {"macs": budget}, top_k=2, pool=32)
    summary = write_outputs(model, result, tmp_path, [lut], {"bilinear": setup["form"]})
    red = load_space(tmp_path / "space.yaml")
    assert red.space_hash == summary["reduced_space"]["space_hash"]
    red.validate(result.architecture)  # the built network is in the reduced space
    for stage_units, st in zip(json.loads((tmp_path / "units.json").read_text())["units"], red.stages):
        assert len(stage_units) == 2 and all(u["depth"] in st.depths for u in stage_units)
    r_lut = load_lut(tmp_path / "lut-macs.json", red)
    assert r_lut.value(red, result.architecture) == result.resources["macs"]
    r_model = load_autobuild(tmp_path / "estimator.json", red)
    archs = [red.sample(np.random.default_rng(4)) for _ in range(10)]
    np.testing.assert_allclose(r_model.predict_archs(archs), model.predict_archs(archs), rtol=1e-5)
    run = runner.invoke(app, ["search", "-e", str(tmp_path / "estimator-bilinear.json"), "-s",
                              str(tmp_path / "space.yaml"), "--lut", str(tmp_path / "lut-macs.json"),
                              "--max", f"macs={budget}", "--json"])
    assert run.exit_code == 0, run.output
    found = json.loads(run.stdout)
    assert "macs" in json.dumps(found)
    run = runner.invoke(app, ["pareto", "-e", str(tmp_path / "estimator-bilinear.json"), "-s",
                              str(tmp_path / "space.yaml"), "--lut", str(tmp_path / "lut-macs.json"), "--json"])
    assert run.exit_code == 0, run.output


def _cli(setup, *extra: str):
    d = setup["dir"]
    return runner.invoke(app, ["autobuild", "-e", str(d / "model.json"), "-s", str(d / "space.yaml"),
                               "--lut", str(d / "macs.json"), "--pool", "16", *extra])


def test_cli_happy_path(setup, tmp_path) -> None:
    d = setup["dir"]
    result = _cli(setup, "--lut", str(d / "params.json"), "--max", f"macs={setup['budget']}", "--top-k", "2",
                  "--compare", str(d / "bilinear.json"), "-o", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    arch = summary["architecture"]
    assert arch["predicted"]["macs"] <= setup["budget"] and summary["reduced_space"]["units_per_stage"] == [2, 2, 2]
    assert -1 <= summary["comparison"]["choice_spearman"] <= 1
    assert (tmp_path / "out" / "lut-params.json").is_file() and (tmp_path / "out" / "scores.json").is_file()
    scores = json.loads((tmp_path / "out" / "scores.json").read_text())
    assert {r["feature"] for r in scores["features"]} >= {"stage", "expand_ratio", "kernel_size", "se", "skip"}
    text = _cli(setup, "--max", f"macs={setup['budget']}", "-o", str(tmp_path / "out2"))
    assert text.exit_code == 0 and "built network" in text.stdout and "reduced space" in text.stdout


@pytest.mark.parametrize("extra, message", [
    (["--max", "latency=3"], "needs a LUT of resource 'latency'"),
    (["--max", "macs=10"], "infeasible budget"),
    (["--top-k", "0"], "--top-k must be at least 1"),
    (["--max", "macs"], "must look like NAME=VALUE"),
])
def test_cli_errors_exit_2(setup, tmp_path, extra, message) -> None:
    result = _cli(setup, *extra, "-o", str(tmp_path / "o"))
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


def test_cli_refuses_other_files(setup, tmp_path) -> None:
    d = setup["dir"]
    result = runner.invoke(app, ["autobuild", "-e", str(d / "bilinear.json"), "-s", str(d / "space.yaml"),
                                 "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "not an AutoBuild model" in result.output
    result = runner.invoke(app, ["autobuild", "-e", str(d / "model.json"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 2 and "pass its YAML file with --space" in result.output


def test_estimator_fit_and_eval_kind_autobuild(setup, tmp_path) -> None:
    from binas.estimator.samples import Sample, write_samples

    space, truth, d = setup["space"], setup["truth"], setup["dir"]
    rng = np.random.default_rng(7)
    archs = [space.sample(rng) for _ in range(60)]
    write_samples(tmp_path / "s.jsonl", space, [Sample(a, float(y)) for a, y in zip(archs, truth(archs))])
    fit = runner.invoke(app, ["estimator", "fit", "-s", str(d / "space.yaml"), "--samples", str(tmp_path / "s.jsonl"),
                              "--kind", "autobuild", "--epochs", "10", "--out", str(tmp_path / "ab.json"), "--json"])
    assert fit.exit_code == 0, fit.output
    assert json.loads(fit.stdout)["kind"] == "autobuild" and (tmp_path / "ab.weights.safetensors").is_file()
    ev = runner.invoke(app, ["estimator", "eval", "-s", str(d / "space.yaml"), "--estimator", str(tmp_path / "ab.json"),
                             "--samples", str(tmp_path / "s.jsonl"), "--json"])
    assert ev.exit_code == 0, ev.output
    assert json.loads(ev.stdout)["n"] == 60
    wrong = runner.invoke(app, ["estimator", "eval", "--estimator", str(tmp_path / "ab.json"),
                                "--samples", str(tmp_path / "s.jsonl")])
    assert wrong.exit_code == 2 and "Traceback" not in wrong.output


def test_evolution_search_with_the_autobuild_model(setup) -> None:
    from binas.search.evolution import EvolutionConfig, evolve
    from binas.search.problem import Resource

    space, model, lut, budget = setup["space"], setup["model"], setup["lut"], setup["budget"]
    res = Resource("macs", "count", lut.fixed, lut.alpha_vector(space), budget)
    out = evolve(space, model.predict_archs, [res], seed=0, config=EvolutionConfig(population=40, generations=15,
                                                                                   parents=10, mutants=20, crossovers=20))
    assert out.architecture is not None and lut.value(space, out.architecture) <= budget


def test_insights_shows_autobuild_beside_the_estimator(setup, tmp_path) -> None:
    folder = setup["dir"]
    result = runner.invoke(app, ["insights", "--estimator", str(folder / "bilinear.json"), "--space",
                                 str(folder / "space.yaml"), "--lut", str(folder / "macs.json"), "--autobuild",
                                 str(folder / "model.json"), "--out", str(tmp_path / "ins"), "--json"])
    assert result.exit_code == 0, result.output
    paths = json.loads(result.stdout)
    assert (tmp_path / "ins" / "autobuild_heatmaps.png").stat().st_size > 0 and "autobuild_heatmaps" in paths
    data = json.loads((tmp_path / "ins" / "insights.json").read_text())
    assert -1 <= data["autobuild"]["comparison"]["choice_spearman"] <= 1
    report = (tmp_path / "ins" / "report.md").read_text()
    assert "## AutoBuild beside this estimator" in report and "| stage | choice Spearman |" in report


def test_cli_verify_re_ranks_distinct_built_networks(setup, tmp_path) -> None:
    d = setup["dir"]
    result = _cli(setup, "--max", f"macs={setup['budget']}", "--verify", "4", "--verify-with", str(d / "bilinear.json"),
                  "-o", str(tmp_path / "out"), "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["verify"]
    cands = report["candidates"]
    assert 1 <= len(cands) <= 4 and report["min_distance"] == 2
    assert report["chosen"] == int(np.argmax([c["verified"] for c in cands]))
    assert all(c["resources"]["macs"] <= setup["budget"] and c["units"]["macs"] == "count" for c in cands)
    assert [c["estimated"] for c in cands] == sorted((c["estimated"] for c in cands), reverse=True)
    saved = json.loads((tmp_path / "out" / "verified.json").read_text())
    assert saved["predicted"]["verified_accuracy"] == cands[report["chosen"]]["verified"]
    human = _cli(setup, "--max", f"macs={setup['budget']}", "--verify", "2", "--verify-with", str(d / "bilinear.json"),
                 "-o", str(tmp_path / "out2"))
    assert human.exit_code == 0 and "verified the" in human.stdout
