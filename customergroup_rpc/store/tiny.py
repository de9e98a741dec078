"""The embedded engine: customer groups in one TinyDB file (``tinyfile.py``), or in memory.

Two in-memory states: ``working`` takes each change at once, so the next check (a name's
uniqueness, a group's existence) sees it; ``committed`` is what reads see, and takes a change
only once it is on disk. A write checks and stages its changes with no ``await`` in between,
so of many parallel creates of one name exactly one wins; then it waits until its changes are
durable. Changes that arrive while a write is in flight are written together by the next one:
one atomic, fsynced file replacement acknowledges them all (group commit).

The path is resolved once, at open: a symbolic link is followed to its target, which is the
file read, written and locked, however the path was spelled. The file is locked for as long
as the store is open (``files.Lock``); a missing file is created, empty, at open, so that
there is a file to lock.

>>> import asyncio
>>> async def demo():
...     store = TinyStore.open(None)
...     await store.create("Staff", "2014-01-16T14:14:18Z")
...     try:
...         await store.create(" STAFF ", "2014-01-16T14:14:19Z")
...     except NameTaken as taken:
...         return taken.uid, taken.name
>>> asyncio.run(demo())
(1, 'Staff')
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

from .. import filters
from ..codec import dumps
from ..errors import GroupMissing, NameTaken, NotMembers
from ..files import FileLocked, Lock, LockLost, remove_stale_temporaries, resolved, write_atomic
from . import (
    CommitHook,
    Group,
    Page,
    Selection,
    StoreError,
    WriteFailed,
    group,
    no_hook,
    queries,
)
from .state import Change, Drop, Members, Put, State
from .tinyfile import AtomicStorage, document, load, record

log = logging.getLogger(__name__)

Pending = list[tuple[Sequence[Change], asyncio.Future[None]]]
# The durability futures of the writes of a ``together`` block in this task, else None.
_TOGETHER: contextvars.ContextVar[list[asyncio.Future[None]] | None] = contextvars.ContextVar(
    "together", default=None
)


class TinyStore:
    """The store; ``path=None`` keeps everything in memory (``--db :memory:``)."""

    def __init__(self, storage: AtomicStorage, state: State, lock: Lock | None) -> None:
        self._storage, self._lock = storage, lock
        self.path = storage.path  # resolved: the file itself, never a link to it
        self.committed = state
        self.working = self.committed.copy()
        self._doc = document(self.committed)
        self._pending: Pending = []
        self._flusher: asyncio.Task[None] | None = None
        self._holds = 0
        self.on_commit: CommitHook = no_hook

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
            storage, state = load(path, lock)
            if path is not None:
                for stale in remove_stale_temporaries(path):
                    log.warning("Removed %s, left by a writer that was killed", stale.name)
                if not path.exists():
                    write_atomic(path, dumps(document(state)), lock=lock)
        except BaseException as exc:
            if lock:
                lock.release()
            if isinstance(exc, LockLost):  # another server created the file meanwhile
                raise _in_use(path) from None
            raise
        return cls(storage, state, lock)

    # --- reads: the committed state (in a together() block, the writes before them too) ---

    @property
    def _read(self) -> State:
        return self.committed if _TOGETHER.get() is None else self.working

    async def get(self, uid: int) -> Group | None:
        return queries.group_of(self._read, uid)

    async def count(self, where: filters.Filter) -> int:
        return queries.count(self._read, where)

    async def select(self, selection: Selection) -> list[Group]:
        return queries.select(self._read, selection)

    async def members(self, uid: int, page: Page) -> list[int] | None:
        state = self._read
        return None if state.get(uid) is None else queries.members(state, uid, page)

    async def named(self, name: str) -> tuple[int, str] | None:
        """Checked against the working state: a name staged by a write in flight is taken."""
        uid = self.working.named(name)
        return None if uid is None else (uid, self.working.groups[uid]["name"])

    # --- writes: checked and staged against the working state, then made durable ---

    async def create(self, name: str, at: str) -> Group:
        self._free(name, None)
        uid = self.working.last_uid + 1
        return await self._write(uid, [Put(uid, {"name": name, "created": at, "changed": at})])

    async def rename(self, uid: int, name: str, at: str) -> Group:
        current = self._existing(uid)
        if current["name"] == name:
            return self._group(uid)
        self._free(name, uid)
        return await self._write(uid, [Put(uid, {**current, "name": name, "changed": at})])

    async def delete(self, uid: int) -> None:
        self._existing(uid)
        await self._commit([Drop(uid)])

    async def add(self, uid: int, customers: frozenset[int], at: str) -> int:
        self._existing(uid)
        current = self.working.members(uid)
        new = customers - current
        await self._set_members({uid: current | new}, at)
        return len(new)

    async def remove(self, uid: int, customers: frozenset[int], at: str) -> int:
        self._existing(uid)
        current = self.working.members(uid)
        gone = current & customers
        await self._set_members({uid: current - gone}, at)
        return len(gone)

    async def move(self, source: int, target: int, customers: Sequence[int] | None, at: str) -> int:
        self._existing(source)
        self._existing(target)
        members = self.working.members(source)
        moving = members if customers is None else frozenset(customers)
        if not moving <= members:
            listed = customers or []
            raise NotMembers(source, [(i, c) for i, c in enumerate(listed) if c not in members])
        await self._set_members(
            {source: members - moving, target: self.working.members(target) | moving}, at
        )
        return len(moving)

    @contextlib.asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        """Writes in this block (in this task) go to disk in one commit, when it ends."""
        futures: list[asyncio.Future[None]] = []
        token = _TOGETHER.set(futures)
        self._holds += 1
        try:
            yield
        finally:
            _TOGETHER.reset(token)
            self._holds -= 1
            self._start_flushing()
            outcomes = await asyncio.gather(*futures, return_exceptions=True)
            failed = next((e for e in outcomes if isinstance(e, BaseException)), None)
            if failed is not None:
                raise failed

    async def ping(self) -> bool:
        return True  # the data is in this process

    async def totals(self) -> tuple[int, int]:
        state = self.committed
        return len(state.groups), sum(len(state.members(uid)) for uid in state.groups)

    async def aclose(self) -> None:
        """Finish the writes in flight, then let another server open the file."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        self.close()

    def close(self) -> None:
        if self._lock:
            self._lock.release()
            self._lock = None

    # --- the commit path ---

    def _existing(self, uid: int) -> dict[str, str]:
        fields = self.working.get(uid)
        if fields is None:
            raise GroupMissing(uid)
        return fields

    def _free(self, name: str, uid: int | None) -> None:
        holder = self.working.named(name)
        if holder is not None and holder != uid:
            raise NameTaken(holder, self.working.groups[holder]["name"])

    def _group(self, uid: int) -> Group:
        return group(uid, self.working.groups[uid], len(self.working.members(uid)))

    async def _write(self, uid: int, changes: Sequence[Change]) -> Group:
        durable = self.stage(changes)
        written = self._group(uid)  # as this write left it, whatever comes while it is written
        await durable
        return written

    async def _commit(self, changes: Sequence[Change]) -> None:
        await self.stage(changes)

    async def _set_members(self, changes: dict[int, frozenset[int]], at: str) -> None:
        """New memberships in one commit, moving ``changed`` of the groups that changed."""
        staged: list[Change] = []
        for uid, customers in changes.items():
            if customers != self.working.members(uid):
                fields = {**self.working.groups[uid], "changed": at}
                staged += [Members(uid, customers), Put(uid, fields)]
        if staged:
            await self._commit(staged)

    def stage(self, changes: Sequence[Change]) -> asyncio.Future[None]:
        """Apply changes to the working state now; the result resolves once they are durable
        (at once, for a write in a ``together`` block: the block waits for them)."""
        for change in changes:
            self.working.apply(change)
            record(self._doc, self.working, change)
        future = asyncio.get_running_loop().create_future()
        self._pending.append((changes, future))
        self._start_flushing()
        together = _TOGETHER.get()
        if together is None:
            return future
        together.append(future)
        done = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done

    def _start_flushing(self) -> None:
        if self._holds == 0 and self._pending and (self._flusher is None or self._flusher.done()):
            self._flusher = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            blob = dumps(self._doc)  # exactly this batch's changes and all before: none after
            started = time.perf_counter()
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
            self.on_commit(time.perf_counter() - started, len(batch))
            for changes, future in batch:
                for change in changes:
                    self.committed.apply(change)
                if not future.done():
                    future.set_result(None)

    def _undo(self, failed: Pending) -> None:
        """Forget every change not on disk: the working state is the committed one again."""
        self._pending = []
        self.working = self.committed.copy()
        self._doc = document(self.committed)
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
