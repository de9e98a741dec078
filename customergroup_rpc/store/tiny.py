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
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from .. import filters
from ..codec import dumps
from ..errors import GroupMissing, NameTaken, NotMembers, VersionConflict
from ..files import FileLocked, Lock, LockLost, remove_stale_temporaries, resolved, write_atomic
from . import Group, Page, Selection, StoreError, WriteFailed, feed, group, queries
from .feed import Actor, Changes, Retention
from .state import Change, Drop, Event, Forget, Members, Put, State
from .tinyfile import AtomicStorage, document, load, record

log = logging.getLogger(__name__)

Pending = list[tuple[Sequence[Change], asyncio.Future[None]]]
# The durability futures of the writes of a ``together`` block in this task, else None.
_TOGETHER: contextvars.ContextVar[list[asyncio.Future[None]] | None] = contextvars.ContextVar(
    "together", default=None
)


class TinyStore:
    """The store; ``path=None`` keeps everything in memory (``--db :memory:``)."""

    def __init__(
        self,
        storage: AtomicStorage,
        state: State,
        lock: Lock | None,
        retention: Retention | None = None,
    ) -> None:
        self._storage, self._lock = storage, lock
        self._retention = retention or Retention()
        # Moves on at every commit, when followers of the feed read again (feed_wait).
        self._tick, self._ticked = 0, asyncio.Event()
        self.path = storage.path  # resolved: the file itself, never a link to it
        self.committed = state
        self.working = self.committed.copy()
        self._doc = document(self.committed)
        self._pending: Pending = []
        self._flusher: asyncio.Task[None] | None = None
        self._holds = 0

    @classmethod
    def open(cls, path: Path | None, *, retention: Retention | None = None) -> TinyStore:
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
        return cls(storage, state, lock, retention)

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

    async def changes(
        self, since: int, limit: int | None, uid: int | None = None, token: str | None = None
    ) -> Changes:
        return queries.changes(self._read, since, limit, uid, token)

    def feed_tick(self) -> int:
        return self._tick

    async def feed_wait(self, tick: int) -> None:
        while self._tick == tick:
            await self._ticked.wait()

    # --- writes: checked and staged against the working state, then made durable ---

    async def create(self, name: str, at: str, *, actor: Actor | None = None) -> Group:
        self._free(name, None)
        uid = self.working.last_uid + 1
        fields = {"name": name, "created": at, "changed": at, "version": 1}
        event = feed.created(uid, at, actor, name=name)
        return await self._write(uid, [Put(uid, fields), *self._logged(event, at)])

    async def rename(
        self,
        uid: int,
        name: str,
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> Group:
        current = self._existing(uid, expected)
        if current["name"] == name:
            return self._group(uid)
        self._free(name, uid)
        version = _version(current) + 1
        event = feed.renamed(uid, at, actor, version=version, name=name, old=current["name"])
        fields = {**current, "name": name, "changed": at, "version": version}
        return await self._write(uid, [Put(uid, fields), *self._logged(event, at)])

    async def delete(
        self,
        uid: int,
        at: str | None = None,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> None:
        current = self._existing(uid, expected)
        at = at or feed.now()
        event = feed.deleted(uid, at, actor, version=_version(current), name=current["name"])
        await self._commit([Drop(uid), *self._logged(event, at)])

    async def add(
        self,
        uid: int,
        customers: frozenset[int],
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        current = self._existing(uid, expected)
        members = self.working.members(uid)
        new = customers - members
        if new:
            version = _version(current) + 1
            event = feed.members("customersAdded", uid, at, actor, version=version, customers=new)
            await self._set_members({uid: members | new}, at, event)
        return len(new)

    async def remove(
        self,
        uid: int,
        customers: frozenset[int],
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        current = self._existing(uid, expected)
        members = self.working.members(uid)
        gone = members & customers
        if gone:
            version = _version(current) + 1
            event = feed.members(
                "customersRemoved", uid, at, actor, version=version, customers=gone
            )
            await self._set_members({uid: members - gone}, at, event)
        return len(gone)

    async def move(
        self,
        source: int,
        target: int,
        customers: Sequence[int] | None,
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        current = self._existing(source, expected)
        into = self._existing(target)
        members = self.working.members(source)
        moving = members if customers is None else frozenset(customers)
        if not moving <= members:
            listed = customers or []
            raise NotMembers(source, [(i, c) for i, c in enumerate(listed) if c not in members])
        if not moving:
            return 0
        joined = self.working.members(target) | moving
        to = (target, _version(into) + (joined != self.working.members(target)))
        version = _version(current) + 1
        event = feed.members(
            "customersMoved", source, at, actor, version=version, customers=moving, to=to
        )
        await self._set_members({source: members - moving, target: joined}, at, event)
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

    def _existing(self, uid: int, expected: int | None = None) -> dict[str, Any]:
        """The group's fields in the working state; ``GroupMissing``, and ``VersionConflict``
        unless it has the ``expected`` version (None: any)."""
        fields = self.working.get(uid)
        if fields is None:
            raise GroupMissing(uid)
        if expected is not None and _version(fields) != expected:
            raise VersionConflict(self._group(uid))
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

    async def _set_members(
        self, changes: dict[int, frozenset[int]], at: str, event: feed.Fields
    ) -> None:
        """New memberships and their event in one commit, moving ``changed`` and ``version``
        of the groups that changed."""
        staged: list[Change] = []
        for uid, customers in changes.items():
            if customers != self.working.members(uid):
                old = self.working.groups[uid]
                fields = {**old, "changed": at, "version": _version(old) + 1}
                staged += [Members(uid, customers), Put(uid, fields)]
        await self._commit([*staged, *self._logged(event, at)])

    def _logged(self, event: feed.Fields, at: str) -> list[Change]:
        """The changes that add an event to the feed, and drop what retention no longer keeps
        (never the new event)."""
        state = self.working
        position, first = state.last_position + 1, state.horizon + 1
        upto = self._retention.cut(first, position) or first - 1
        cutoff = self._retention.cutoff(at)
        if cutoff is not None:
            while upto + 1 < position and state.events[upto + 1]["at"] < cutoff:
                upto += 1
        forget: list[Change] = [Forget(first, upto)] if upto >= first else []
        return [Event(position, event), *forget]

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
            self._tick += 1
            self._ticked.set()
            self._ticked = asyncio.Event()

    def _undo(self, failed: Pending) -> None:
        """Forget every change not on disk: the working state is the committed one again."""
        self._pending = []
        self.working = self.committed.copy()
        self._doc = document(self.committed)
        for _, future in failed:
            if not future.done():
                future.set_exception(WriteFailed("The change could not be written to disk."))


def _version(fields: dict[str, Any]) -> int:
    return int(fields.get("version", 1))  # a group stored before versions: 1


def _resolved(path: Path) -> Path:
    try:
        return resolved(path)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (Python < 3.13)
        raise StoreError(f"Cannot follow the links of {path}: {exc}.") from None


def _in_use(path: Path | None) -> StoreError:
    return StoreError(f"{path} is in use by another customergroup-rpc server.")
