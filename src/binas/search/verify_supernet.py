"""One-shot verification on the supernet (``binas search --verify K --run RUN``).

Each candidate is the supernet with that fixed architecture (equal to its extracted child), with
its BatchNorm statistics recomputed on the same calibration images from the training split
(:func:`binas.supernet.model.recalibrated`), then evaluated on the same held-out images as every
other candidate. Accuracy is top-1 in %, its standard error ``sd(correct) / sqrt(n)``; because all
candidates see the same images, differences are paired: ``paired_stderr_vs_best`` is the standard
error of each candidate's difference to the best one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from binas.errors import DataError
from binas.estimator.measure import evaluate_codes
from binas.estimator.pipeline import heldout_tensors, resolve_source
from binas.search.verify import Verdict
from binas.space import Architecture
from binas.supernet.model import Supernet, archs_to_codes, recalibrated
from binas.supernet.store import load_supernet

__all__ = ["SupernetVerifier", "load_supernet_verifier", "verdict_from_correctness"]


class SupernetVerifier:
    """Per-candidate BN recalibration, then top-1 on fixed held-out images."""

    name = "supernet"

    def __init__(self, net: Supernet, x: torch.Tensor, y: torch.Tensor, calibration: torch.Tensor,
                 batch_size: int = 256) -> None:
        self.net, self.x, self.y, self.calibration, self.batch_size = net, x, y, calibration, batch_size

    def correctness(self, archs: list[Architecture]) -> np.ndarray:
        """``(K, n)`` top-1 correctness (0/1) of each candidate on each held-out image."""
        space = self.net.space
        rows = []
        for arch in archs:
            net = recalibrated(self.net, arch, self.calibration) if self.calibration.shape[0] else self.net
            rows.append(evaluate_codes(net, self.x, self.y, archs_to_codes(space, arch), self.batch_size))
        return np.array(rows, dtype=float)

    def verify(self, archs: list[Architecture]) -> Verdict:
        return verdict_from_correctness(self.correctness(archs), int(self.calibration.shape[0]))


def verdict_from_correctness(correct: np.ndarray, calibration_images: int) -> Verdict:
    """Accuracy (%), its standard error and the paired standard error of each candidate's difference to
    the best, from ``(K, n)`` per-image correctness on the same images."""
    n = correct.shape[1]
    acc = 100.0 * correct.mean(axis=1)
    stderr = 100.0 * correct.std(axis=1, ddof=1) / np.sqrt(n)
    best = int(np.argmax(acc))
    paired = 100.0 * (correct - correct[best]).std(axis=1, ddof=1) / np.sqrt(n)
    extra = {"images": n, "calibration_images": calibration_images,
             "paired_stderr_vs_best": [float(v) for v in paired]}
    return Verdict(acc, stderr, extra)


def load_supernet_verifier(run: str | None, supernet: str | None, data: str | None, data_dir: str | None, *,
                           images: int = 2000, calibration_images: int = 500, seed: int = 0) -> SupernetVerifier:
    """The supernet of ``--run`` (or ``--supernet``) with ``images`` held-out and ``calibration_images``
    training images, both drawn once with ``seed`` and shared by every candidate.

    Raises:
        DataError: bad counts, no data set named, or fewer images than asked for.
    """
    if images < 2:
        raise DataError(f"--verify-images must be at least 2, got {images}")
    if calibration_images < 0:
        raise DataError(f"--calibration-images must be 0 or more, got {calibration_images}")
    source, data_name = resolve_source(run, supernet, data)
    net = load_supernet(Path(source))
    x, y = heldout_tensors(net.space, data_name, data_dir)
    if x.shape[0] < images:
        raise DataError(f"--verify-images {images} is more than the {x.shape[0]} held-out images")
    gen = np.random.default_rng(seed)
    idx = torch.from_numpy(gen.permutation(x.shape[0])[:images])
    calib = torch.empty((0, *x.shape[1:]))
    if calibration_images:
        xt, _ = heldout_tensors(net.space, data_name, data_dir, split="train")
        calib = xt[torch.from_numpy(gen.permutation(xt.shape[0])[:calibration_images])]
    return SupernetVerifier(net, x[idx], y[idx], calib)
