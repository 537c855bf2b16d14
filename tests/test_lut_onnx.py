"""`lut export-blocks` (ONNX per block + manifest) and `lut import` (timings CSV -> binas.lut/1)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

from binas.errors import BinasError, FileFormatError
from binas.lut.measure import build_entry, lut_entries
from binas.lut.onnx_blocks import export_blocks, import_csv, onnx_bytes
from binas.lut.table import load_lut
from test_lut_measure import small_space


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory):
    tmp = tmp_path_factory.mktemp("blocks")
    space = small_space(tmp)
    manifest = export_blocks(space, tmp / "out", batch_size=2)
    return space, tmp / "out", manifest


def test_manifest_lists_every_file_with_shapes(exported) -> None:
    space, out, manifest = exported
    assert json.loads((out / "manifest.json").read_text()) == manifest
    assert manifest["format"] == "binas.blocks/1" and manifest["space_hash"] == space.space_hash
    assert (manifest["batch_size"], manifest["resolution"]) == (2, 16)
    assert len(manifest["entries"]) == 9 and manifest["entries"][0]["file"] == "fixed.onnx"
    for row in manifest["entries"]:
        session = ort.InferenceSession(str(out / row["file"]), providers=["CPUExecutionProvider"])
        feed = {i["name"]: np.random.randn(*i["shape"]).astype(np.float32) for i in row["inputs"]}
        assert [tuple(x.shape) for x in session.get_inputs()] == [tuple(i["shape"]) for i in row["inputs"]]
        session.run(None, feed)  # every exported model runs on its manifest shapes
    rows = list(csv.reader((out / "timings.csv").open()))
    assert rows[0] == ["key", "choice", "value"] and rows[1] == ["fixed", "", ""] and len(rows) == 10


def test_onnx_block_equals_torch(exported) -> None:
    space = exported[0]
    entry = next(e for e in lut_entries(space) if e.name == "1.2/e3k5se")
    module = build_entry(space, entry).eval()
    x = torch.randn(entry.shapes[0])
    session = ort.InferenceSession(onnx_bytes(module, [x], ["input0"]), providers=["CPUExecutionProvider"])
    with torch.inference_mode():
        expected = module(x).numpy()
    np.testing.assert_allclose(session.run(None, {"input0": x.numpy()})[0], expected, rtol=1e-4, atol=1e-5)


def fill_csv(out: Path, path: Path, scale: float = 1.0, drop: int = 0) -> Path:
    rows = list(csv.reader((out / "timings.csv").open()))
    for i, row in enumerate(rows[1:], start=1):
        row[2] = f"{i * scale:g}"
    path.write_text("\n".join(",".join(r) for r in rows[: len(rows) - drop]) + "\n")
    return path


def test_import_round_trip(exported, tmp_path: Path) -> None:
    space, out, _ = exported
    lut = import_csv(space, fill_csv(out, tmp_path / "t.csv"), device="phone", manifest=out / "manifest.json")
    assert (lut.resource, lut.unit, lut.fixed) == ("latency", "ms", 1.0)
    assert lut.blocks["1.1"] == {"e3k3": 2.0, "e3k5se": 3.0}
    assert lut.meta["backend"] == "imported" and lut.meta["device"] == "phone" and lut.meta["batch_size"] == 2
    assert load_lut(lut.save(tmp_path / "lut.json"), space).blocks == lut.blocks
    seconds = import_csv(space, fill_csv(out, tmp_path / "s.csv", scale=0.001), unit="s")
    assert seconds.fixed == pytest.approx(1.0) and seconds.blocks["2.2"]["skip"] == pytest.approx(9.0)


def test_import_accepts_spread_reordered_columns_and_dash(exported, tmp_path: Path) -> None:
    space, out, _ = exported
    rows = [r for r in csv.reader((out / "timings.csv").open())][1:]
    lines = ["value,spread,key,choice,notes"] + [f"{i},0.1,{k},{c or '-'},x" for i, (k, c, _) in enumerate(rows, 1)]
    (tmp_path / "t.csv").write_text("\n".join(lines))
    lut = import_csv(space, tmp_path / "t.csv")
    assert lut.fixed == 1.0 and lut.spread["1.1"]["e3k3"] == pytest.approx(0.1)


@pytest.mark.parametrize("edit, message", [
    (lambda t: t.replace("key,choice,value", "key,option,value"), "must have the columns key,choice,value"),
    (lambda t: t.replace("1.1,e3k3,2", "1.9,e3k3,2"), "line 3: .*'1.9'.* is not a block position"),
    (lambda t: t.replace("1.1,e3k3,2", "1.1,e6k7,2"), "'e6k7'.* is not a block position"),
    (lambda t: t + "1.1,e3k3,4\n", "line 11: duplicate row for 1.1 e3k3"),
    (lambda t: t.replace("1.1,e3k3,2", "1.1,e3k3,fast"), "line 3: value 'fast' is not a number"),
    (lambda t: t.replace("1.1,e3k3,2", "1.1,e3k3,-2"), "must be a finite number >= 0"),
    (lambda t: t.replace("1.1,e3k3,2", "1.1,e3k3,inf"), "must be a finite number >= 0"),
    (lambda t: t.replace("1.1,e3k3,2", "1.1,e3k3,"), "value '' is not a number"),
    (lambda t: "\n".join(t.splitlines()[:-2]) + "\n", "lacks 2 row\\(s\\), e.g. 2.2 e3k3, 2.2 skip"),
])
def test_import_errors(exported, tmp_path: Path, edit, message: str) -> None:
    space, out, _ = exported
    path = fill_csv(out, tmp_path / "t.csv")
    path.write_text(edit(path.read_text()))
    with pytest.raises(FileFormatError, match=message):
        import_csv(space, path)


def test_import_refuses_bad_unit_missing_file_and_other_space(exported, tmp_path: Path) -> None:
    space, out, _ = exported
    path = fill_csv(out, tmp_path / "t.csv")
    with pytest.raises(BinasError, match="--unit 'min' is not a time unit"):
        import_csv(space, path, unit="min")
    with pytest.raises(FileFormatError, match="does not exist"):
        import_csv(space, tmp_path / "nope.csv")
    other = small_space(tmp_path, num_classes=5)
    with pytest.raises(FileFormatError, match="exported for space"):
        import_csv(other, path, manifest=out / "manifest.json")
