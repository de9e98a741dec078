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
import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


class FileLocked(Exception):
    """Another process holds the lock: a second server on the same database."""


class LockLost(Exception):
    """The database path names a file this server did not write: it will not overwrite it."""


def resolved(path: Path) -> Path:
    """The file ``path`` names: absolute, with every symbolic link followed.

    A link whose target does not exist yet resolves to that target, which the first write
    creates: the link stays a link. Every name of a database (its lock, its temporary files,
    its tokens) derives from this one, so two spellings of one file are one database.

    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp()).resolve()
    >>> (folder / "link.json").symlink_to("data.json")
    >>> resolved(folder / "link.json") == folder / "data.json"
    True
    """
    return path.resolve()


def write_atomic(path: Path, data: bytes, mode: int = 0o600, lock: Lock | None = None) -> None:
    """Replace ``path`` with ``data`` so that a crash leaves the old or the new file, whole.

    Write a temporary file in the same folder, flush and fsync it, rename it over the target,
    then fsync the folder so the rename itself survives a power loss. With ``lock`` (the
    database's), the new file is locked before the rename and the write is refused if the
    path names a file the lock does not hold (``Lock``).
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
            if lock is not None:
                lock.take_next(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if lock is not None:
            lock.drop_next()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if lock is not None:
        lock.keep_next()
    fsync_dir(path.parent)


@contextlib.contextmanager
def editing(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` exclusively for a read-change-write of ``path``: two processes
    editing one small file (the token and shop commands) go one after the other."""
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def write_json(path: Path, doc: object) -> None:
    """``doc`` as indented JSON, replacing ``path`` atomically, readable by its owner only."""
    write_atomic(path, json.dumps(doc, indent=2).encode() + b"\n", mode=0o600)


def stamp(path: str | Path) -> tuple[int, int, int] | None:
    """What changes when a file is replaced or written (inode, mtime, size); None: missing."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_ino, st.st_mtime_ns, st.st_size


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
    """One server per database, whatever is done to its lock file: two exclusive ``flock``s,
    which the kernel drops when the process ends, however it ends.

    The lock that counts is on the database file itself. Every fold of the journal replaces
    that file with a new inode, so the lock is carried along:
    the new file is locked before it is renamed over the old one (``write_atomic``), and the
    old one is let go after. At every moment the inode the path names is locked, so a second
    server that opens the file, by any spelling or link, is refused. Before each rename, and
    before each commit to the journal (``check``), the path must still name the locked file
    (or none, if it was deleted: then it is written again); if another file was put there,
    the write is refused (``LockLost``) rather than overwrite it. This costs a ``stat`` per
    commit, next to an fsync's hundreds of microseconds. The journal beside the database is
    locked the same way (``store/journal.py``).

    The other lock is on ``<db>.lock``, which is all earlier versions lock: an older server
    and this one still refuse each other. Locking only that file, even checking at each
    commit that it is still ours, is not enough: ``rm`` of it lets a second server lock a new
    one and start, and the first could only notice afterwards. Locking the folder would
    allow one database per folder.
    """

    def __init__(self, path: Path) -> None:
        self.target = path
        self.path = path.with_name(path.name + ".lock")
        self._fd: int | None = None  # <db>.lock
        self._held: int | None = None  # the database file the path names
        self._next: int | None = None  # the file about to replace it

    def acquire(self) -> None:
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FileLocked(str(self.path)) from None
        self._fd = fd
        try:
            self._held = _lock_named(self.target)
        except BaseException:
            self.release()
            raise

    def release(self) -> None:
        for fd in (self._held, self._next, self._fd):
            if fd is not None:
                os.close(fd)
        self._fd = self._held = self._next = None

    def take_next(self, fd: int) -> None:
        """Lock the file open as ``fd``, about to replace the database; ``LockLost`` if the
        path names a file that is not the one held."""
        if not self.check() and self._held is not None:
            log.warning("%s was deleted while this server ran; writing it again", self.target)
        self._next = os.dup(fd)
        fcntl.flock(self._next, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: nobody has it

    def check(self) -> bool:
        """Whether the path names the held file (False: it names no file); ``LockLost`` if
        it names another one."""
        try:
            now = os.stat(self.target)
        except FileNotFoundError:
            return False
        if self._held is None or not _same(now, os.fstat(self._held)):
            raise LockLost(
                f"{self.target} was replaced by a file this server did not write (another "
                "server, or a copy put in its place). Nothing more is written to it: "
                "stop this server."
            )
        return True

    def keep_next(self) -> None:
        """The new file is the database now: hold it, and let the old one go."""
        if self._held is not None:
            os.close(self._held)
        self._held, self._next = self._next, None

    def drop_next(self) -> None:
        """The new file did not replace the database: let it go."""
        if self._next is not None:
            os.close(self._next)
            self._next = None


def _lock_named(path: Path) -> int | None:
    """A locked descriptor of the file ``path`` names now; None if there is none yet."""
    for _ in range(10):
        try:
            # Non-blocking: opening a FIFO put there must not hang the start.
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FileLocked(str(path)) from None
        try:
            if _same(os.stat(path), os.fstat(fd)):
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # replaced between the open and the lock, by a commit: look again
    raise FileLocked(str(path))


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
