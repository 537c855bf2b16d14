"""What a JSON artifact must contain: its ``format`` name and version, safe sidecar files, finite numbers.

Every public file binas writes names its format in a top-level ``"format": "binas.<name>/<version>"``
key and is refused with one sentence when it names another (docs/architecture.md, "Public file
formats"); weights beside a JSON file are plain names checked against their sha256
(docs/reliability.md, "Untrusted files"). The bytes are read by :mod:`binas.io`.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path
from typing import Any

from binas.errors import FileFormatError
from binas.io import read_bytes, read_json

__all__ = ["check_finite", "read_format", "read_sidecar", "sidecar_path"]


def read_format(path: str | Path, expected: str, what: str) -> dict[str, Any]:
    """Read a JSON artifact and check its ``format`` field (e.g. ``binas.lut/1``)."""
    obj = read_json(path, what)
    if not isinstance(obj, dict):
        raise FileFormatError(f"{what} {path} must hold a JSON object, not {type(obj).__name__}")
    found = obj.get("format")
    if found != expected:
        family = expected.split("/")[0]
        if isinstance(found, str) and found.startswith(family + "/"):
            raise FileFormatError(f"{what} {path} has unsupported version {found!r} (this binas reads {expected!r})")
        raise FileFormatError(f"{path} is not a {what} (expected format {expected!r}, found {found!r})")
    return obj


def sidecar_path(owner: str | Path, name: Any, where: str) -> Path:
    """The file ``name`` next to ``owner``; refuses anything but a plain file name (no ``..``, no folders).

    Raises:
        FileFormatError: ``name`` is not a string naming a file in ``owner``'s folder.
    """
    if (not isinstance(name, str) or not name or name in (".", "..") or "/" in name or "\\" in name
            or "\0" in name or Path(name).is_absolute()):
        raise FileFormatError(f"{where}: the sidecar name {name!r} must be a plain file name next to it "
                              "(no folders, no '..')")
    return Path(owner).parent / name


def read_sidecar(owner: str | Path, name: Any, sha256: Any, where: str) -> bytes:
    """The bytes of the sidecar ``name`` next to ``owner``, checked against its recorded ``sha256``.

    Raises:
        FileFormatError: unsafe name, missing/unreadable file, or a hash that does not match.
    """
    side = sidecar_path(owner, name, where)
    if not side.exists():
        raise FileFormatError(f"{where}: its weights file {side} is missing")
    data = read_bytes(side, f"{where}: its weights file")
    if hashlib.sha256(data).hexdigest() != sha256:
        raise FileFormatError(f"{where}: its weights file {side} does not match its sha256 (replaced or corrupt?)")
    return data


def check_finite(value: Any, where: str) -> float:
    """``float(value)`` if it is a finite number, else a :class:`FileFormatError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FileFormatError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise FileFormatError(f"{where} is not finite ({value!r})")
    return float(value)
