"""STORE: customer groups in one TinyDB JSON file, durable before a write returns (SPEC 8).

The file is an ordinary TinyDB database with three tables::

    {"customergroups": {"1": {"name": "Staff", "created": "...", "changed": "..."}},
     "members": {"1": {"customers": [17, 42]}},
     "meta": {"1": {"last_uid": 1}}}

A document's uid is its TinyDB id, so it is stored once. A group's customers are kept once, as
a sorted list under the group's uid; counts are derived from it. ``last_uid`` is persisted in
the same write as the insert, because TinyDB alone would hand a deleted newest id out again.
Each change is one transaction: one atomic, fsynced replacement of the whole file. Reads are
served from memory; the file is read only at open.

>>> store = TinyStore.open(None)
>>> moment = "2014-01-16T14:14:18Z"
>>> store.insert({"name": "Staff", "created": moment, "changed": moment})
1
>>> store.get(1)["name"]
'Staff'
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from tinydb import TinyDB
from tinydb.storages import Storage
from tinydb.table import Document

from .files import FileLocked, Lock, remove_stale_temporaries, write_atomic

log = logging.getLogger(__name__)
Fields = dict[str, Any]
TABLE = "customergroups"
MEMBERS = "members"
META = "meta"
NONE: frozenset[int] = frozenset()


class StoreError(Exception):
    """The database cannot be opened: locked by another server, unreadable or not ours."""


class Store(Protocol):
    """What the service needs of storage. Documents hold every property but ``uid``."""

    def get(self, uid: int) -> Fields | None: ...
    def items(self) -> Iterator[tuple[int, Fields]]: ...
    def members(self, uid: int) -> frozenset[int]: ...
    def insert(self, fields: Fields) -> int: ...
    def save(self, groups: Mapping[int, Fields], members: Mapping[int, frozenset[int]]) -> None: ...
    def remove(self, uid: int) -> None: ...
    def close(self) -> None: ...


class AtomicStorage(Storage):
    """A TinyDB storage that keeps the data in memory and commits by atomic replacement.

    Inside ``transaction()`` TinyDB's writes only touch memory; leaving it writes once. If the
    commit fails, memory goes back to the last committed state, which is what the file holds.
    """

    def __init__(self, path: Path | None, data: dict[str, Any]) -> None:
        self.path = path
        self._data = data
        self._committed = _dump(data)
        self._depth = 0
        self._dirty = False

    def read(self) -> dict[str, Any]:
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        self._data = data
        self._dirty = True
        if self._depth == 0:
            self._commit()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self._depth += 1
        try:
            yield
        except BaseException:
            self._depth -= 1
            self._rollback()
            raise
        self._depth -= 1
        if self._depth == 0 and self._dirty:
            self._commit()

    def _commit(self) -> None:
        try:
            blob = _dump(self._data)
            if self.path is not None:
                write_atomic(self.path, blob)
        except BaseException:
            self._rollback()
            raise
        self._committed = blob
        self._dirty = False

    def _rollback(self) -> None:
        self._data = json.loads(self._committed)
        self._dirty = False


def _dump(data: Mapping[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=True).encode("ascii")


class TinyStore:
    """The TinyDB-backed store; ``path=None`` keeps everything in memory (``--db :memory:``)."""

    def __init__(self, db: TinyDB, storage: AtomicStorage, lock: Lock | None) -> None:
        self._db, self._storage, self._lock = db, storage, lock
        self._table = db.table(TABLE, cache_size=0)
        self._members_table = db.table(MEMBERS, cache_size=0)
        self._meta = db.table(META, cache_size=0)
        data = storage.read()
        raw = data.get(TABLE, {})
        self._groups: dict[int, Fields] = {int(k): dict(v) for k, v in sorted(raw.items(), key=_id)}
        self._members = {
            int(k): frozenset(v["customers"]) for k, v in data.get(MEMBERS, {}).items()
        }

    @classmethod
    def open(cls, path: Path | None) -> TinyStore:
        """Lock the file (one server per database), read and check it, or start empty."""
        lock = None
        if path is not None:
            if not path.parent.is_dir():
                raise StoreError(f"The folder of {path} does not exist.")
            lock = Lock(path)
            try:
                lock.acquire()
            except FileLocked:
                raise StoreError(f"{path} is in use by another customergroup-rpc server.") from None
        try:
            data = _load(path)
            if path is not None:
                for stale in remove_stale_temporaries(path):
                    log.warning("Removed %s, left by a writer that was killed", stale.name)
        except BaseException:
            if lock:
                lock.release()
            raise
        storage = AtomicStorage(path, data)
        return cls(TinyDB(storage=_Given(storage)), storage, lock)

    def get(self, uid: int) -> Fields | None:
        return self._groups.get(uid)

    def items(self) -> Iterator[tuple[int, Fields]]:
        """Every group in ascending uid order."""
        return iter(self._groups.items())

    def members(self, uid: int) -> frozenset[int]:
        """The customer uids of a group (empty for none)."""
        return self._members.get(uid, NONE)

    def insert(self, fields: Fields) -> int:
        """Store a new group under the next uid, never used before; return the uid."""
        meta: Mapping[str, Any] = self._meta.get(doc_id=1) or {}
        known = max(self._groups, default=0)
        uid = max(int(meta.get("last_uid", 0)), known) + 1
        with self._storage.transaction():
            self._meta.upsert(Document({"last_uid": uid}, doc_id=1))
            self._table.insert(Document(dict(fields), doc_id=uid))
        self._groups[uid] = dict(fields)
        return uid

    def save(self, groups: Mapping[int, Fields], members: Mapping[int, frozenset[int]]) -> None:
        """Replace groups' fields and memberships, all in one durable write."""
        with self._storage.transaction():
            for uid, fields in groups.items():
                self._table.upsert(Document(dict(fields), doc_id=uid))
            for uid, customers in members.items():
                if customers:
                    self._members_table.upsert(
                        Document({"customers": sorted(customers)}, doc_id=uid)
                    )
                else:
                    self._members_table.remove(doc_ids=[uid])
        self._groups.update((uid, dict(fields)) for uid, fields in groups.items())
        for uid, customers in members.items():
            self._set_members(uid, customers)

    def remove(self, uid: int) -> None:
        """Delete a group and unassign its customers, in one durable write."""
        with self._storage.transaction():
            self._table.remove(doc_ids=[uid])
            self._members_table.remove(doc_ids=[uid])
        del self._groups[uid]
        self._set_members(uid, NONE)

    def _set_members(self, uid: int, customers: frozenset[int]) -> None:
        if customers:
            self._members[uid] = customers
        else:
            self._members.pop(uid, None)

    def close(self) -> None:
        self._db.close()
        if self._lock:
            self._lock.release()


class _Given:
    """TinyDB builds its storage from a class; hand it the one we built already."""

    def __init__(self, storage: AtomicStorage) -> None:
        self._storage = storage

    def __call__(self) -> AtomicStorage:
        return self._storage


def _id(item: tuple[str, Any]) -> int:
    return int(item[0])


def _load(path: Path | None) -> dict[str, Any]:
    """Read and check the database file; anything odd stops the start, the file untouched."""
    if path is None or not path.exists():
        return {}
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise StoreError(f"Cannot read {path}: {exc.strerror}.") from None
    except (ValueError, RecursionError):
        raise StoreError(
            f"{path} is not a valid database file (not JSON). Left untouched."
        ) from None
    problem = _shape_problem(data)
    if problem:
        raise StoreError(f"{path} is not a customergroup-rpc database: {problem}. Left untouched.")
    return dict(data)


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "the top level is not an object"
    groups, members, meta = (data.get(name, {}) for name in (TABLE, MEMBERS, META))
    if not all(isinstance(table, dict) for table in (groups, members, meta)):
        return f"{TABLE}, {MEMBERS} or {META} is not a table"
    for key, doc in groups.items():
        if not key.isdigit() or not isinstance(doc, dict):
            return f"entry {key!r} of {TABLE} is malformed"
        if not all(isinstance(doc.get(p), str) for p in ("name", "created", "changed")):
            return f"customer group {key} lacks name, created or changed"
    for key, doc in members.items():
        customers = doc.get("customers") if isinstance(doc, dict) else None
        if key not in groups or not isinstance(customers, list):
            return f"entry {key!r} of {MEMBERS} is malformed or names no group"
        if not all(type(c) is int and c > 0 for c in customers):
            return f"the customers of group {key} are not all positive integers"
    last = meta.get("1", {}).get("last_uid", 0) if isinstance(meta.get("1", {}), dict) else None
    if not isinstance(last, int) or isinstance(last, bool):
        return "meta.last_uid is not an integer"
    return None
