"""`binas demo` in a reduced form: every stage runs, the report is written, a re-run resumes."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from binas.cli import app

runner = CliRunner()
TINY_DEMO = {
    "data": "synthetic",
    "supernet": {"batch_size": 32, "max_steps": 3, "eval_images": 64, "checkpoint_every": 2},
    "lut_repeats": 2, "estimator_images": 8, "test_subnets": 12, "test_images": 32, "finetune_steps": 2,
    "eval_images": 64, "latency_repeats": 2,
}


def test_reduced_demo_end_to_end_and_resume(tmp_path) -> None:
    config = tmp_path / "demo.yaml"
    config.write_text(yaml.safe_dump(TINY_DEMO))
    out = tmp_path / "demo"
    result = runner.invoke(app, ["demo", "--out", str(out), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    paths = json.loads(result.stdout)
    for key in ("estimator", "lut", "test_samples", "report", "supernet", "measured"):
        assert (tmp_path / paths[key].split(str(tmp_path) + "/")[1]).exists(), key
    assert len(paths["models"]) == 3
    report = (out / "report.md").read_text()
    assert report.count("![") >= 3 and "## Found networks" in report and "## Insights" in report
    summary = json.loads((out / "summary.json").read_text())
    for net in summary["networks"]:
        assert net["lut_latency_ms"] <= net["budget_ms"] and net["measured_latency_ms"] > 0
        assert 0 <= net["one_shot_accuracy"] <= 100 and 0 <= net["finetuned_top1"] <= 100
    assert len(open(out / "test_samples.jsonl").read().splitlines()) == 12
    # a killed demo continues: every finished step is reused, only the missing ones run again
    (out / "report.md").unlink()
    (out / "measured.json").unlink()
    again = runner.invoke(app, ["demo", "--out", str(out), "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert "[supernet] reusing" in again.output and "[estimator] reusing" in again.output
    assert "[measure] ..." in again.output and (out / "report.md").is_file()


def test_demo_config_errors(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("estimator_imgs: 3\n")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--config", str(config)])
    assert result.exit_code == 2 and "unknown demo option(s) ['estimator_imgs']" in result.output
