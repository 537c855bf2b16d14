"""`binas finetune` (KD from the heaviest network, resume after a kill) and `binas evaluate`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from binas.cli import app
from binas.codec import format_timm
from binas.data import load_data
from binas.deploy.evaluate import measure_latency, topk_accuracy
from binas.deploy.export import load_model
from binas.deploy.finetune import FinetuneConfig, finetune
from binas.lut.table import analytic_lut
from binas.space import load_space
from binas.supernet.model import Supernet
from binas.supernet.store import save_supernet

runner = CliRunner()
TINY = load_space("mobilenetv3-tiny")
CFG = dict(data="synthetic", augment=False, batch_size=32, max_steps=4, checkpoint_every=2, lr=0.05)


@pytest.fixture(scope="module")
def supernet_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("sn") / "supernet.safetensors"
    torch.manual_seed(0)
    save_supernet(Supernet(TINY), path)
    return str(path)


class _Kill(Exception):
    pass


def _kill_at(step: int):
    def on_step(done: int) -> None:
        if done == step:
            raise _Kill
    return on_step


def test_finetune_resume_matches_uninterrupted(supernet_file: str, tmp_path) -> None:
    arch = TINY.sample(np.random.default_rng(5))
    full = finetune(supernet_file, arch, tmp_path / "full", FinetuneConfig(**CFG), progress=False)
    assert full["steps"] == 4 and full["resumed_from_step"] is None
    with pytest.raises(_Kill):
        finetune(supernet_file, arch, tmp_path / "cut", FinetuneConfig(**CFG), progress=False, on_step=_kill_at(3))
    resumed = finetune(supernet_file, arch, tmp_path / "cut", FinetuneConfig(**CFG), resume=True, progress=False)
    assert resumed["resumed_from_step"] == 2
    a, b = load_model(tmp_path / "full").model, load_model(tmp_path / "cut").model
    for (name, x), (_, y) in zip(a.state_dict().items(), b.state_dict().items()):
        assert torch.allclose(x, y, atol=1e-6), name
    with pytest.raises(Exception, match="already holds a fine-tuning checkpoint"):
        finetune(supernet_file, arch, tmp_path / "full", FinetuneConfig(**CFG), progress=False)


def test_finetune_learns_and_evaluate_cli(supernet_file: str, tmp_path) -> None:
    arch_text = format_timm(TINY, TINY.smallest)
    out = tmp_path / "model"
    result = runner.invoke(app, ["finetune", "--run", supernet_file, "--arch", arch_text, "--out", str(out),
                                 "--data", "synthetic", "--no-augment", "--kd-weight", "0", "--epochs", "3", "--batch-size", "32", "--lr", "0.05", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["steps"] == 3 * (len(load_data("synthetic", "train")) // 32)
    losses = [json.loads(line)["loss"] for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert len(losses) == 5 and losses[-1] < 0.85 * losses[0]  # it learns (logged every 10 steps)
    test = load_data("synthetic", "test")
    acc = topk_accuracy(load_model(out).model, test)
    assert 0 <= acc["top1"] <= acc["top5"] <= 100
    lut = analytic_lut(TINY, "macs").save(tmp_path / "macs.json")
    ev = runner.invoke(app, ["evaluate", "--model", str(out), "--data", "synthetic", "--repeats", "3", "--lut",
                             str(lut), "--json"])
    assert ev.exit_code == 0, ev.output
    data = json.loads(ev.stdout)
    assert data["top1"] == pytest.approx(acc["top1"]) and data["latency_ms"] > 0
    assert data["timing"]["backend"] == "torch" and data["images"] == len(test)
    bad = runner.invoke(app, ["evaluate", "--model", str(tmp_path / "nope")])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_measure_latency_orders_networks() -> None:
    small, big = (load_model_free(TINY, a) for a in (TINY.smallest, TINY.heaviest))
    times = measure_latency({"small": small, "big": big}, TINY, {"backend": "torch", "threads": 1, "batch_size": 8},
                            repeats=5)
    assert times["big"]["latency_ms"] > times["small"]["latency_ms"]


def load_model_free(space, arch):
    from binas.nn.static import build_child
    return build_child(space, arch).eval()
