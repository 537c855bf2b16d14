"""The stacked judge (``estimator fit --kind stack``): cross-validated weights, its file, ``--verify-with``."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from binas.cli import app
from binas.codec import load_architecture
from binas.errors import DataError, FileFormatError
from binas.estimator.predictors import encode_archs
from binas.estimator.samples import Sample, write_samples
from binas.estimator.stacking import StackPredictor
from binas.estimator.store import load_predictor, save_predictor
from test_search_helpers import BruteForce, make_inputs, make_space, write_space

runner = CliRunner()


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("stack")
    space = make_space(root, "small")
    form, lut, _ = make_inputs(space, 3)
    brute = BruteForce(space, form, [lut])
    X = encode_archs(space, brute.archs)
    rng = np.random.default_rng(0)
    idx = rng.choice(len(brute.archs), 120, replace=False)
    return root, space, form, lut, brute, X, idx, rng


def test_weights_are_cross_validated_and_follow_the_truth(small) -> None:
    _, space, _, _, brute, X, idx, rng = small
    pairs = rng.choice(space.num_alpha, (4, 2), replace=False)  # strong products of two blocks' choices
    truths = {"bilinear": brute.acc, "pairs": brute.acc + 3.0 * sum(X[:, a] * X[:, b] for a, b in pairs)}
    weights = {}
    for name, truth in truths.items():
        y = truth[idx] + rng.normal(0, 0.05, idx.size)
        stack = StackPredictor(space).fit(X[idx], y)
        member_mse = np.mean((stack.oof_ - y[:, None]) ** 2, axis=0)
        assert np.all(stack.weights_ >= 0) and stack.oof_mse_ <= member_mse.min() + 1e-12
        weights[name] = stack.fit_info()["members"]
    assert weights["pairs"]["quadratic"] > weights["bilinear"]["quadratic"]
    assert weights["bilinear"]["linear"] + weights["bilinear"]["auto"] > weights["bilinear"]["quadratic"]
    with pytest.raises(DataError):
        StackPredictor(space).fit(X[:9], brute.acc[:9])


def test_file_round_trip_and_corrupt_files(small, tmp_path) -> None:
    _, space, _, _, brute, X, idx, _ = small
    stack = StackPredictor(space, random_state=4).fit(X[idx], brute.acc[idx])
    path = save_predictor(stack, tmp_path / "stack.json")
    back = load_predictor(path, space)
    np.testing.assert_allclose(back.predict(X), stack.predict(X), atol=1e-9)
    assert back.fit_info() == stack.fit_info()
    obj = json.loads(path.read_text())
    for bad in ({**obj, "parameters": {**obj["parameters"], "member_weights": [1.0, "x", 0.0]}},
                {k: v for k, v in obj.items() if k != "form"}):
        path.write_text(json.dumps(bad))
        with pytest.raises(FileFormatError):
            load_predictor(path, space)


def test_fit_and_verify_with_a_stack_on_the_command_line(small) -> None:
    root, space, form, lut, brute, _, idx, _ = small
    paths = {"space": str(write_space(root, "small")), "samples": str(root / "s.jsonl"),
             "est": str(form.save(root / "est.json")), "lat": str(lut.save(root / "lat.json")),
             "stack": str(root / "stack.json")}
    write_samples(paths["samples"], space, [Sample(brute.archs[i], float(brute.acc[i])) for i in idx])
    fit = runner.invoke(app, ["estimator", "fit", "-s", paths["space"], "--samples", paths["samples"], "--kind",
                              "stack", "--out", paths["stack"], "--json"])
    assert fit.exit_code == 0, fit.output
    assert set(json.loads(fit.stdout)["fit"]["members"]) == {"linear", "auto", "quadratic"}
    refused = runner.invoke(app, ["estimator", "fit", "-s", paths["space"], "--samples", paths["samples"], "--kind",
                                  "stack", "--ridge", "1", "--out", str(root / "x.json")])
    assert refused.exit_code == 2 and "--ridge does not apply" in refused.output
    budget = float(np.quantile(brute.res["latency"], 0.5))
    base = ["search", "--space", paths["space"], "--lut", paths["lat"], "--max", f"latency={budget!r}", "--json"]
    verified = runner.invoke(app, [*base, "--estimator", paths["est"], "--verify", "6",
                                   "--verify-with", paths["stack"]])
    assert verified.exit_code == 0, verified.output
    data = json.loads(verified.stdout)
    scores = [c["verified"] for c in data["verify"]["candidates"]]
    assert data["verify"]["chosen"] == int(np.argmax(scores))
    judge = load_predictor(paths["stack"], space)
    arch = load_architecture(json.dumps(data["arch"]), paths["space"])[1]
    assert data["verified"]["accuracy"] == pytest.approx(float(judge.predict_archs([arch])[0]))
    searched = runner.invoke(app, [*base, "--estimator", paths["stack"], "--samples", paths["samples"]])
    assert searched.exit_code == 0, searched.output  # non-bilinear: surrogate top-K re-ranked by the stack
    assert json.loads(searched.stdout)["predicted"]["latency"] <= budget
