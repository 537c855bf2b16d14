"""Datasets: IDX / CIFAR binary / image folders / synthetic, search order, splits, clear errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch

import binas.data as data_mod
from binas.data import load_data, split_indices
from binas.errors import DataError


def _idx(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def _write_fmnist(folder, n_train: int = 50, n_test: int = 20, gz: bool = True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        parts = {f"{prefix}-images-idx3-ubyte": rng.integers(0, 256, (n, 28, 28)),
                 f"{prefix}-labels-idx1-ubyte": rng.integers(0, 10, (n,))}
        for stem, arr in parts.items():
            raw = _idx(arr)
            (folder / (stem + ".gz" if gz else stem)).write_bytes(gzip.compress(raw) if gz else raw)
    return folder


@pytest.fixture
def no_system_data(monkeypatch, tmp_path):
    """Hide the system Fashion-MNIST, the user cache and $BINAS_DATA_DIR; make downloads fail."""
    monkeypatch.setattr(data_mod, "FMNIST_SYSTEM_DIR", tmp_path / "nowhere")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("BINAS_DATA_DIR", raising=False)

    def fail(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(data_mod.urllib.request, "urlopen", fail)


def test_split_is_deterministic_disjoint_and_complete():
    train, held = split_indices(1000, "train"), split_indices(1000, "heldout")
    assert len(held) == 100 and len(train) == 900
    assert not set(train) & set(held) and set(train) | set(held) == set(range(1000))
    assert (split_indices(1000, "heldout") == held).all()
    assert not (split_indices(1000, "heldout", seed=1) == held).all()


@pytest.mark.parametrize("gz", [True, False])
def test_fashion_mnist_from_data_dir(tmp_path, no_system_data, gz):
    folder = _write_fmnist(tmp_path / "fm", gz=gz)
    train = load_data("fashion-mnist", "train", str(folder))
    held = load_data("fashion-mnist", "heldout", str(folder))
    test = load_data("fashion-mnist", "test", str(folder))
    assert (len(train), len(held), len(test)) == (45, 5, 20)
    assert train.images.dtype == torch.uint8 and train.shape == (1, 28, 28)
    x, y = train[0]
    assert x.dtype == torch.float32 and 0 <= y < 10


def test_search_order_env_var_then_cache(tmp_path, no_system_data, monkeypatch):
    _write_fmnist(tmp_path / "env", n_train=30)
    monkeypatch.setenv("BINAS_DATA_DIR", str(tmp_path / "env"))
    assert len(load_data("fashion-mnist", "test")) == 20
    _write_fmnist(tmp_path / "explicit", n_train=40, n_test=10)
    assert len(load_data("fashion-mnist", "test", str(tmp_path / "explicit"))) == 10  # --data-dir first
    monkeypatch.delenv("BINAS_DATA_DIR")
    _write_fmnist(tmp_path / "cache" / "binas" / "fashion-mnist", n_test=7)
    assert len(load_data("fashion-mnist", "test")) == 7


def test_missing_fashion_mnist_names_the_package(no_system_data):
    with pytest.raises(DataError, match="apt-get install dataset-fashion-mnist"):
        load_data("fashion-mnist", "train")


def test_corrupt_idx_is_refused(tmp_path, no_system_data):
    folder = _write_fmnist(tmp_path / "fm", gz=False)
    path = folder / "t10k-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:-10])
    with pytest.raises(DataError, match="truncated"):
        load_data("fashion-mnist", "test", str(folder))


def test_cifar10_binary_batches(tmp_path, monkeypatch):
    monkeypatch.delenv("BINAS_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    folder = tmp_path / "cifar-10-batches-bin"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in [(f"data_batch_{i}.bin", 4) for i in range(1, 6)] + [("test_batch.bin", 6)]:
        rec = rng.integers(0, 256, (n, 3073)).astype(np.uint8)
        rec[:, 0] = rng.integers(0, 10, n)
        rec.tofile(folder / name)
    train = load_data("cifar10", "train", str(tmp_path))
    test = load_data("cifar10", "test", str(folder))
    assert train.shape == (3, 32, 32) and len(train) == 18 and len(test) == 6
    with pytest.raises(DataError, match="cifar-10-binary"):
        load_data("cifar10", "train", str(tmp_path / "empty"))


def test_imagefolder(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    for split in ("train", "val"):
        for cls, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
            (tmp_path / split / cls).mkdir(parents=True)
            for i in range(3):
                pil.new("RGB", (10 + i, 10), colour).save(tmp_path / split / cls / f"{i}.png")
    test = load_data("imagefolder", "test", str(tmp_path), image_size=8)
    assert test.shape == (3, 8, 8) and len(test) == 6 and test.num_classes == 2
    assert load_data(str(tmp_path), "test", image_size=8).labels.tolist() == [0, 0, 0, 1, 1, 1]
    with pytest.raises(DataError, match="different sizes"):
        load_data("imagefolder", "test", str(tmp_path))


def test_synthetic_is_seeded_and_shaped():
    a = load_data("synthetic", "train", image_shape=(3, 8, 8), num_classes=4)
    b = load_data("synthetic", "train", image_shape=(3, 8, 8), num_classes=4)
    assert a.shape == (3, 8, 8) and a.num_classes == 4 and torch.equal(a.images, b.images)
    assert int(a.labels.max()) <= 3


def test_unknown_name_and_split():
    with pytest.raises(DataError, match="unknown dataset"):
        load_data("mnist-ish", "train")
    with pytest.raises(DataError, match="unknown split"):
        load_data("synthetic", "validation")
