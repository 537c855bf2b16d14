"""Streaming image folders: the ImageNet protocol, bad-data refusals, deterministic loaders, the runtime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from binas.cli import app
from binas.errors import BinasError, DataError
from binas.estimator.measure import evaluate_codes
from binas.estimator.pipeline import heldout_images
from binas.loaders import DataSpec, LazyImages, eval_batches, open_split, train_batches
from binas.runtime import Runtime, open_runtime, resolve_device
from binas.space import load_space
from binas.supernet.model import Supernet, archs_to_codes
from binas.synthfolder import make_imagefolder
from binas.transforms import crop_params, eval_image, train_image

Image = pytest.importorskip("PIL.Image")
runner = CliRunner()

SPACE = """
name: folder-test
input_size: 16
in_channels: 3
num_classes: 4
stem: {out_channels: 8, kernel_size: 3, stride: 2, activation: hswish}
stages:
  - {out_channels: 8, stride: 2, activation: relu, depths: [1, 2], choices: [skip, e2k3]}
  - {out_channels: 16, stride: 1, activation: hswish, depths: [1], choices: [e1k3, e3k5se]}
head: {features: 16, activation: hswish, dropout: 0.0}
"""


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("folder")
    make_imagefolder(root, classes=3, per_class=10, val_per_class=3, min_side=20, max_side=48)
    return root


@pytest.fixture(scope="module")
def space_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("space") / "folder-test.yaml"
    path.write_text(SPACE)
    return str(path)


def _spec(root: Path, space_file: str, **kw) -> DataSpec:
    return DataSpec.for_space("imagefolder", str(root), load_space(space_file), **kw)


def test_generator_makes_mixed_files(folder):
    files = sorted((folder / "train").rglob("*.*"))
    assert len(files) == 30 and {p.parent.name for p in files} == {"c000", "c001", "c002"}
    modes = {Image.open(p).mode for p in files} | {Image.open(p).mode for p in (folder / "val").rglob("*.*")}
    sizes = {Image.open(p).size for p in files}
    assert "RGB" in modes and len(sizes) > 20 and all(20 <= min(s) and max(s) <= 48 for s in sizes)


def test_protocol_crops_and_shapes(rng):
    for w, h in [(500, 375), (120, 400), (50, 50)]:
        for _ in range(50):
            top, left, ch, cw = crop_params(w, h, rng)
            assert 0 <= top and top + ch <= h and 0 <= left and left + cw <= w and ch > 0 and cw > 0
    assert crop_params(400, 300, np.random.default_rng(5)) == crop_params(400, 300, np.random.default_rng(5))
    img = Image.new("RGB", (300, 200), (10, 20, 30))
    assert train_image(img, 224, rng).shape == (224, 224, 3)
    ev = eval_image(Image.fromarray(np.arange(300 * 200 * 3, dtype=np.uint8).reshape(200, 300, 3)), 64)
    assert ev.shape == (64, 64, 3)
    assert eval_image(img.convert("L"), 32).shape == (32, 32)


def test_split_is_a_list_of_files_with_imagenet_normalisation(folder, space_file):
    spec = _spec(folder, space_file)
    train, held, test = (open_split(spec, s) for s in ("train", "heldout", "test"))
    assert (len(train), len(held), len(test)) == (27, 3, 9) and train.num_classes == 3
    assert not set(train.index.files.tolist()) & set(held.index.files.tolist())
    assert train.mean == (0.485, 0.456, 0.406)
    (x, y), = list(eval_batches(test, Runtime(), batch_size=9))
    assert x.shape == (9, 3, 16, 16) and x.dtype == torch.float32 and y.tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_training_batches_do_not_depend_on_workers_or_resume(folder, space_file):
    data = open_split(_spec(folder, space_file), "train")
    kw = dict(batch_size=4, seed=3, stream=1, augment=True)
    a = [x for x, _ in train_batches(data, Runtime(), start=0, stop=9, workers=0, **kw)]
    b = [x for x, _ in train_batches(data, Runtime(), start=5, stop=9, workers=2, **kw)]
    assert len(a) == 9 and all(torch.equal(p, q) for p, q in zip(a[5:], b))
    assert not torch.equal(a[0], a[6])  # epoch 1 (6 steps per epoch) is another order and augmentation


def test_streamed_measurements_equal_in_memory_ones(folder, space_file):
    space = load_space(space_file)
    net = Supernet(space).eval()
    lazy, y = heldout_images(space, "imagefolder", str(folder))
    assert isinstance(lazy, LazyImages)
    dense = torch.cat([x for x, _ in eval_batches(lazy.source, Runtime(), batch_size=2)])
    codes = archs_to_codes(space, space.heaviest)
    t = torch.tensor([2, 0])
    got = evaluate_codes(net, lazy.index_select(0, t), y.index_select(0, t), codes, batch_size=1)
    again = evaluate_codes(net, lazy.index_select(0, t), y.index_select(0, t), codes, batch_size=1)  # cached pixels
    want = evaluate_codes(net, dense.index_select(0, t), y.index_select(0, t), codes, batch_size=2)
    assert got.tolist() == want.tolist() == again.tolist()


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


@pytest.mark.parametrize("damage, message", [
    (lambda r: (r / "train" / "c001" / "notes.txt").write_text("hi"), "notes.txt is not an image"),
    (lambda r: [p.unlink() for p in (r / "val" / "c002").iterdir()], "c002 holds no images"),
    (lambda r: (r / "val" / "c002").rename(r / "val" / "zzz"), "different class folders"),
])
def test_bad_folders_are_refused_with_one_sentence(folder, space_file, tmp_path, damage, message):
    root = _copy(folder, tmp_path / "bad")
    (root / "train" / ".DS_Store").write_text("ignored")  # hidden files are ignored
    damage(root)
    out = tmp_path / "run"
    result = runner.invoke(app, ["supernet", "train", "--space", space_file, "--data", "imagefolder", "--data-dir",
                                 str(root), "--out", str(out), "--max-steps", "1", "--batch-size", "4"])
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_more_classes_than_the_model_is_refused(tmp_path, space_file):
    make_imagefolder(tmp_path / "f", classes=5, per_class=2, val_per_class=1, min_side=16, max_side=20)
    with pytest.raises(DataError, match="5 classes but the model has only 4 outputs"):
        open_split(_spec(tmp_path / "f", space_file), "train")


def test_corrupt_jpeg_stops_the_run_naming_the_file(folder, space_file, tmp_path):
    root = _copy(folder, tmp_path / "corrupt")
    victim = sorted((root / "train" / "c000").glob("*.jpg"))[0]
    victim.write_bytes(victim.read_bytes()[:200])  # truncated
    out = tmp_path / "run"
    result = runner.invoke(app, ["supernet", "train", "--space", space_file, "--data", "imagefolder", "--data-dir",
                                 str(root), "--out", str(out), "--epochs", "1", "--batch-size", "4", "--stage",
                                 "heaviest", "--workers", "1"])
    assert result.exit_code == 2 and f"cannot decode {victim}" in result.output.replace("\n", "")
    assert not (out / "checkpoint.safetensors").exists() and not (out / "supernet.safetensors").exists()


def test_runtime_restores_threads_and_refuses_a_missing_gpu():
    before = torch.get_num_threads()
    with open_runtime("cpu", threads=before + 1) as rt:
        assert torch.get_num_threads() == before + 1 and rt.world_size == 1 and rt.is_main
    assert torch.get_num_threads() == before
    if not torch.cuda.is_available():
        with pytest.raises(BinasError, match="--device cuda"):
            resolve_device("cuda")
        assert resolve_device("auto").type == "cpu"


def test_library_code_leaves_process_state_alone():
    import matplotlib

    from binas.lut.timing import make_backend

    backend = matplotlib.get_backend()
    import binas.insights.plots  # noqa: F401  (used to switch the backend at import)

    assert matplotlib.get_backend() == backend
    before = torch.get_num_threads()
    with make_backend("torch", before + 1) as timing:
        assert torch.get_num_threads() == before + 1 and timing.threads == before + 1
    assert torch.get_num_threads() == before


def test_metrics_log_appends(tmp_path):
    from binas.supernet.train.metrics import MetricsLog

    log = MetricsLog(tmp_path, enabled=True)
    for step in (1, 2, 3):
        log.write({"stage": "s", "step": step, "loss": 1.0})
    with (tmp_path / "metrics.jsonl").open("a") as f:
        f.write('{"stage": "s", "st')  # a line torn by a kill
    again = MetricsLog(tmp_path, enabled=True)  # resumed at the checkpoint of step 2
    again.write({"stage": "s", "step": 3, "loss": 0.5})
    rows = [json.loads(r) for r in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    assert [(r["step"], r["loss"]) for r in rows] == [(1, 1.0), (2, 1.0), (3, 0.5)]
