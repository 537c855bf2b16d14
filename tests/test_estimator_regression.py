"""Least-squares contributions from per-image outcomes (binas.estimator.regression)."""

from __future__ import annotations

import itertools

import numpy as np

from binas.estimator.predictors import encode_archs
from binas.estimator.regression import OutcomeRegression, codes_to_features
from binas.space import Architecture
from binas.supernet.model import archs_to_codes, codes_to_archs, sample_codes

from test_estimator_form import additive_oracle, toy_space


def all_archs(space):
    per_stage = []
    for st in space.stages:
        opts = []
        for d in st.depths:
            opts += [(d, combo) for combo in itertools.product(*[[c.id for c in st.positions[j]] for j in range(d)])]
        per_stage.append(opts)
    return [Architecture(tuple(o[0] for o in combo), tuple(o[1] for o in combo))
            for combo in itertools.product(*per_stage)]


def test_features_match_the_space_encoding():
    space = toy_space()
    archs = all_archs(space)
    assert np.array_equal(codes_to_features(space, archs_to_codes(space, archs)), encode_archs(space, archs))


def test_recovers_an_additive_truth_exactly_despite_image_effects():
    space = toy_space()
    truth = additive_oracle(space, seed=3)
    rng = np.random.default_rng(0)
    reg = OutcomeRegression(space, num_images=50)
    image_effect = rng.normal(0, 0.2, 50)
    for _ in range(20):  # 20 "measurements", each on 30 of the 50 images with fresh random subnets
        ids = rng.permutation(50)[:30]
        codes = sample_codes(space, rng, 30)
        y = np.array([truth(a) / 100.0 for a in codes_to_archs(space, codes)]) + image_effect[ids]
        reg.add(codes, ids, y)
    form = reg.to_form(ridge=1e-10)
    archs = all_archs(space)
    want = np.array([truth(a) for a in archs])
    got = np.array([form.predict(space, a) for a in archs])
    # the per-image effects average out of the constant only approximately; differences are exact
    assert np.allclose(got - got.mean(), want - want.mean(), atol=1e-6)


def test_bernoulli_outcomes_rank_networks():
    space = toy_space()
    truth = additive_oracle(space, seed=5)
    rng = np.random.default_rng(1)
    reg = OutcomeRegression(space, num_images=400, bilinear=True)
    difficulty = rng.normal(0, 1.0, 400)
    for _ in range(60):
        ids = rng.permutation(400)[:300]
        codes = sample_codes(space, rng, 300)
        logit = np.array([(truth(a) - 50.0) / 4.0 for a in codes_to_archs(space, codes)]) + difficulty[ids]
        reg.add(codes, ids, rng.random(300) < 1 / (1 + np.exp(-logit)))
    form = reg.to_form()
    archs = all_archs(space)
    from scipy.stats import kendalltau

    tau = kendalltau([truth(a) for a in archs], [form.predict(space, a) for a in archs])[0]
    assert tau > 0.8
