"""Datasets (docs/supernet.md): in-memory uint8 images, normalised on the fly.

``load_data(name, split)`` with ``name`` one of ``fashion-mnist``, ``cifar10``, ``imagefolder`` or
``synthetic`` (or a directory holding one of the first three) and ``split`` one of ``train``,
``heldout`` (a deterministic 10% of the official training set that ``train`` excludes; estimator
measurements use it) or ``test`` (final numbers only).

No file is ever unpickled: CIFAR-10 is read from its official *binary* version
(``data_batch_{1..5}.bin``, ``test_batch.bin``), not the pickled "python batches".
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import zlib
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from binas.errors import DataError, FileFormatError
from binas.io import atomic_write_bytes, read_bytes

__all__ = ["DATASETS", "HELDOUT_FRACTION", "ImageData", "check_labels", "load_data", "split_indices"]

DATASETS = ("fashion-mnist", "cifar10", "imagefolder", "synthetic")
SPLITS = ("train", "heldout", "test")
HELDOUT_FRACTION = 0.1
FMNIST_SYSTEM_DIR = Path("/usr/share/datasets/fashion-mnist")
FMNIST_URL = "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"
# sha256 of the *decompressed* IDX files (the .gz bytes differ between mirrors and distributions)
FMNIST_FILES = {
    "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
MAX_DECOMPRESSED = 1 << 32  # bytes of one gzipped IDX file once inflated (Fashion-MNIST: 47 MB)
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"


@dataclass
class ImageData(Dataset):
    """Images ``(N, C, H, W)`` uint8 and labels ``(N,)`` int64, normalised per channel when read."""

    name: str
    images: torch.Tensor
    labels: torch.Tensor
    num_classes: int
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.normalize(self.images[index : index + 1])[0], int(self.labels[index])

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(C, H, W)`` of one image."""
        return tuple(self.images.shape[1:])  # type: ignore[return-value]

    def normalize(self, batch: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, C, H, W)`` -> float32, scaled to [0, 1] and standardised per channel."""
        mean = torch.tensor(self.mean, device=batch.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=batch.device).view(1, -1, 1, 1)
        return (batch.float() / 255.0 - mean) / std

    def subset(self, index: np.ndarray | torch.Tensor) -> "ImageData":
        """The images at ``index`` (same normalisation)."""
        idx = torch.as_tensor(np.asarray(index), dtype=torch.long)
        return ImageData(self.name, self.images[idx], self.labels[idx], self.num_classes, self.mean, self.std)


def split_indices(n: int, split: str, seed: int = 0, fraction: float = HELDOUT_FRACTION) -> np.ndarray:
    """Sorted indices of ``split`` ('train' or 'heldout') in a training set of ``n`` images (deterministic)."""
    perm = np.random.default_rng([seed, 0x5EED]).permutation(n)
    n_held = int(round(n * fraction))
    return np.sort(perm[:n_held] if split == "heldout" else perm[n_held:])


def load_data(name: str, split: str, data_dir: str | None = None, seed: int = 0, *,
              image_shape: tuple[int, int, int] | None = None, num_classes: int | None = None,
              image_size: int | None = None) -> ImageData:
    """Load a dataset split into memory.

    Args:
        name: ``fashion-mnist``, ``cifar10``, ``imagefolder``, ``synthetic``, or a directory.
        split: ``train``, ``heldout`` (10% of the official training set, excluded from ``train``) or ``test``.
        data_dir: where the files are (searched first).
        seed: selects the held-out part (keep the default so every stage agrees).
        image_shape, num_classes: shape and classes of ``synthetic`` data (default 1x28x28, 10).
        image_size: resize ``imagefolder`` images to this square size.

    Raises:
        DataError: unknown name/split, or the data cannot be found or read (says how to get it).
    """
    if split not in SPLITS:
        raise DataError(f"unknown split {split!r}: use one of {list(SPLITS)}")
    official = "test" if split == "test" else "train"
    if name == "synthetic":
        data = synthetic(official, image_shape or (1, 28, 28), num_classes or 10)
    elif name == "fashion-mnist":
        data = _fashion_mnist(official, data_dir)
    elif name == "cifar10":
        data = _cifar10(official, data_dir)
    elif name == "imagefolder" or Path(name).is_dir():
        data = _directory(name, official, data_dir, image_size)
    else:
        raise DataError(f"unknown dataset {name!r}: use one of {list(DATASETS)} or a directory")
    check_labels(data, f"data set {name!r} ({official} split)", num_classes)
    if split == "test":
        return data
    return data.subset(split_indices(len(data), split, seed))


def check_labels(data: ImageData, where: str, num_classes: int | None = None) -> None:
    """Refuse labels outside ``0..classes-1`` (the data's own classes, and the model's when given).

    Raises:
        DataError: naming the first offending label and how many there are.
    """
    classes = data.num_classes if num_classes is None else min(data.num_classes, num_classes)
    if data.num_classes > (num_classes or data.num_classes):
        raise DataError(f"{where} has {data.num_classes} classes but the model has only {num_classes}")
    if len(data) == 0:
        raise DataError(f"{where} holds no images")
    bad = (data.labels < 0) | (data.labels >= classes)
    if bool(bad.any()):
        first = int(data.labels[bad][0])
        raise DataError(f"{where} has {int(bad.sum())} label(s) outside 0..{classes - 1} (e.g. {first}): "
                        "corrupt labels or data made for another model")


def synthetic(split: str, shape: tuple[int, int, int], num_classes: int, n: int | None = None) -> ImageData:
    """Seeded learnable random data: a fixed random pattern per class plus noise (tests only)."""
    n = n or (512 if split == "train" else 256)
    gen = torch.Generator().manual_seed(1234)
    patterns = torch.rand((num_classes, *shape), generator=gen)
    gen.manual_seed(1 if split == "train" else 2)
    labels = torch.randint(num_classes, (n,), generator=gen)
    images = 0.6 * patterns[labels] + 0.4 * torch.rand((n, *shape), generator=gen)
    channels = shape[0]
    return ImageData("synthetic", (images * 255).to(torch.uint8), labels, num_classes,
                     (0.5,) * channels, (0.25,) * channels)


# --------------------------------------------------------------------- Fashion-MNIST
def _search_dirs(data_dir: str | None, *defaults: Path) -> list[Path]:
    dirs = [Path(data_dir)] if data_dir else []
    if os.environ.get("BINAS_DATA_DIR"):
        dirs.append(Path(os.environ["BINAS_DATA_DIR"]))
    return dirs + list(defaults)


def cache_dir() -> Path:
    """The user cache for downloaded data (``$XDG_CACHE_HOME/binas`` or ``~/.cache/binas``)."""
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "binas"


def _find_idx(dirs: list[Path], stem: str) -> Path | None:
    for d in dirs:
        for sub in (d, d / "fashion-mnist", d / "FashionMNIST" / "raw"):
            for candidate in (sub / stem, sub / f"{stem}.gz"):
                if candidate.is_file():
                    return candidate
    return None


def _fashion_mnist(split: str, data_dir: str | None) -> ImageData:
    prefix = "train" if split == "train" else "t10k"
    stems = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
    dirs = _search_dirs(data_dir, FMNIST_SYSTEM_DIR, cache_dir() / "fashion-mnist")
    paths = [_find_idx(dirs, s) for s in stems]
    if None in paths:
        paths = [_download_idx(s) for s in stems]
    images = _read_idx(paths[0], 3)
    labels = _read_idx(paths[1], 1)
    if images.shape[0] != labels.shape[0]:
        raise DataError(f"{paths[0]} and {paths[1]} hold different numbers of items")
    return ImageData("fashion-mnist", torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64)),
                     10, (0.2860,), (0.3530,))


def _download_idx(stem: str) -> Path:
    """Download one IDX file into the user cache, checking its checksum; clear error when impossible."""
    target = cache_dir() / "fashion-mnist" / stem
    try:
        with urllib.request.urlopen(FMNIST_URL + stem + ".gz", timeout=30) as response:
            raw = gzip.decompress(response.read())
    except (OSError, EOFError) as exc:
        raise DataError(
            "Fashion-MNIST not found (looked in --data-dir, $BINAS_DATA_DIR, /usr/share/datasets/fashion-mnist "
            f"and {target.parent}) and the download failed ({exc}); install it with "
            "'apt-get install dataset-fashion-mnist' or put the four IDX files in --data-dir"
        ) from None
    if hashlib.sha256(raw).hexdigest() != FMNIST_FILES[stem]:
        raise DataError(f"downloaded {stem} has the wrong checksum; install 'dataset-fashion-mnist' instead")

    return atomic_write_bytes(target, raw)


def _read_idx(path: Path, ndim: int) -> np.ndarray:
    """Read an IDX file (raw or gzipped) of unsigned bytes with ``ndim`` dimensions."""
    try:
        data = read_bytes(path, "data file")
        if data[:2] == b"\x1f\x8b":
            inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = inflate.decompress(data, MAX_DECOMPRESSED)
            if inflate.unconsumed_tail:
                raise DataError(f"{path} decompresses to more than {MAX_DECOMPRESSED:,} bytes")
    except FileFormatError as exc:
        raise DataError(str(exc)) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"cannot read {path}: {exc}") from None
    if len(data) < 4 + 4 * ndim or data[:4] != bytes([0, 0, 8, ndim]):
        raise DataError(f"{path} is not an IDX file of {ndim}-D unsigned bytes")
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    expected = math.prod(dims)
    if body.size != expected:
        raise DataError(f"{path} is truncated or corrupt (expected {expected} bytes of data)")
    return body.reshape(dims).copy()


# --------------------------------------------------------------------- CIFAR-10 (binary version)
def _cifar10(split: str, data_dir: str | None) -> ImageData:
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] if split == "train" else ["test_batch.bin"]
    for d in _search_dirs(data_dir, cache_dir() / "cifar10"):
        for sub in (d, d / "cifar-10-batches-bin"):
            if all((sub / n).is_file() for n in names):
                return _read_cifar(sub, names)
    raise DataError(
        "CIFAR-10 (binary version) not found in --data-dir, $BINAS_DATA_DIR or the user cache; download "
        f"{CIFAR_URL}, extract it and pass --data-dir (binas never reads the pickled python version)"
    )


def _read_cifar(folder: Path, names: list[str]) -> ImageData:
    records = []
    for n in names:
        try:
            raw = np.frombuffer(read_bytes(folder / n, "data file"), dtype=np.uint8)
        except FileFormatError as exc:
            raise DataError(str(exc)) from None
        if raw.size % 3073:
            raise DataError(f"{folder / n} is truncated or not a CIFAR-10 binary batch")
        records.append(raw.reshape(-1, 3073))
    rec = np.concatenate(records)
    images = torch.from_numpy(rec[:, 1:].reshape(-1, 3, 32, 32).copy())
    labels = torch.from_numpy(rec[:, 0].astype(np.int64))
    if int(labels.max()) > 9:
        raise DataError(f"{folder} holds labels above 9: not CIFAR-10 binary batches")
    return ImageData("cifar10", images, labels, 10, (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))


# --------------------------------------------------------------------- directories
def _directory(name: str, split: str, data_dir: str | None, image_size: int | None) -> ImageData:
    root = Path(data_dir if name == "imagefolder" else name) if (data_dir or name != "imagefolder") else None
    if root is None or not root.is_dir():
        raise DataError("imagefolder needs --data-dir pointing at a folder with train/ and val/ class folders")
    if _find_idx([root], "train-images-idx3-ubyte"):
        return _fashion_mnist(split, str(root))
    if (root / "data_batch_1.bin").is_file() or (root / "cifar-10-batches-bin").is_dir():
        return _cifar10(split, str(root))
    images, labels, classes = _read_image_folder(root / ("train" if split == "train" else "val"), image_size)
    channels = images.shape[1]
    return ImageData(f"imagefolder:{root}", images, labels, len(classes), (0.5,) * channels, (0.25,) * channels)


def _read_image_folder(folder: Path, image_size: int | None) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Images of ``folder/<class>/*`` (sorted class names) as uint8 ``(N, C, H, W)``; needs Pillow."""
    try:
        from PIL import Image
    except ImportError:
        raise DataError("imagefolder data needs Pillow: pip install 'binas[imagefolder]' (or pillow)") from None
    if not folder.is_dir():
        raise DataError(f"imagefolder: {folder} does not exist (expected train/ and val/ class folders)")
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not classes:
        raise DataError(f"imagefolder: {folder} has no class sub-folders")
    arrays, labels = [], []
    for label, cls in enumerate(classes):
        for path in sorted((folder / cls).iterdir()):
            if not path.is_file():  # sub-folders, FIFOs, sockets: never opened (a FIFO would block)
                continue
            try:
                with Image.open(path) as img:
                    img = img.convert("RGB")
                    if image_size:
                        img = img.resize((image_size, image_size))
                    arrays.append(np.asarray(img, dtype=np.uint8))
            except Image.DecompressionBombError:
                raise DataError(f"imagefolder: {path} is larger than Pillow's safety limit") from None
            except OSError:
                continue  # not an image (e.g. a README): skipped
            labels.append(label)
    if not arrays or len({a.shape for a in arrays}) != 1:
        raise DataError(f"imagefolder: {folder} has no images or images of different sizes (use image_size)")
    images = torch.from_numpy(np.stack(arrays)).permute(0, 3, 1, 2).contiguous()
    return images, torch.tensor(labels, dtype=torch.int64), classes
