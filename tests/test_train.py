"""Supernet training: config loading, both stages via the CLI, resume after a crash / kill -9, torchrun DDP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from binas.cli import app
from binas.supernet.store import load_supernet
from binas.supernet.train import load_config, train_supernet
from binas.supernet.train.config import ConfigError, TrainConfig
from binas.supernet.train.loop import cosine_lr
from binas.supernet.train.losses import distillation_loss

torch.set_num_threads(1)
runner = CliRunner()
VENV_BIN = Path(sys.executable).parent

# A tiny user space (8 px, skip choices) so that a training step takes milliseconds.
TINY_SPACE = (Path(__file__).parent / "data" / "tiny-8px.yaml").read_text()


@pytest.fixture
def space_file(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(TINY_SPACE)
    return str(path)


def _config(space_file: str, out: Path, **kw) -> TrainConfig:
    base = dict(space=space_file, data="synthetic", out=str(out), batch_size=32, epochs=1.0, max_steps=6,
                warmup_steps=2, lr=0.05, checkpoint_every=2, log_every=1, eval_images=64, seed=3)
    base.update(kw)
    return load_config(None, **base)


def _weights(path) -> dict[str, torch.Tensor]:
    return load_supernet(path).state_dict()


def test_config_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("epochs: 2\nlr: 0.2\nsampling: per-batch\nema_decay: 0.9\n")
    cfg = load_config(path, lr=0.3, batch_size=None)
    assert (cfg.epochs, cfg.lr, cfg.sampling, cfg.batch_size) == (2.0, 0.3, "per-batch", 128)
    assert cfg.stage_epochs("heaviest") == 2.0
    assert cfg.stage_lr("heaviest") == cfg.stage_lr("supernet") == 0.3
    staged = load_config(None, lr=0.3, supernet_lr=0.05)
    assert (staged.stage_lr("heaviest"), staged.stage_lr("supernet")) == (0.3, 0.05)
    with pytest.raises(ConfigError, match="supernet_lr must be > 0"):
        load_config(None, supernet_lr=0.0)
    path.write_text("epoch: 2\n")
    with pytest.raises(ConfigError, match="unknown training option"):
        load_config(path)
    with pytest.raises(ConfigError, match="stage must be one of"):
        load_config(None, stage="all")
    with pytest.raises(ConfigError, match="batch_size must be >= 1"):
        load_config(None, batch_size=0)


def test_lr_schedule_warms_up_then_decays():
    lrs = [cosine_lr(s, 100, 1.0, 10) for s in range(100)]
    assert lrs[0] == pytest.approx(0.1) and lrs[9] == pytest.approx(1.0)
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:])) and lrs[-1] < 0.01


def test_distillation_loss_vanishes_when_student_is_teacher():
    cfg = TrainConfig()
    logits = torch.randn(4, 5)
    feats = [torch.randn(4, 3, 2, 2)]
    parts = distillation_loss(logits, feats, logits.clone(), [f.clone() for f in feats], torch.tensor([0, 1, 2, 3]),
                              cfg)
    assert parts["kd"].abs() < 1e-6 and parts["feat"] == 0 and parts["ce"] > 0
    other = distillation_loss(logits, feats, -logits, [f + 1 for f in feats], torch.tensor([0, 1, 2, 3]), cfg)
    assert other["kd"] > 0 and other["feat"] == pytest.approx(cfg.feature_weight)


def test_cli_trains_both_stages_and_prints_json(space_file, tmp_path):
    out = tmp_path / "run"
    args = ["supernet", "train", "--space", space_file, "--data", "synthetic", "--out", str(out), "--max-steps",
            "4", "--batch-size", "32", "--checkpoint-every", "2", "--seed", "1", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert set(doc) == {"checkpoint", "steps", "resumed_from_step", "metrics"}
    assert doc["steps"] == 8 and doc["resumed_from_step"] is None
    assert 0 <= doc["metrics"]["heaviest_acc"] <= 1 and "smallest_acc" in doc["metrics"]
    assert Path(doc["checkpoint"]).is_file()
    for name in ("config.yaml", "metrics.jsonl", "metrics.csv", "checkpoint.safetensors", "stage_a.safetensors",
                 "result.json"):
        assert (out / name).is_file(), name
    assert json.loads((out / "result.json").read_text())["format"] == "binas.train-result/1"
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    assert {r["stage"] for r in rows} == {"heaviest", "supernet"}
    assert any("kd" in r for r in rows)
    # running again into the same directory without --resume is refused with one clear line
    again = runner.invoke(app, args)
    assert again.exit_code == 2 and "pass --resume" in again.output


def test_cli_errors_are_one_line(space_file, tmp_path):
    result = runner.invoke(app, ["supernet", "train", "--space", space_file, "--data", "nope", "--out",
                                 str(tmp_path / "r")])
    assert result.exit_code == 2 and "unknown dataset" in result.output and "Traceback" not in result.output
    result = runner.invoke(app, ["supernet", "train", "--space", space_file, "--data", "synthetic", "--stage",
                                 "supernet", "--out", str(tmp_path / "r2")])
    assert result.exit_code == 2 and "needs the stage-A result" in result.output
    result = runner.invoke(app, ["supernet", "train", "--space", "mobilenetv3-tiny-cifar", "--data", "synthetic",
                                 "--data-dir", str(tmp_path), "--batch-size", "100000", "--out", str(tmp_path / "r3")])
    assert result.exit_code == 2 and "larger than" in result.output


def test_stage_a_then_stage_b_in_the_same_run_directory(space_file, tmp_path):
    out = tmp_path / "ab"
    a = train_supernet(_config(space_file, out, stage="heaviest", max_steps=2), progress=False)
    assert a["steps"] == 2 and (out / "stage_a.safetensors").is_file()
    b = train_supernet(_config(space_file, out, stage="supernet", max_steps=3), progress=False)
    assert b["steps"] == 3 and b["resumed_from_step"] is None
    with pytest.raises(ConfigError, match="already in stage B"):
        train_supernet(_config(space_file, out, stage="heaviest"), resume=True, progress=False)


class _Crash(Exception):
    pass


@pytest.mark.parametrize("crash_at", [("heaviest", 3), ("supernet", 5)])
def test_resume_after_a_crash_ends_where_an_uninterrupted_run_does(space_file, tmp_path, crash_at):
    full = train_supernet(_config(space_file, tmp_path / "full", ema_decay=0.5), progress=False)

    def crash(stage, step):
        if (stage, step) == crash_at:
            raise _Crash

    cfg = _config(space_file, tmp_path / "crash", ema_decay=0.5)
    with pytest.raises(_Crash):
        train_supernet(cfg, progress=False, on_step=crash)
    resumed = train_supernet(cfg, resume=True, progress=False)
    assert resumed["resumed_from_step"] == (2 if crash_at[0] == "heaviest" else 6 + 4)
    assert resumed["steps"] == full["steps"] == 12
    assert resumed["metrics"]["heaviest_stage_heaviest_acc"] == full["metrics"]["heaviest_stage_heaviest_acc"]
    a, b = _weights(full["checkpoint"]), _weights(resumed["checkpoint"])
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _cli(*args: str) -> list[str]:
    return [str(VENV_BIN / "binas"), "supernet", "train", *args]


def test_kill_9_then_resume(space_file, tmp_path):
    out = tmp_path / "killed"
    args = ["--space", space_file, "--data", "synthetic", "--out", str(out), "--batch-size", "16", "--max-steps",
            "15", "--checkpoint-every", "3", "--seed", "2", "--json"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(_cli(*args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    ckpt = out / "checkpoint.safetensors"
    deadline = time.time() + 60
    while not ckpt.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = subprocess.run(_cli(*args, "--resume"), capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["steps"] == 2 * 15
    clean = subprocess.run(_cli(*[a if a != str(out) else str(tmp_path / "clean") for a in args]),
                           capture_output=True, text=True, env=env, timeout=300)
    a, b = _weights(doc["checkpoint"]), _weights(json.loads(clean.stdout)["checkpoint"])
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_torchrun_two_gloo_processes(space_file, tmp_path):
    out = tmp_path / "ddp"
    cmd = [str(VENV_BIN / "torchrun"), "--nproc_per_node", "2", "--master_port", "29517", str(VENV_BIN / "binas"),
           "supernet", "train", "--space", space_file, "--data", "synthetic", "--out", str(out), "--max-steps", "3",
           "--batch-size", "16", "--checkpoint-every", "2", "--json"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    doc = json.loads(done.stdout)  # only rank 0 prints
    assert doc["steps"] == 6 and Path(doc["checkpoint"]).is_file()
    rows = [json.loads(r) for r in (out / "metrics.jsonl").read_text().splitlines()]
    last = [r for r in rows if r.get("stage") == "heaviest" and "step" in r][-1]
    assert last["epoch"] == round(3 / (230 // 16), 4)  # each of the 2 ranks gets half of the 461 images
