"""Saving and loading fitted predictors (every kind is a ``binas.estimator/1`` JSON file).

Bilinear-expressible kinds (``contributions``, ``linear``, ``bilinear``) hold the bilinear form
itself, which ``binas search`` solves exactly. The other kinds (``quadratic``, ``mlp``) hold their
kind, hyperparameters and the name and sha256 of a safetensors sidecar with their weights
(``NAME.weights.safetensors`` beside ``NAME.json``); ``stack`` holds its linear + auto part as a
bilinear ``form`` (nested, so it is never mistaken for a plain form) and its quadratic member in the
sidecar. Non-bilinear kinds are searched through a bilinear surrogate or by evolution.

Weights are read and written as NumPy arrays: only an MLP (or AutoBuild) file loads torch, so judging
a search with a form, quadratic or stack file costs no torch import (1.5 s).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.numpy

from binas.artifacts import check_finite, read_format, read_sidecar
from binas.errors import FileFormatError
from binas.estimator.form import ESTIMATOR_FORMAT, NON_BILINEAR_KINDS, BilinearForm, form_from_json
from binas.estimator.models import (LinearPredictor, MLPPredictor, QuadraticPredictor, _mlp,
                                        encode_archs)
from binas.estimator.stacking import StackPredictor
from binas.io import atomic_write_bytes, atomic_write_json
from binas.space import Architecture, SearchSpace

__all__ = ["FormPredictor", "NON_BILINEAR_KINDS", "load_predictor", "save_predictor"]


class FormPredictor:
    """A :class:`BilinearForm` with the common ``predict_archs`` interface."""

    def __init__(self, form: BilinearForm, space: SearchSpace) -> None:
        form.check_space(space)
        self.form, self.space, self.kind = form, space, form.kind

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.form.evaluate_rows(X)

    def predict_archs(self, archs: list[Architecture]) -> np.ndarray:
        return self.predict(encode_archs(self.space, archs))


def _sidecar(path: Path) -> Path:
    return path.with_name(path.stem + ".weights.safetensors")


def _tensors(pred: Any) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    if isinstance(pred, StackPredictor):  # the quadratic member's weights; the rest is the stored form
        tensors, params = _tensors(pred.quadratic_)
        return tensors, {**params, "member_weights": [float(w) for w in pred.weights_], "folds": pred.folds,
                         "random_state": pred.random_state, "oof_mse": pred.oof_mse_}
    if isinstance(pred, QuadraticPredictor):
        t = {"X_fit": np.ascontiguousarray(pred.X_fit_), "dual_coef": np.ascontiguousarray(pred.dual_coef_)}
        return t, {"intercept": pred.intercept_, "ridge": pred.ridge_}
    t = {f"net.{k}": np.ascontiguousarray(v.detach().cpu().numpy()) for k, v in pred.net_.state_dict().items()}
    return t, {"y_mean": pred.y_mean_, "y_std": pred.y_std_, **pred.hyperparameters()}


def save_predictor(pred: Any, path: str | Path) -> Path:
    """Write a fitted predictor as ``binas.estimator/1`` (plus a weights sidecar for non-bilinear kinds)."""
    path = Path(path)
    if getattr(pred, "kind", None) == "autobuild":  # graph model with its own file layout
        from binas.autobuild.io import save_autobuild

        return save_autobuild(pred, path)
    if isinstance(pred, LinearPredictor) or getattr(pred, "kind", None) in ("auto", "ensemble"):
        return pred.to_form().save(path)
    if not isinstance(pred, (QuadraticPredictor, MLPPredictor, StackPredictor)):
        raise FileFormatError(f"cannot save a {type(pred).__name__}")
    tensors, params = _tensors(pred)
    data = safetensors.numpy.save(tensors, {"format": "binas.predictor-weights/1", "kind": pred.kind})
    side = atomic_write_bytes(_sidecar(path), data)
    space = pred.space
    obj = {"format": ESTIMATOR_FORMAT, "space": space.name, "space_hash": space.space_hash, "kind": pred.kind,
           "features": "onehot-alpha-beta", "parameters": params, "weights": side.name,
           "weights_sha256": hashlib.sha256(data).hexdigest()}
    if isinstance(pred, StackPredictor):
        terms = pred.form_.to_json()
        obj.update(form={k: terms[k] for k in ("const", "p_alpha", "p_beta", "Q")}, fit=pred.fit_info())
    return atomic_write_json(path, obj)


def _load_weights(path: Path, obj: dict[str, Any]) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    data = read_sidecar(path, obj.get("weights"), obj.get("weights_sha256"), f"estimator file {path}")
    params = obj.get("parameters")
    if not isinstance(params, dict):
        raise FileFormatError(f"estimator file {path} is missing its 'parameters'")
    return safetensors.numpy.load(data), params


def _rebuild(kind: str, space: SearchSpace, tensors: dict[str, np.ndarray], p: dict[str, Any],
             obj: dict[str, Any], source: str) -> Any:
    if kind == "stack":
        if not isinstance(obj.get("form"), dict):
            raise FileFormatError(f"{source} is missing the stacked bilinear 'form'")
        pred = StackPredictor(space, folds=int(p["folds"]), random_state=int(p["random_state"]))
        pred.form_ = form_from_json({**obj["form"], "space": obj.get("space"), "space_hash": obj.get("space_hash"),
                                     "kind": kind}, space, f"{source} 'form'")
        pred.quadratic_ = _rebuild("quadratic", space, tensors, p, obj, source)
        weights = p["member_weights"]
        if not isinstance(weights, list) or len(weights) != 3:
            raise FileFormatError(f"{source} 'member_weights' must be the 3 weights of linear, auto, quadratic")
        pred.weights_ = np.array([check_finite(w, f"{source} member weight") for w in weights])
        pred.oof_mse_ = check_finite(p["oof_mse"], f"{source} 'oof_mse'")
        return pred
    if kind == "quadratic":
        pred = QuadraticPredictor(space, ridge=p["ridge"])
        pred.X_fit_, pred.dual_coef_ = tensors["X_fit"].astype(np.float64), tensors["dual_coef"].astype(np.float64)
        pred.intercept_, pred.ridge_ = float(p["intercept"]), float(p["ridge"])
        return pred
    import torch

    from binas.nn.safeload import build_fitting

    hyper = {k: p[k] for k in ("hidden", "layers", "epochs", "lr", "weight_decay", "batch_size", "random_state")}
    pred = MLPPredictor(space, **hyper)
    weights = {k[len("net."):]: torch.from_numpy(v.copy()) for k, v in tensors.items()}
    net = build_fitting(lambda: _mlp(space.num_alpha + space.num_beta, int(p["hidden"]), int(p["layers"])),
                        weights, "its weights file")
    net.load_state_dict(weights)
    pred.net_, pred.y_mean_, pred.y_std_ = net.eval(), float(p["y_mean"]), float(p["y_std"])
    return pred


def load_predictor(path: str | Path, space: SearchSpace) -> Any:
    """Any ``binas.estimator/1`` file as an object with ``predict_archs(archs) -> np.ndarray``.

    Raises:
        FileFormatError: wrong format, another space, missing/corrupt weights or keys.
    """
    path = Path(path)
    obj = read_format(path, ESTIMATOR_FORMAT, "estimator file")
    if obj.get("kind") == "autobuild":  # graph model with its own file layout (binas.autobuild.io)
        from binas.autobuild.io import load_autobuild

        return load_autobuild(path, space)
    if obj.get("kind") not in NON_BILINEAR_KINDS:
        return FormPredictor(form_from_json(obj, space, f"estimator file {path}"), space)
    space.check_made_for(f"estimator file {path}", obj.get("space"), obj.get("space_hash"))
    tensors, params = _load_weights(path, obj)
    try:
        return _rebuild(str(obj["kind"]), space, tensors, params, obj, f"estimator file {path}")
    except (KeyError, RuntimeError, TypeError, ValueError, FileFormatError) as exc:
        raise FileFormatError(f"estimator file {path}: its weights or parameters do not fit ({exc!s:.80})") from None
