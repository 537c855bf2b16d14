"""One data layer for every stage: a data spec -> a split -> a PyTorch ``DataLoader`` of device batches.

Sources: the in-memory readers of :mod:`binas.data` (Fashion-MNIST, CIFAR-10, synthetic) and
streaming image folders (:mod:`binas.imagefolder`). Both answer ``fetch(index, rng)`` with a uint8
batch; the loader moves it to the runtime's device (pinned, non-blocking on CUDA) and normalises it
there with the source's mean/std.

Training batches are a pure function of ``(seed, stream, step, rank)``: the order of an epoch is a
seeded :class:`~torch.utils.data.DistributedSampler` (shuffled, ``drop_last``), and each step's
augmentation generator is seeded from the step. A ``DataLoader`` item is one whole step, so loader
workers (processes) can build any step independently, and a run resumed at step ``k`` sees exactly
the batches an uninterrupted one would. One loader serves a whole stage (all its epochs), so its
workers live for the stage. In-memory sources are read in the main process (no workers).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader, Dataset, DistributedSampler

from binas.data import ImageData, load_data
from binas.errors import DataError
from binas.imagefolder import FolderData, open_folder
from binas.runtime import Runtime

__all__ = ["DataSpec", "LazyImages", "Source", "image_batches", "normalize", "augment_batch", "default_workers", "eval_batches", "open_split", "pick",
           "steps_per_epoch", "train_batches"]

Source = Union[ImageData, FolderData]


@dataclass(frozen=True)
class DataSpec:
    """What data a stage reads, at which shape, for how many model classes."""

    name: str  # fashion-mnist | cifar10 | imagefolder | synthetic | a directory
    data_dir: str | None = None
    channels: int = 1
    size: int = 28
    num_classes: int = 10  # the model's classes: labels must be below this
    workers: int | None = None  # loader worker processes for image folders (None: automatic)

    @classmethod
    def for_space(cls, name: str, data_dir: str | None, space: Any, workers: int | None = None) -> "DataSpec":
        return cls(name, data_dir, space.in_channels, space.input_size, space.num_classes, workers)


def _folder_root(spec: DataSpec) -> Path | None:
    """The image-folder root when ``spec`` names one (not a Fashion-MNIST/CIFAR directory), else None."""
    if spec.name not in ("imagefolder",) and not Path(spec.name).is_dir():
        return None
    root = Path(spec.data_dir if spec.name == "imagefolder" else spec.name) if (spec.data_dir or
                                                                                spec.name != "imagefolder") else None
    if root is None or not root.is_dir():
        raise DataError("imagefolder needs --data-dir pointing at a folder with train/ and val/ class folders")
    if (root / "train").is_dir() or (root / "val").is_dir():
        return root
    return None  # Fashion-MNIST IDX or CIFAR binary files: the in-memory readers


def open_split(spec: DataSpec, split: str, seed: int = 0) -> Source:
    """The ``train`` / ``heldout`` / ``test`` split of ``spec``, checked against the model's input and classes.

    Raises:
        DataError: missing or bad data, another image shape or channel count, or more classes than the model.
    """
    root = _folder_root(spec)
    if root is not None:
        if split not in ("train", "heldout", "test"):
            raise DataError(f"unknown split {split!r}: use one of ['train', 'heldout', 'test']")
        try:
            import PIL  # noqa: F401
        except ImportError:
            raise DataError("imagefolder data needs Pillow: pip install 'binas[imagefolder]'") from None
        data: Source = open_folder(root, split, spec.channels, spec.size, seed)
    else:
        data = load_data(spec.name, split, spec.data_dir, seed, image_shape=(spec.channels, spec.size, spec.size),
                         num_classes=spec.num_classes)
    if tuple(data.shape) != (spec.channels, spec.size, spec.size):
        raise DataError(f"data set {spec.name!r} has images of shape {tuple(data.shape)} but the model expects "
                        f"{(spec.channels, spec.size, spec.size)}")
    if data.num_classes > spec.num_classes:
        raise DataError(f"data set {spec.name!r} has {data.num_classes} classes but the model has only "
                        f"{spec.num_classes} outputs: use a space with num_classes >= {data.num_classes}")
    return data


def default_workers(source: Source, workers: int | None = None) -> int:
    """Loader worker processes: 0 for in-memory data; for folders ``workers`` or the CPUs per local rank (<= 8)."""
    if isinstance(source, ImageData):
        return 0
    if workers is not None:
        return max(0, workers)
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return max(1, min(8, (os.cpu_count() or 1) // local))


def fetch(source: Source, index: np.ndarray, rng: np.random.Generator | None) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` images at ``index``; augmented (train protocol) with ``rng``, plain without."""
    if isinstance(source, FolderData):
        return source.fetch(index, rng)
    images = source.images[torch.as_tensor(index, dtype=torch.long)]
    return augment_batch(images, rng) if rng is not None else images


def augment_batch(images: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
    """Random crop with 2-pixel zero padding and random horizontal flip, per image (uint8 B, C, H, W).

    The augmentation of the small in-memory data sets (28/32 px); image folders use the ImageNet
    protocol of :mod:`binas.transforms`.
    """
    b, _, h, w = images.shape
    padded = F.pad(images, (2, 2, 2, 2))
    oy, ox = (torch.from_numpy(rng.integers(0, 5, size=b)) for _ in range(2))
    rows = (oy[:, None] + torch.arange(h))[:, :, None]  # B, H, 1
    cols = (ox[:, None] + torch.arange(w))[:, None, :]  # B, 1, W
    flip = torch.from_numpy(rng.random(b) < 0.5)[:, None, None]
    cols = torch.where(flip, cols.flip(-1), cols)
    return padded[torch.arange(b)[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()


def pick(source: Source, k: int) -> np.ndarray:
    """``k`` deterministic image indices of ``source``: the first ``k`` of an in-memory set (already in random
    order), evenly spread over an image folder (sorted by class, so the first ``k`` would miss most classes)."""
    n = len(source)
    k = min(k, n)
    if isinstance(source, FolderData):
        return np.linspace(0, n, k, endpoint=False).astype(np.int64)
    return np.arange(k)


def steps_per_epoch(n: int, world_size: int, batch_size: int) -> int:
    """Full batches per epoch and rank (``drop_last``); DataError when not even one fits."""
    per_rank = n // world_size
    if per_rank // batch_size < 1:
        raise DataError(f"batch size {batch_size} is larger than the {per_rank} training images each process gets")
    return per_rank // batch_size


class _TrainSteps(Dataset):
    """Item ``step`` = this rank's batch of that step: ``(uint8 images, labels, error message or "")``."""

    def __init__(self, source: Source, batch_size: int, rank: int, world: int, seed: int, stream: int,
                 augment: bool) -> None:
        self.source, self.batch_size, self.rank, self.world = source, batch_size, rank, world
        self.seed, self.stream, self.augment = seed, stream, augment
        self.per_epoch = steps_per_epoch(len(source), world, batch_size)
        self._epoch, self._order = -1, np.empty(0, dtype=np.int64)

    def order(self, epoch: int) -> np.ndarray:
        """This rank's image order in ``epoch`` (a seeded DistributedSampler; cached per epoch)."""
        if epoch != self._epoch:
            sampler = DistributedSampler(range(len(self.source)), self.world, self.rank, shuffle=True,
                                         seed=self.seed * 10 + self.stream, drop_last=True)
            sampler.set_epoch(epoch)
            self._epoch, self._order = epoch, np.fromiter(iter(sampler), dtype=np.int64)
        return self._order

    def __len__(self) -> int:
        return 2**62

    def __getitem__(self, step: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        epoch, i = divmod(step, self.per_epoch)
        idx = self.order(epoch)[i * self.batch_size:(i + 1) * self.batch_size]
        rng = np.random.default_rng([self.seed, self.stream, step, self.rank, 1]) if self.augment else None
        try:
            return fetch(self.source, idx, rng), self.source.labels[torch.from_numpy(idx)], ""
        except DataError as exc:  # re-raised in the main process as one sentence
            return torch.empty(0), torch.empty(0), str(exc)


class _EvalBatches(Dataset):
    """Item ``k`` = the ``k``-th batch of a fixed index list (evaluation protocol)."""

    def __init__(self, source: Source, index: np.ndarray, batch_size: int) -> None:
        self.source, self.index, self.batch_size = source, index, batch_size

    def __len__(self) -> int:
        return -(-len(self.index) // self.batch_size)

    def __getitem__(self, k: int) -> tuple[torch.Tensor, torch.Tensor, str]:
        idx = self.index[k * self.batch_size:(k + 1) * self.batch_size]
        try:
            return fetch(self.source, idx, None), self.source.labels[torch.from_numpy(idx)], ""
        except DataError as exc:
            return torch.empty(0), torch.empty(0), str(exc)


def normalize(images: torch.Tensor, source: Source, rt: Runtime) -> torch.Tensor:
    """uint8 ``(B, C, H, W)`` -> float32 on ``rt``'s device, scaled to [0, 1] and standardised per channel."""
    mean = torch.tensor(source.mean, device=rt.device).view(1, -1, 1, 1)
    std = torch.tensor(source.std, device=rt.device).view(1, -1, 1, 1)
    return (rt.to_device(images).float() / 255.0 - mean) / std


def _raw_batches(dataset: Dataset, items: Any, rt: Runtime, workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """The DataLoader of ``dataset`` (one item = one batch): uint8 images and labels, errors raised here."""
    loader = DataLoader(dataset, batch_size=None, sampler=items, num_workers=workers, pin_memory=rt.is_cuda,
                        persistent_workers=workers > 0, prefetch_factor=4 if workers else None)
    for images, labels, error in loader:
        if error:
            raise DataError(error)
        yield images, labels


def _device_batches(dataset: Dataset, items: Any, source: Source, rt: Runtime,
                    workers: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    for images, labels in _raw_batches(dataset, items, rt, workers):
        yield normalize(images, source, rt), labels.to(rt.device, non_blocking=rt.is_cuda)


def train_batches(source: Source, rt: Runtime, *, batch_size: int, seed: int, stream: int, start: int, stop: int,
                  augment: bool = True, workers: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised device batches ``(x, y)`` of steps ``start..stop-1`` of one training stream (see module doc).

    Args:
        stream: tells apart the streams of one seed (stage A, stage B, fine-tuning).
    """
    dataset = _TrainSteps(source, batch_size, rt.rank, rt.world_size, seed, stream, augment)
    return _device_batches(dataset, range(start, stop), source, rt, default_workers(source, workers))


def eval_batches(source: Source, rt: Runtime, index: np.ndarray | None = None, *, batch_size: int = 250,
                 workers: int | None = None) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """Normalised device batches ``(x, y)`` of the images at ``index`` (default: all), in that order."""
    index = np.arange(len(source)) if index is None else np.asarray(index, dtype=np.int64)
    dataset = _EvalBatches(source, index, batch_size)
    n = len(dataset)
    return _device_batches(dataset, range(n), source, rt, min(default_workers(source, workers), n))


class LazyImages:
    """The images of a split, decoded only when a batch is asked for (never the whole split in memory).

    Stands in for the normalised image tensor of the in-memory path: ``len``, ``shape``,
    ``index_select(0, t)`` (a view on other images) and :meth:`batches`. The uint8 pixels of the most
    recent selection are kept while they fit in ``cache_bytes`` (an estimator build with common random
    numbers reads the same images in every measurement), so memory grows with the selection, never
    with the data set.
    """

    def __init__(self, source: Source, rt: Runtime, index: np.ndarray | None = None, workers: int | None = None,
                 cache_bytes: int = 2 << 30, _cache: dict | None = None) -> None:
        self.source, self.rt, self.workers, self.cache_bytes = source, rt, workers, cache_bytes
        self.index = np.arange(len(source)) if index is None else np.asarray(index, dtype=np.int64)
        self._cache = {} if _cache is None else _cache

    def __len__(self) -> int:
        return len(self.index)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.index), *self.source.shape)

    @property
    def labels(self) -> torch.Tensor:
        return self.source.labels[torch.from_numpy(self.index)]

    def index_select(self, dim: int, t: torch.Tensor) -> "LazyImages":
        assert dim == 0
        return LazyImages(self.source, self.rt, self.index[t.cpu().numpy()], self.workers, self.cache_bytes,
                          self._cache)

    def __getitem__(self, sl: slice) -> "LazyImages":
        return LazyImages(self.source, self.rt, self.index[sl], self.workers, self.cache_bytes, self._cache)

    def batches(self, batch_size: int) -> Iterator[torch.Tensor]:
        """Normalised device batches of the selected images, in order."""
        key = self.index.tobytes()
        cached = self._cache.get("key") == key
        fits = len(self.index) * int(np.prod(self.source.shape)) <= self.cache_bytes
        if cached:
            pixels = self._cache["pixels"]
            for start in range(0, len(self.index), batch_size):
                yield normalize(pixels[start:start + batch_size], self.source, self.rt)
            return
        keep: list[torch.Tensor] = []
        self._cache.clear()
        dataset = _EvalBatches(self.source, self.index, batch_size)
        workers = min(default_workers(self.source, self.workers), len(dataset))
        for images, _ in _raw_batches(dataset, range(len(dataset)), self.rt, workers):
            if fits:
                keep.append(images)
            yield normalize(images, self.source, self.rt)
        if fits and keep:
            self._cache.update(key=key, pixels=torch.cat(keep))


def image_batches(x: torch.Tensor | LazyImages, batch_size: int) -> Iterator[torch.Tensor]:
    """Batches of an in-memory image tensor (slices) or of :class:`LazyImages` (decoded on demand)."""
    if isinstance(x, LazyImages):
        yield from x.batches(batch_size)
        return
    for start in range(0, x.shape[0], batch_size):
        yield x[start:start + batch_size]
