"""The ImageNet image protocol at a space's input size, on PIL images.

Training: RandomResizedCrop (area 8-100% of the image, aspect ratio 3/4-4/3, torchvision's
sampling algorithm including its 10 tries and centre-crop fallback) to ``size x size``, then a
horizontal flip with probability 1/2. Evaluation: resize the shorter side to ``size / 0.875``
(256 for 224), then a centre crop of ``size x size``. Normalisation (done on the device, see
:mod:`binas.loaders`) uses ImageNet's mean and standard deviation.

The random parameters come from the ``numpy`` generator the caller passes (one per image, derived
from the seed, step and image), so a batch is the same in any worker and after a resume. The pixel
work is torchvision's (``transforms.v2.functional``) when torchvision is installed (``pip install
'binas[vision]'``), else Pillow's own bilinear resampling, which is what torchvision itself uses
on PIL images.
"""

from __future__ import annotations

import importlib.util
import math
from typing import Any

import numpy as np

__all__ = ["EVAL_CROP_FRACTION", "IMAGENET_MEAN", "IMAGENET_STD", "crop_params", "eval_image", "have_torchvision",
           "train_image"]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EVAL_CROP_FRACTION = 0.875  # centre crop 224 of 256
SCALE = (0.08, 1.0)
RATIO = (3 / 4, 4 / 3)


def have_torchvision() -> bool:
    return importlib.util.find_spec("torchvision") is not None


def _tvf() -> Any:
    from torchvision.transforms.v2 import functional

    return functional


def crop_params(width: int, height: int, rng: np.random.Generator, scale: tuple[float, float] = SCALE,
                ratio: tuple[float, float] = RATIO) -> tuple[int, int, int, int]:
    """``(top, left, h, w)`` of a RandomResizedCrop box (torchvision's algorithm, our generator)."""
    area = width * height
    log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
    for _ in range(10):
        target = area * rng.uniform(*scale)
        aspect = math.exp(rng.uniform(*log_ratio))
        w = int(round(math.sqrt(target * aspect)))
        h = int(round(math.sqrt(target / aspect)))
        if 0 < w <= width and 0 < h <= height:
            return int(rng.integers(0, height - h + 1)), int(rng.integers(0, width - w + 1)), h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, int(round(width / min(ratio)))
    elif in_ratio > max(ratio):
        h, w = height, int(round(height * max(ratio)))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


def train_image(img: Any, size: int, rng: np.random.Generator, augment: bool = True) -> np.ndarray:
    """RandomResizedCrop + flip of a PIL image -> uint8 ``(size, size[, C])``; eval protocol if not ``augment``."""
    if not augment:
        return eval_image(img, size)
    from PIL import Image

    top, left, h, w = crop_params(img.width, img.height, rng)
    flip = bool(rng.random() < 0.5)
    if have_torchvision():
        f = _tvf()
        img = f.resized_crop(img, top, left, h, w, [size, size], antialias=True)
        img = f.horizontal_flip(img) if flip else img
    else:
        img = img.resize((size, size), Image.Resampling.BILINEAR, box=(left, top, left + w, top + h))
        img = img.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if flip else img
    return np.asarray(img, dtype=np.uint8)


def eval_image(img: Any, size: int) -> np.ndarray:
    """Resize the shorter side to ``size / 0.875``, centre-crop ``size x size`` -> uint8 array."""
    from PIL import Image

    short = int(size / EVAL_CROP_FRACTION)
    if have_torchvision():
        f = _tvf()
        img = f.center_crop(f.resize(img, [short], antialias=True), [size, size])
        return np.asarray(img, dtype=np.uint8)
    if img.width <= img.height:  # as torchvision: the longer side is truncated, not rounded
        w, h = short, int(short * img.height / img.width)
    else:
        w, h = int(short * img.width / img.height), short
    img = img.resize((w, h), Image.Resampling.BILINEAR)
    left, top = int(round((w - size) / 2.0)), int(round((h - size) / 2.0))
    return np.asarray(img.crop((left, top, left + size, top + size)), dtype=np.uint8)
