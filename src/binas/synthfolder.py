"""Generate an ImageNet-like image folder (tests, benchmarks, trying the ImageNet commands without ImageNet).

``ROOT/train/cXXX/*.jpg`` and ``ROOT/val/cXXX/*.jpg``: ``classes`` classes, images of mixed sizes
(each side drawn from ``min_side..max_side``), mostly RGB JPEG, with about 10% greyscale JPEG, 5%
CMYK JPEG and 5% RGBA PNG, as in ImageNet's odd files. Each class has its own colour and stripe
pattern under per-pixel noise, so a network can learn the classes; the noise keeps the JPEGs about
as costly to decode as photographs of the same size. Deterministic for a given ``seed``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["make_imagefolder"]


def _image(rng: np.random.Generator, label: int, classes: int, width: int, height: int) -> np.ndarray:
    """uint8 ``(height, width, 3)``: the class's colour and stripes, a random shift, noise."""
    hue = np.array([np.sin(2 * np.pi * (label / classes + k / 3)) for k in range(3)]) * 70 + 128
    angle = np.pi * ((label * 0.618) % 1.0)
    freq = 2 * np.pi * (3 + label % 5) / max(width, height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    stripes = np.sin(freq * (xx * np.cos(angle) + yy * np.sin(angle)) + rng.uniform(0, 2 * np.pi))
    img = hue[None, None, :] + 50 * stripes[:, :, None] + rng.normal(0, 22, (height, width, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def make_imagefolder(root: str | Path, classes: int = 20, per_class: int = 60, val_per_class: int | None = None,
                     seed: int = 0, min_side: int = 200, max_side: int = 500) -> dict[str, int]:
    """Write the folder; returns ``{"train": n, "val": n, "bytes": total size}``.

    Args:
        per_class: training images per class; ``val_per_class`` validation images (default a fifth, >= 2).
    """
    from PIL import Image

    root = Path(root)
    val_per_class = max(2, per_class // 5) if val_per_class is None else val_per_class
    counts = {"train": 0, "val": 0, "bytes": 0}
    for split, n in (("train", per_class), ("val", val_per_class)):
        for label in range(classes):
            folder = root / split / f"c{label:03d}"
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                rng = np.random.default_rng([seed, label, i, split == "val"])
                w, h = (int(v) for v in rng.integers(min_side, max_side + 1, size=2))
                img = Image.fromarray(_image(rng, label, classes, w, h))
                kind = rng.random()
                if kind < 0.05:
                    path = folder / f"{i:05d}.png"
                    img.convert("RGBA").save(path)
                else:
                    path = folder / f"{i:05d}.jpg"
                    mode = "L" if kind < 0.15 else "CMYK" if kind < 0.20 else "RGB"
                    img.convert(mode).save(path, quality=90)
                counts[split] += 1
                counts["bytes"] += path.stat().st_size
    return counts
