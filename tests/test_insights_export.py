"""`binas insights` (numbers, plots, summary) and `binas export` (inherited weights, ONNX check)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from binas.cli import app
from binas.deploy.export import load_model
from binas.errors import FileFormatError
from binas.estimator.form import BilinearForm
from binas.insights.values import compute_insights, summarise
from binas.lut.table import analytic_lut
from binas.search.problem import block_form
from binas.search.synthetic import synthetic_contributions, synthetic_lut
from binas.space import load_space
from binas.supernet.model import Supernet, extract_child
from binas.supernet.store import save_supernet

runner = CliRunner()
TINY = load_space("mobilenetv3-tiny")


def _form_with(space, values: dict[tuple[int, int, str], float], depth: dict[tuple[int, int], float]) -> BilinearForm:
    """A contributions-shaped form with the given Da (block present) and Db values."""
    t, p_beta = np.zeros(space.num_alpha), np.zeros(space.num_beta)
    for (s, j, c), v in values.items():
        t[space.alpha_index(s, j, c)] = v
    for (s, d), v in depth.items():
        p_beta[space.beta_index(s, d)] = v
    p_alpha, q = block_form(space, t)
    return BilinearForm(space.name, space.space_hash, "contributions", 80.0, p_alpha, p_beta, q)


def test_choice_values_recover_contributions() -> None:
    form = _form_with(TINY, {(0, 0, "e6k5se"): 1.5, (2, 3, "e3k5"): -0.5}, {(4, 4): 2.0, (1, 2): -1.0})
    ins = compute_insights(TINY, form, analytic_lut(TINY, "macs"))
    assert ins.choice_values[0][0][TINY.choice_index(0, 0, "e6k5se")] == pytest.approx(1.5)
    assert ins.choice_values[2][3][TINY.choice_index(2, 3, "e3k5")] == pytest.approx(-0.5)
    assert ins.depth_values[4][-1] == pytest.approx(2.0) and ins.depth_values[1][0] == pytest.approx(-1.0)
    gains = ins.gain_per_unit(0, 0)
    assert np.isnan(gains[0])  # e3k3 is the cheapest choice: no gain relative to itself
    assert gains[TINY.choice_index(0, 0, "e6k5se")] > 0


def test_summary_judges_from_the_numbers() -> None:
    # depth pays only in stage 5, width only at the first block of stage 2
    values = {(1, 0, c.id): (3.0 if c.expand_ratio == 6 else 0.0) for c in TINY.stages[1].positions[0]}
    form = _form_with(TINY, values, {(4, 4): 5.0})
    text = " ".join(summarise(compute_insights(TINY, form)))
    assert "Depth: going from the shallowest" in text and "it pays most in stage 5" in text
    assert "Width (largest vs smallest expansion)" in text and "pays most in stage 2" in text
    assert "width pays more (+" in text


def test_insights_cli(tmp_path) -> None:
    space = load_space("mobilenetv3")
    rng = np.random.default_rng(0)
    lut = synthetic_lut(space, rng).save(tmp_path / "lut.json")
    est = synthetic_contributions(space, rng).save(tmp_path / "est.json")
    result = runner.invoke(app, ["insights", "--estimator", str(est), "--lut", str(lut), "--out",
                                 str(tmp_path / "ins"), "--json"])
    assert result.exit_code == 0, result.output
    paths = json.loads(result.stdout)
    for key in ("heatmaps", "depth", "gain", "pareto", "report", "json"):
        assert (tmp_path / "ins" / paths[key].split("/")[-1]).stat().st_size > 0
    assert json.loads((tmp_path / "ins" / "insights.json").read_text())["format"] == "binas.insights/1"
    report = (tmp_path / "ins" / "report.md").read_text()
    assert "## Summary" in report and "![Pareto front](pareto.png)" in report
    tiny_lut = analytic_lut(TINY, "macs").save(tmp_path / "tiny.json")
    bad = runner.invoke(app, ["insights", "--estimator", str(est), "--lut", str(tiny_lut), "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "was made for space" in bad.output


def test_export_inherits_weights_and_verifies_onnx(tmp_path) -> None:
    supernet = Supernet(TINY)
    for module in supernet.modules():  # non-trivial BN statistics so a wrong copy is visible
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 1.5)
    save_supernet(supernet, tmp_path / "sn.safetensors")
    arch = TINY.sample(np.random.default_rng(2))
    arch_file = tmp_path / "arch.json"
    from binas.codec import arch_to_json
    arch_file.write_text(json.dumps(arch_to_json(TINY, arch)))
    out = tmp_path / "model"
    result = runner.invoke(app, ["export", "--run", str(tmp_path / "sn.safetensors"), "--arch", str(arch_file),
                                 "--out", str(out), "--onnx", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["onnx_max_abs_diff"] <= 1e-4
    loaded = load_model(out)
    assert loaded.arch == arch
    x = torch.randn(3, 1, 28, 28)
    expected = extract_child(supernet, arch).eval()(x)
    assert torch.allclose(loaded.model(x), expected, atol=1e-5)
    recal = runner.invoke(app, ["export", "--run", str(tmp_path / "sn.safetensors"), "--arch", str(arch_file),
                                "--out", str(tmp_path / "m2"), "--recalibrate-bn", "64", "--data", "synthetic"])
    assert recal.exit_code == 0, recal.output
    assert not torch.allclose(load_model(tmp_path / "m2").model(x), expected, atol=1e-3)
    (out / "model.safetensors").write_bytes((out / "model.safetensors").read_bytes()[:100])
    with pytest.raises(FileFormatError, match="not a valid safetensors file"):
        load_model(out)
