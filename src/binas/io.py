"""Safe file I/O: atomic writes and bounded reads of untrusted files (no pickle anywhere).

The promises this module keeps (docs/reliability.md):

* **Atomic writes.** A file is written to a unique temporary name (``.NAME.PID.RANDOM.tmp``) in the
  target folder, fsynced and renamed over the target: readers see the old or the new file, never half
  of one. The temporary file is removed on any exception; one left by a killed process (its PID is
  dead) is removed by :func:`remove_stale_temps` (which :func:`binas.claims.claim_outputs` runs).
* **Modes follow the umask** (:func:`new_file_mode`, ``0o666 & ~umask``), like any file a shell creates.
* **Bounded, non-blocking reads.** :func:`read_bytes` refuses FIFOs, devices and folders without
  blocking and refuses files over a size bound, so a hostile path can neither hang nor exhaust memory.
* **Bounded YAML.** :func:`load_yaml` is ``yaml.safe_load`` that refuses documents whose aliases expand
  to more than :data:`MAX_YAML_NODES` values (no "billion laughs") and recursive aliases.

What a JSON artifact must contain (format, version, sidecars, finite numbers) is checked by
:mod:`binas.artifacts`; which outputs a command may write, by :mod:`binas.claims`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any

import yaml

from binas.errors import FileFormatError, OutputError

__all__ = ["MAX_BINARY_BYTES", "MAX_TEXT_BYTES", "MAX_YAML_NODES", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "file_digest", "load_yaml", "new_file_mode", "read_bytes", "read_json",
           "read_text", "remove_stale_temps"]

MAX_TEXT_BYTES = 256 << 20  # JSON, YAML, CSV, JSONL: far above any binas artifact
MAX_BINARY_BYTES = 16 << 30  # safetensors weights
_TMP_RE = re.compile(r"^\..+\.(\d+)\.[A-Za-z0-9_]+\.tmp$")


# --------------------------------------------------------------------- writing
def _umask() -> int:
    """The process umask, read without changing it where Linux allows."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def new_file_mode() -> int:
    """The mode of a new file: ``0o666`` less the process umask."""
    return 0o666 & ~_umask()


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (unique temporary file in the same folder, fsync, rename).

    Raises:
        OutputError: the path cannot be written (one sentence, never a traceback).
    """
    path = Path(path)
    tmp = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), new_file_mode())
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 1) -> Path:
    """Write ``obj`` as JSON atomically; refuses NaN/inf (they are not valid JSON)."""
    return atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


def remove_stale_temps(folder: str | Path, recursive: bool = False) -> list[Path]:
    """Remove temporary files of :func:`atomic_write_bytes` whose writing process is gone; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    walker = os.walk(folder) if recursive else [(str(folder), [], os.listdir(folder))]
    for root, _, names in walker:
        for name in names:
            match = _TMP_RE.match(name)
            if match and not _alive(int(match[1])):
                with contextlib.suppress(OSError):
                    (Path(root) / name).unlink()
                    removed.append(Path(root) / name)
    return removed


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return False  # this process is not writing it yet (we have not started)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: someone else's live process
        return True
    return True


# --------------------------------------------------------------------- reading
def read_bytes(path: str | Path, what: str = "file", limit: int = MAX_BINARY_BYTES) -> bytes:
    """The bytes of a regular file, refusing folders, FIFOs and devices (without blocking) and huge files.

    Raises:
        FileFormatError: missing, unreadable, not a regular file, or larger than ``limit`` bytes.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileFormatError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise FileFormatError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise FileFormatError(f"{what} {path} is a folder, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise FileFormatError(f"{what} {path} is not a regular file (a FIFO or device?)")
        if st.st_size > limit:
            raise FileFormatError(f"{what} {path} is {st.st_size:,} bytes, more than the {limit:,} binas reads")
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb") as f:
        try:
            data = f.read(limit + 1)
        except OSError as exc:
            raise FileFormatError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    if len(data) > limit:
        raise FileFormatError(f"{what} {path} is more than the {limit:,} bytes binas reads")
    return data


def read_text(path: str | Path, what: str = "file", limit: int = MAX_TEXT_BYTES, encoding: str = "utf-8") -> str:
    """:func:`read_bytes` decoded (UTF-8 by default), one clear error if it is not text."""
    try:
        return read_bytes(path, what, limit).decode(encoding)
    except UnicodeDecodeError:
        raise FileFormatError(f"{what} {path} is not {encoding} text (a binary file?)") from None


MAX_YAML_NODES = 100_000  # after alias expansion; binas configs and spaces have a few hundred


class _BoundedLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses documents expanding to more than :data:`MAX_YAML_NODES` nodes once
    aliases are followed ("billion laughs"), and recursive aliases."""

    def compose_document(self) -> Any:
        node = super().compose_document()
        sizes: dict[int, int] = {}

        def size(n: Any) -> int:
            key = id(n)
            if key in sizes:
                if sizes[key] < 0:
                    raise yaml.composer.ComposerError(None, None, "a recursive alias", n.start_mark)
                return sizes[key]
            sizes[key] = -1
            if isinstance(n, yaml.MappingNode):
                total = 1 + sum(size(k) + size(v) for k, v in n.value)
            elif isinstance(n, yaml.SequenceNode):
                total = 1 + sum(size(v) for v in n.value)
            else:
                total = 1
            if total > MAX_YAML_NODES:
                raise yaml.composer.ComposerError(None, None, f"more than {MAX_YAML_NODES:,} values once "
                                                  "its aliases are expanded", n.start_mark)
            sizes[key] = total
            return total

        size(node)
        return node


def load_yaml(text: str, source: str) -> Any:
    """Parse YAML safely (no tags; bounded alias expansion); ``source`` names the file in the error.

    Raises:
        FileFormatError: invalid YAML, an alias bomb, or nesting too deep.
    """
    try:
        return yaml.load(text, Loader=_BoundedLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or first
        raise FileFormatError(f"{source} is not valid YAML: {problem}{where}") from None
    except RecursionError:
        raise FileFormatError(f"{source} nests too deeply") from None


def read_json(path: str | Path, what: str = "file") -> Any:
    """Read a JSON file, turning every failure into one clear :class:`FileFormatError`."""
    path = Path(path)
    text = read_text(path, what)
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{what} {path} is not valid JSON (corrupt or truncated?): {exc.msg} at line {exc.lineno}"
        ) from None
    except RecursionError:
        raise FileFormatError(f"{what} {path} nests too deeply") from None
    except ValueError as exc:
        raise FileFormatError(f"{what} {path} contains {exc}") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"a non-finite number ({name})")


def file_digest(path: str | Path, length: int = 16) -> str:
    """sha256 prefix of a file's bytes (a fingerprint that resumes compare); ``"missing"`` if unreadable."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return "missing"
    return digest.hexdigest()[:length]
