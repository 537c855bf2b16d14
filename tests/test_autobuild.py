"""AutoBuild: graph encoding, ranking losses, the predictor, model files and importance extraction."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from binas.autobuild import AutoBuildPredictor, load_autobuild, save_autobuild
from binas.autobuild.graph import FEATURES, encode_graphs, vocab_from_space
from binas.autobuild.losses import hard_rank, pairwise_ranking_loss, soft_rank, spearman_loss
from binas.autobuild.scores import (choice_contributions, enumerate_units, feature_importance, unit_contributions,
                                    unit_norms)
from binas.errors import FileFormatError
from binas.estimator.metrics import kendall_tau
from binas.estimator.predictors import NotFittedError, encode_archs
from binas.space import Architecture, SearchSpace, load_space, space_from_dict
from binas.space.encoding import archs_to_codes
from conftest import ROOT

FAST = {"epochs": 60, "dim": 16, "hidden": 16, "hops": 2}


def small_space() -> SearchSpace:
    """3 stages x 3 positions x 4 choices, depths 1..3 (84 units per stage)."""
    data = load_space("mobilenetv3-tiny").to_dict()
    data["stages"] = data["stages"][:3]
    for st in data["stages"]:
        st["depths"] = [1, 2, 3]
        st["positions"] = [["e3k3", "e3k5se", "e6k3", "e6k5se"]] * 3
    data["name"] = "small"
    return space_from_dict(data)


def additive_truth(space: SearchSpace, seed: int = 1):
    """Known ground truth: per-choice and per-depth values, accuracy = 70 + their sum."""
    rng = np.random.default_rng(seed)
    w_a, w_b = rng.normal(0, 1, space.num_alpha), rng.normal(0, 1, space.num_beta)

    def truth(archs: list[Architecture]) -> np.ndarray:
        X = encode_archs(space, archs)
        return 70.0 + X[:, : space.num_alpha] @ w_a + X[:, space.num_alpha:] @ w_b

    return truth


@pytest.fixture(scope="module")
def fitted() -> tuple[SearchSpace, AutoBuildPredictor, callable]:
    torch.set_num_threads(1)
    space = small_space()
    truth = additive_truth(space)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(240)]
    return space, AutoBuildPredictor(space, **FAST).fit_archs(archs, truth(archs)), truth


# --------------------------------------------------------------------- graph encoding
def test_graph_shapes_mask_and_chain() -> None:
    space = load_space("mobilenetv3-tiny")
    arch = Architecture((2, 4, 3, 2, 4), tuple(tuple(["e3k3"] * d) for d in (2, 4, 3, 2, 4)))
    g = encode_graphs(space, vocab_from_space(space), [arch, space.heaviest])
    assert g.features.shape == (2, 20, len(FEATURES)) and g.mask.shape == (2, 20) and g.adj.shape == (2, 20, 20)
    present = g.mask[0].bool()
    assert int(present.sum()) == 15
    # absent nodes: no edges in or out, choice features all zero, present = 0
    absent = ~present
    assert g.adj[0][absent].sum() == 0 and g.adj[0][:, absent].sum() == 0
    assert (g.features[0][absent][:, 2:] == 0).all()
    # data flow: every present node but the first has exactly one predecessor, the previous present node
    order = torch.nonzero(present).ravel().tolist()
    assert g.adj[0][order[0]].sum() == 0
    for prev, node in zip(order, order[1:]):
        assert g.adj[0][node].sum() == 1 and g.adj[0][node, prev] == 1
    assert g.adj[1].sum() == 19  # the heaviest network: one chain through all 20 blocks
    # stage 2's first block (node 4) is fed by stage 1's last present block (node 1)
    assert g.adj[0][4, 1] == 1


def test_graph_choice_codes_and_skip() -> None:
    space = load_space(ROOT / "configs" / "spaces" / "perlayer-tiny.yaml")
    vocab = vocab_from_space(space)
    arch = Architecture((1, 1, 1, 1), (("e6k3",), ("skip",), ("e6k5se",), ("e3k3",)))
    f = encode_graphs(space, vocab, [arch]).features[0]
    col = {name: i for i, name in enumerate(FEATURES)}
    assert f[:, col["stage"]].tolist() == [0, 1, 2, 3] and f[:, col["position"]].tolist() == [0, 0, 0, 0]
    assert f[1, col["skip"]] == 1 and f[1, col["expand_ratio"]] == 0 and f[1, col["kernel_size"]] == 0
    assert f[0, col["expand_ratio"]] == vocab.expand_ratios.index(6) + 1 and f[0, col["skip"]] == 0
    assert f[2, col["se"]] == 1 and f[0, col["se"]] == 0 and (f[:, col["present"]] == 1).all()


# --------------------------------------------------------------------- losses
def test_soft_rank_matches_hard_rank_at_low_temperature() -> None:
    x = torch.tensor([0.3, -1.0, 2.0, 0.5, 0.4])
    assert torch.allclose(soft_rank(x, 0.001), hard_rank(x), atol=1e-3)
    assert hard_rank(torch.tensor([1.0, 1.0, 0.0])).tolist() == [2.5, 2.5, 1.0]


@pytest.mark.parametrize("loss_fn", [spearman_loss, pairwise_ranking_loss])
def test_ranking_loss_increases_kendall_tau_on_toy_problem(loss_fn) -> None:
    """Known truth y = exp(X w*): training a linear scorer on the ranking loss alone recovers the order."""
    gen = torch.Generator().manual_seed(0)
    X = torch.randn(200, 8, generator=gen)
    y = torch.exp(X @ torch.randn(8, generator=gen))
    w = torch.randn(8, generator=gen).requires_grad_()
    before = kendall_tau(y.numpy(), (X @ w).detach().numpy())
    opt = torch.optim.Adam([w], lr=0.05)
    for _ in range(150):
        opt.zero_grad()
        loss_fn(X @ w, y).backward()
        opt.step()
    after = kendall_tau(y.numpy(), (X @ w).detach().numpy())
    assert after > 0.9 and after > before + 0.2


def test_spearman_loss_range_and_gradient() -> None:
    y = torch.arange(10.0)
    assert float(spearman_loss(y * 3, y, 0.01)) < 0.01 and float(spearman_loss(-y, y, 0.01)) > 1.99
    p = torch.zeros(10, requires_grad=True)
    spearman_loss(p + 0.01 * torch.randn(10), y).backward()
    assert p.grad is not None and torch.isfinite(p.grad).all()


# --------------------------------------------------------------------- predictor
def test_predictor_learns_ranking_and_is_seeded(fitted) -> None:
    space, model, truth = fitted
    rng = np.random.default_rng(5)
    test = [space.sample(rng) for _ in range(200)]
    tau = kendall_tau(truth(test), model.predict_archs(test))
    assert tau > 0.6
    again = AutoBuildPredictor(space, **FAST).fit_archs(*_train_set(space, truth))
    np.testing.assert_allclose(again.predict_archs(test), model.predict_archs(test), rtol=1e-5)
    # the one-hot interface of the other predictors gives the same numbers
    np.testing.assert_allclose(model.predict(encode_archs(space, test)), model.predict_archs(test))


def _train_set(space: SearchSpace, truth) -> tuple[list[Architecture], np.ndarray]:
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(240)]
    return archs, truth(archs)


def test_absent_blocks_cannot_change_a_prediction(fitted) -> None:
    space, model, _ = fitted
    arch = Architecture((1, 2, 1), (("e6k3",), ("e3k3", "e6k5se"), ("e3k5se",)))
    g = model.graphs([arch])
    feats = g.features.clone()
    absent = ~g.mask.bool()
    feats[..., 2:][absent] = 1  # arbitrary codes on absent blocks
    other = type(g)(feats, g.mask, g.adj)
    assert model.predict_graphs(g)[0] == pytest.approx(model.predict_graphs(other)[0], abs=1e-6)


def test_not_fitted_and_bad_input_errors() -> None:
    space = small_space()
    with pytest.raises(NotFittedError):
        AutoBuildPredictor(space).predict_archs([space.smallest])
    with pytest.raises(Exception, match="at least 4"):
        AutoBuildPredictor(space).fit_archs([space.smallest] * 2, [1.0, 2.0])
    with pytest.raises(Exception, match="hyperparameter"):
        AutoBuildPredictor(space, nonsense=1).fit_archs([space.smallest] * 4, [1.0, 2.0, 3.0, 4.0])


def test_model_file_round_trip_and_validation(fitted, tmp_path) -> None:
    space, model, _ = fitted
    path = save_autobuild(model, tmp_path / "ab.json")
    obj = json.loads(path.read_text())
    assert obj["format"] == "binas.estimator/1" and obj["kind"] == "autobuild"
    assert (tmp_path / obj["weights"]).is_file()
    loaded = load_autobuild(path, space)
    archs = [space.sample(np.random.default_rng(3)) for _ in range(20)]
    np.testing.assert_allclose(loaded.predict_archs(archs), model.predict_archs(archs))
    with pytest.raises(FileFormatError, match="made for space"):
        load_autobuild(path, load_space("mobilenetv3-tiny"))
    side = tmp_path / obj["weights"]
    side.write_bytes(side.read_bytes()[:-3] + b"xyz")
    with pytest.raises(FileFormatError, match="does not match"):
        load_autobuild(path, space)


# --------------------------------------------------------------------- importance
def test_feature_importance_and_unit_scores(fitted) -> None:
    space, model, truth = fitted
    rows = feature_importance(model, n_archs=64)
    assert [r["feature"] for r in rows] == list(FEATURES)
    assert sum(r["importance"] for r in rows) == pytest.approx(1.0)
    assert rows[FEATURES.index("present")]["permutation_delta"] == 0.0  # constant on present blocks
    assert rows[FEATURES.index("expand_ratio")]["permutation_delta"] > 0.0
    table = enumerate_units(space, 1)
    assert len(table) == 4 + 16 + 64 and (table.codes[table.depths == 1][:, 1:] == -1).all()
    norms = unit_norms(model, table)
    assert norms.shape == (84,) and np.isfinite(norms).all() and (norms > 0).all()
    # contributions rank the units like the known truth does (stage 2 = index 1)
    ref = Architecture((2, 1, 1), (("e6k3", "e3k3"), ("e3k3",), ("e6k5se",)))
    ctx = archs_to_codes(space, [ref])
    contrib = unit_contributions(model, table, np.arange(len(table)), ctx)
    true = truth([Architecture((2, int(table.depths[u]), 1), (ref.blocks[0], table.blocks(space, u), ref.blocks[2]))
                  for u in range(len(table))])
    assert kendall_tau(true, contrib) > 0.5


def test_choice_contributions_follow_the_truth(fitted) -> None:
    space, model, truth = fitted
    form = choice_contributions(model, n_contexts=32)
    assert form.kind == "autobuild-contributions" and form.p_alpha.shape == (space.num_alpha,)
    rng = np.random.default_rng(9)
    test = [space.sample(rng) for _ in range(100)]
    assert kendall_tau(truth(test), [form.predict(space, a) for a in test]) > 0.5
