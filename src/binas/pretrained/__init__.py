"""Pretrained supernets shipped as package data: "train once, specialise anywhere" (docs/demo.md).

A packed supernet is a safetensors file of fp16 weights (integer buffers unchanged) whose metadata
holds the space (as every supernet file), the sha256 of its tensor payload, and a JSON ``provenance``
record: the training recipe, training time and machine. :func:`unpack_supernet` checks the hash and
writes the fp32 supernet file every other command reads.
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib import resources
from pathlib import Path
from typing import Any

import safetensors.torch
import torch

from binas.errors import FileFormatError
from binas.io import atomic_write_bytes
from binas.supernet.store import SUPERNET_FORMAT, load_supernet, read_safetensors

__all__ = ["PACKED_FORMAT", "DEFAULT_NAME", "pack_supernet", "packaged_path", "read_provenance",
           "unpack_supernet"]

PACKED_FORMAT = "binas.supernet-fp16/1"
DEFAULT_NAME = "fmnist-tiny.safetensors"  # the demo's supernet (mobilenetv3-tiny, Fashion-MNIST)


def packaged_path(name: str = DEFAULT_NAME) -> Path:
    """Path of a packed supernet shipped inside the ``binas`` package."""
    return Path(str(resources.files(__package__).joinpath(name)))


def payload_sha256(tensors: dict[str, torch.Tensor]) -> str:
    """sha256 over every tensor's name, dtype, shape and bytes, in name order."""
    digest = hashlib.sha256()
    for key in sorted(tensors):
        t = tensors[key].contiguous().reshape(-1)
        digest.update(f"{key}|{t.dtype}|{tuple(t.shape)}|".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()


def pack_supernet(source: str | Path, out: str | Path, provenance: dict[str, Any]) -> dict[str, Any]:
    """Write the supernet of ``source`` (file or run directory) as fp16 package data at ``out``.

    Returns the metadata written (with ``payload_sha256``) and the file's own ``file_sha256``.
    """
    net = load_supernet(source)
    tensors = {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous()
               for k, v in net.state_dict().items()}
    _, meta = read_safetensors(Path(source) / "supernet.safetensors" if Path(source).is_dir() else source)
    meta = {**meta, "format": PACKED_FORMAT, "payload_sha256": payload_sha256(tensors),
            "provenance": json.dumps(provenance, sort_keys=True)}
    data = safetensors.torch.save(tensors, meta)
    atomic_write_bytes(out, data)
    return {**meta, "file_sha256": hashlib.sha256(data).hexdigest()}


def read_provenance(path: str | Path) -> dict[str, Any]:
    """The packed file's provenance, payload hash and file hash, after checking the payload hash.

    Raises:
        FileFormatError: missing, corrupt or altered file, or not a packed supernet.
    """
    path = Path(path)
    tensors, meta = read_safetensors(path, "pretrained supernet")
    if meta.get("format") != PACKED_FORMAT:
        raise FileFormatError(f"{path} is not a packed binas supernet (format {meta.get('format')!r}, "
                              f"expected {PACKED_FORMAT!r})")
    if payload_sha256(tensors) != meta.get("payload_sha256"):
        raise FileFormatError(f"{path}: the weights do not match their sha256 (corrupt or altered file)")
    try:
        provenance = json.loads(meta.get("provenance", "{}"))
    except json.JSONDecodeError:
        raise FileFormatError(f"{path} has corrupt provenance metadata") from None
    return {"provenance": provenance, "payload_sha256": meta["payload_sha256"],
            "file_sha256": hashlib.sha256(path.read_bytes()).hexdigest(), "space_hash": meta.get("space_hash")}


def unpack_supernet(path: str | Path, out: str | Path) -> dict[str, Any]:
    """Check the packed supernet at ``path`` and write it as an fp32 supernet file at ``out``.

    Returns :func:`read_provenance`'s record.
    """
    info = read_provenance(path)
    tensors, meta = read_safetensors(path, "pretrained supernet")
    fp32 = {k: (v.float() if v.is_floating_point() else v) for k, v in tensors.items()}
    meta = {k: v for k, v in meta.items() if k not in ("payload_sha256", "provenance")}
    meta.update({"format": SUPERNET_FORMAT, "unpacked_from": info["payload_sha256"]})
    tmp = Path(out).with_name(Path(out).name + ".unpacked")
    atomic_write_bytes(tmp, safetensors.torch.save(fp32, meta))
    load_supernet(tmp)  # every tensor matches the space's supernet, else a clear error
    os.replace(tmp, out)
    return info
