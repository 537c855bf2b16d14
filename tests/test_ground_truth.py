"""Stand-alone ground truth: the runner (2-architecture smoke run, resume, truncated line), the recipe,
the hand-scaled baselines and the analysis on a slice of the committed data file."""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import numpy as np
import pytest

from binas.baselines import scaled_baseline, uniform_archs
from binas.deploy.standalone import StandaloneRecipe
from binas.lut.table import analytic_lut
from binas.space import load_space

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
import analyze_ground_truth  # noqa: E402
import ground_truth  # noqa: E402

DATA_FILE = ground_truth.DEFAULT_OUT


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def tiny_fmnist(tmp_path):
    """Fashion-MNIST-shaped IDX files with a learnable signal (class-dependent brightness)."""
    folder = tmp_path / "fmnist"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 300), ("t10k", 100)):
        labels = rng.integers(0, 10, n)
        images = np.clip(rng.normal(labels[:, None, None] * 25.0, 20.0, (n, 28, 28)), 0, 255)
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(gzip.compress(_idx(images)))
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(_idx(labels)))
    return folder


def test_uniform_archs_and_scaled_baseline():
    space = load_space("mobilenetv3-tiny")
    archs = uniform_archs(space)
    assert len(archs) == 3 * 12  # 3 depths x 12 choices
    assert all(len(set(b for blocks in a.blocks for b in blocks)) == 1 for a in archs)
    macs = analytic_lut(space, "macs")
    budget = float(np.median([macs.value(space, a) for a in archs]))
    best = scaled_baseline(space, [macs], [budget])
    assert macs.value(space, best) <= budget
    assert all(macs.value(space, a) <= macs.value(space, best) for a in archs if macs.value(space, a) <= budget)
    assert scaled_baseline(space, [macs], [1.0]) is None


def test_recipe_digest_changes_with_the_recipe():
    assert StandaloneRecipe().digest() == StandaloneRecipe().digest()
    assert StandaloneRecipe().digest() != StandaloneRecipe(steps=3).digest()


def test_job_order_runs_seed_pairs_first():
    assert ground_truth.jobs(4, 2) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0)]
    # --repeat: seed 1 of later architectures after all planned jobs (pairs already planned are not doubled)
    assert ground_truth.jobs(4, 2, (3, 1, 3)) == [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0), (3, 0), (3, 1)]


def test_runner_smoke_resume_and_truncated_line(tmp_path, tiny_fmnist, capsys):
    out = tmp_path / "ground-truth-smoke.jsonl"
    lut = tmp_path / "lut.json"
    analytic_lut(load_space("mobilenetv3-tiny"), "macs").save(lut)
    args = ["--out", str(out), "--lut", str(lut), "--samples", "1", "--second-seed", "1", "--steps", "2",
            "--batch-size", "8", "--data-dir", str(tiny_fmnist), "--extra", str(tmp_path / "none.jsonl")]
    assert ground_truth.main(args + ["--limit", "2"]) == 0
    rows = ground_truth.read_lines(out)
    assert [(r["index"], r["seed"]) for r in rows] == [(0, 0), (0, 1)]
    assert rows[0]["arch"] == rows[1]["arch"] and rows[0]["kind"] == "sample"
    for key in ("arch", "seed", "test_acc", "params", "macs", "lut_ms", "recipe", "machine"):
        assert key in rows[0]
    assert 0.0 <= rows[0]["test_acc"] <= 100.0
    # a kill mid-write leaves a partial line: it is ignored, and cut before the next append
    out.write_bytes(out.read_bytes() + b'{"arch": "trunc')
    assert len(ground_truth.read_lines(out)) == 2
    assert ground_truth.main(args + ["--limit", "1"]) == 0  # resumes with the next job, not a done one
    rows = ground_truth.read_lines(out)
    assert [(r["index"], r["seed"]) for r in rows] == [(0, 0), (0, 1), (1, 0)] and rows[2]["kind"] == "heaviest"
    text = out.read_text()
    assert text.endswith("\n") and "trunc" not in text
    # one line is reproduced exactly by --only (same seed, same thread count)
    capsys.readouterr()
    assert ground_truth.main(args + ["--only", "0", "--seed", "1"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (again["arch"], again["test_acc"], again["final_loss"]) == (rows[1]["arch"], rows[1]["test_acc"],
                                                                      rows[1]["final_loss"])


def test_analysis_on_a_slice_of_the_data_file(tmp_path):
    rows = ground_truth.read_lines(DATA_FILE)
    assert rows, "the committed data file holds no complete line"
    space = load_space(rows[0]["space"])
    for r in rows[:5]:  # every line names an architecture of the space, with the documented fields
        space.validate(ground_truth.parse_timm(space, r["arch"]))
        assert {"arch", "seed", "test_acc", "params", "macs", "lut_ms"} <= set(r)
    slice_file = tmp_path / "ground-truth-slice.jsonl"
    slice_file.write_text("".join(json.dumps(r) + "\n" for r in rows[:12]))
    fits = sorted({r["arch"]: r["lut_ms"] for r in rows[:12] if r["lut_ms"] <= 6.0}.items(), key=lambda kv: kv[1])
    assert len(fits) >= 2, "the slice needs two networks under the 6 ms budget"
    extra = tmp_path / "extra.jsonl"  # pretend a search found the first and the baseline is the second
    extra.write_text(json.dumps({"kind": "found:binas@6", "arch": fits[0][0]}) + "\n"
                     + json.dumps({"kind": "scaled@6", "arch": fits[1][0]}) + "\n")
    assert analyze_ground_truth.main(["--ground-truth", str(slice_file), "--budgets", "6.0",
                                      "--extra", str(extra)]) == 0
    result = json.loads((tmp_path / "analysis.json").read_text())
    assert result["runs"] == min(12, len(rows))
    macs = result["proxies"]["macs"]  # over every architecture and over the uniform samples alone
    assert macs["n"] == len({r["arch"] for r in rows[:12]})
    assert macs["samples_n"] == len({r["arch"] for r in rows[:12] if r["kind"] == "sample"})
    accs = {r["arch"]: [x["test_acc"] for x in rows[:12] if x["arch"] == r["arch"]] for r in rows[:12]}
    outcome = result["search"][0]
    assert outcome["found"]["binas"]["acc"] == pytest.approx(np.mean(accs[fits[0][0]]))
    assert outcome["baseline_acc"] == pytest.approx(np.mean(accs[fits[1][0]]))
    assert outcome["found"]["binas"]["vs_baseline"] == pytest.approx(outcome["found"]["binas"]["acc"]
                                                                    - outcome["baseline_acc"])
    assert (tmp_path / "search-outcome.png").stat().st_size > 0


def test_stamp_lines_rewrites_atomically_and_appends_continue(tmp_path):
    path = tmp_path / "ground-truth-x.jsonl"
    for i in range(3):
        ground_truth.append_line(path, {"arch": f"a{i}", "seed": 0})
    with open(path, "ab") as f:
        f.write(b'{"arch": "trunc')  # a killed writer's half line is dropped
    assert ground_truth.stamp_lines(path, lambda r: {**r, "oneshot_acc": 1.0} if r["arch"] == "a1" else r) == 1
    ground_truth.append_line(path, {"arch": "a3", "seed": 0})
    rows = ground_truth.read_lines(path)
    assert [r["arch"] for r in rows] == ["a0", "a1", "a2", "a3"]
    assert [r.get("oneshot_acc") for r in rows] == [None, 1.0, None, None]
    assert path.read_bytes().endswith(b"\n")


def test_scripts_refuse_bad_inputs_in_one_line(tmp_path, capsys):
    empty = tmp_path / "ground-truth-empty.jsonl"
    empty.write_text('{"arch": "trunc')  # only a truncated line
    assert analyze_ground_truth.main(["--ground-truth", str(empty)]) == 2
    assert capsys.readouterr().err.strip() == f"error: {empty} holds no complete ground-truth line"
    missing = tmp_path / "missing.json"
    assert ground_truth.run_main(lambda: analyze_ground_truth.main(["--estimator", f"x={missing}",
                                                                   "--out", str(tmp_path / "a.json")])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: estimator file {missing} does not exist"]
