"""`binas demo` in a reduced form: both paths run every stage, the report is written, a re-run resumes,
and a packed (fp16) supernet round-trips and refuses tampering."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from binas.cli import app
from binas.demo import random_under_budget
from binas.lut.table import Lut
from binas.pretrained import pack_supernet, packaged_path, read_provenance, unpack_supernet
from binas.space import load_space
from binas.supernet.store import FINAL_NAME, load_supernet

runner = CliRunner()
TINY_DEMO = {
    "data": "synthetic",
    "supernet": {"batch_size": 32, "max_steps": 3, "eval_images": 64, "checkpoint_every": 2},
    "lut_repeats": 2, "estimator_images": 8, "test_subnets": 12, "test_images": 32, "random_per_budget": 2,
    "random_min_fraction": 0.5, "finetune_steps": 2, "finetune_batch_size": 16, "eval_images": 64,
    "latency_repeats": 2, "workers": 1,
}
HEADLINE = ("budget_ms", "found_acc", "baseline_acc", "random_median_acc", "random_best_acc", "lut_ms", "measured_ms",
            "argmax_acc")


@pytest.fixture(scope="module")
def trained_demo(tmp_path_factory):
    """A reduced `binas demo --train` run (supernet trained for 3 steps on synthetic data)."""
    tmp = tmp_path_factory.mktemp("demo")
    config = tmp / "demo.yaml"
    config.write_text(yaml.safe_dump(TINY_DEMO))
    out = tmp / "train"
    result = runner.invoke(app, ["demo", "--train", "--out", str(out), "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    return tmp, config, out, json.loads(result.stdout)


def _check_headline(headline: dict, path: str) -> None:
    assert headline["path"] == path and -1 <= headline["estimator_tau"] <= 1
    assert len(headline["budgets"]) == 3
    for row in headline["budgets"]:
        assert set(HEADLINE) <= set(row)
        assert row["lut_ms"] <= row["budget_ms"] and row["measured_ms"] > 0
        for key in ("found_acc", "random_median_acc", "random_best_acc"):
            assert 0 <= row[key] <= 100
        assert row["random_median_acc"] <= row["random_best_acc"]


def test_train_path_end_to_end_and_resume(trained_demo) -> None:
    tmp, config, out, headline = trained_demo
    _check_headline(headline, "train")
    report = (out / "report.md").read_text()
    assert "**Path: `train`**" in report and "## What this run shows, and what it does not" in report
    for png in ("comparison", "estimator", "front", "latency"):
        assert f"![{png}]({png}.png)" in report and (out / f"{png}.png").stat().st_size > 1000
    plan = json.loads((out / "plan.json").read_text())
    assert [n["kind"] for n in plan["networks"] if n["budget"] == 0].count("random") == 2
    # the found network is the best of the exact top-K re-scored on the supernet (BN recalibrated)
    for b, search in enumerate(plan["searches"]):
        verify = search["verify"]
        scores = [c["verified"] for c in verify["candidates"]]
        assert 2 <= len(scores) <= 8 and verify["chosen"] == int(np.argmax(scores))
        assert all(c["lut_ms"] <= search["budget_ms"] for c in verify["candidates"])
        kinds = {n["kind"]: n["timm"] for n in plan["networks"] if n["budget"] == b}
        assert kinds["found"] == verify["candidates"][verify["chosen"]]["timm"]
        assert ("argmax" in kinds) == (verify["chosen"] != 0)
    assert "## How the found networks were chosen" in report
    # the search's LUT is the measured one times the median measured/sum ratio of whole networks
    raw = json.loads((out / "lut_latency_raw.json").read_text())
    lut = json.loads((out / "lut_latency.json").read_text())
    fidelity = json.loads((out / "lut_latency_fidelity.json").read_text())
    pairs = fidelity["networks"]  # random whole networks timed in the LUT's own rounds
    factor = float(np.median([p["measured_ms"] / p["lut_ms"] for p in pairs]))
    assert len(pairs) == 12 and factor > 0 and fidelity["factor"] == pytest.approx(factor)
    assert lut["meta"]["calibration"]["slope"] == pytest.approx(factor)
    assert lut["fixed"] == pytest.approx(raw["fixed"] * factor)
    assert "calibrated on whole networks" in report
    summary = json.loads((out / "summary.json").read_text())
    assert summary["headline"]["budgets"] == headline["budgets"]
    first = summary["timings_s"]  # side-by-side steps overlap in the wall-clock total
    steps_sum = sum(v for k, v in first.items() if k != "total")
    assert max(first["estimator"], first["held-out subnets"]) < first["total"] <= steps_sum + 1.0
    # a killed demo continues: finished steps are reused, only the missing ones run again
    (out / "report.md").unlink()
    (out / "latency.json").unlink()
    again = runner.invoke(app, ["demo", "--train", "--out", str(out), "--config", str(config)])
    assert again.exit_code == 0, again.output
    assert "[supernet] reusing" in again.output and "[same training] reusing" in again.output
    assert "[latency] ..." in again.output and (out / "report.md").is_file()
    timings = json.loads((out / "summary.json").read_text())["timings_s"]
    assert timings["estimator"] > 0 and timings["latency"] > 0  # the first run's times are kept
    assert timings["total"] > first["total"]  # plus the re-run latency step
    # the same directory refuses the other path
    other = runner.invoke(app, ["demo", "--out", str(out), "--config", str(config)])
    assert other.exit_code == 2 and "cannot resume the demo" in other.output and "train was True" in other.output


def test_pretrained_path_with_a_packed_supernet(trained_demo) -> None:
    tmp, config, trained, _ = trained_demo
    packed = tmp / "packed.safetensors"
    meta = pack_supernet(trained / "supernet", packed, {"recipe": "3 test steps", "machine": "test"})
    assert meta["format"] == "binas.supernet-fp16/1" and len(meta["file_sha256"]) == 64
    out = tmp / "pretrained"
    result = runner.invoke(app, ["demo", "--pretrained", str(packed), "--out", str(out), "--config", str(config),
                                 "--json"])
    assert result.exit_code == 0, result.output
    _check_headline(json.loads(result.stdout), "pretrained")
    assert "**Path: `pretrained`**" in (out / "report.md").read_text()
    source = json.loads((out / "supernet" / "source.json").read_text())
    assert source["file_sha256"] == meta["file_sha256"] and source["provenance"]["machine"] == "test"


def test_packed_supernet_round_trip_and_tampering(trained_demo, tmp_path) -> None:
    _, _, trained, _ = trained_demo
    packed = tmp_path / "p.safetensors"
    pack_supernet(trained / "supernet", packed, {"recipe": "r"})
    unpack_supernet(packed, tmp_path / FINAL_NAME)
    a, b = load_supernet(trained / "supernet").state_dict(), load_supernet(tmp_path / FINAL_NAME).state_dict()
    for key, value in a.items():
        assert b[key].dtype == value.dtype
        if value.is_floating_point():
            assert torch.allclose(b[key], value.half().float())
        else:
            assert torch.equal(b[key], value)
    data = bytearray(packed.read_bytes())
    data[-3] ^= 0xFF  # flip bits of the last weight
    packed.write_bytes(bytes(data))
    with pytest.raises(Exception, match="do not match their sha256"):
        read_provenance(packed)


def test_shipped_supernet_is_valid() -> None:
    path = packaged_path()
    if not path.is_file():
        pytest.fail(f"the shipped supernet {path} is missing (see benchmarks/pack_pretrained.py)")
    info = read_provenance(path)
    assert path.stat().st_size < 10 * 2**20
    assert info["space_hash"] == load_space("mobilenetv3-tiny").space_hash
    assert {"recipe", "train_minutes", "machine"} <= set(info["provenance"])


def test_random_under_budget_uses_most_of_the_budget() -> None:
    space = load_space("mobilenetv3-tiny")
    blocks = {}
    for s, stage in enumerate(space.stages):
        for j, choices in enumerate(stage.positions):
            blocks[f"{s + 1}.{j + 1}"] = {c.id: 1.0 + 0.1 * k for k, c in enumerate(choices)}
    lut = Lut(space.name, space.space_hash, "latency", "ms", 2.0, blocks)
    rng = np.random.default_rng(0)
    budget = float(np.median([lut.value(space, space.sample(rng)) for _ in range(50)]))
    archs = random_under_budget(space, lut, budget, 5, 0.9, rng)
    assert len(set(archs)) == 5
    assert all(0.9 * budget <= lut.value(space, a) <= budget for a in archs)
    with pytest.raises(Exception, match="random networks found"):
        random_under_budget(space, lut, 0.5, 1, 0.9, rng, max_draws=50)


def test_demo_config_errors(tmp_path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("estimator_imgs: 3\n")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--config", str(config)])
    assert result.exit_code == 2 and "unknown demo option(s) ['estimator_imgs']" in result.output
    config.write_text("budget_quantiles: [0.5, 1.5]\n")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--config", str(config)])
    assert result.exit_code == 2 and "budget_quantiles must list 1 to 10 numbers in (0, 1)" in result.output
    config.write_text("verify_k: 0\n")
    result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--config", str(config)])
    assert result.exit_code == 2 and "verify_k must be a whole number >= 1" in result.output
    for bad in ("abc", "true", "0", ".nan"):
        config.write_text(f"finetune_lr: {bad}\n")
        result = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--config", str(config)])
        assert result.exit_code == 2 and "finetune_lr must be a positive number" in result.output, result.output
    missing = runner.invoke(app, ["demo", "--out", str(tmp_path / "d"), "--pretrained", str(tmp_path / "no.st")])
    assert missing.exit_code == 2 and "does not exist" in missing.output


def test_a_network_compared_twice_is_trained_once(trained_demo, tmp_path) -> None:
    tmp, config, out, _ = trained_demo
    from binas.demo.compare import train_all
    from binas.demo.config import DemoConfig
    cfg = DemoConfig(**{**yaml.safe_load(config.read_text()), "out": str(tmp_path)})
    timm = json.loads((out / "plan.json").read_text())["networks"][0]["timm"]
    nets = [{"name": "b1-baseline", "timm": timm}, {"name": "b2-baseline", "timm": timm}]
    train_all(out / "supernet", nets, cfg, tmp_path / "nets", lambda _m: None)
    first, second = (json.loads((tmp_path / "nets" / n / "result.json").read_text())
                     for n in ("b1-baseline", "b2-baseline"))
    assert (tmp_path / "nets" / "b1-baseline" / "model.safetensors").is_file()
    assert not (tmp_path / "nets" / "b2-baseline" / "model.safetensors").exists()
    assert second == {**first, "name": "b2-baseline", "same_network_as": "b1-baseline"}
