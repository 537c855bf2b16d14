"""File-level entry points of the estimator commands: load supernet and held-out data, build, sample."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from binas.data import load_data
from binas.errors import DataError, FileFormatError
from binas.estimator.contributions import contributions_form, measurement_plan
from binas.estimator.form import BilinearForm
from binas.estimator.measure import (BuildConfig, evaluate_codes, measure_contributions, measurement_inputs,
                                     partial_path, rank_world)
from binas.estimator.regression import OutcomeRegression
from binas.estimator.samples import Sample
from binas.io import file_digest, load_yaml, read_text
from binas.nn.supernet import Supernet, archs_to_codes, load_supernet
from binas.resources.analytic import network_cost
from binas.resources.lut import Lut
from binas.space import SearchSpace

__all__ = ["METHODS", "build_estimator", "eval_samples", "fit_samples", "heldout_tensors", "resolve_source",
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
    for name in ("config.yaml", "config.json"):
        path = run / name
        if path.is_file():
            try:
                obj = load_yaml(read_text(path, "run config"), f"run config {path}")
            except FileFormatError as exc:
                raise DataError(f"{exc}; pass --data") from None
            found = obj.get("data") if isinstance(obj, dict) else None
            return found.get("name") if isinstance(found, dict) else found
    return None


def supernet_fingerprint(path: Path) -> str:
    """sha256 prefix of the supernet weights file (a run directory's final weights)."""
    from binas.nn.supernet import FINAL_NAME

    return file_digest(path / FINAL_NAME if path.is_dir() else path)


def heldout_tensors(space: SearchSpace, data: str, data_dir: str | None = None, *,
                    split: str = "heldout") -> tuple[torch.Tensor, torch.Tensor]:
    """The normalised held-out split ``(x, y)`` (never the supernet's training images); ``split="test"``
    gives the test split instead (final numbers only)."""
    ds = load_data(data, split, data_dir, image_shape=(space.in_channels, space.input_size, space.input_size),
                   num_classes=space.num_classes)
    if tuple(ds.shape) != (space.in_channels, space.input_size, space.input_size):
        raise DataError(f"data set {data!r} has images of shape {tuple(ds.shape)} but space {space.name!r} "
                        f"expects {(space.in_channels, space.input_size, space.input_size)}")
    return ds.normalize(ds.images), ds.labels


METHODS = ("differences", "regression")


def build_estimator(source: Path, data: str, out: str | Path, cfg: BuildConfig, *, convention: str = "reference",
                    method: str = "differences", data_dir: str | None = None, resume: bool = False,
                    on_measured: Progress | None = None) -> BilinearForm:
    """Measure every contribution on the held-out split and write ``out`` (rank 0 under torchrun).

    ``method="differences"`` is the paper's estimator (differences of measured accuracies, in the
    given ``convention``); ``"regression"`` fits the same form by least squares to every per-image
    outcome of the same measurements (:mod:`binas.estimator.regression`). The raw measurement tables
    are stored either way. Finished measurements live in a sidecar (``OUT.partial.json``) until the
    file is written.
    """
    if method not in METHODS:
        raise DataError(f"--method must be one of {', '.join(METHODS)}, not {method!r}")
    net = load_supernet(source)
    space = net.space
    x, y = heldout_tensors(space, data, data_dir)
    meta = {"data": data, "supernet": supernet_fingerprint(source)}
    acc, err, correct = measure_contributions(net, space, x, y, cfg, out, resume=resume, meta=meta,
                                              on_measured=on_measured)
    meta = {"images": cfg.images, "crn": cfg.crn, "seed": cfg.seed, "method": method, **meta}
    form = contributions_form(space, acc, err, convention, meta)
    if method == "regression":
        reg = OutcomeRegression(space, x.shape[0], bilinear=True)
        for k, m in enumerate(measurement_plan(space)):
            idx, codes = measurement_inputs(space, k, m, x.shape[0], cfg)
            reg.add(codes, idx, correct[m.key])
        form = reg.to_form(extra={**form.extra, "convention": "regression"})
    rank, world = rank_world()
    if rank == 0:
        form.save(out)
    partial_path(out, rank, world).unlink(missing_ok=True)
    return form


def _resources(space: SearchSpace, arch: Any, luts: list[Lut]) -> dict[str, float]:
    res = {k: float(v) for k, v in network_cost(space, arch).items()}
    res.update({lut.resource: float(lut.value(space, arch)) for lut in luts})
    return res


@torch.no_grad()
def sample_subnets(net: Supernet, x: torch.Tensor, y: torch.Tensor, n: int, *, seed: int = 0,
                   luts: list[Lut] | None = None, batch_size: int = 512,
                   on_measured: Progress | None = None) -> list[Sample]:
    """One-shot top-1 (%) of ``n`` uniformly random subnets on ``x, y``, with params/MACs/LUT resources.

    Each subnet is the supernet with that fixed architecture in eval mode (equal to the extracted child).
    """
    if n < 1:
        raise DataError(f"--n must be at least 1, got {n}")
    space, rng = net.space, np.random.default_rng(seed)
    out = []
    for i in range(n):
        arch = space.sample(rng)
        ok = evaluate_codes(net, x, y, archs_to_codes(space, arch), batch_size)
        out.append(Sample(arch, float(ok.mean()) * 100.0, _resources(space, arch, luts or [])))
        if on_measured is not None:
            on_measured(i + 1, n)
    return out


def fit_samples(space: SearchSpace, samples: list[Sample], kind: str, **params: Any) -> Any:
    """Fit a predictor of ``kind`` on measured samples (features: one-hot alpha/beta)."""
    from binas.estimator.predictors import encode_archs, make_predictor

    if len(samples) < 2:
        raise DataError(f"need at least 2 samples to fit a predictor, got {len(samples)}")
    pred = make_predictor(kind, space, **{k: v for k, v in params.items() if v is not None})
    return pred.fit(encode_archs(space, [s.arch for s in samples]), np.array([s.accuracy for s in samples]))


def eval_samples(pred: Any, samples: list[Sample]) -> tuple[dict[str, float], np.ndarray, np.ndarray]:
    """``(metrics, measured, predicted)`` of a predictor (anything with ``predict_archs``) on samples."""
    from binas.estimator.metrics import all_metrics

    y_true = np.array([s.accuracy for s in samples])
    y_pred = np.asarray(pred.predict_archs([s.arch for s in samples]), dtype=float)
    return all_metrics(y_true, y_pred), y_true, y_pred
