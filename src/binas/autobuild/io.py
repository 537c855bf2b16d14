"""AutoBuild model files: ``binas.estimator/1`` JSON (kind ``autobuild``) + a safetensors sidecar.

The JSON holds the space name and hash, the hyperparameters, the feature vocabulary, the target
standardisation and the sidecar's file name and SHA-256; the weights are in ``<stem>.weights.safetensors``
next to it. No pickle. A model saved for one space can be re-keyed for a reduced space
(:meth:`AutoBuildPredictor.with_space`): the weights are the same, the stamped hash changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from binas.artifacts import check_finite, read_format, read_sidecar
from binas.autobuild.graph import GraphVocab
from binas.autobuild.model import AutoBuildConfig, AutoBuildNet
from binas.autobuild.predictor import AutoBuildPredictor
from binas.errors import FileFormatError
from binas.io import atomic_write_bytes, atomic_write_json
from binas.nn.safeload import build_fitting
from binas.space import SearchSpace

__all__ = ["AUTOBUILD_KIND", "is_autobuild_file", "load_autobuild", "save_autobuild"]

AUTOBUILD_KIND = "autobuild"
_FORMAT = "binas.estimator/1"


def save_autobuild(predictor: AutoBuildPredictor, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    """Write the fitted model: weights first (sidecar), then the JSON that names and hashes them."""
    predictor._require_fit()
    path = Path(path)
    sidecar = path.with_name(path.stem + ".weights.safetensors")
    state = {k: v.detach().contiguous().cpu() for k, v in predictor.net_.state_dict().items()}
    data = st_save(state, metadata={"format": "binas.autobuild-weights/1"})
    atomic_write_bytes(sidecar, data)
    obj = {"format": _FORMAT, "space": predictor.space.name, "space_hash": predictor.space.space_hash,
           "kind": AUTOBUILD_KIND, "weights": sidecar.name, "weights_sha256": hashlib.sha256(data).hexdigest(),
           "config": predictor.config_.to_json(), "vocab": predictor.vocab_.to_json(),
           "target": {"mean": predictor.y_mean_, "std": predictor.y_std_},
           "fit": dict(getattr(predictor, "history_", {})), **(extra or {})}
    return atomic_write_json(path, obj)


def is_autobuild_file(obj: dict[str, Any]) -> bool:
    """Whether a parsed ``binas.estimator/1`` object is an AutoBuild model."""
    return obj.get("kind") == AUTOBUILD_KIND


def _config(obj: Any, where: str) -> AutoBuildConfig:
    known = {f.name for f in fields(AutoBuildConfig)}
    if not isinstance(obj, dict) or set(obj) - known:
        raise FileFormatError(f"{where} 'config' must be an object with keys from {sorted(known)}")
    return replace(AutoBuildConfig(), **obj)


def _read_weights(path: Path, obj: dict[str, Any], where: str) -> dict[str, torch.Tensor]:
    data = read_sidecar(path, obj.get("weights"), obj.get("weights_sha256"), where)
    try:
        return st_load(data)
    except SafetensorError as exc:
        raise FileFormatError(f"the weights file of {where} is not valid safetensors ({exc})") from None


def load_autobuild(path: str | Path, space: SearchSpace) -> AutoBuildPredictor:
    """Read an AutoBuild model for ``space`` (its own space, or one whose hash it was re-keyed to).

    Raises:
        FileFormatError: wrong format/kind/space, missing or corrupt sidecar, malformed fields.
    """
    path = Path(path)
    where = f"estimator file {path}"
    obj = read_format(path, _FORMAT, "estimator file")
    if not is_autobuild_file(obj):
        raise FileFormatError(f"{where} is a {obj.get('kind')!r} estimator, not an AutoBuild model")
    space.check_made_for(where, obj.get("space"), obj.get("space_hash"))
    weights = _read_weights(path, obj, where)
    config = _config(obj.get("config"), where)
    vocab = GraphVocab.from_json(obj.get("vocab"), where)
    vocab.check_space(space)
    target = obj.get("target") if isinstance(obj.get("target"), dict) else {}
    try:
        net = build_fitting(lambda: AutoBuildNet(vocab.cardinalities, config.dim, config.hidden, config.hops),
                            weights, f"the weights of {where}")
        net.load_state_dict(weights)
    except (RuntimeError, TypeError, ValueError, FileFormatError):
        raise FileFormatError(f"the weights of {where} do not fit its 'config'") from None
    predictor = AutoBuildPredictor(space, **config.to_json())
    predictor.config_, predictor.vocab_, predictor.net_ = config, vocab, net.eval()
    predictor.y_mean_ = check_finite(target.get("mean"), f"{where} 'target.mean'")
    predictor.y_std_ = check_finite(target.get("std"), f"{where} 'target.std'")
    predictor.history_ = obj.get("fit", {}) if isinstance(obj.get("fit"), dict) else {}
    return predictor
