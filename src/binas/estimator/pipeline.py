"""File-level entry points of the estimator commands: load supernet and held-out data, build, sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from binas.data import ImageData
from binas.errors import DataError
from binas.estimator.contributions import contributions_form, measurement_plan
from binas.estimator.form import BilinearForm
from binas.estimator.measure import (BuildConfig, evaluate_codes, measure_contributions, measurement_inputs,
                                     partial_path)
from binas.estimator.metrics import all_metrics
from binas.estimator.predictors import encode_archs, make_predictor
from binas.estimator.regression import OutcomeRegression
from binas.estimator.samples import Sample
from binas.io import file_digest
from binas.loaders import DataSpec, LazyImages, image_batches, normalize, open_split
from binas.lut.table import Lut
from binas.runtime import Runtime, open_runtime
from binas.space import SearchSpace
from binas.space.cost import network_cost
from binas.supernet.model import Supernet, archs_to_codes
from binas.supernet.store import FINAL_NAME, load_supernet
from binas.supernet.train.config import run_data

__all__ = ["METHODS", "build_estimator", "eval_samples", "fit_samples", "heldout_images", "heldout_tensors",
           "resolve_source",
           "sample_subnets", "supernet_fingerprint"]

Progress = Callable[[int, int], None]


def resolve_source(run: str | None, supernet: str | None, data: str | None) -> tuple[Path, str]:
    """``(supernet path, data set name)`` from ``--run`` (its config names the data) or ``--supernet``.

    Raises:
        DataError: neither or both given, or the data set is unknown.
    """
    if (run is None) == (supernet is None):
        raise DataError("give exactly one of --run RUN_DIR or --supernet FILE")
    path = Path(run or supernet)  # type: ignore[arg-type]
    if data is None and run is not None:
        data = _run_data(Path(run))
    if not data:
        raise DataError("say which data set the supernet was trained on with --data (e.g. fashion-mnist)")
    return path, str(data)


def _run_data(run: Path) -> str | None:
    """The data set named in a run directory's ``config.yaml`` (or ``config.json``), if any."""
    return run_data(run)[0] if run.is_dir() else None


def supernet_fingerprint(path: Path) -> str:
    """sha256 prefix of the supernet weights file (a run directory's final weights)."""
    return file_digest(path / FINAL_NAME if path.is_dir() else path)


def heldout_tensors(space: SearchSpace, data: str, data_dir: str | None = None, *,
                    split: str = "heldout") -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised held-out split ``(x, y)`` of an in-memory data set (never the supernet's training
    images); ``split="test"`` gives the test split instead (final numbers only). Image folders: see
    :func:`heldout_images`."""
    x, y = heldout_images(space, data, data_dir, split=split)
    if isinstance(x, LazyImages):
        raise DataError(f"{data!r} is an image folder: its images are streamed, use heldout_images")
    return x, y


def heldout_images(space: SearchSpace, data: str, data_dir: str | None = None, *, split: str = "heldout",
                   rt: Runtime | None = None, workers: int | None = None) -> tuple[torch.Tensor | LazyImages,
                                                                                    torch.Tensor]:
    """The held-out (or test) split as ``(images, labels)``: a normalised tensor on ``rt``'s device for
    in-memory data sets, :class:`~binas.loaders.LazyImages` (decoded on demand) for image folders."""
    rt = rt or Runtime()
    ds = open_split(DataSpec.for_space(data, data_dir, space, workers), split)
    if isinstance(ds, ImageData):
        return normalize(ds.images, ds, rt), ds.labels
    return LazyImages(ds, rt, workers=workers), ds.labels


METHODS = ("differences", "regression")


def build_estimator(source: Path, data: str, out: str | Path, cfg: BuildConfig, *, convention: str = "reference",
                    method: str = "differences", data_dir: str | None = None, resume: bool = False,
                    on_measured: Progress | None = None, rt: Runtime | None = None,
                    workers: int | None = None) -> BilinearForm:
    """Measure every contribution on the held-out split and write ``out`` (rank 0 under torchrun).

    ``method="differences"`` is the paper's estimator (differences of measured accuracies, in the
    given ``convention``); ``"regression"`` fits the same form by least squares to every per-image
    outcome of the same measurements (:mod:`binas.estimator.regression`). The raw measurement tables
    are stored either way. Finished measurements live in a sidecar (``OUT.partial.json``) until the
    file is written. Under ``torchrun`` (``rt``) the measurements are shared out over the ranks, each
    on its own device, and gathered; rank 0 writes ``out``.
    """
    if method not in METHODS:
        raise DataError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    if rt is None:
        with open_runtime() as fresh:
            return build_estimator(source, data, out, cfg, convention=convention, method=method, data_dir=data_dir,
                                   resume=resume, on_measured=on_measured, rt=fresh, workers=workers)
    net = load_supernet(source).to(rt.device, memory_format=rt.memory_format)
    space = net.space
    x, y = heldout_images(space, data, data_dir, rt=rt, workers=workers)
    meta = {"data": data, "supernet": supernet_fingerprint(source)}
    acc, err, correct = measure_contributions(net, space, x, y, cfg, out, resume=resume, meta=meta,
                                              on_measured=on_measured, rt=rt)
    meta = {"images": cfg.images, "crn": cfg.crn, "seed": cfg.seed, "method": method, **meta}
    form = contributions_form(space, acc, err, convention, meta)
    if method == "regression":
        reg = OutcomeRegression(space, x.shape[0], bilinear=True)
        for k, m in enumerate(measurement_plan(space)):
            idx, codes = measurement_inputs(space, k, m, x.shape[0], cfg)
            reg.add(codes, idx, correct[m.key])
        form = reg.to_form(extra={**form.extra, "convention": "regression"})
    if rt.is_main:
        form.save(out)
    rt.barrier()  # the estimator exists before any rank removes its sidecar
    partial_path(out, rt.rank, rt.world_size).unlink(missing_ok=True)
    return form


def _resources(space: SearchSpace, arch: Any, luts: list[Lut]) -> dict[str, float]:
    res = {k: float(v) for k, v in network_cost(space, arch).items()}
    res.update({lut.resource: float(lut.value(space, arch)) for lut in luts})
    return res


@torch.no_grad()
def sample_subnets(net: Supernet, x: Any, y: torch.Tensor, n: int, *, seed: int = 0,
                   luts: list[Lut] | None = None, batch_size: int = 512,
                   on_measured: Progress | None = None, rt: Runtime | None = None) -> list[Sample]:
    """One-shot top-1 (%) of ``n`` uniformly random subnets on ``x, y``, with params/MACs/LUT resources.

    Each subnet is the supernet with that fixed architecture in eval mode (equal to the extracted child).
    Every batch of images is read once and run through all ``n`` subnets (``x`` may be
    :class:`~binas.loaders.LazyImages`, decoded batch by batch); under ``torchrun`` each rank takes a
    share of the batches and the counts are summed. ``on_measured(done, total)`` counts batches.
    """
    if n < 1:
        raise DataError(f"--n must be at least 1, got {n}")
    rt = rt or Runtime()
    space, rng = net.space, np.random.default_rng(seed)
    archs = [space.sample(rng) for _ in range(n)]
    codes = [archs_to_codes(space, a) for a in archs]
    total = -(-len(x) // batch_size)
    mine = list(rt.shard(total))
    correct = torch.zeros(n, dtype=torch.float64)
    for done, b in enumerate(mine, 1):
        sub = x[b * batch_size:(b + 1) * batch_size]
        labels = y[b * batch_size:(b + 1) * batch_size]
        batch = next(image_batches(sub, batch_size))
        for i in range(n):
            correct[i] += float(evaluate_codes(net, batch, labels, codes[i], batch_size, rt).sum())
        if on_measured is not None:
            on_measured(done, len(mine))
    correct = rt.sum_(correct.to(rt.device)).cpu()
    return [Sample(a, float(c) / len(x) * 100.0, _resources(space, a, luts or [])) for a, c in zip(archs, correct)]


def fit_samples(space: SearchSpace, samples: list[Sample], kind: str, **params: Any) -> Any:
    """Fit a predictor of ``kind`` on measured samples (features: one-hot alpha/beta)."""
    if len(samples) < 2:
        raise DataError(f"need at least 2 samples to fit a predictor, got {len(samples)}")
    pred = make_predictor(kind, space, **{k: v for k, v in params.items() if v is not None})
    return pred.fit(encode_archs(space, [s.arch for s in samples]), np.array([s.accuracy for s in samples]))


def eval_samples(pred: Any, samples: list[Sample]) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """``(metrics, measured, predicted)`` of a predictor (anything with ``predict_archs``) on samples."""
    y_true = np.array([s.accuracy for s in samples])
    y_pred = np.asarray(pred.predict_archs([s.arch for s in samples]), dtype=float)
    return all_metrics(y_true, y_pred), y_true, y_pred
