"""The README's ImageNet block, reduced (32-px space, tiny folder, 2 gloo processes, a few steps), runs as written."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest

from binas.synthfolder import make_imagefolder

pytest.importorskip("PIL")
ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent


def _driver():
    spec = importlib.util.spec_from_file_location("run_readme_block", ROOT / "benchmarks" / "run_readme_block.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_readme_imagenet_block_runs_with_two_gloo_processes(tmp_path):
    make_imagefolder(tmp_path / "data", classes=4, per_class=16, val_per_class=4, min_side=40, max_side=90)
    block = _driver()
    subs = [("--nproc_per_node 8", "--nproc_per_node 2"), ("/data/imagenet", str(tmp_path / "data")),
            ("runs/in", str(tmp_path / "in")), ("--space mobilenetv3 ", "--space mobilenetv3-tiny-cifar "),
            ("--batch-size 256", "--batch-size 4"), ("--epochs 250", "--epochs 0.3"), ("--epochs 100", "--epochs 0.3"),
            ("--epochs 15", "--epochs 0.3"), ("--images 10000", "--images 4"), ("--recalibrate-bn 10000",
                                                                                 "--recalibrate-bn 8"),
            ("macs=300e6", "macs=1e9"), ("--threads 1 --batch-size 1", "--threads 1 --batch-size 1 --repeats 2")]
    commands = block.substitute(block.readme_block(), subs)
    assert len(commands) == 10 and sum(c.startswith("torchrun --nproc_per_node 2 -- ") for c in commands) == 6
    env = dict(os.environ, OMP_NUM_THREADS="1", PET_MASTER_PORT="29641",
               PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""))
    records = block.run(commands, env, log=open(os.devnull, "w"))
    assert [r["rc"] for r in records] == [0] * 10, records[-1].get("stderr_tail")
    out = tmp_path / "in"
    for name in ("supernet.safetensors", "est.json", "a.json", "front.json", "front.png", "net/model.safetensors",
                 "net-onnx/model.onnx"):
        assert (out / name).is_file(), name
    assert not list(out.glob("*.partial.json"))  # the sharded estimator build cleaned up every rank's sidecar
    est = json.loads((out / "est.json").read_text())
    assert est["format"] == "binas.estimator/1"
