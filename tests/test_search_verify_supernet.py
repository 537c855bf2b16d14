"""``binas search --verify K --supernet``: one-shot verification on a tiny supernet, end to end."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import yaml
from typer.testing import CliRunner

from binas.cli import app
from binas.codec import load_architecture
from binas.search.synthetic import random_bilinear, synthetic_lut
from binas.search.verify_supernet import load_supernet_verifier
from binas.supernet.model import Supernet, extract_child, recalibrated
from binas.supernet.store import save_supernet
from test_estimator_form import TOY, toy_space

runner = CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    (root / "toy.yaml").write_text(yaml.safe_dump(TOY))
    space = toy_space()
    torch.manual_seed(0)
    net = Supernet(space)
    for p in net.parameters():  # make subnets differ clearly
        p.data.normal_(0, 0.5)
    save_supernet(net, root / "sn.safetensors")
    rng = np.random.default_rng(0)
    random_bilinear(space, rng).save(root / "est.json")
    synthetic_lut(space, rng).save(root / "lat.json")
    return root, space, net


def test_search_verify_with_the_supernet(setup) -> None:
    root, space, net = setup
    args = ["search", "-e", root / "est.json", "-s", root / "toy.yaml", "-l", root / "lat.json", "--max",
            "latency=1e3", "--verify", 4, "--min-distance", 1, "--supernet", root / "sn.safetensors", "--data",
            "synthetic", "--verify-images", 40, "--calibration-images", 16, "--json"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    report = data["verify"]
    cands = report["candidates"]
    assert report["verifier"] == "supernet" and len(cands) == 4 and report["details"]["images"] == 40
    assert report["chosen"] == int(np.argmax([c["verified"] for c in cands]))
    assert all(c["verified_stderr"] > 0 or c["verified"] in (0.0, 100.0) for c in cands)
    assert report["details"]["paired_stderr_vs_best"][report["chosen"]] == 0.0
    # independent re-computation: the same images, BN recalibrated, through the extracted static child
    verifier = load_supernet_verifier(None, str(root / "sn.safetensors"), "synthetic", None, images=40,
                                      calibration_images=16, seed=0)
    for c in cands:
        arch = load_architecture(json.dumps(c["arch"]), str(root / "toy.yaml"))[1]
        child = extract_child(recalibrated(net, arch, verifier.calibration), arch).eval()
        with torch.no_grad():
            acc = 100.0 * float((child(verifier.x).argmax(1) == verifier.y).double().mean())
        assert c["verified"] == pytest.approx(acc, abs=1e-9)
    assert data["verified"]["accuracy"] == cands[report["chosen"]]["verified"]


def test_search_verify_rounds_with_the_supernet(setup) -> None:
    root, space, net = setup
    from binas.estimator.samples import Sample, write_samples

    rng = np.random.default_rng(5)
    write_samples(root / "s.jsonl", space, [Sample(space.sample(rng), float(rng.uniform(5, 15))) for _ in range(30)])
    args = ["search", "-e", root / "est.json", "-s", root / "toy.yaml", "-l", root / "lat.json", "--max",
            "latency=1e3", "--verify", 4, "--verify-rounds", 2, "--samples", root / "s.jsonl", "--min-distance", 1,
            "--supernet", root / "sn.safetensors", "--data", "synthetic", "--verify-images", 40,
            "--calibration-images", 16, "--json"]
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)["verify"]
    cands = report["candidates"]
    archs = [json.dumps(c["arch"]["blocks"]) + json.dumps(c["arch"]["depths"]) for c in cands]
    assert len(set(archs)) == 4 and [r["networks"] for r in report["details"]["rounds"]] == [2, 2]
    assert all(r["details"]["images"] == 40 for r in report["details"]["rounds"])
    assert report["chosen"] == int(np.argmax([c["verified"] for c in cands]))


def test_supernet_verify_errors(setup) -> None:
    root, *_ = setup
    base = ["search", "-e", root / "est.json", "-s", root / "toy.yaml", "-l", root / "lat.json", "--max", "latency=1e3",
            "--verify", 2, "--supernet", root / "sn.safetensors", "--data", "synthetic"]
    r = runner.invoke(app, [str(a) for a in base + ["--verify-images", 10 ** 7]])
    assert r.exit_code == 2 and "held-out images" in r.stderr, r.output
