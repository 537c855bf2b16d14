"""The supernet's file format (``binas.supernet/1``): safetensors weights with the space in the metadata.

Training checkpoints (``binas.checkpoint/1``, :mod:`binas.supernet.train.checkpoint`) share the metadata
and can be loaded as a supernet too.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path

import safetensors.torch
import torch
from torch import nn

from binas.errors import FileFormatError
from binas.io import atomic_write_bytes, read_bytes
from binas.nn.safeload import build_fitting, check_fits
from binas.space import SearchSpace, space_from_dict
from binas.supernet.model import Supernet

__all__ = ["SUPERNET_FORMAT", "load_supernet", "read_safetensors", "save_supernet"]

SUPERNET_FORMAT = "binas.supernet/1"
FINAL_NAME = "supernet.safetensors"  # the final weights inside a run directory


def save_supernet(supernet: Supernet, path: str | Path, metadata: dict | None = None) -> Path:
    """Write the supernet's weights as safetensors, atomically; the space travels in the metadata."""
    tensors = {k: v.detach().cpu().contiguous() for k, v in supernet.state_dict().items()}
    return atomic_write_bytes(path, safetensors.torch.save(tensors, supernet_metadata(supernet.space, metadata)))


def supernet_metadata(space: SearchSpace, extra: dict | None = None) -> dict[str, str]:
    """String metadata stamped in every supernet/checkpoint file."""
    meta = {"format": SUPERNET_FORMAT, "space": json.dumps(space.to_dict(), sort_keys=True),
            "space_hash": space.space_hash}
    for key, value in (extra or {}).items():
        meta[key] = value if isinstance(value, str) else json.dumps(value)
    return meta


def read_safetensors(path: str | Path, what: str = "supernet file") -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(tensors, metadata)`` of a safetensors file, with one clear error for any corruption."""
    path = Path(path)
    data = read_bytes(path, what)
    try:
        (n,) = struct.unpack("<Q", data[:8])
        header = json.loads(data[8:8 + n])
        tensors = safetensors.torch.load(data)
    except Exception as exc:  # any parse failure means the same thing to the user  # noqa: BLE001
        raise FileFormatError(f"{what} {path} is not a valid safetensors file (corrupt or truncated?)") from exc
    return tensors, header.get("__metadata__") or {}


def load_supernet(path: str | Path, space: SearchSpace | None = None) -> Supernet:
    """Load a supernet from a ``.safetensors`` file or a training run directory (its final weights).

    Raises:
        FileFormatError: missing/corrupt file, wrong format, another space, or mismatching tensors.
    """
    path = Path(path)
    if path.is_dir():
        if not (path / FINAL_NAME).is_file():
            raise FileFormatError(f"run directory {path} has no {FINAL_NAME} (is training finished?)")
        path = path / FINAL_NAME
    tensors, meta = read_safetensors(path)
    fmt = meta.get("format")
    if fmt not in (SUPERNET_FORMAT, "binas.checkpoint/1"):
        raise FileFormatError(f"{path} is not a binas supernet (format {fmt!r}, expected {SUPERNET_FORMAT!r})")
    stored = _space_from_meta(meta, path)
    if space is not None and space.space_hash != stored.space_hash:
        raise FileFormatError(f"supernet {path} was trained for space {stored.name!r} ({stored.space_hash}), "
                              f"not {space.name!r} ({space.space_hash})")
    if fmt != SUPERNET_FORMAT:  # a training checkpoint: the model tensors carry a prefix
        tensors = {k[len("model/"):]: v for k, v in tensors.items() if k.startswith("model/")}
    net = build_fitting(lambda: Supernet(space or stored), tensors, str(path))
    load_state(net, tensors, path)
    return net


def _space_from_meta(meta: dict[str, str], path: Path) -> SearchSpace:
    try:
        space = space_from_dict(json.loads(meta["space"]))
    except Exception as exc:  # noqa: BLE001 - any failure is a corrupt file for the user
        raise FileFormatError(f"{path} has no valid search space in its metadata") from exc
    if space.space_hash != meta.get("space_hash"):
        raise FileFormatError(f"{path}: the stored space does not match its space_hash (corrupt file?)")
    return space


def load_state(module: nn.Module, tensors: dict[str, torch.Tensor], path: Path) -> None:
    """Load ``tensors`` into ``module`` exactly (same keys and shapes), else a clear error."""
    check_fits(module.state_dict(), tensors, str(path))
    module.load_state_dict(tensors)
