"""Export a static child with weights inherited from the supernet (docs/supernet.md).

A *model directory* holds ``model.safetensors`` (weights; the space, architecture and provenance in
its metadata), ``arch.json`` (``binas.arch/1``) and optionally ``model.onnx`` verified against
PyTorch with ONNX Runtime.
"""

from __future__ import annotations

import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from binas.codec import arch_to_json, format_timm, parse_timm
from binas.errors import BinasError, ExportError, FileFormatError
from binas.inference import recalibrate_bn  # noqa: F401  (re-exported: one BN recalibration)
from binas.io import atomic_write_bytes, atomic_write_json
from binas.nn.safeload import build_fitting
from binas.nn.static import ChildNet, build_child
from binas.space import Architecture, SearchSpace, space_from_dict
from binas.supernet.store import load_state, read_safetensors

__all__ = ["MODEL_FORMAT", "ONNX_TOLERANCE", "ExportError", "export_onnx", "load_model", "recalibrate_bn",
           "save_model"]

MODEL_FORMAT = "binas.model/1"
ONNX_TOLERANCE = 1e-4


@dataclass(frozen=True)
class LoadedModel:
    space: SearchSpace
    arch: Architecture
    model: ChildNet
    metadata: dict[str, str]


def save_model(out_dir: str | Path, space: SearchSpace, arch: Architecture, model: ChildNet,
               provenance: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``model.safetensors`` and ``arch.json`` atomically into ``out_dir``."""
    out = Path(out_dir)
    meta = {"format": MODEL_FORMAT, "space": json.dumps(space.to_dict(), sort_keys=True),
            "space_hash": space.space_hash, "timm": format_timm(space, arch),
            "provenance": json.dumps(provenance or {})}
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    weights = atomic_write_bytes(out / "model.safetensors", safetensors.torch.save(tensors, meta))
    arch_file = atomic_write_json(out / "arch.json", arch_to_json(space, arch, provenance=provenance or None))
    return {"weights": weights, "arch": arch_file}


def load_model(path: str | Path) -> LoadedModel:
    """Load a model directory (or its ``model.safetensors``) written by :func:`save_model`.

    Raises:
        FileFormatError: missing/corrupt file or wrong format.
    """
    path = Path(path)
    file = path / "model.safetensors" if path.is_dir() else path
    tensors, meta = read_safetensors(file, "model file")
    if meta.get("format") != MODEL_FORMAT:
        raise FileFormatError(f"{file} is not a binas model (format {meta.get('format')!r}, expected {MODEL_FORMAT!r})")
    try:
        space = space_from_dict(json.loads(meta["space"]))
        arch = parse_timm(space, meta["timm"])
    except (KeyError, json.JSONDecodeError, BinasError) as exc:
        raise FileFormatError(f"{file} has corrupt metadata ({exc})") from None
    model = build_fitting(lambda: build_child(space, arch), tensors, str(file))
    load_state(model, tensors, file)
    return LoadedModel(space, arch, model.eval(), meta)


def export_onnx(model: ChildNet, space: SearchSpace, path: str | Path, *, seed: int = 0) -> float:
    """Export ``model`` to ONNX (dynamic batch) and check it against PyTorch with ONNX Runtime.

    Returns:
        The max absolute difference of the logits on a random batch.

    Raises:
        ExportError: if the export fails or the difference exceeds :data:`ONNX_TOLERANCE`.
    """
    import onnxruntime as ort

    model = model.eval()
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(4, space.in_channels, space.input_size, space.input_size, generator=gen)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), buf, dynamo=False, opset_version=17, input_names=["input"],
                          output_names=["logits"], dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    data = buf.getvalue()
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(x).numpy()
    got = session.run(None, {"input": x.numpy()})[0]
    diff = float(np.max(np.abs(got - expected)))
    if not diff <= ONNX_TOLERANCE:
        raise ExportError(f"ONNX Runtime output differs from PyTorch by {diff:.3g} (> {ONNX_TOLERANCE:g})")
    atomic_write_bytes(path, data)
    return diff

