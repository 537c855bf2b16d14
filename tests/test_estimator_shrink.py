"""Empirical-Bayes shrinkage of measured contributions (``binas estimator shrink``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from binas.cli import app
from binas.estimator.contributions import contributions_form, measurement_plan, raw_from_form
from binas.estimator.eb_shrink import shrink_contributions, shrink_group
from test_estimator_form import TOY, toy_space


def test_shrink_group_formula() -> None:
    values, se = np.array([70.0, 71.0, 73.0]), np.array([0.5, 1.0, 0.5])
    new, tau2 = shrink_group(values, se)
    assert tau2 == pytest.approx(np.var(values, ddof=1) - np.mean(se**2))
    assert new == pytest.approx(values.mean() + (values - values.mean()) * tau2 / (tau2 + se**2))
    flat, tau2 = shrink_group(np.array([70.0, 70.2]), np.array([1.0, 1.0]))  # no spread beyond noise
    assert tau2 == 0.0 and flat == pytest.approx([70.1, 70.1])
    exact, _ = shrink_group(values, np.zeros(3))  # noise-free measurements are kept
    assert exact == pytest.approx(values)


def test_shrunk_estimator_uses_the_paper_formulas(tmp_path) -> None:
    space = toy_space()
    rng = np.random.default_rng(0)
    plan = measurement_plan(space)
    acc = {m.key: float(70 + rng.normal(0, 2)) for m in plan}
    err = {m.key: float(rng.uniform(0.2, 1.5)) for m in plan}
    form = contributions_form(space, acc, err, "conditional", {"images": 100})
    shrunk, summary = shrink_contributions(form, space)
    new_acc, new_err = raw_from_form(space, shrunk)
    assert new_err == pytest.approx(err) and new_acc["A0"] == acc["A0"]
    assert shrunk.kind == "contributions" and shrunk.extra["shrinkage"]["method"] == "empirical-bayes"
    rebuilt = contributions_form(space, new_acc, err, "conditional", {"images": 100})
    assert np.allclose(rebuilt.p_alpha, shrunk.p_alpha) and np.allclose(rebuilt.Q, shrunk.Q)
    spread = lambda a: np.std([a[m.key] for m in plan[1:]])  # noqa: E731
    assert spread(new_acc) < spread(acc)
    path = form.save(tmp_path / "est.json")
    (tmp_path / "toy.yaml").write_text(yaml.safe_dump(TOY))
    result = CliRunner().invoke(app, ["estimator", "shrink", "--estimator", str(path), "-s", str(tmp_path / "toy.yaml"),
                                      "--out", str(tmp_path / "s.json"), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["groups"] == len(summary["groups"])
    from binas.search.synthetic import random_bilinear

    other = random_bilinear(space, rng).save(tmp_path / "bilinear.json")
    refused = CliRunner().invoke(app, ["estimator", "shrink", "--estimator", str(other), "-s",
                                       str(tmp_path / "toy.yaml"), "--out", str(tmp_path / "t.json")])
    assert refused.exit_code == 2 and "only contributions estimators" in refused.stderr, refused.output
    assert not (tmp_path / "t.json").exists()
