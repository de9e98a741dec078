"""The journal: each commit appended to ``<db>.journal`` and fsynced; folded into the TinyDB
file later, off the request path.

The file is ``MAGIC``, then one record per group commit. A record is a header of three
little-endian 32-bit numbers, the payload's length, the payload's CRC-32 and the CRC-32 of
those eight bytes, then the payload: the JSON of a list of operations on TinyDB documents::

    ["put", table, id, document]            the document with that id is this one
    ["delete", table, id]                   there is no document with that id
    ["add", table, id, field, [n, ...]]     the numbers join the list ``field`` of the
                                            document (ascending, each once; made if missing)
    ["remove", table, id, field, [n, ...]]  the numbers leave that list

Nothing here knows customer groups: a new table is journaled as it is. Replaying a record's
operations again on a file that already holds them changes nothing (each sets a value), so a
crash between a fold and the journal's trim loses nothing and doubles nothing.

Reading (``scan``): a last record cut short (a crash during its append: its header or payload
incomplete, its payload's checksum wrong, or zeros where it should be) is dropped whole, and
the journal is cut back to the records before it at the next start. A damaged record with
whole records after it is not a crash in an append: ``Corrupt``, and the store does not
start.

Folding (``fold``) reads the TinyDB file and the journal's first ``upto`` bytes, applies them
and writes the result to a new file; it runs in a child process (``python -m
customergroup_rpc.store.journal DB JOURNAL UPTO OUT``), so neither parsing nor writing a large
database holds the server's event loop or its interpreter lock. The store then renames the new
file over the database (``install``) and trims the folded records off the journal.

>>> ops = [["put", "customergroups", "1", {"name": "Staff"}],
...        ["add", "members", "1", "customers", [42, 17]]]
>>> data = MAGIC + record(ops) + record([["remove", "members", "1", "customers", [42]]])
>>> records, end = scan(data)
>>> replay({}, records)
{'customergroups': {'1': {'name': 'Staff'}}, 'members': {'1': {'customers': [17]}}}
>>> scan(data[:-3]) == (records[:1], len(MAGIC + record(ops)))  # a torn last record
True
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import struct
import sys
import zlib
from pathlib import Path
from typing import Any

from ..codec import dumps
from ..files import FileLocked, Lock, fsync_dir

MAGIC = b"customergroup-rpc journal 1\n"
ZERO_AHEAD = (64 << 10, 4 << 20)  # bytes zeroed ahead of the end: at least, at most
HEADER = struct.Struct("<III")
_SIZES = struct.Struct("<II")
Op = list[Any]


class Corrupt(ValueError):
    """A record that a crash in an append cannot explain; the message says where."""


def path_of(db: Path) -> Path:
    """The journal of a database file."""
    return db.with_name(db.name + ".journal")


def record(ops: list[Op]) -> bytes:
    """One record: the header and the JSON of ``ops``."""
    payload = dumps(ops)
    sizes = _SIZES.pack(len(payload), zlib.crc32(payload))
    return sizes + struct.pack("<I", zlib.crc32(sizes)) + payload


def scan(data: bytes) -> tuple[list[list[Op]], int]:
    """The operations of every whole record, and the offset where the last one ends."""
    if not data.startswith(MAGIC):
        if MAGIC.startswith(data):  # made, and cut short before its first record
            return [], 0
        raise Corrupt("it does not start as a customergroup-rpc journal")
    records: list[list[Op]] = []
    at = len(MAGIC)
    # Past the last byte that is not zero there are only the zeros written ahead of the end
    # (a record's JSON never ends with one): what ends there, damaged, was cut short.
    written = len(data.rstrip(b"\x00"))
    while at < written:
        if len(data) - at < HEADER.size:
            break  # a header cut short, at the end of the file
        length, checksum, header_sum = HEADER.unpack_from(data, at)
        if zlib.crc32(data[at : at + _SIZES.size]) != header_sum:
            if at + HEADER.size >= written:
                break  # a header cut short
            raise Corrupt(f"the header of record {len(records) + 1} (byte {at}) is damaged")
        end = at + HEADER.size + length
        if end > len(data) or zlib.crc32(data[at + HEADER.size : end]) != checksum:
            if end >= written:
                break  # the last record, cut short
            raise Corrupt(
                f"record {len(records) + 1} (byte {at}) is damaged, and records follow it"
            )
        records.append(_operations(data[at + HEADER.size : end], len(records) + 1, at))
        at = end
    return records, at


def _operations(payload: bytes, number: int, at: int) -> list[Op]:
    try:
        ops = json.loads(payload)
    except (ValueError, RecursionError):
        ops = None
    if not isinstance(ops, list) or not all(_well_formed(op) for op in ops):
        raise Corrupt(f"record {number} (byte {at}) is not a list of operations")
    return ops


def _well_formed(op: Any) -> bool:
    if not isinstance(op, list) or len(op) < 3 or not all(isinstance(x, str) for x in op[1:3]):
        return False
    match op[0]:
        case "put":
            return len(op) == 4 and isinstance(op[3], dict)
        case "delete":
            return len(op) == 3
        case "add" | "remove":
            return len(op) == 5 and isinstance(op[3], str) and isinstance(op[4], list)
    return False


def replay(tables: dict[str, Any], records: list[list[Op]]) -> dict[str, Any]:
    """Apply records to a TinyDB document (table -> id -> document), in place; the document.

    A list that numbers join or leave is held as a set until the end, then written back
    ascending: each operation costs what it changes.
    """
    sets: dict[tuple[str, str], dict[str, set[Any]]] = {}
    for ops in records:
        for op in ops:
            kind, table, key = op[0], op[1], op[2]
            docs = tables.setdefault(table, {})
            if kind in ("put", "delete"):
                sets.pop((table, key), None)
                if kind == "put":
                    docs[key] = op[3]
                else:
                    docs.pop(key, None)
                continue
            field, values = op[3], op[4]
            doc = docs.get(key)
            if doc is None:
                if kind == "remove":
                    continue
                doc = docs[key] = {field: []}
            held = sets.setdefault((table, key), {})
            if field not in held:
                listed = doc.get(field)
                held[field] = set(listed) if isinstance(listed, list) else set()
            if kind == "add":
                held[field].update(values)
            else:
                held[field].difference_update(values)
    for (table, key), fields in sets.items():
        for field, values in fields.items():
            tables[table][key][field] = sorted(values)
    return tables


def read_base(db: Path) -> dict[str, Any]:
    """The TinyDB file's document (empty when there is no file)."""
    try:
        data = db.read_bytes()
    except FileNotFoundError:
        return {}
    found = json.loads(data)
    if not isinstance(found, dict):
        raise ValueError("the top level is not an object")
    return found


def replayed(db: Path) -> dict[str, Any]:
    """What a database holds: its TinyDB file with its journal applied, read without
    changing either (as the store reads them at start). For tests and tools."""
    journal = path_of(db)
    records = scan(journal.read_bytes())[0] if journal.exists() else []
    return replay(read_base(db), records)


def fold(db: Path, journal: Path, upto: int, out: Path) -> None:
    """Write to ``out`` (fsynced) the TinyDB file with the journal's first ``upto`` bytes
    applied; those must be whole records."""
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        with journal.open("rb") as records_file:
            data = records_file.read(upto)
        records, end = scan(data)
        if end != upto:
            raise Corrupt(f"the first {upto} bytes of {journal} are not whole records")
        f.write(dumps(replay(read_base(db), records)))
        f.flush()
        os.fsync(f.fileno())


def install(new: Path, db: Path, lock: Lock | None) -> None:
    """Rename a folded file over the database (carrying the lock to it), then make the
    rename durable; ``LockLost`` (the new file removed) if the path names a file not ours."""
    fd = os.open(new, os.O_RDONLY)
    try:
        if lock is not None:
            lock.take_next(fd)
        os.replace(new, db)
    except BaseException:
        if lock is not None:
            lock.drop_next()
        with contextlib.suppress(FileNotFoundError):
            new.unlink()
        raise
    finally:
        os.close(fd)
    if lock is not None:
        lock.keep_next()
    fsync_dir(db.parent)


class Journal:
    """The open journal of a database: records are appended at ``size``, fsynced each.

    Its file is locked (``flock``) for as long as it is open, as the database file is, and a
    trimmed journal is a new file, locked before it replaces the old one.
    """

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path, self._fd, self.size = path, fd, size
        self.broken = False  # an append failed and its bytes could not be cut off again
        # The file is zeroed ahead of its end up to here: an append there changes no metadata,
        # and fdatasync costs a third of an fsync that must also record a new size.
        self._zeroed = size

    @classmethod
    def open(cls, path: Path, end: int) -> Journal:
        """Open (or make) the journal, cut back to ``end``, where its last whole record ends
        (0: no journal yet, or one cut short in its first line)."""
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            _lock(fd, path)
            if end < len(MAGIC):
                os.ftruncate(fd, 0)
                os.pwrite(fd, MAGIC, 0)
                end = len(MAGIC)
                os.fsync(fd)
                fsync_dir(path.parent)
            elif os.fstat(fd).st_size != end:
                os.ftruncate(fd, end)  # the torn last record
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            raise
        return cls(path, fd, end)

    @property
    def records(self) -> bool:
        """Whether the journal holds any record."""
        return self.size > len(MAGIC)

    def append(self, data: bytes) -> None:
        """Write a record at the end and fsync it; on failure, cut it off again."""
        if self.broken:
            raise OSError(f"{self.path} could not be cut back after a failed write")
        try:
            if self.size + len(data) > self._zeroed:
                self._zero(self.size + len(data))
            done = 0
            while done < len(data):
                done += os.pwrite(self._fd, data[done:], self.size + done)
            os.fdatasync(self._fd)
        except BaseException:
            try:
                os.ftruncate(self._fd, self.size)
                os.fsync(self._fd)
                self._zeroed = self.size
            except OSError:
                self.broken = True
            raise
        self.size += len(data)

    def _zero(self, end: int) -> None:
        """Zero the file ahead, past ``end``: as much again as the journal holds, within
        limits (what a crash leaves there reads as no record)."""
        ahead = end + max(ZERO_AHEAD[0], min(ZERO_AHEAD[1], self.size))
        os.pwrite(self._fd, bytes(ahead - self._zeroed), self._zeroed)
        os.fsync(self._fd)
        self._zeroed = ahead

    def trim(self, upto: int) -> None:
        """Drop the records before ``upto`` (folded into the database): the rest goes to a new,
        locked file renamed over the journal. Call while nothing is appended."""
        tail = os.pread(self._fd, self.size - upto, upto)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            _lock(fd, tmp)
            os.pwrite(fd, MAGIC + tail, 0)
            os.fsync(fd)
            os.replace(tmp, self.path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            raise
        fsync_dir(self.path.parent)
        os.close(self._fd)
        self._fd, self.size = fd, len(MAGIC) + len(tail)
        self._zeroed = self.size

    def remove(self) -> None:
        """Delete the journal (everything in it is folded) and close it."""
        self.path.unlink()
        fsync_dir(self.path.parent)
        self.close()

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _lock(fd: int, path: Path) -> None:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        raise FileLocked(str(path)) from None


def main(argv: list[str]) -> int:
    """The fold, as a child process of the server: DB JOURNAL UPTO OUT."""
    db, journal, upto, out = argv
    background()
    fold(Path(db), Path(journal), int(upto), Path(out))
    return 0


def background() -> None:
    """Run from now on at the scheduler's idle priority (Linux ``SCHED_IDLE``), where there
    is one. On a core the server shares, a request that comes preempts the fold at once; at
    nice 10 the fold still ran for whole time slices of a few ms while requests waited. On a
    core that is busy all the time the fold waits, and the journal grows until it can run."""
    if hasattr(os, "sched_setscheduler") and hasattr(os, "SCHED_IDLE"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
