"""Safe file I/O: atomic writes, bounded reads of untrusted files, output claims (no pickle anywhere).

The promises this module keeps (docs/reliability.md):

* **Atomic writes.** A file is written to a unique temporary name (``.NAME.PID.RANDOM.tmp``) in the
  target folder, fsynced and renamed over the target: readers see the old or the new file, never half
  of one. The temporary file is removed on any exception; one left by a killed process (its PID is
  dead) is removed by the next command that claims that output (:func:`claim_outputs`).
* **Modes follow the umask** (``0o666 & ~umask``), like any file a shell creates.
* **Bounded, non-blocking reads.** :func:`read_bytes` refuses FIFOs, devices and folders without
  blocking and refuses files over a size bound, so a hostile path can neither hang nor exhaust memory.
* **Bounded YAML.** :func:`load_yaml` is ``yaml.safe_load`` that refuses documents whose aliases expand
  to more than :data:`MAX_YAML_NODES` values (no "billion laughs") and recursive aliases.
* **Sidecar names are plain names.** :func:`sidecar_path` accepts only a file name next to its JSON.
* **Outputs are checked before any work and locked.** :func:`claim_outputs` checks that every output
  path can be written (not a folder, not under a file, a writable folder), takes a per-output lock so a
  second process writing the same output is refused, and cleans stale temporary files.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import math
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from binas.errors import FileFormatError, OutputError

__all__ = ["MAX_BINARY_BYTES", "MAX_TEXT_BYTES", "OutputError", "atomic_write_bytes", "atomic_write_json",
           "atomic_write_text", "check_finite", "claim_outputs", "file_digest", "load_yaml", "read_bytes",
           "read_format",
           "read_json", "read_sidecar", "read_text", "remove_stale_temps", "sidecar_path"]

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
            os.fchmod(f.fileno(), 0o666 & ~_umask())
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


def check_finite(value: Any, where: str) -> float:
    """``float(value)`` if it is a finite number, else a :class:`FileFormatError` naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise FileFormatError(f"{where} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise FileFormatError(f"{where} is not finite ({value!r})")
    return float(value)


# --------------------------------------------------------------------- output claims
def check_output(path: str | Path, option: str, kind: str = "file") -> None:
    """Refuse (one sentence) an output that cannot be written, before any work is done.

    ``kind`` is ``"file"`` or ``"dir"``. Checks: a file output is not a folder or a special file; a
    folder output is not a file; the nearest existing ancestor is a folder where a file can be created.

    Raises:
        OutputError: naming the option and the path.
    """
    path = Path(path)
    if str(path) == "" or path.name in ("", ".", ".."):
        if kind == "file":
            raise OutputError(f"{option} {str(path)!r} is not a file name")
    if path.exists() or path.is_symlink():
        if kind == "file" and path.is_dir():
            raise OutputError(f"{option} {path} is a folder: give a file name")
        if kind == "file" and path.exists() and not path.is_file():
            raise OutputError(f"{option} {path} exists and is not a regular file")
        if kind == "dir" and not path.is_dir():
            raise OutputError(f"{option} {path} exists and is not a folder")
        if path.is_symlink() and not path.exists():
            raise OutputError(f"{option} {path} is a broken symbolic link")
    ancestor = path.parent if not (kind == "dir" and path.is_dir()) else path
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise OutputError(f"cannot create {option} {path}: {ancestor} is a file, not a folder")
    try:
        fd, probe = tempfile.mkstemp(dir=ancestor, prefix=".binas-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise OutputError(f"cannot write {option} {path}: {ancestor} is not writable "
                          f"({exc.strerror or exc})") from None


def _lock(path: Path, option: str) -> tuple[int, Path]:
    """Take the exclusive lock ``.NAME.lock`` beside ``path`` (non-blocking)."""
    lock = path.parent / f".{path.name}.lock"
    for _ in range(5):
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666 & ~_umask())
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise OutputError(f"{option} {path} is being written by another binas process"
                                  f"{f' (pid {holder})' if holder else ''}: wait for it or choose another "
                                  f"{option}") from None
            if exc.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EINVAL):
                return os.open(lock, os.O_RDONLY), lock  # a file system without locks: write unlocked
            raise OutputError(f"cannot lock {option} {path}: {exc.strerror or exc}") from None
        try:
            same = os.fstat(fd).st_ino == os.stat(lock).st_ino  # not unlinked by the previous holder
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
            return fd, lock
        os.close(fd)
    raise OutputError(f"cannot lock {option} {path}: its lock file keeps changing")


@contextlib.contextmanager
def claim_outputs(files: Mapping[str, str | Path | None] | None = None,
                  dirs: Mapping[str, str | Path | None] | None = None) -> Iterator[None]:
    """Check, lock and clean the outputs of one command for its duration.

    Args:
        files: ``{option: path}`` of output files (``None`` paths are skipped).
        dirs: ``{option: path}`` of output folders.

    Every path is checked with :func:`check_output` before anything is created; then missing parent
    folders are made, a per-output lock is taken (a second process on the same output is refused) and
    temporary files left by killed processes are removed. On exit the locks are released and folders
    this claim created are removed again if they are still empty (a refused command leaves nothing).
    Under ``torchrun`` only rank 0 (the writer) claims.

    Raises:
        OutputError: an output cannot be written or is locked by another process.
    """
    if int(os.environ.get("RANK", "0")) != 0:  # torchrun: rank 0 writes and claims; the others only compute
        yield
        return
    items = [(opt, Path(p), "file") for opt, p in (files or {}).items() if p is not None]
    items += [(opt, Path(p), "dir") for opt, p in (dirs or {}).items() if p is not None]
    for opt, path, kind in items:
        check_output(path, opt, kind)
    created: list[Path] = []
    locks: list[tuple[int, Path]] = []
    try:
        for opt, path, kind in items:
            missing = [a for a in [path.parent, *path.parent.parents] if not a.exists()]
            for folder in reversed(missing):
                try:
                    folder.mkdir()
                    created.append(folder)
                except FileExistsError:
                    pass
                except OSError as exc:
                    raise OutputError(f"cannot create {opt} {path}: {exc.strerror or exc}") from None
            if kind == "dir" and not path.exists():
                created.append(path)  # made by the command itself; removed again if left empty
            locks.append(_lock(path, opt))
            remove_stale_temps(path.parent)
            if kind == "dir":
                remove_stale_temps(path, recursive=True)
        yield
    finally:
        for fd, lock in locks:
            with contextlib.suppress(OSError):
                lock.unlink()
            os.close(fd)
        for folder in reversed(created):
            with contextlib.suppress(OSError):
                folder.rmdir()  # only if still empty
