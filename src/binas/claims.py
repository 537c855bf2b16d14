"""Output claims: every output of a command is checked, locked and cleaned before the command works.

The promise (docs/reliability.md, section 2): an output that cannot be written is refused in one
sentence naming its option before any work is done; a per-output lock refuses a second process
writing the same output; temporary files left by killed writers are removed; a refused command
leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from pathlib import Path
from typing import Iterator, Mapping

from binas.errors import OutputError
from binas.io import new_file_mode, remove_stale_temps

__all__ = ["check_output", "claim_outputs"]


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
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), new_file_mode())
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
