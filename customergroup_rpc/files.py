"""Durable files: atomic replacement with fsync, and the one-server-per-file lock (SPEC 8).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "data.json"
>>> write_atomic(path, b"{}")
>>> path.read_bytes()
b'{}'
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
from pathlib import Path


class FileLocked(Exception):
    """Another process holds the lock: a second server on the same database."""


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, whole.

    Write a temporary file in the same folder, flush and fsync it, rename it over the target,
    then fsync the folder so the rename itself survives a power loss.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


def remove_stale_temporaries(path: Path) -> list[Path]:
    """Delete temporary files a killed writer of ``path`` left behind; call only under the lock."""
    stale = sorted(path.parent.glob(f".{glob.escape(path.name)}.*.tmp"))
    for tmp in stale:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return stale


def fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Lock:
    """An exclusive, non-blocking OS lock on ``<path>.lock``; the kernel drops it if we die.

    The database file itself cannot carry the lock: every write replaces it with a new inode.
    """

    def __init__(self, path: Path) -> None:
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FileLocked(str(self.path)) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
