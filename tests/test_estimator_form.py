"""Contributions estimator maths (docs/estimator.md): the measurement plan, per-image contexts and the form,
checked against exact expectations of a toy accuracy oracle, plus the measurement engine (CRN, resume)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from binas.errors import DataError, FileFormatError
from binas.estimator.contributions import (Measurement, arch_for_context, codes_for_contexts, contributions_form,
                                           convert_convention, measurement_plan, sample_contexts)
from binas.estimator.measure import BuildConfig, measure_contributions, partial_path
from binas.space import SearchSpace, space_from_dict
from binas.supernet.model import codes_to_archs

TOY = {
    "name": "toy", "input_size": 8, "in_channels": 1, "num_classes": 3,
    "stem": {"out_channels": 4, "kernel_size": 3, "stride": 1},
    "stages": [
        # min depth 1; 1-based position 2 is not a depth option (depth stays uniform over {3})
        {"out_channels": 8, "stride": 2, "depths": [1, 3], "choices": ["e1k3", "e2k3"]},
        {"out_channels": 8, "stride": 1, "depths": [2, 3],
         "positions": [["e1k3", "e2k3"], ["e1k3", "e2k3", "e1k3se"], ["skip", "e1k3"]]},
        {"out_channels": 8, "stride": 1, "depths": [1], "positions": [["skip", "e1k3"]]},  # per-layer
    ],
    "head": {},
}


def toy_space() -> SearchSpace:
    return space_from_dict(TOY)


def additive_oracle(space: SearchSpace, seed: int = 0):
    """A random additive truth: 50 + sum_s g[s][depth] + sum over present blocks f[s][j][choice]."""
    rng = np.random.default_rng(seed)
    g = [{d: rng.normal(0, 3) for d in st.depths} for st in space.stages]
    f = [[{c.id: rng.normal(0, 2) for c in p} for p in st.positions] for st in space.stages]

    def acc(arch) -> float:
        total = 50.0
        for s, (d, blocks) in enumerate(zip(arch.depths, arch.blocks)):
            total += g[s][d] + sum(f[s][j][c] for j, c in enumerate(blocks))
        return total
    return acc


def stage_options(space: SearchSpace, s: int, m: Measurement):
    """Independent re-statement of the protocol: ``[(probability, depth, blocks)]`` of stage s under m."""
    stage = space.stages[s]
    depths = list(stage.depths)
    if m.kind == "b" and m.stage == s:
        depths = [m.depth]
    if m.kind == "a" and m.stage == s:
        j = m.position + 1
        depths = [j] if (j >= 2 and j in stage.depths) else [d for d in stage.depths if d >= j]
    out = []
    for d in depths:
        lists = [[m.choice] if (m.kind == "a" and (m.stage, m.position) == (s, j)) else [c.id for c in stage.positions[j]]
                 for j in range(d)]
        combos = list(itertools.product(*lists))
        out += [(1.0 / len(depths) / len(combos), d, combo) for combo in combos]
    return out


def exact_measurements(space: SearchSpace, acc) -> dict[str, float]:
    from binas.space import Architecture

    result = {}
    for m in measurement_plan(space):
        total = 0.0
        for combo in itertools.product(*[stage_options(space, s, m) for s in range(len(space.stages))]):
            p = float(np.prod([c[0] for c in combo]))
            total += p * acc(Architecture(tuple(c[1] for c in combo), tuple(c[2] for c in combo)))
        result[m.key] = total
    return result


def test_plan_is_one_plus_alpha_plus_beta() -> None:
    space = toy_space()
    keys = [m.key for m in measurement_plan(space)]
    assert len(keys) == len(set(keys)) == 1 + space.num_alpha + space.num_beta
    assert keys[0] == "A0" and "a:2.3:skip" in keys and "b:2:3" in keys


def test_contexts_follow_the_protocol(rng: np.random.Generator) -> None:
    space = toy_space()
    u = sample_contexts(space, 300, rng)
    for m in measurement_plan(space):
        archs = [arch_for_context(space, m, row) for row in u]
        assert codes_to_archs(space, codes_for_contexts(space, m, u)) == archs
        allowed = {(d, b) for s in range(len(space.stages)) for _, d, b in stage_options(space, s, m)}
        for arch in archs:
            space.validate(arch)
            assert all((d, b) in allowed for d, b in zip(arch.depths, arch.blocks))
    # j = 2 of stage 1 is not a depth option: the block is present at depth 3
    m = Measurement("a", 0, 1, "e2k3")
    assert {arch_for_context(space, m, row).depths[0] for row in u} == {3}
    m = Measurement("a", 1, 2, "skip")  # pinned to depth 3 in stage 2
    assert {arch_for_context(space, m, row).depths[1] for row in u} == {3}


def test_conditional_form_is_exact_for_additive_truth() -> None:
    space = toy_space()
    acc = additive_oracle(space)
    meas = exact_measurements(space, acc)
    form = contributions_form(space, meas, {}, "conditional")
    for arch in space.enumerate():
        assert form.predict(space, arch) == pytest.approx(acc(arch), abs=1e-9)
    uniform_alpha = np.concatenate([np.full(len(p), 1 / len(p)) for st in space.stages for p in st.positions])
    uniform_beta = np.concatenate([np.full(len(st.depths), 1 / len(st.depths)) for st in space.stages])
    assert form.evaluate(uniform_alpha, uniform_beta) == pytest.approx(meas["A0"])  # cumulative depth


def test_reference_form_layout_and_values() -> None:
    space = toy_space()
    meas = exact_measurements(space, additive_oracle(space, seed=3))
    ref = contributions_form(space, meas, {}, "reference")
    a0 = meas["A0"]
    assert ref.const == a0
    for s, stage in enumerate(space.stages):
        m = stage.min_depth
        for d in stage.depths:
            assert ref.p_beta[space.beta_index(s, d)] == pytest.approx(meas[f"b:{s + 1}:{d}"] - a0)
        for j, choices in enumerate(stage.positions):
            for c in choices:
                i = space.alpha_index(s, j, c.id)
                da = meas[f"a:{s + 1}.{j + 1}:{c.id}"] - a0
                assert ref.p_alpha[i] == pytest.approx(da if j + 1 <= m else 0.0)
                for d in stage.depths:
                    want = da if m < j + 1 <= d else 0.0  # absent blocks contribute nothing
                    assert ref.Q[i, space.beta_index(s, d)] == pytest.approx(want)
    cond = convert_convention(space, ref, "conditional")
    exact = contributions_form(space, meas, {}, "conditional")
    assert np.allclose(cond.Q, exact.Q) and np.allclose(cond.p_alpha, exact.p_alpha)
    assert ref.extra["Aa"]["2.3"]["skip"] == meas["a:2.3:skip"] and ref.extra["Ab"]["1"]["3"] == meas["b:1:3"]


def test_form_rejects_missing_measurements_and_conventions() -> None:
    space = toy_space()
    meas = exact_measurements(space, additive_oracle(space))
    with pytest.raises(FileFormatError, match="unknown convention"):
        contributions_form(space, meas, {}, "median")
    meas.pop("b:1:3")
    with pytest.raises(FileFormatError, match="missing"):
        contributions_form(space, meas, {}, "reference")


class OracleNet(torch.nn.Module):
    """Fake supernet: image i is correct iff its noise pixel < acc(arch_i) / 100 (labels are 0)."""

    def __init__(self, space: SearchSpace, acc) -> None:
        super().__init__()
        self.space, self.acc, self.calls = space, acc, 0

    def forward(self, x: torch.Tensor, codes: np.ndarray) -> torch.Tensor:
        self.calls += 1
        archs = codes_to_archs(self.space, codes)
        p = torch.tensor([self.acc(a) / 100 for a in archs], dtype=x.dtype)
        correct = x[:, 0, 0, 0] < p
        return torch.stack([correct.to(x.dtype), (~correct).to(x.dtype)], dim=1)


def oracle_data(n: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.rand((n, 1, 1, 1), generator=gen), torch.zeros(n, dtype=torch.long)


@pytest.mark.parametrize("crn", [True, False])
def test_measurements_match_expectations(tmp_path, crn: bool) -> None:
    space = toy_space()
    acc = additive_oracle(space)
    x, y = oracle_data(1500)
    got, err, _ = measure_contributions(OracleNet(space, acc), space, x, y, BuildConfig(images=1500, crn=crn),
                                     tmp_path / "e.json")
    exact = exact_measurements(space, acc)
    z = [(got[k] - exact[k]) / err[k] for k in exact]
    assert max(abs(v) for v in z) < 5 and all(0 < e < 2 for e in err.values())
    # CRN pairs the measurements: contributions are far less noisy than the measurements themselves
    da = np.array([got[f"a:1.1:{c}"] for c in ("e1k3", "e2k3")]) - got["A0"]
    da_true = np.array([exact[f"a:1.1:{c}"] for c in ("e1k3", "e2k3")]) - exact["A0"]
    if crn:
        assert np.abs(da - da_true).max() < 2.0


def test_interrupted_measurement_resumes_to_the_same_result(tmp_path) -> None:
    space = toy_space()
    acc = additive_oracle(space)
    x, y = oracle_data(64)
    full, _, _ = measure_contributions(OracleNet(space, acc), space, x, y, BuildConfig(images=40, crn=False, seed=5),
                                       tmp_path / "full.json")  # many measurements per forward pass
    cfg = BuildConfig(images=40, crn=False, seed=5, batch_size=40)  # one per forward pass: the same results

    def stop(done: int, total: int) -> None:
        if done == 4:
            raise KeyboardInterrupt
    out = tmp_path / "part.json"
    with pytest.raises(KeyboardInterrupt):
        measure_contributions(OracleNet(space, acc), space, x, y, cfg, out, on_measured=stop)
    assert partial_path(out).is_file()
    with pytest.raises(DataError, match="--resume"):
        measure_contributions(OracleNet(space, acc), space, x, y, cfg, out)
    with pytest.raises(DataError, match="other settings"):
        measure_contributions(OracleNet(space, acc), space, x, y, BuildConfig(images=30), out, resume=True)
    net = OracleNet(space, acc)
    resumed, _, _ = measure_contributions(net, space, x, y, cfg, out, resume=True)
    assert resumed == full
    assert net.calls == len(measurement_plan(space)) - 4  # finished measurements are not redone


def test_too_many_images_is_a_clear_error(tmp_path) -> None:
    space = toy_space()
    x, y = oracle_data(10)
    with pytest.raises(DataError, match="between 2 and the 10"):
        measure_contributions(OracleNet(space, additive_oracle(space)), space, x, y, BuildConfig(images=11),
                              tmp_path / "e.json")
