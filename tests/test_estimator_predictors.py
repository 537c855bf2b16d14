"""Predictors (linear/bilinear/quadratic/mlp), metrics, the samples JSONL format and predictor files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from binas.codec import format_timm
from binas.errors import DataError, FileFormatError
from binas.estimator.metrics import all_metrics, kendall_tau, mse, pearson, spearman
from binas.estimator.predictors import (PREDICTORS, BilinearPredictor, LinearPredictor, NotFittedError,
                                        encode_archs, make_predictor)
from binas.estimator.samples import Sample, read_samples, write_samples
from binas.estimator.store import load_predictor, save_predictor
from test_estimator_form import additive_oracle, toy_space


def bilinear_truth(space, seed: int = 0):
    """A truth with within-stage choice x depth interactions (what the bilinear form can express)."""
    rng = np.random.default_rng(seed)
    base = additive_oracle(space, seed)
    inter = rng.normal(0, 1.5, (space.num_alpha, space.num_beta))

    def acc(arch) -> float:
        a, b = space.encode(arch)
        same_stage = 0.0
        for s, st in enumerate(space.stages):
            ai = slice(space.alpha_offsets[s][0], space.alpha_offsets[s][0] + sum(len(p) for p in st.positions))
            bi = slice(space.beta_offsets[s], space.beta_offsets[s] + len(st.depths))
            same_stage += a[ai] @ inter[ai, bi] @ b[bi]
        return base(arch) + same_stage
    return acc


def toy_samples(n: int, acc, seed: int = 0, noise: float = 0.0) -> list[Sample]:
    space, rng = toy_space(), np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    return [Sample(a, acc(a) + noise * rng.normal(), {"params": 1.0}) for a in archs]


def test_metrics_basic_values() -> None:
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert kendall_tau(y, y) == 1.0 and spearman(y, -y) == -1.0 and pearson(y, 2 * y + 1) == pytest.approx(1.0)
    assert kendall_tau(y, [1, 3, 2, 4]) == pytest.approx(2 / 3) and mse(y, y + 1) == 1.0
    assert pearson(y, np.ones(4)) == 0.0  # constant prediction: no information, not NaN
    assert all_metrics(y, y)["n"] == 4
    with pytest.raises(DataError, match="has 4 values"):
        kendall_tau(y, y[:3])


def test_linear_is_exact_on_additive_truth_and_searchable() -> None:
    space = toy_space()
    acc = additive_oracle(space, 1)
    train, test = toy_samples(150, acc, 0), toy_samples(60, acc, 1)
    pred = LinearPredictor(space, ridge=1e-6).fit(encode_archs(space, [s.arch for s in train]),
                                                  [s.accuracy for s in train])
    form = pred.to_form()
    for s in test:
        assert form.predict(space, s.arch) == pytest.approx(acc(s.arch), abs=1e-3)
        assert pred.predict_archs([s.arch])[0] == pytest.approx(form.predict(space, s.arch))


def test_bilinear_captures_interactions_linear_cannot() -> None:
    space = toy_space()
    acc = bilinear_truth(space, 2)
    train, test = toy_samples(300, acc, 0), toy_samples(100, acc, 1)
    X, y = encode_archs(space, [s.arch for s in train]), [s.accuracy for s in train]
    y_test = np.array([s.accuracy for s in test])
    lin = LinearPredictor(space).fit(X, y).predict_archs([s.arch for s in test])
    bil = BilinearPredictor(space).fit(X, y)
    pred = bil.predict_archs([s.arch for s in test])
    assert mse(y_test, pred) < 0.05 * mse(y_test, lin)
    # the fitted Q only touches (alpha, beta) pairs of one stage whose block can be present
    form = bil.to_form()
    assert form.kind == "bilinear" and np.allclose([form.predict(space, s.arch) for s in test], pred)


@pytest.mark.parametrize("kind", sorted(PREDICTORS))
def test_every_kind_fits_saves_and_loads(tmp_path, kind: str) -> None:
    space = toy_space()
    acc = additive_oracle(space, 4)
    train, test = toy_samples(120, acc, 0, noise=0.1), toy_samples(50, acc, 1)
    params = {"epochs": 150, "hidden": 64, "random_state": 0} if kind == "mlp" else {}
    pred = make_predictor(kind, space, **params)
    with pytest.raises(NotFittedError, match="not fitted"):
        pred.predict_archs([test[0].arch])
    pred.fit(encode_archs(space, [s.arch for s in train]), [s.accuracy for s in train])
    y_test = [s.accuracy for s in test]
    before = pred.predict_archs([s.arch for s in test])
    assert kendall_tau(y_test, before) > 0.6
    path = save_predictor(pred, tmp_path / f"{kind}.json")
    obj = json.loads(path.read_text())
    assert obj["format"] == "binas.estimator/1" and obj["kind"] == kind and obj["space_hash"] == space.space_hash
    assert np.allclose(load_predictor(path, space).predict_archs([s.arch for s in test]), before, atol=1e-4)


def test_mlp_is_seeded() -> None:
    space = toy_space()
    data = toy_samples(40, additive_oracle(space), 0)
    X, y = encode_archs(space, [s.arch for s in data]), [s.accuracy for s in data]
    a = make_predictor("mlp", space, epochs=5, hidden=16, random_state=3).fit(X, y).predict(X)
    b = make_predictor("mlp", space, epochs=5, hidden=16, random_state=3).fit(X, y).predict(X)
    assert np.array_equal(a, b)


def test_predictor_files_are_validated(tmp_path) -> None:
    space = toy_space()
    data = toy_samples(30, additive_oracle(space), 0)
    pred = make_predictor("quadratic", space).fit(encode_archs(space, [s.arch for s in data]),
                                                 [s.accuracy for s in data])
    path = save_predictor(pred, tmp_path / "q.json")
    side = tmp_path / "q.weights.safetensors"
    assert side.is_file()
    with pytest.raises(FileFormatError, match="was made for space"):
        load_predictor(path, __import__("binas.space", fromlist=["load_space"]).load_space("mobilenetv3-tiny"))
    side.write_bytes(side.read_bytes()[:-3] + b"xyz")
    with pytest.raises(FileFormatError, match="sha256"):
        load_predictor(path, space)
    side.unlink()
    with pytest.raises(FileFormatError, match="missing"):
        load_predictor(path, space)
    with pytest.raises(DataError, match="unknown predictor kind"):
        make_predictor("forest", space)


def test_samples_roundtrip_and_line_numbered_errors(tmp_path) -> None:
    space = toy_space()
    data = toy_samples(5, additive_oracle(space), 0)
    path = write_samples(tmp_path / "s.jsonl", space, data)
    back = read_samples(path, space)
    assert [s.arch for s in back] == [s.arch for s in data]
    assert [s.accuracy for s in back] == pytest.approx([s.accuracy for s in data]) and back[0].resources == {"params": 1.0}
    lines = path.read_text().splitlines()
    timm_line = json.dumps({"arch": format_timm(space, data[0].arch), "accuracy": 12.5})
    (tmp_path / "t.jsonl").write_text("\n".join(lines[:2] + ["", timm_line]) + "\n")
    assert read_samples(tmp_path / "t.jsonl", space)[2].accuracy == 12.5
    bad = json.loads(lines[1])
    bad["arch"]["blocks"][0] = ["e6k5"] * len(bad["arch"]["blocks"][0])
    (tmp_path / "bad.jsonl").write_text("\n".join([lines[0], json.dumps(bad)]) + "\n")
    with pytest.raises(FileFormatError, match="line 2: architecture not in space"):
        read_samples(tmp_path / "bad.jsonl", space)
    (tmp_path / "nan.jsonl").write_text(lines[0] + "\n" + lines[1].replace('"accuracy": ', '"accuracy": "x", "y": ') + "\n")
    with pytest.raises(FileFormatError, match="line 2 'accuracy' must be a number"):
        read_samples(tmp_path / "nan.jsonl", space)
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(FileFormatError, match="holds no samples"):
        read_samples(tmp_path / "empty.jsonl", space)


def test_bilinear_loader_points_non_bilinear_kinds_to_evolution(tmp_path) -> None:
    from binas.estimator.form import load_estimator

    space = toy_space()
    data = toy_samples(20, additive_oracle(space), 0)
    pred = make_predictor("mlp", space, epochs=2, hidden=8).fit(encode_archs(space, [s.arch for s in data]),
                                                               [s.accuracy for s in data])
    path = save_predictor(pred, tmp_path / "m.json")
    with pytest.raises(FileFormatError, match="not bilinear: search it with the evolution solver"):
        load_estimator(path, space)
    lin = save_predictor(make_predictor("linear", space).fit(encode_archs(space, [s.arch for s in data]),
                                                             [s.accuracy for s in data]), tmp_path / "l.json")
    assert load_estimator(lin, space).kind == "linear"
