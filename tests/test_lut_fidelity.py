"""`lut validate` internals: settings from the LUT, the report's statistics, calibration, the plot."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from binas.errors import BinasError, FileFormatError
from binas.lut.fidelity import _report, calibrated_lut, lut_settings, plot_fidelity, validate_lut
from binas.lut.table import Lut, analytic_lut
from binas.space import load_space
from test_lut_measure import small_space

META = {"backend": "torch", "threads": 1, "batch_size": 1, "resolution": 16}


def fake_latency_lut(space, meta=META) -> Lut:
    """A latency LUT with made-up values (params / 1e4 ms) and measurement settings."""
    params = analytic_lut(space, "params")
    blocks = {k: {c: v / 1e4 for c, v in row.items()} for k, row in params.blocks.items()}
    return Lut(space.name, space.space_hash, "latency", "ms", params.fixed / 1e4, blocks, dict(meta))


def test_validate_times_random_networks(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    lut = fake_latency_lut(space)
    result = validate_lut(space, lut, samples=4, seed=1, repeats=2, warmup=1)
    assert result["samples"] == 4 and len(result["pairs"]) == 4
    for key in ("median_abs_rel_err", "max_abs_rel_err", "kendall_tau", "slope", "intercept", "reference"):
        assert key in result
    rng = np.random.default_rng(1)
    archs = [space.sample(rng) for _ in range(4)]
    assert [p["predicted"] for p in result["pairs"]] == pytest.approx([lut.value(space, a) for a in archs])
    assert all(p["measured"] > 0 for p in result["pairs"])
    assert result["max_abs_rel_err"] >= result["median_abs_rel_err"] >= 0
    assert result["reference"]["measured_fixed"] > 0 and result["reference"]["lut_fixed"] == lut.fixed
    assert (result["backend"], result["resolution"]) == ("torch", 16)


def test_report_statistics_are_exact(tmp_path: Path) -> None:
    space = load_space("mobilenetv3-tiny")
    lut = fake_latency_lut(space)
    rng = np.random.default_rng(0)
    archs = [space.sample(rng) for _ in range(6)]
    pred = np.array([lut.value(space, a) for a in archs])
    measured = {f"net{i:04d}": [2 * p + 1, 2 * p + 1, 5 * p] for i, p in enumerate(pred)}  # median 2p + 1
    measured["reference"] = [lut.fixed * 1.1] * 3
    result = _report(space, lut, archs, measured, {**META, "statistic": "median"}, repeats=3)
    rel = np.abs(pred - (2 * pred + 1)) / (2 * pred + 1)
    assert result["median_abs_rel_err"] == pytest.approx(np.median(rel))
    assert result["max_abs_rel_err"] == pytest.approx(rel.max())
    assert (result["slope"], result["intercept"]) == (pytest.approx(2.0), pytest.approx(1.0))
    assert result["kendall_tau"] == pytest.approx(1.0)
    assert result["calibrated_median_abs_rel_err"] == pytest.approx(0.0, abs=1e-9)
    assert result["reference"]["ratio"] == pytest.approx(1.1)
    fastest = _report(space, lut, archs, measured, {**META, "statistic": "min"}, repeats=3)  # the LUT's statistic
    assert [p["measured"] for p in fastest["pairs"]] == pytest.approx(np.minimum(2 * pred + 1, 5 * pred))
    reversed_ = {**measured, **{f"net{i:04d}": [10 - p] * 3 for i, p in enumerate(pred)}}
    reversed_report = _report(space, lut, archs, reversed_, {**META, "statistic": "median"}, 3)
    assert reversed_report["kendall_tau"] == pytest.approx(-1.0)


def test_calibrated_lut_sums_to_the_fitted_line(rng: np.random.Generator) -> None:
    space = load_space("mobilenetv3-tiny")
    lut = fake_latency_lut(space)
    cal = calibrated_lut(lut, 1.25, 0.5)
    for arch in [space.sample(rng) for _ in range(5)]:
        assert cal.value(space, arch) == pytest.approx(1.25 * lut.value(space, arch) + 0.5)
    assert cal.meta["calibration"]["slope"] == 1.25
    with pytest.raises(BinasError, match="not usable"):
        calibrated_lut(lut, -0.4, 14.0)
    with pytest.raises(BinasError, match="not usable"):
        calibrated_lut(lut, 1.0, -10 * lut.fixed)


def test_settings_come_from_the_lut() -> None:
    space = load_space("mobilenetv3-tiny")
    assert lut_settings(fake_latency_lut(space)) == {**META, "clock": "wall", "statistic": "median"}
    assert lut_settings(fake_latency_lut(space, {**META, "statistic": "min"}))["statistic"] == "min"
    with pytest.raises(BinasError, match="needs a latency LUT, not a params LUT"):
        lut_settings(analytic_lut(space, "params"))
    with pytest.raises(BinasError, match="backend 'imported'"):
        lut_settings(fake_latency_lut(space, {**META, "backend": "imported"}))
    with pytest.raises(FileFormatError, match="'threads'"):
        lut_settings(fake_latency_lut(space, {k: v for k, v in META.items() if k != "threads"}))


def test_validate_refuses_other_spaces_and_too_few_samples(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    lut = fake_latency_lut(space)
    with pytest.raises(FileFormatError, match="made for space"):
        validate_lut(load_space("mobilenetv3-tiny"), lut, samples=3)
    with pytest.raises(BinasError, match="--samples must be at least 2"):
        validate_lut(space, lut, samples=1)


def test_plot_is_written(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    result = validate_lut(space, fake_latency_lut(space), samples=3, repeats=1, warmup=0)
    path = plot_fidelity(result, tmp_path / "plots" / "fidelity.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
