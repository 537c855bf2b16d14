"""Reliability promises (docs/reliability.md): locks, stale temporary files, umask modes, complete
resumes, units, and a kill -9 of a LUT measurement that resumes without corrupt or stale files."""

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

from binas.claims import claim_outputs
from binas.cli import app
from binas.codec import arch_to_json
from binas.deploy.export import save_model
from binas.deploy.finetune import FinetuneConfig, finetune
from binas.io import atomic_write_text, remove_stale_temps
from binas.lut.table import load_lut
from binas.space import load_space
from binas.supernet.model import Supernet, extract_child
from binas.supernet.train import load_config, train_supernet

runner = CliRunner()
VENV_BIN = Path(sys.executable).parent
TINY = load_space("mobilenetv3-tiny")


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def _holder(path: Path) -> subprocess.Popen:
    """Another process that claims ``path`` and sleeps (prints 'held' once it holds the lock)."""
    code = ("import sys, time\nfrom binas.claims import claim_outputs\n"
            f"with claim_outputs({{'--out': {str(path)!r}}}):\n    print('held', flush=True)\n    time.sleep(60)\n")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_of_the_same_output_is_refused(tmp_path) -> None:
    out = tmp_path / "p.json"
    proc = _holder(out)
    try:
        result = invoke("lut", "compute", "--space", "mobilenetv3-tiny", "--out", out)
        assert result.exit_code == 2 and "being written by another binas process" in result.output
        assert f"pid {proc.pid}" in result.output and not out.exists()
    finally:
        proc.kill()
        proc.wait()
    assert invoke("lut", "compute", "--space", "mobilenetv3-tiny", "--out", out).exit_code == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.json"]  # lock released and removed


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".p.json.{int(dead.stdout)}.abcd1234.tmp"
    stale.write_bytes(b"x" * 100)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        live = tmp_path / f".p.json.{sleeper.pid}.wxyz9876.tmp"  # another process still writing it
        live.write_bytes(b"y")
        assert invoke("lut", "compute", "--space", "mobilenetv3-tiny", "--out", tmp_path / "p.json").exit_code == 0
        assert not stale.exists() and live.exists()
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temps(tmp_path) == [live]


def test_atomic_writes_leave_nothing_on_failure_and_follow_the_umask(tmp_path) -> None:
    old = os.umask(0o027)
    try:
        path = atomic_write_text(tmp_path / "a.txt", "hello")
        assert path.stat().st_mode & 0o777 == 0o640
        os.umask(0o002)
        assert atomic_write_text(tmp_path / "b.txt", "x").stat().st_mode & 0o777 == 0o664
    finally:
        os.umask(old)
    (tmp_path / "d").mkdir()
    with pytest.raises(Exception, match="cannot write"):
        atomic_write_text(tmp_path / "d", "x")  # a folder is in the way
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt", "d"]


def test_claims_check_everything_before_creating_anything(tmp_path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(Exception, match="is a file, not a folder"):
        with claim_outputs({"--out": tmp_path / "new" / "a.json", "--plot": tmp_path / "f" / "p.png"}):
            pass
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]
    with claim_outputs({"--out": tmp_path / "new" / "deeper" / "a.json"}):
        assert (tmp_path / "new" / "deeper" / ".a.json.lock").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]  # empty folders it made are removed again


def test_markup_in_errors_is_printed_verbatim(tmp_path) -> None:
    bad = tmp_path / "[bold]x[red].yaml"
    bad.write_text("name: [1, 2\n")
    result = invoke("space", "show", "--space", bad)
    assert result.exit_code == 2 and str(bad) in result.output


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    root = tmp_path_factory.mktemp("done")
    cfg = load_config(None, space="mobilenetv3-tiny", data="synthetic", out=str(root / "run"), batch_size=32,
                      max_steps=1, eval_images=16, bn_calibration_images=0, stage="heaviest")
    train_supernet(cfg, progress=False)
    arch = TINY.smallest
    (root / "arch.json").write_text(json.dumps(arch_to_json(TINY, arch)))
    return root


def test_resume_of_a_complete_run_says_so_and_exits_0(finished) -> None:
    before = {p: p.stat().st_mtime_ns for p in (finished / "run").iterdir()}
    result = invoke("supernet", "train", "--resume", "--out", finished / "run")
    assert result.exit_code == 0 and "already complete" in result.output
    assert {p: p.stat().st_mtime_ns for p in (finished / "run").iterdir()} == before  # nothing rewritten
    args = ["finetune", "--run", finished / "run", "--arch", finished / "arch.json", "--data", "synthetic",
            "--batch-size", "32", "--max-steps", "2", "--out", finished / "ft"]
    assert invoke(*args).exit_code == 0
    again = invoke(*args, "--resume", "--json")
    assert again.exit_code == 0 and json.loads(again.stdout)["complete"] is True


def test_evaluate_prints_a_params_lut_in_its_own_unit(tmp_path) -> None:
    arch = TINY.smallest
    save_model(tmp_path / "m", TINY, arch, extract_child(Supernet(TINY), arch))
    assert invoke("lut", "compute", "--space", "mobilenetv3-tiny", "--resource", "params",
                  "--out", tmp_path / "p.json").exit_code == 0
    result = invoke("evaluate", "--model", tmp_path / "m", "--data", "synthetic", "--lut", tmp_path / "p.json",
                    "--repeats", "1", "--limit", "16")
    assert result.exit_code == 0, result.output
    predicted = result.output.split("LUT predicts")[1]
    assert "params" in predicted and " ms" not in predicted
    doc = json.loads(invoke("evaluate", "--model", tmp_path / "m", "--data", "synthetic", "--lut",
                            tmp_path / "p.json", "--repeats", "1", "--limit", "16", "--json").stdout)
    assert "lut_latency_ms" not in doc and doc["lut_params_unit"] == "count" and doc["images"] == 16


def test_kill_9_during_lut_measure_then_resume(tmp_path) -> None:
    out = tmp_path / "lut.json"
    cmd = [str(VENV_BIN / "binas"), "lut", "measure", "--space", "mobilenetv3-tiny", "--repeats", "3",
           "--warmup", "0", "--out", str(out), "--json"]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    partial = tmp_path / "lut.json.partial"
    deadline = time.time() + 120
    while not partial.exists() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.02)
    if proc.poll() is None:
        os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    if partial.exists():
        json.loads(partial.read_text())  # never half written
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert load_lut(out, TINY).resource == "latency"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lut.json"]  # no partial, lock or temporary file left


def test_finetune_resume_refuses_another_supernet(finished, tmp_path) -> None:
    args = ["finetune", "--run", finished / "run", "--arch", finished / "arch.json", "--data", "synthetic",
            "--batch-size", "32", "--max-steps", "3", "--out", tmp_path / "ft"]
    cfg = FinetuneConfig(data="synthetic", batch_size=32, max_steps=3, checkpoint_every=1)
    with pytest.raises(KeyboardInterrupt):
        finetune(finished / "run", TINY.smallest, tmp_path / "ft", cfg, progress=False,
                 on_step=lambda step: (_ for _ in ()).throw(KeyboardInterrupt) if step == 1 else None)
    other = tmp_path / "other.safetensors"
    torch.manual_seed(5)
    from binas.supernet.store import save_supernet

    save_supernet(Supernet(TINY), other)
    result = invoke(*[a if a != finished / "run" else other for a in args], "--resume")
    assert result.exit_code == 2 and "supernet was" in result.output
    assert invoke(*args, "--resume").exit_code == 0
