"""Measured latency LUTs: entries, backends, interleaved rounds, overhead handling, kill-and-resume."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from binas.errors import BinasError, FileFormatError
from binas.lut.measure import (PARTIAL_FORMAT, MeasureSettings, build_entry, lut_entries, lut_from_samples,
                               lut_statistic, measure_lut, partial_path_for)
from binas.lut.table import load_lut, lut_key
from binas.lut.timing import OrtBackend, Runner, TimingBackend, TorchBackend, make_backend, timing_rounds
from binas.space import load_space

SMALL = {
    "name": "lut-small", "input_size": 16, "in_channels": 1, "num_classes": 4,
    "stem": {"out_channels": 8, "kernel_size": 3, "stride": 1},
    "stages": [
        {"out_channels": 8, "stride": 2, "depths": [1, 2], "choices": ["e3k3", "e3k5se"]},
        {"out_channels": 16, "stride": 2, "activation": "hswish", "depths": [1, 2], "choices": ["e3k3", "skip"]},
    ],
    "head": {"conv_channels": 32},
}


def small_space(tmp_path: Path, **changes):
    """A 2-stage space with 8 block entries (fast to measure and export)."""
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump({**SMALL, **changes}))
    return load_space(path)


FAST = MeasureSettings(repeats=3, warmup=1)


def test_entries_cover_every_position_choice_and_the_fixed_part(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    entries = lut_entries(space, batch_size=2)
    assert [e.name for e in entries][:3] == ["fixed", "1.1/e3k3", "1.1/e3k5se"]
    assert len(entries) == 1 + 8
    assert entries[0].shapes == ((2, 1, 16, 16), (2, 16, 4, 4))
    by_name = {e.name: e for e in entries}
    assert by_name["2.1/skip"].shapes == ((2, 8, 8, 8),) and by_name["2.2/e3k3"].shapes == ((2, 16, 4, 4),)
    for entry in entries:  # every unit runs on its declared shapes
        with torch.inference_mode():
            build_entry(space, entry).eval()(*[torch.randn(s) for s in entry.shapes])
    big = lut_entries(space, resolution=32)
    assert big[0].shapes[0] == (1, 1, 32, 32) and big[0].shapes[1] == (1, 16, 8, 8)


def test_measure_lut_torch(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    lut = measure_lut(space, FAST)
    assert (lut.resource, lut.unit, lut.space_hash) == ("latency", "ms", space.space_hash)
    assert set(lut.blocks) == {"1.1", "1.2", "2.1", "2.2"} and set(lut.blocks["2.2"]) == {"e3k3", "skip"}
    assert lut.fixed > 0 and all(v >= 0 for row in lut.blocks.values() for v in row.values())
    assert lut.blocks["1.1"]["e3k5se"] > 0
    meta = lut.meta
    for key in ("backend", "device", "threads", "batch_size", "resolution", "repeats", "torch", "date",
                "call_overhead_ms", "allocator"):
        assert key in meta, key
    assert (meta["backend"], meta["threads"], meta["batch_size"], meta["resolution"]) == ("torch", 1, 1, 16)
    path = lut.save(tmp_path / "lut.json")
    assert load_lut(path, space).blocks == lut.blocks  # the file passes the strict loader


def test_resolution_keeps_the_space_hash(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    lut = measure_lut(space, MeasureSettings(repeats=1, warmup=0, resolution=24))
    assert lut.space_hash == space.space_hash and lut.meta["resolution"] == 24


def test_medians_minus_call_overhead() -> None:
    space = load_space("mobilenetv3-tiny")
    samples = {"overhead": [0.01, 0.02, 0.03], "fixed": [1.0, 2.0, 9.0]}
    for e in lut_entries(space)[1:]:
        samples[e.name] = [0.5, 0.7, 0.6]
    samples["1.1/e3k3"] = [0.005, 0.001, 0.009]  # below the overhead: clamped at 0
    lut = lut_from_samples(space, MeasureSettings(), samples, {})
    assert lut.fixed == 2.0  # the network pays one call: fixed keeps it
    assert lut.blocks["1.2"]["e6k5se"] == pytest.approx(0.6 - 0.02)
    assert lut.blocks["1.1"]["e3k3"] == 0.0
    assert lut.spread["1.2"]["e6k5se"] == pytest.approx(0.1)
    assert lut.meta["call_overhead_ms"] == pytest.approx(0.02)
    assert lut.meta["statistic"] == "median" and lut_statistic(lut.meta) == "median"
    fastest = lut_from_samples(space, MeasureSettings(statistic="min"), samples, {})
    assert fastest.fixed == 1.0 and fastest.blocks["1.2"]["e6k5se"] == pytest.approx(0.5 - 0.01)
    assert fastest.spread["1.2"]["e6k5se"] == pytest.approx(0.1)  # the spread stays the IQR
    assert lut_statistic(fastest.meta) == "min"
    # LUTs written before the option described their statistic in words: they were medians
    assert lut_statistic({"statistic": "median over interleaved rounds; spread = inter-quartile range"}) == "median"
    assert lut_statistic({}) == "median"
    with pytest.raises(FileFormatError, match="the LUT's statistic 'mean' is not one of median, min"):
        lut_statistic({"statistic": "mean"})


class _Recorder(TimingBackend):
    def __init__(self) -> None:
        self.calls: list[str] = []

    def time_ms(self, runner: Runner) -> float:
        self.calls.append("*")  # the next call is the timed one
        runner.call()
        return 1.0

    def timed(self) -> list[str]:
        return [self.calls[i + 1] for i, c in enumerate(self.calls) if c == "*"]


def test_rounds_are_interleaved_and_reproducible() -> None:
    backend = _Recorder()
    names = [f"u{i}" for i in range(12)]
    runners = {n: Runner(lambda n=n: backend.calls.append(n)) for n in names}
    samples = timing_rounds(backend, runners, {}, range(4), warmup=0, seed=3)
    timed = backend.timed()
    rounds = [timed[i * 12:(i + 1) * 12] for i in range(4)]
    assert all(sorted(r) == sorted(names) for r in rounds)  # every round visits every unit once
    assert len({tuple(r) for r in rounds}) == 4  # in a fresh order each round
    assert all(len(v) == 4 for v in samples.values())
    backend.calls.clear()
    timing_rounds(backend, runners, {}, range(2, 4), warmup=0, seed=3)
    assert backend.timed() == rounds[2] + rounds[3]  # a resumed run continues with the same orders
    backend.calls.clear()
    timing_rounds(backend, runners, {}, range(1), warmup=2, seed=3)
    first, second, last = rounds[0][0], rounds[0][1], rounds[0][-1]
    # two warm-up calls, the previous unit of the round (wrapping around), then the timed call
    assert backend.calls[:10] == [first, first, last, "*", first, second, second, first, "*", second]


def test_kill_and_resume(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    partial = partial_path_for(tmp_path / "lut.json")
    settings = MeasureSettings(repeats=3, warmup=0)

    def killer(phase: str, done: int, total: int) -> None:
        if phase == "measure" and done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        measure_lut(space, settings, partial, killer)
    saved = json.loads(partial.read_text())
    assert saved["format"] == PARTIAL_FORMAT and saved["rounds_done"] == 1
    first = {k: v[0] for k, v in saved["samples"].items()}
    seen: list[tuple[str, int]] = []
    lut = measure_lut(space, settings, partial, lambda p, d, n: seen.append((p, d)))
    measured = [d for p, d in seen if p == "measure"]
    assert measured == [1, 2, 3]  # resumed after the first round, not from scratch
    final = json.loads(partial.read_text())
    assert final["rounds_done"] == 3 and {k: v[0] for k, v in final["samples"].items()} == first
    assert set(lut.blocks) == {"1.1", "1.2", "2.1", "2.2"}


def test_resume_refuses_other_settings_and_corrupt_files(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    partial = tmp_path / "lut.json.partial"
    measure_lut(space, MeasureSettings(repeats=1, warmup=0), partial)
    with pytest.raises(BinasError, match="other settings .*repeats 1 -> 2"):
        measure_lut(space, MeasureSettings(repeats=2, warmup=0), partial)
    other = small_space(tmp_path, input_size=20)
    with pytest.raises(BinasError, match="other settings"):
        measure_lut(other, MeasureSettings(repeats=1, warmup=0), partial)
    text = partial.read_text()
    partial.write_text(text[: len(text) // 2])
    with pytest.raises(FileFormatError, match="not valid JSON.*delete"):
        measure_lut(space, MeasureSettings(repeats=1, warmup=0), partial)
    broken = json.loads(text)
    broken["samples"]["1.1/e3k3"] = []
    partial.write_text(json.dumps(broken))
    with pytest.raises(FileFormatError, match="corrupt"):
        measure_lut(space, MeasureSettings(repeats=1, warmup=0), partial)
    partial.write_text(json.dumps({"format": "binas.lut/1"}))
    with pytest.raises(FileFormatError, match="not a partial LUT measurement"):
        measure_lut(space, MeasureSettings(repeats=1, warmup=0), partial)


@pytest.mark.parametrize("changes, message", [
    ({"backend": "tensorrt"}, "unknown backend"),
    ({"threads": 0}, "--threads must be at least 1"),
    ({"repeats": 0}, "--repeats must be at least 1"),
    ({"warmup": -1}, "--warmup must be 0 or more"),
    ({"resolution": 0}, "--resolution must be at least 1"),
    ({"clock": "sundial"}, "unknown clock 'sundial'"),
    ({"statistic": "mode"}, "unknown statistic 'mode': choose one of median, min"),
])
def test_bad_settings(changes: dict, message: str) -> None:
    with pytest.raises(BinasError, match=message):
        MeasureSettings(**changes).check()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_cuda_backend_without_cuda_is_a_clear_error() -> None:
    with pytest.raises(BinasError, match="torch.cuda.is_available\\(\\) is False"):
        make_backend("cuda", 1)


def test_onnxruntime_backend_matches_torch(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    entry = lut_entries(space)[2]  # 1.1/e3k5se: SE, hard-sigmoid, hard-swish-free ReLU block
    module = build_entry(space, entry).eval()
    x = torch.randn(entry.shapes[0])
    ort, eager = OrtBackend(1).prepare(module, [x]), TorchBackend(1).prepare(module, [x])
    np.testing.assert_allclose(ort.call()[0], eager.call().numpy(), rtol=1e-4, atol=1e-5)
    ort.touch()  # rewriting the inputs in place leaves them unchanged
    np.testing.assert_allclose(ort.call()[0], eager.call().numpy(), rtol=1e-4, atol=1e-5)
    assert OrtBackend(1).time_ms(ort) > 0 and OrtBackend(1).time_ms(OrtBackend(1).noop()) > 0


def test_cpu_clock(tmp_path: Path) -> None:
    with pytest.raises(BinasError, match="--clock cpu .* needs a CPU backend and --threads 1"):
        make_backend("torch", 2, "cpu")
    with pytest.raises(BinasError, match="--clock cpu"):
        make_backend("cuda", 1, "cpu")
    lut = measure_lut(small_space(tmp_path), MeasureSettings(repeats=1, warmup=0, clock="cpu"))
    assert lut.meta["clock"] == "cpu" and lut.fixed > 0


def test_lut_keys_are_one_based() -> None:
    assert lut_key(0, 0) == "1.1" and lut_key(4, 3) == "5.4"


def test_measure_and_validate_with_onnxruntime(tmp_path: Path) -> None:
    from binas.lut.fidelity import validate_lut

    space = small_space(tmp_path)
    lut = measure_lut(space, MeasureSettings(backend="onnxruntime", batch_size=2, resolution=20, repeats=2, warmup=0))
    assert (lut.meta["backend"], lut.meta["batch_size"], lut.meta["resolution"]) == ("onnxruntime", 2, 20)
    assert "onnxruntime" in lut.meta and lut.fixed > 0
    report = validate_lut(space, lut, samples=2, repeats=1, warmup=0)
    assert report["backend"] == "onnxruntime" and all(p["measured"] > 0 for p in report["pairs"])
