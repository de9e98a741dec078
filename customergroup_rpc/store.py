"""STORE: customer groups in one TinyDB JSON file, durable before a write is acknowledged.

The file is an ordinary TinyDB database with three tables::

    {"customergroups": {"1": {"name": "Staff", "created": "...", "changed": "..."}},
     "members": {"1": {"customers": [17, 42]}},
     "meta": {"1": {"last_uid": 1}}}

A group's uid is its TinyDB id, stored once; its customers are one sorted list; ``last_uid``
keeps uids from being reused. TinyDB reads the file at open. Writes go through TinyDB's
storage interface but not its table operations, which rebuild a whole table per change.

The path is resolved once, at open: a symbolic link is followed to its target, which is the
file read, written and locked, however the path was spelled. The file is locked for as long
as the store is open (``files.Lock``); a missing file is created, empty, at open, so that
there is a file to lock.

Two in-memory states: ``working`` takes each change at once, so the next check (a name's
uniqueness) sees it; ``committed`` is what reads see, and takes a change only once it is on
disk. ``stage`` applies changes and returns an awaitable that resolves when they are durable.
Changes that arrive while a write is in flight are written together by the next one: one
atomic, fsynced file replacement acknowledges them all (group commit).

>>> import asyncio
>>> async def demo():
...     store = TinyStore.open(None)
...     uid = store.working.last_uid + 1
...     moment = "2014-01-16T14:14:18Z"
...     fields = {"name": "Staff", "created": moment, "changed": moment}
...     await store.stage([Put(uid, fields), Members(uid, frozenset({17}))])
...     return store.committed.get(uid)["name"], store.committed.members(uid)
>>> asyncio.run(demo())
('Staff', frozenset({17}))
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Sequence
from pathlib import Path
from typing import Any, Protocol

from tinydb import TinyDB
from tinydb.storages import Storage

from .codec import dumps
from .files import FileLocked, Lock, LockLost, remove_stale_temporaries, resolved, write_atomic
from .state import Change, Drop, Members, Put, State

log = logging.getLogger(__name__)
TABLE, MEMBERS, META = "customergroups", "members", "meta"


class StoreError(Exception):
    """The database cannot be opened: locked by another server, unreadable or not ours."""


class WriteFailed(Exception):
    """A commit did not reach the disk; nothing of it was kept."""


class AtomicStorage(Storage):
    """A TinyDB storage over a parsed document; ``write`` replaces the file atomically."""

    def __init__(self, path: Path | None, data: dict[str, Any], lock: Lock | None = None) -> None:
        self.path, self._data, self.lock = path, data, lock

    def read(self) -> dict[str, Any]:
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        if self.path is not None:
            write_atomic(self.path, dumps(data), lock=self.lock)


class Store(Protocol):
    """What the service needs of storage: two views and a way to change them durably."""

    committed: State
    working: State

    def stage(self, changes: Sequence[Change]) -> Awaitable[None]: ...
    def hold(self) -> None: ...
    def release(self) -> None: ...


class TinyStore:
    """The store; ``path=None`` keeps everything in memory (``--db :memory:``)."""

    def __init__(self, storage: AtomicStorage, state: State, lock: Lock | None) -> None:
        self._storage, self._lock = storage, lock
        self.path = storage.path  # resolved: the file itself, never a link to it
        self.committed = state
        self.working = self.committed.copy()
        self._doc = _document(self.committed)
        self._pending: list[tuple[Sequence[Change], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._holds = 0

    @classmethod
    def open(cls, path: Path | None) -> TinyStore:
        """Lock the file (one server per database), read and check it, or start empty."""
        lock = None
        if path is not None:
            path = _resolved(path)
            if not path.parent.is_dir():
                raise StoreError(f"The folder of {path} does not exist.")
            lock = Lock(path)
            try:
                lock.acquire()
            except FileLocked:
                raise _in_use(path) from None
        try:
            storage = AtomicStorage(path, _read(path), lock)
            state = _load(TinyDB(storage=lambda: storage), path)
            if path is not None:
                for stale in remove_stale_temporaries(path):
                    log.warning("Removed %s, left by a writer that was killed", stale.name)
                if not path.exists():
                    write_atomic(path, dumps(_document(state)), lock=lock)
        except BaseException as exc:
            if lock:
                lock.release()
            if isinstance(exc, LockLost):  # another server created the file meanwhile
                raise _in_use(path) from None
            raise
        return cls(storage, state, lock)

    def stage(self, changes: Sequence[Change]) -> Awaitable[None]:
        """Apply changes to the working state now; the result resolves once they are durable.

        Call it in the same synchronous stretch as the checks that led to the changes.
        """
        for change in changes:
            self.working.apply(change)
            _record(self._doc, self.working, change)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((changes, future))
        self._start_flushing()
        return future

    def hold(self) -> None:
        """Start no commit until ``release``: changes staged meanwhile go to disk together."""
        self._holds += 1

    def release(self) -> None:
        self._holds -= 1
        self._start_flushing()

    def _start_flushing(self) -> None:
        if self._holds == 0 and self._pending and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush())

    async def aclose(self) -> None:
        """Finish the writes in flight, then let another server open the file."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        self.close()

    def close(self) -> None:
        if self._lock:
            self._lock.release()
            self._lock = None

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            blob = dumps(self._doc)  # exactly this batch's changes and all before: none after
            try:
                if self._storage.path is not None:
                    await asyncio.to_thread(write_atomic, self._storage.path, blob, lock=self._lock)
            except Exception as exc:
                if isinstance(exc, LockLost):  # no bug: no traceback
                    log.error("%s The changes in flight are undone.", exc)
                else:
                    log.exception(
                        "Writing %s failed; the changes in flight are undone", self._storage.path
                    )
                self._undo([*batch, *self._pending])
                continue
            for changes, future in batch:
                for change in changes:
                    self.committed.apply(change)
                if not future.done():
                    future.set_result(None)

    def _undo(self, failed: list[tuple[Sequence[Change], asyncio.Future[None]]]) -> None:
        """Forget every change not on disk: the working state is the committed one again."""
        self._pending = []
        self.working = self.committed.copy()
        self._doc = _document(self.committed)
        for _, future in failed:
            if not future.done():
                future.set_exception(WriteFailed("The change could not be written to disk."))


def _resolved(path: Path) -> Path:
    try:
        return resolved(path)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (Python < 3.13)
        raise StoreError(f"Cannot follow the links of {path}: {exc}.") from None


def _in_use(path: Path | None) -> StoreError:
    return StoreError(f"{path} is in use by another customergroup-rpc server.")


def _read(path: Path | None) -> dict[str, Any]:
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


def _load(db: TinyDB, path: Path | None) -> State:
    """The state a TinyDB database holds."""
    state = State()
    for doc in sorted(db.table(TABLE).all(), key=lambda d: d.doc_id):
        other = state.named(doc["name"])
        if other is not None:
            # Written by hand, or before names compared as they do now (invisible characters
            # were once part of a name): refusing to start would lock the data away. Both are
            # kept and listed; the name stays taken until one of them is renamed.
            log.warning(
                "%s: customer groups %d (%r) and %d (%r) are one name; rename one of them",
                path or "the database",
                other,
                state.groups[other]["name"],
                doc.doc_id,
                doc["name"],
            )
        state.apply(Put(doc.doc_id, dict(doc)))
    for doc in db.table(MEMBERS).all():
        state.apply(Members(doc.doc_id, frozenset(doc["customers"])))
    meta = db.table(META).get(doc_id=1)
    state.last_uid = max(state.last_uid, meta["last_uid"] if meta else 0)
    return state


def _document(state: State) -> dict[str, Any]:
    """The TinyDB document of a state, as written to the file."""
    groups = {str(uid): fields for uid, fields in state.items()}
    members = {str(uid): {"customers": sorted(state.members(uid))} for uid, _ in state.items()}
    return {
        TABLE: groups,
        MEMBERS: {k: v for k, v in members.items() if v["customers"]},
        META: {"1": {"last_uid": state.last_uid}},
    }


def _record(doc: dict[str, Any], state: State, change: Change) -> None:
    """Keep the document in step with one change, without rebuilding it."""
    key = str(change.uid)
    if isinstance(change, Put):
        doc[TABLE][key] = change.fields
        doc[META]["1"] = {"last_uid": state.last_uid}
    elif isinstance(change, Drop):
        doc[TABLE].pop(key, None)
        doc[MEMBERS].pop(key, None)
    elif change.customers:
        doc[MEMBERS][key] = {"customers": sorted(change.customers)}
    else:
        doc[MEMBERS].pop(key, None)


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
