"""The samples JSONL format: one measured architecture per line.

Each line is a JSON object ``{"format": "binas.sample/1", "arch": <binas.arch/1 object or timm
arch-def string>, "accuracy": <top-1 %>, "<resource>": <number>, ...}`` (schemas/samples-line.schema.json).
``format`` is optional on reading (older files lack it) but must be ``binas.sample/1`` when present.
Readers validate every line against the space and name the offending line number; writers write the
whole file atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from binas.artifacts import check_finite
from binas.codec import arch_from_json, arch_to_json, parse_timm
from binas.errors import BinasError, FileFormatError
from binas.io import atomic_write_text, read_text
from binas.space import Architecture, SearchSpace

__all__ = ["SAMPLE_FORMAT", "Sample", "read_samples", "write_samples", "samples_to_lines", "accuracies"]

SAMPLE_FORMAT = "binas.sample/1"


@dataclass(frozen=True)
class Sample:
    """One measured architecture: its top-1 accuracy (%) and any resources (``{"params": ...}``)."""

    arch: Architecture
    accuracy: float
    resources: dict[str, float] = field(default_factory=dict)


def _parse_line(space: SearchSpace, text: str, where: str) -> Sample:
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{where} is not valid JSON: {exc.msg}") from None
    if not isinstance(obj, dict) or "arch" not in obj or "accuracy" not in obj:
        raise FileFormatError(f"{where} must be a JSON object with 'arch' and 'accuracy'")
    if obj.get("format", SAMPLE_FORMAT) != SAMPLE_FORMAT:
        raise FileFormatError(f"{where} is not a {SAMPLE_FORMAT} line (format: {obj['format']!r})")
    spec = obj["arch"]
    try:
        if isinstance(spec, str):
            arch = parse_timm(space, spec)
        elif isinstance(spec, dict):
            arch = arch_from_json(space, {"format": "binas.arch/1", **spec}, where)
        else:
            raise FileFormatError("'arch' must be an arch JSON object or a timm arch-def string")
    except BinasError as exc:
        raise FileFormatError(f"{where}: architecture not in space {space.name!r}: {exc}") from None
    accuracy = check_finite(obj["accuracy"], f"{where} 'accuracy'")
    resources = {k: check_finite(v, f"{where} {k!r}") for k, v in obj.items()
                 if k not in ("arch", "accuracy") and isinstance(v, (int, float)) and not isinstance(v, bool)}
    return Sample(arch, accuracy, resources)


def read_samples(path: str | Path, space: SearchSpace) -> list[Sample]:
    """Read a samples JSONL file (blank lines ignored).

    Raises:
        FileFormatError: unreadable file, bad JSON, or an architecture outside ``space``, naming the line.
    """
    path = Path(path)
    lines = read_text(path, "samples file").splitlines()
    samples = [_parse_line(space, line, f"{path} line {n}") for n, line in enumerate(lines, 1) if line.strip()]
    if not samples:
        raise FileFormatError(f"samples file {path} holds no samples")
    return samples


def samples_to_lines(space: SearchSpace, samples: list[Sample]) -> list[str]:
    """JSONL lines (arch as a ``binas.arch/1`` object)."""
    return [json.dumps({"format": SAMPLE_FORMAT, "arch": arch_to_json(space, s.arch),
                        "accuracy": float(s.accuracy), **{k: float(v) for k, v in s.resources.items()}},
                       allow_nan=False)
            for s in samples]


def write_samples(path: str | Path, space: SearchSpace, samples: list[Sample]) -> Path:
    """Write ``samples`` atomically as JSONL."""
    return atomic_write_text(path, "".join(line + "\n" for line in samples_to_lines(space, samples)))


def accuracies(samples: list[Sample]) -> np.ndarray:
    return np.array([s.accuracy for s in samples], dtype=float)
