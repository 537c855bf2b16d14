"""Atomic file writes and validated JSON reads (no pickle anywhere)."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from binas.errors import FileFormatError

__all__ = ["atomic_write_bytes", "atomic_write_json", "atomic_write_text", "check_finite", "read_json",
           "read_format"]


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temporary file in the same folder, fsync, rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON atomically; refuses NaN/inf (they are not valid JSON)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read a JSON file, turning every failure into one clear :class:`FileFormatError`."""
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise FileFormatError(f"{what} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FileFormatError(f"cannot read {what} {path}: {exc}") from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{what} {path} is not valid JSON (corrupt or truncated?): {exc.msg} at line {exc.lineno}"
        ) from None
    except ValueError as exc:
        raise FileFormatError(f"{what} {path} contains {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"a non-finite number ({name})")


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


def check_finite(value: Any, where: str) -> float:
    """``float(value)`` if it is a finite number, else a :class:`FileFormatError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FileFormatError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise FileFormatError(f"{where} is not finite ({value!r})")
    return float(value)
