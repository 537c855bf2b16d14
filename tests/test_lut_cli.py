"""CLI: `binas lut measure | compute | validate | export-blocks | import` and `arch info --lut`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from binas.cli import app
from binas.codec import format_timm
from binas.lut.measure import partial_path_for
from binas.lut.table import analytic_lut, load_lut
from binas.space import load_space
from test_lut_measure import small_space

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("cli")
    space_file = tmp / "small.yaml"
    small_space(tmp)  # writes small.yaml
    out = tmp / "lut.json"
    result = invoke("lut", "measure", "--space", space_file, "--repeats", 2, "--warmup", 0, "--out", out, "--json")
    return space_file, out, result


def test_measure_writes_a_lut_and_prints_json_only(measured) -> None:
    space_file, out, result = measured
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["resource"] == "latency" and summary["unit"] == "ms" and summary["entries"] == 8
    assert summary["meta"]["repeats"] == 2
    lut = load_lut(out, small_space(space_file.parent))
    assert lut.meta["backend"] == "torch"
    assert not partial_path_for(out).exists()  # the sidecar is removed once the LUT is written


def test_measure_resumes_and_refuses_other_settings(tmp_path: Path) -> None:
    small_space(tmp_path)
    out = tmp_path / "lut.json"
    partial = partial_path_for(out)
    args = ["lut", "measure", "--space", tmp_path / "small.yaml", "--warmup", 0, "--out", out]
    partial.write_text(json.dumps({"format": "binas.lut-partial/1", "settings": {}, "rounds_done": 0,
                                   "samples": {}}))
    result = invoke(*args, "--repeats", 1)
    assert result.exit_code == 2 and "other settings" in result.output and "Traceback" not in result.output
    partial.write_text("{\"format\": ")  # killed mid-write by something other than binas
    result = invoke(*args, "--repeats", 1)
    assert result.exit_code == 2 and "not valid JSON" in result.output and f"delete {partial}" in " ".join(
        result.output.split())
    partial.unlink()
    assert invoke(*args, "--repeats", 1).exit_code == 0 and out.exists()


@pytest.mark.parametrize("args, message", [
    (["--backend", "tensorrt"], "'tensorrt' is not one of 'torch', 'onnxruntime', 'cuda'"),
    (["--clock", "sundial"], "'sundial' is not one of 'wall', 'cpu'"),
    (["--threads", "0"], "--threads must be at least 1"),
    (["--space", "nope"], "unknown search space 'nope'"),
])
def test_measure_errors(tmp_path: Path, args: list[str], message: str) -> None:
    result = invoke("lut", "measure", "--out", tmp_path / "x.json", *args)
    usage = "is not one of" in message  # a value outside the choices: a usage error
    assert result.exit_code == (64 if usage else 2) and message in result.output
    assert not (tmp_path / "x.json").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_measure_cuda_without_gpu(tmp_path: Path) -> None:
    result = invoke("lut", "measure", "-s", "mobilenetv3-tiny", "--backend", "cuda", "--out", tmp_path / "x.json")
    assert result.exit_code == 2 and "torch.cuda.is_available() is False" in " ".join(result.output.split())


def test_validate_json_and_plot(measured, tmp_path: Path) -> None:
    space_file, out, _ = measured
    plot, cal = tmp_path / "fid.png", tmp_path / "cal.json"
    result = invoke("lut", "validate", "--lut", out, "--space", space_file, "--samples", 3, "--repeats", 2,
                    "--warmup", 0, "--plot", plot, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert {"median_abs_rel_err", "max_abs_rel_err", "kendall_tau", "slope", "intercept", "pairs"} <= set(report)
    assert len(report["pairs"]) == 3 and plot.read_bytes()[:4] == b"\x89PNG"
    result = invoke("lut", "validate", "--lut", out, "--space", space_file, "--samples", 3, "--repeats", 1,
                    "--warmup", 0)
    assert result.exit_code == 0 and "Kendall tau" in result.output and "median |rel. error|" in result.output


def test_validate_errors(measured, tmp_path: Path) -> None:
    space_file, out, _ = measured
    params = analytic_lut(load_space("mobilenetv3-tiny"), "params").save(tmp_path / "params.json")
    result = invoke("lut", "validate", "--lut", params)
    assert result.exit_code == 2 and "needs a latency LUT, not a params LUT" in result.output
    result = invoke("lut", "validate", "--lut", out, "--space", "mobilenetv3-tiny")
    assert result.exit_code == 2 and "was made for space 'lut-small'" in result.output
    result = invoke("lut", "validate", "--lut", out)
    assert result.exit_code == 2 and "not built in; pass --space" in " ".join(result.output.split())
    bad = json.loads(out.read_text())
    bad["unit"] = "s"
    (tmp_path / "s.json").write_text(json.dumps(bad))
    result = invoke("lut", "validate", "--lut", tmp_path / "s.json", "--space", space_file)
    assert result.exit_code == 2 and "latency must be in 'ms', found unit 's'" in result.output
    (tmp_path / "cut.json").write_text(out.read_text()[:100])
    result = invoke("lut", "validate", "--lut", tmp_path / "cut.json", "--space", space_file)
    assert result.exit_code == 2 and "corrupt or truncated" in result.output


def test_compute(tmp_path: Path) -> None:
    out = tmp_path / "macs.json"
    result = invoke("lut", "compute", "--space", "mobilenetv3-tiny", "--resource", "macs", "--out", out, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["resource"] == "macs"
    space = load_space("mobilenetv3-tiny")
    assert load_lut(out, space).value(space, space.heaviest) == analytic_lut(space, "macs").value(space, space.heaviest)
    result = invoke("lut", "compute", "--resource", "latency", "--out", out)
    assert result.exit_code == 64 and "'latency' is not one of 'params', 'macs'" in result.output


def test_export_then_import(tmp_path: Path) -> None:
    small_space(tmp_path)
    space_file, blocks = tmp_path / "small.yaml", tmp_path / "blocks"
    result = invoke("lut", "export-blocks", "--space", space_file, "--out", blocks, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["files"] == 9
    lines = (blocks / "timings.csv").read_text().splitlines()
    filled = [lines[0]] + [f"{line}{i}" for i, line in enumerate(lines[1:], start=1)]
    (tmp_path / "t.csv").write_text("\n".join(filled) + "\n")
    out = tmp_path / "lut.json"
    result = invoke("lut", "import", "--space", space_file, "--csv", tmp_path / "t.csv", "--unit", "us",
                    "--manifest", blocks / "manifest.json", "--device", "pixel", "--out", out)
    assert result.exit_code == 0, result.output
    lut = load_lut(out, small_space(tmp_path))
    assert lut.fixed == pytest.approx(0.001) and lut.meta["device"] == "pixel"
    (tmp_path / "bad.csv").write_text("\n".join(filled[:-1]) + "\n")
    result = invoke("lut", "import", "--space", space_file, "--csv", tmp_path / "bad.csv", "--out", out)
    assert result.exit_code == 2 and "lacks 1 row(s), e.g. 2.2 skip" in result.output


def test_arch_info_prints_lut_predictions(tmp_path: Path) -> None:
    space = load_space("mobilenetv3-tiny")
    arch = space.heaviest
    params = analytic_lut(space, "params").save(tmp_path / "params.json")
    result = invoke("arch", "info", format_timm(space, arch), "--space", "mobilenetv3-tiny", "--lut", params,
                    "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["predicted"]["params"] == analytic_lut(space, "params").value(space, arch)
    result = invoke("arch", "info", format_timm(space, arch), "--space", "mobilenetv3-tiny", "--lut", params)
    assert "predicted params" in result.output
