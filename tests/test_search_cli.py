"""CLI: `binas search` and `binas pareto` (happy paths, exit codes, one-sentence errors)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from binas.cli import app
from binas.codec import load_architecture
from binas.search import registry
from binas.search.result import checked_result
from test_search_helpers import BruteForce, make_inputs, make_space, write_space

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    """A small user space with a seeded estimator, latency LUT and params LUT on disk."""
    space_path = write_space(tmp_path, "small")
    space = make_space(tmp_path, "small")
    form, lut, params = make_inputs(space, 7)
    paths = {"space": str(space_path), "est": str(form.save(tmp_path / "est.json")),
             "lat": str(lut.save(tmp_path / "lat.json")), "par": str(params.save(tmp_path / "par.json"))}
    brute = BruteForce(space, form, [lut, params])
    return paths, brute


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


def search(paths, *extra):
    return invoke("search", "--estimator", paths["est"], "--space", paths["space"], "--lut", paths["lat"], *extra)


def test_search_json_is_optimal_and_writes_arch(files, tmp_path) -> None:
    paths, brute = files
    budget = float(np.quantile(brute.res["latency"], 0.4))
    out = tmp_path / "arch.json"
    result = search(paths, "--max", f"latency={budget!r}", "--json", "--out", out)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"arch", "predicted", "seconds", "solver"} <= set(data)
    assert data["solver"] == "milp" and data["status"] == "optimal"
    assert data["arch"]["format"] == "binas.arch/1" and data["arch"]["timm"].startswith("[[")
    assert data["predicted"]["accuracy"] == pytest.approx(brute.best({"latency": budget})[0], abs=1e-12)
    assert data["predicted"]["latency"] <= budget
    saved = json.loads(out.read_text())
    assert saved == data["arch"] and saved["provenance"]["budget"] == {"latency": budget}
    space, arch = load_architecture(str(out), paths["space"])
    assert list(arch.depths) == saved["depths"]


def test_search_multi_constraint_top_k_and_human_output(files) -> None:
    paths, brute = files
    budgets = {"latency": float(np.quantile(brute.res["latency"], 0.6)),
               "params": float(np.quantile(brute.res["params"], 0.3))}
    result = search(paths, "--lut", paths["par"], "--max", f"latency={budgets['latency']!r}",
                    "--max", f"params={budgets['params']!r}", "--top-k", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    values = [t["predicted"]["accuracy"] for t in data["top"]]
    np.testing.assert_allclose(values, brute.best(budgets, 3), atol=1e-12)
    assert all(t["predicted"]["params"] <= budgets["params"] for t in data["top"])
    human = search(paths, "--lut", paths["par"], "--max", f"latency={budgets['latency']!r}",
                   "--max", f"params={budgets['params']!r}")
    assert human.exit_code == 0 and "optimal" in human.stdout and "timm:" in human.stdout


@pytest.mark.parametrize("solver", ["bcfw", "evolution", "random", "bcfw-reference"])
def test_search_other_solvers(files, solver) -> None:
    paths, brute = files
    budget = float(np.quantile(brute.res["latency"], 0.5))
    result = search(paths, "--max", f"latency={budget!r}", "--solver", solver, "--seed", "1", "--json")
    assert result.exit_code in ((0, 3) if solver == "bcfw-reference" else (0,)), result.output
    data = json.loads(result.stdout)
    assert data["solver"] == solver
    if result.exit_code == 0:
        assert data["predicted"]["latency"] <= budget


def test_budget_exceeded_prints_the_network_and_exits_3(files, monkeypatch) -> None:
    paths, brute = files
    heaviest = brute.archs[int(np.argmax(brute.res["latency"]))]

    def over_budget(problem, *, seed=0, top_k=1):  # what the faithful BCFW's argmax can return
        import time
        return checked_result(problem, heaviest, "bcfw-reference", time.perf_counter(), exact=False)

    monkeypatch.setitem(registry.SOLVERS, "bcfw-reference", over_budget)
    result = search(paths, "--max", "latency=0.9", "--solver", "bcfw-reference", "--json")
    assert result.exit_code == 3
    assert json.loads(result.stdout)["status"] == "budget_exceeded"
    assert "budget exceeded: latency" in result.stderr


def test_pareto_json_out_and_plot(files, tmp_path) -> None:
    paths, brute = files
    out, plot = tmp_path / "front.json", tmp_path / "front.png"
    result = invoke("pareto", "--estimator", paths["est"], "--space", paths["space"], "--lut", paths["lat"],
                    "--json", "--out", out, "--plot", plot)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["resource"] == "latency" and data["seconds"] >= 0
    lat = [p["latency"] for p in data["front"]]
    assert lat == sorted(lat) and data["front"][0]["latency"] == pytest.approx(brute.res["latency"].min())
    assert data["front"][-1]["accuracy"] == pytest.approx(brute.acc.max())
    assert json.loads(out.read_text()) == data
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    human = invoke("pareto", "--estimator", paths["est"], "--space", paths["space"], "--lut", paths["par"])
    assert human.exit_code == 0 and "Pareto front" in human.stdout


def _corrupt(tmp_path, paths, key, edit):
    obj = json.loads(open(paths[key]).read())
    text = edit(obj)
    path = tmp_path / f"bad-{key}.json"
    path.write_text(text if isinstance(text, str) else json.dumps(text))
    return {**paths, key: str(path)}


@pytest.mark.parametrize("case,needle", [
    ("nan", "non-finite"),
    ("truncated", "not valid JSON"),
    ("unit", "must be in 'ms'"),
    ("hash", "made for space"),
    ("missing", "missing"),
    ("estimator-nan", "non-finite"),
    ("estimator-version", "unsupported version"),
])
def test_bad_files_exit_2_with_one_sentence(files, tmp_path, case, needle) -> None:
    paths, _ = files
    edits = {
        "nan": ("lat", lambda o: json.dumps(o).replace(str(o["fixed"]), "NaN", 1)),
        "truncated": ("lat", lambda o: json.dumps(o)[:200]),
        "unit": ("lat", lambda o: {**o, "unit": "s"}),
        "hash": ("lat", lambda o: {**o, "space_hash": "0123456789abcdef"}),
        "missing": ("lat", lambda o: {k: v for k, v in o.items() if k != "blocks"}),
        "estimator-nan": ("est", lambda o: json.dumps(o).replace(str(o["const"]), "Infinity", 1)),
        "estimator-version": ("est", lambda o: {**o, "format": "binas.estimator/9"}),
    }
    key, edit = edits[case]
    bad = _corrupt(tmp_path, paths, key, edit)
    result = search(bad, "--max", "latency=100")
    assert result.exit_code == 2
    assert needle in result.stderr and "Traceback" not in result.output
    assert len(result.stderr.strip().splitlines()) == 1


def test_user_errors_exit_2(files) -> None:
    paths, brute = files
    low = float(brute.res["latency"].min())
    cases = [
        (search(paths, "--max", f"latency={low * 0.5!r}"), "infeasible: the smallest reachable latency is"),
        (search(paths, "--max", "energy=3"), "no LUT with resource 'energy'"),
        (search(paths, "--max", "latency"), "NAME=VALUE"),
        (search(paths, "--max", "latency=100", "--solver", "bcfw", "--top-k", "2"), "needs --solver milp"),
        (invoke("search", "--estimator", paths["est"], "--lut", paths["lat"]), "pass its YAML file with --space"),
        (invoke("search", "--estimator", paths["est"], "--space", "mobilenetv3-tiny", "--lut", paths["lat"]),
         "made for space"),
        (invoke("search", "--estimator", "/nonexistent.json", "--lut", paths["lat"]), "does not exist"),
    ]
    for result, needle in cases:
        assert result.exit_code == 2, (needle, result.output)
        assert needle in result.stderr, (needle, result.stderr)


def test_usage_errors_exit_64(files) -> None:
    paths, _ = files
    cases = [
        (search(paths, "--max", "latency=100", "--solver", "cplex"), "'cplex' is not one of 'milp', 'bcfw'"),
        (search(paths, "--max", "latency=100", "--top-k", "two"), "Invalid value for '--top-k'"),
        (search(paths, "--budget", "latency=100"), "No such option: --budget"),
        (invoke("search", "--lut", paths["lat"]), "Missing option '--estimator'"),
    ]
    for result, needle in cases:
        assert result.exit_code == 64, (needle, result.output)
        assert needle in result.stderr and result.stderr.startswith("error: "), (needle, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_pareto_refuses_stage_coupled_estimator(files, tmp_path) -> None:
    paths, _ = files
    space = make_space(tmp_path, "small")
    general, _, _ = make_inputs(space, 0, "bilinear")
    est = general.save(tmp_path / "general.json")
    result = invoke("pareto", "--estimator", est, "--space", paths["space"], "--lut", paths["lat"])
    assert result.exit_code == 2 and "couples different stages" in result.stderr
    exact = search({**paths, "est": str(est)}, "--max", "latency=100", "--json")  # MILP handles it
    assert exact.exit_code == 0


def test_non_bilinear_predictor_is_searched_by_evolution(files, tmp_path) -> None:
    from binas.estimator.predictors import QuadraticPredictor, encode_archs
    from binas.estimator.store import save_predictor

    paths, brute = files
    space = make_space(tmp_path, "small")
    rng = np.random.default_rng(0)
    idx = rng.choice(len(brute.archs), 150, replace=False)
    archs = [brute.archs[i] for i in idx]
    pred = QuadraticPredictor(space, ridge=1.0).fit(encode_archs(space, archs), brute.acc[idx])
    est = save_predictor(pred, tmp_path / "quad.json")
    budget = float(np.quantile(brute.res["latency"], 0.5))
    args = ("--max", f"latency={budget!r}", "--json")
    result = search({**paths, "est": str(est)}, *args, "--solver", "evolution")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["predicted"]["latency"] <= budget
    arch = load_architecture(json.dumps(data["arch"]), paths["space"])[1]
    assert data["predicted"]["accuracy"] == pytest.approx(float(pred.predict_archs([arch])[0]))
    refused = search({**paths, "est": str(est)}, *args, "--solver", "bcfw")
    assert refused.exit_code == 2 and "not bilinear" in refused.stderr and "--solver evolution" in refused.stderr
    surrogate = search({**paths, "est": str(est)}, *args)  # default: exact top-K of a bilinear surrogate, re-ranked
    assert surrogate.exit_code == 0, surrogate.output
    data = json.loads(surrogate.stdout)
    assert data["predicted"]["latency"] <= budget and data["surrogate"]["kind"] == "surrogate-of-quadratic"
    arch = load_architecture(json.dumps(data["arch"]), paths["space"])[1]
    assert data["verified"]["accuracy"] == pytest.approx(float(pred.predict_archs([arch])[0]))
