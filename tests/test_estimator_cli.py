"""CLI: ``binas estimator build | sample | fit | eval`` on a tiny random supernet and synthetic data."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from binas.cli import app
from binas.estimator import measure
from binas.estimator.pipeline import heldout_tensors, sample_subnets
from binas.supernet.model import Supernet, extract_child
from binas.supernet.store import save_supernet
from test_estimator_form import TOY, toy_space

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("est")
    (root / "toy.yaml").write_text(yaml.safe_dump(TOY))
    torch.manual_seed(0)
    net = Supernet(toy_space())
    for p in net.parameters():  # make subnets differ clearly
        p.data.normal_(0, 0.5)
    save_supernet(net, root / "sn.safetensors")
    return root


def build_args(root, out, *extra):
    return ("estimator", "build", "--supernet", root / "sn.safetensors", "--data", "synthetic", "--images", 12,
            "--out", out, *extra)


def test_build_writes_a_contributions_estimator(setup) -> None:
    out = setup / "est.json"
    result = invoke(*build_args(setup, out, "--json"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    space = toy_space()
    assert summary["measurements"] == 1 + space.num_alpha + space.num_beta and summary["crn"] is True
    obj = json.loads(out.read_text())
    assert obj["format"] == "binas.estimator/1" and obj["kind"] == "contributions"
    assert obj["convention"] == "reference" and obj["measurement"]["images"] == 12
    assert set(obj["Aa"]) == {"1.1", "1.2", "1.3", "2.1", "2.2", "2.3", "3.1"} and obj["A0_stderr"] > 0
    assert not measure.partial_path(out).exists()
    cond = invoke(*build_args(setup, setup / "cond.json", "--json", "--no-crn", "--convention", "conditional"))
    assert cond.exit_code == 0, cond.output
    assert json.loads((setup / "cond.json").read_text())["measurement"]["crn"] is False


def test_regression_build(setup) -> None:
    out = setup / "reg.json"
    result = invoke(*build_args(setup, out, "--json", "--method", "regression"))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["method"] == "regression" and summary["crn"] is False
    obj = json.loads(out.read_text())
    assert obj["kind"] == "contributions" and obj["convention"] == "regression"
    assert obj["measurement"]["method"] == "regression" and "Aa" in obj  # raw tables kept
    from binas.estimator.form import load_estimator

    space = toy_space()
    form = load_estimator(out, space)  # a searchable bilinear form
    preds = [form.predict(space, space.sample(np.random.default_rng(i))) for i in range(20)]
    assert np.isfinite(preds).all() and np.std(preds) > 0


@pytest.mark.parametrize("method", ["differences", "regression"])
def test_killed_build_resumes_to_the_same_file(setup, monkeypatch, method) -> None:
    full = setup / f"full-{method}.json"
    assert invoke(*build_args(setup, full, "--seed", 3, "--method", method)).exit_code == 0
    part = setup / f"part-{method}.json"
    real, calls = measure.evaluate_codes, {"n": 0}

    def dies_on_the_fifth(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt
        return real(*args, **kwargs)
    monkeypatch.setattr(measure, "evaluate_codes", dies_on_the_fifth)
    # one measurement per forward pass here (the full build above grouped many): results are the same
    result = invoke(*build_args(setup, part, "--seed", 3, "--method", method, "--batch-size", 12))
    assert result.exit_code == 130 and not part.exists()
    assert len(json.loads(measure.partial_path(part).read_text())["results"]) == 4
    monkeypatch.setattr(measure, "evaluate_codes", real)
    again = invoke(*build_args(setup, part, "--seed", 3, "--method", method))
    assert again.exit_code == 2 and "--resume" in again.output
    other = invoke(*build_args(setup, part, "--seed", 4, "--resume", "--method", method))
    assert other.exit_code == 2 and "other settings" in other.output
    assert invoke(*build_args(setup, part, "--seed", 3, "--resume", "--method", method)).exit_code == 0
    assert part.read_bytes() == full.read_bytes()
    assert not measure.partial_path(part).exists()


@pytest.mark.parametrize("args, message", [
    (("--out", "x.json", "--data", "synthetic"), "exactly one of --run"),
    (("--out", "x.json", "--supernet", "missing.safetensors", "--data", "synthetic"), "does not exist"),
    (("--out", "x.json", "--supernet", "SN", "--data", "synthetic", "--images", "100000"), "between 2 and"),
    (("--out", "x.json", "--supernet", "SN"), "--data"),
])
def test_build_errors_are_one_line(setup, args, message) -> None:
    args = [str(setup / "sn.safetensors") if a == "SN" else a for a in args]
    result = invoke("estimator", "build", *args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output


@pytest.mark.parametrize("option, value, message", [
    ("--convention", "x", "'x' is not one of 'reference', 'conditional'"),
    ("--method", "x", "'x' is not one of 'differences', 'regression'"),
    ("--device", "gpu", "'gpu' is not one of 'auto', 'cpu', 'cuda'"),
])
def test_build_choices_are_usage_errors(setup, option, value, message) -> None:
    result = invoke("estimator", "build", "--out", "x.json", "--supernet", setup / "sn.safetensors", "--data",
                    "synthetic", option, value)
    assert result.exit_code == 64 and message in result.output and f"'{option}'" in result.output
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_sample_fit_eval_roundtrip(setup) -> None:
    samples = setup / "s.jsonl"
    result = invoke("estimator", "sample", "--supernet", setup / "sn.safetensors", "--data", "synthetic",
                    "--n", 30, "--seed", 1, "--out", samples, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["n"] == 30
    lines = [json.loads(line) for line in samples.read_text().splitlines()]
    assert len(lines) == 30 and {"arch", "accuracy", "params", "macs"} <= set(lines[0])
    test_split = invoke("estimator", "sample", "--supernet", setup / "sn.safetensors", "--data", "synthetic",
                        "--n", 2, "--split", "test", "--out", setup / "t.jsonl", "--json")
    assert test_split.exit_code == 0, test_split.output
    bad = invoke("estimator", "sample", "--supernet", setup / "sn.safetensors", "--data", "synthetic",
                 "--split", "train", "--out", setup / "t.jsonl")
    assert bad.exit_code == 64 and "'train' is not one of 'heldout', 'test'" in bad.output
    est = setup / "est.json"
    if not est.exists():
        assert invoke(*build_args(setup, est)).exit_code == 0
    ev = invoke("estimator", "eval", "--estimator", est, "--samples", samples, "--space", setup / "toy.yaml",
                "--json", "--plot", setup / "scatter.png")
    assert ev.exit_code == 0, ev.output
    metrics = json.loads(ev.stdout)
    assert set(metrics) == {"kendall_tau", "spearman", "pearson", "mse", "n"} and metrics["n"] == 30
    assert -1 <= metrics["kendall_tau"] <= 1 and (setup / "scatter.png").read_bytes()[:4] == b"\x89PNG"
    for kind in ("linear", "bilinear", "quadratic", "mlp"):
        out = setup / f"{kind}.json"
        fit = invoke("estimator", "fit", "--space", setup / "toy.yaml", "--samples", samples, "--kind", kind,
                     "--out", out, "--epochs", 20, "--json")
        assert fit.exit_code == 0, fit.output
        assert json.loads(fit.stdout)["train"]["n"] == 30
        ev = invoke("estimator", "eval", "--estimator", out, "--samples", samples, "--space", setup / "toy.yaml")
        assert ev.exit_code == 0 and "Kendall-tau" in ev.output


def test_fit_and_eval_errors(setup) -> None:
    samples = setup / "bad.jsonl"
    samples.write_text('{"arch": "[[\'ir_r1_k3_s1_e1_c8\']]", "accuracy": 1}\n')
    fit = invoke("estimator", "fit", "--space", setup / "toy.yaml", "--samples", samples, "--kind", "linear",
                 "--out", setup / "l.json")
    assert fit.exit_code == 2 and "line 1" in fit.output
    fit = invoke("estimator", "fit", "--space", setup / "toy.yaml", "--samples", samples, "--kind", "forest",
                 "--out", setup / "l.json")
    assert fit.exit_code == 64 and "'forest' is not one of 'linear', 'bilinear'" in fit.output
    est = setup / "other.json"
    est.write_text(json.dumps({"format": "binas.estimator/1", "space": "mobilenetv3-tiny", "space_hash": "x",
                               "kind": "linear", "const": 0, "p_alpha": [], "p_beta": [], "Q": []}))
    ev = invoke("estimator", "eval", "--estimator", est, "--samples", samples, "--space", setup / "toy.yaml")
    assert ev.exit_code == 2 and "was made for space" in ev.output


def test_sampled_accuracy_equals_the_extracted_child(setup) -> None:
    from binas.supernet.store import load_supernet

    net = load_supernet(setup / "sn.safetensors")
    x, y = heldout_tensors(net.space, "synthetic")
    (s,) = sample_subnets(net, x, y, 1, seed=7)
    child = extract_child(net, s.arch).eval()
    with torch.no_grad():
        acc = float((child(x).argmax(1) == y).float().mean()) * 100
    assert s.accuracy == pytest.approx(acc) and s.resources["params"] > 0
    assert np.isfinite(s.accuracy)
