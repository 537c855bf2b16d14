"""Streaming image folders (ImageNet layout): an index of files, decoded per batch in loader workers.

``ROOT/train/<class>/**/<image>`` and ``ROOT/val/<class>/**/<image>``; classes are the sorted
sub-folder names of ``train/`` and ``val/`` must have exactly the same ones. Only the file list is
kept in memory (one fixed-width byte array: no per-file Python objects, so forked loader workers
share it instead of copying it); pixels are decoded batch by batch with the protocol of
:mod:`binas.transforms`. The held-out split is a deterministic list of file indices of ``train/``.

Bad data is refused with one sentence naming the culprit, before anything is written: a missing
split folder, no class folders, an empty class folder, a file that is not an image (by extension;
names starting with ``.`` are ignored), different class sets in ``train/`` and ``val/``. A file
with an image extension that cannot be decoded (corrupt or truncated) is refused when a batch
first reads it: the command stops with that file's name and exit code 2; checkpoints and partial
estimator builds are written atomically, so remove or replace the file and continue with
``--resume``. Images are never skipped silently: a skipped file would shift every later image's
label and change which images a seed selects.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from binas.data import split_indices
from binas.errors import DataError
from binas.transforms import IMAGENET_MEAN, IMAGENET_STD, train_image

__all__ = ["IMAGE_EXTENSIONS", "FolderData", "FolderIndex", "check_same_classes", "class_names", "decode",
           "open_folder", "scan_folder"]

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pbm", ".tif", ".tiff", ".webp", ".gif")


@dataclass(frozen=True)
class FolderIndex:
    """The files of one split folder: relative paths (fixed-width bytes) and labels, in sorted order."""

    folder: Path
    classes: tuple[str, ...]
    files: np.ndarray  # dtype S<n>: path relative to ``folder``, UTF-8
    labels: np.ndarray  # int64

    def path(self, i: int) -> Path:
        return self.folder / self.files[i].decode("utf-8")


def class_names(folder: Path) -> tuple[str, ...]:
    """The sorted class sub-folder names of a split folder (DataError when missing or empty)."""
    if not folder.is_dir():
        raise DataError(f"imagefolder: {folder} does not exist (expected train/ and val/ class folders)")
    classes = tuple(sorted(e.name for e in os.scandir(folder) if e.is_dir() and not e.name.startswith(".")))
    if not classes:
        raise DataError(f"imagefolder: {folder} has no class sub-folders")
    return classes


def scan_folder(folder: Path) -> FolderIndex:
    """List ``folder/<class>/**`` (sorted); refuses empty class folders and non-image files.

    Raises:
        DataError: naming the missing folder, the empty class or the non-image file.
    """
    classes = class_names(folder)
    files: list[str] = []
    labels: list[int] = []
    for label, cls in enumerate(classes):
        found = []
        for dirpath, dirnames, names in os.walk(folder / cls):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = os.path.relpath(dirpath, folder)
            for name in sorted(names):
                if name.startswith("."):
                    continue
                if not name.lower().endswith(IMAGE_EXTENSIONS):
                    raise DataError(f"imagefolder: {Path(dirpath) / name} is not an image (allowed extensions: "
                                    f"{' '.join(IMAGE_EXTENSIONS)}); move it out of the data folder")
                found.append(os.path.join(rel, name))
        if not found:
            raise DataError(f"imagefolder: class folder {folder / cls} holds no images (every class needs at "
                            "least one; remove the folder if the class is not wanted)")
        files += found
        labels += [label] * len(found)
    encoded = np.array([f.encode("utf-8") for f in files])
    return FolderIndex(folder, tuple(classes), encoded, np.array(labels, dtype=np.int64))


def check_same_classes(train: tuple[str, ...], val: tuple[str, ...], root: Path) -> None:
    """Refuse train/ and val/ folders whose class sets differ (labels would silently disagree)."""
    if train == val:
        return
    only_train = sorted(set(train) - set(val))
    only_val = sorted(set(val) - set(train))
    parts = ([f"only in train/: {', '.join(only_train[:5])}"] if only_train else []) + \
            ([f"only in val/: {', '.join(only_val[:5])}"] if only_val else [])
    raise DataError(f"imagefolder: {root / 'train'} and {root / 'val'} have different class folders "
                    f"({'; '.join(parts)}): both splits need the same classes")


def decode(path: Path, channels: int) -> object:
    """Open and fully decode ``path`` as RGB (or grey when ``channels == 1``); DataError naming the file."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.convert("L" if channels == 1 else "RGB")
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as exc:
        raise DataError(f"imagefolder: cannot decode {path} ({exc}); it is corrupt or truncated: replace or "
                        "remove it (then continue with --resume)") from None


@dataclass(frozen=True)
class FolderData:
    """A streaming split of an image folder (same interface as :class:`binas.data.ImageData`)."""

    name: str
    index: FolderIndex
    channels: int
    size: int
    num_classes: int

    @property
    def mean(self) -> tuple[float, ...]:
        return IMAGENET_MEAN if self.channels == 3 else (float(np.mean(IMAGENET_MEAN)),)

    @property
    def std(self) -> tuple[float, ...]:
        return IMAGENET_STD if self.channels == 3 else (float(np.mean(IMAGENET_STD)),)

    def __len__(self) -> int:
        return int(self.index.labels.shape[0])

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.size, self.size)

    @property
    def labels(self) -> torch.Tensor:
        return torch.from_numpy(self.index.labels)

    def subset(self, index: np.ndarray | torch.Tensor) -> "FolderData":
        idx = np.asarray(index, dtype=np.int64)
        return replace(self, index=replace(self.index, files=self.index.files[idx], labels=self.index.labels[idx]))

    def fetch(self, index: np.ndarray, rng: np.random.Generator | None = None) -> torch.Tensor:
        """uint8 ``(B, C, size, size)`` of the files at ``index`` (channels-last strides).

        ``rng`` given: the training protocol, each image with its own generator drawn from ``rng``;
        None: the evaluation protocol.
        """
        seeds = rng.integers(2**63, size=len(index)) if rng is not None else [None] * len(index)
        out = np.empty((len(index), self.size, self.size, self.channels), dtype=np.uint8)
        for k, (i, seed) in enumerate(zip(np.asarray(index), seeds)):
            img = decode(self.index.path(int(i)), self.channels)
            arr = train_image(img, self.size, np.random.default_rng(seed), augment=seed is not None)
            out[k] = arr.reshape(self.size, self.size, self.channels)
        return torch.from_numpy(out).permute(0, 3, 1, 2)


def open_folder(root: Path, split: str, channels: int, size: int, seed: int = 0) -> FolderData:
    """The ``train``/``heldout`` (file indices of ``train/``) or ``test`` (``val/``) split of ``root``.

    The other split's class names are compared too, so a mismatch is refused whichever split is asked for.
    """
    index = scan_folder(root / ("val" if split == "test" else "train"))
    other = class_names(root / ("train" if split == "test" else "val"))  # names only: cheap at ImageNet scale
    check_same_classes(index.classes if split != "test" else other, other if split != "test" else index.classes, root)
    data = FolderData(f"imagefolder:{root}", index, channels, size, len(index.classes))
    if split == "test":
        return data
    return data.subset(split_indices(len(data), split, seed))
