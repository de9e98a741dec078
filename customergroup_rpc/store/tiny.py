"""The embedded engine: customer groups in one TinyDB file and its journal, or in memory.

The committed ``State`` is what reads see; it takes a change only once the change is durable.
A write checks and stages its changes in the working layer (``overlay.py``) with no ``await``
in between, so of many parallel creates of one name exactly one wins; then it waits until its
changes are durable. Changes that arrive while a commit is in flight are written together by
the next one (group commit): one record appended to the journal and fsynced acknowledges them
all. A commit costs what it changes: its record holds the changed documents, and a membership
change only the customers that joined or left (``tinyfile.operations``).

When the journal holds as many bytes as the TinyDB file (at least ``FOLD_BYTES``), a child
process folds it into a new file, which replaces the database; the folded records are then
trimmed off the journal. Reads and writes go on meanwhile. A clean stop (``aclose``) folds
what is left and removes the journal: the file is then an ordinary TinyDB database.

The path is resolved once, at open: a symbolic link is followed to its target, which is the
file read, written and locked, however the path was spelled. The file is locked for as long
as the store is open (``files.Lock``), and its journal too; a missing file is created, empty,
at open, so that there is a file to lock.

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
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from .. import filters
from ..codec import dumps
from ..errors import GroupMissing, NameTaken, NotMembers, VersionConflict
from ..files import FileLocked, Lock, LockLost, remove_stale_temporaries, resolved, write_atomic
from ..turns import before_change, take_turn
from . import (
    CommitHook,
    Group,
    Page,
    Selection,
    StoreError,
    WriteFailed,
    feed,
    group,
    no_hook,
    queries,
)
from .feed import Actor, Changes, Retention
from .journal import Journal, Op, fold, install, path_of, record
from .overlay import Layer
from .state import Change, Drop, Event, Forget, Join, Leave, Put, State
from .tinyfile import document, load, operations

log = logging.getLogger(__name__)

SETTLE_AT = 20_000
"""A group whose sorted customers lag by this many catches up in the background: more than a
call's 10,000, so that customers added and taken out again by the next call never do."""
SETTLE_STEP = 2_000  # customers per step of that catching up (about 0.7 ms)

FOLD_BYTES = 16 << 20
"""The journal is folded once it holds this many bytes of records, or the file's size if more
(so that folding costs O(1) per journaled byte); ``CUSTOMERGROUP_RPC_FOLD_BYTES`` overrides."""

# The durability futures of the writes of a ``together`` block in this task, else None.
_TOGETHER: contextvars.ContextVar[list[asyncio.Future[None]] | None] = contextvars.ContextVar(
    "together", default=None
)


class TinyStore:
    """The store; ``path=None`` keeps everything in memory (``--db :memory:``)."""

    def __init__(
        self,
        path: Path | None,
        state: State,
        lock: Lock | None,
        journal: Journal | None,
        retention: Retention | None = None,
    ) -> None:
        self.path = path  # resolved: the file itself, never a link to it
        self._lock, self._journal = lock, journal
        self._retention = retention or Retention()
        # Moves on at every commit, when followers of the feed read again (feed_wait).
        self._tick, self._ticked = 0, asyncio.Event()
        self.committed = state
        self.working = Layer(state)
        self._ops: list[Op] = []  # the journal's operations for the working layer
        self._pending: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._folder: asyncio.Task[None] | None = None
        self._unsettled: set[int] = set()  # groups whose sorted customers lag (_settle)
        self._settler: asyncio.Task[None] | None = None
        self._holds = 0
        self._io = asyncio.Lock()  # appends and trims of the journal, one at a time
        self._file_size = path.stat().st_size if path is not None else 0
        self._fold_bytes = int(os.environ.get("CUSTOMERGROUP_RPC_FOLD_BYTES", FOLD_BYTES))
        self.on_commit: CommitHook = no_hook

    @classmethod
    def open(cls, path: Path | None, *, retention: Retention | None = None) -> TinyStore:
        """Lock the file (one server per database), read and check it and its journal, or
        start empty."""
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
        journal = None
        try:
            state, end = load(path, lock)
            if path is not None:
                for stale in remove_stale_temporaries(path):
                    log.warning("Removed %s, left by a writer that was killed", stale.name)
                if not path.exists():
                    write_atomic(path, dumps(document(state)), lock=lock)
                journal = Journal.open(path_of(path), end)
        except BaseException as exc:
            if lock:
                lock.release()
            if isinstance(exc, LockLost | FileLocked):  # another server created the file meanwhile
                raise _in_use(path) from None
            raise
        return cls(path, state, lock, journal, retention)

    # --- reads: the committed state (get, in a together() block: the writes before it too) ---

    async def get(self, uid: int) -> Group | None:
        if _TOGETHER.get() is None:
            return queries.group_of(self.committed, uid)
        fields = self.working.get(uid)
        return None if fields is None else group(uid, fields, self.working.count(uid))

    async def count(self, where: filters.Filter) -> int:
        return await queries.count(self.committed, where)

    async def select(self, selection: Selection) -> list[Group]:
        return await queries.select(self.committed, selection)

    async def members(self, uid: int, page: Page) -> list[int] | None:
        state = self.committed
        return None if state.get(uid) is None else queries.members(state, uid, page)

    async def named(self, name: str) -> tuple[int, str] | None:
        """Checked against the working state: a name staged by a write in flight is taken."""
        uid = self.working.named(name)
        fields = None if uid is None else self.working.get(uid)
        return None if uid is None or fields is None else (uid, fields["name"])

    async def changes(
        self, since: int, limit: int | None, uid: int | None = None, token: str | None = None
    ) -> Changes:
        return await queries.changes(self.committed, since, limit, uid, token)

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
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> None:
        current = self._existing(uid, expected)
        event = feed.deleted(uid, at, actor, version=_version(current), name=current["name"])
        await self.stage([Drop(uid), *self._logged(event, at)])

    async def add(
        self,
        uid: int,
        customers: frozenset[int],
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        await before_change(len(customers))  # the requests that came meanwhile go first
        fields = self._existing(uid, expected)
        new = self.working.absent(uid, customers)
        await self._membership(Join(uid, new), "customersAdded", fields, at, actor)
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
        await before_change(len(customers))  # the requests that came meanwhile go first
        fields = self._existing(uid, expected)
        gone = customers - self.working.absent(uid, customers)
        await self._membership(Leave(uid, gone), "customersRemoved", fields, at, actor)
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
        moved = self.working.count(source) if customers is None else len(customers)
        await before_change(moved)  # the requests that came meanwhile go first
        fields = self._existing(source, expected)
        into = self._existing(target)
        if customers is None:
            moving = self.working.everyone(source)
        else:
            moving = frozenset(customers)
            missing = self.working.absent(source, moving)
            if missing:
                raise NotMembers(source, [(i, c) for i, c in enumerate(customers) if c in missing])
        if not moving:
            return 0
        joining = self.working.absent(target, moving)
        version = _version(fields) + 1
        to = (target, _version(into) + bool(joining))
        event = feed.members(
            "customersMoved", source, at, actor, version=version, customers=moving, to=to
        )
        changes: list[Change] = [
            Leave(source, moving),
            Put(source, {**fields, "changed": at, "version": version}),
        ]
        if joining:
            changes += [
                Join(target, joining),
                Put(target, {**into, "changed": at, "version": to[1]}),
            ]
        await self.stage([*changes, *self._logged(event, at)])
        return len(moving)

    async def _membership(
        self, change: Join | Leave, kind: str, fields: dict[str, Any], at: str, actor: Actor | None
    ) -> None:
        """Customers joining or leaving one group, with its ``changed``, its version and the
        event, in one commit; nothing when no customer joins or leaves."""
        if not change.customers:
            return
        version = _version(fields) + 1
        event = feed.members(
            kind, change.uid, at, actor, version=version, customers=change.customers
        )
        touched = Put(change.uid, {**fields, "changed": at, "version": version})
        await self.stage([change, touched, *self._logged(event, at)])

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
        return len(state.groups), state.memberships()

    async def aclose(self) -> None:
        """Finish the writes and the fold in flight, fold what is left and remove the
        journal, then let another server open the file."""
        if self._flusher is not None:
            await asyncio.shield(self._flusher)
        if self._folder is not None:
            await asyncio.shield(self._folder)
        if self._settler is not None:
            self._settler.cancel()  # only the chunks' catching up: nothing to keep
            await asyncio.wait({self._settler})
        journal = self._journal
        if journal is not None and self.path is not None and not journal.broken:
            try:
                if journal.records:
                    await self._fold(in_process=True)
                if not journal.records:
                    journal.remove()
            except Exception:
                log.exception(
                    "Folding the journal at the stop failed; it is read at the next start"
                )
        self.close()

    def close(self) -> None:
        """Let the files go (the journal stays as it is: it is read at the next start)."""
        if self._settler is not None:
            self._settler.cancel()  # only the chunks' catching up: nothing to keep
        if self._journal is not None:
            self._journal.close()
            self._journal = None
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
            fields = self.working.get(holder)
            raise NameTaken(holder, fields["name"] if fields else name)

    def _group(self, uid: int) -> Group:
        fields = self.working.get(uid)
        assert fields is not None
        return group(uid, fields, self.working.count(uid))

    async def _write(self, uid: int, changes: Sequence[Change]) -> Group:
        durable = self.stage(changes)
        written = self._group(uid)  # as this write left it, whatever comes while it is written
        await durable
        return written

    def _logged(self, event: feed.Fields, at: str) -> list[Change]:
        """The changes that add an event to the feed, and drop what retention no longer keeps
        (never the new event)."""
        view = self.working
        position, first = view.last_position + 1, view.horizon + 1
        upto = self._retention.cut(first, position) or first - 1
        cutoff = self._retention.cutoff(at)
        if cutoff is not None:
            while upto + 1 < position and (view.event(upto + 1) or {}).get("at", "") < cutoff:
                upto += 1
        forget: list[Change] = [Forget(first, upto)] if upto >= first else []
        return [Event(position, event), *forget]

    def stage(self, changes: Sequence[Change]) -> asyncio.Future[None]:
        """Apply changes to the working state now; the result resolves once they are durable
        (at once, for a write in a ``together`` block: the block waits for them)."""
        for change in changes:
            self._ops += operations(self.working, change)
            self.working.apply(change)
        future = asyncio.get_running_loop().create_future()
        self._pending.append(future)
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
        while self._pending and self._holds == 0:
            futures, self._pending = self._pending, []
            layer, ops = self.working, self._ops
            self.working, self._ops = Layer(layer), []  # writes from now on stage over it
            started = time.perf_counter()
            try:
                if self._journal is not None and ops:
                    await self._append(record(ops))
            except Exception as exc:
                if isinstance(exc, LockLost):  # no bug: no traceback
                    log.error("%s The changes in flight are undone.", exc)
                else:
                    log.exception("Writing %s failed; the changes in flight are undone", self.path)
                self._undo([*futures, *self._pending])
                continue
            self.on_commit(time.perf_counter() - started, len(futures))
            for change in layer.changes:
                self.committed.apply(change)
            self._settle_later(layer.changes)
            self.working.below = self.committed
            for future in futures:
                if not future.done():
                    future.set_result(None)
            self._tick += 1
            self._ticked.set()
            self._ticked = asyncio.Event()
            self._fold_if_due()

    def _settle_later(self, changes: Sequence[Change]) -> None:
        """Groups whose committed customers have ``SETTLE_AT`` or more waiting for their sorted
        chunks catch up in the background (``_settle``), not all at once on the next page read,
        or once 100,000 wait: that took 70 ms of the event loop for a group of 1,000,000."""
        for change in changes:
            if isinstance(change, Join | Leave) and self.committed.waiting(change.uid) >= SETTLE_AT:
                self._unsettled.add(change.uid)
        if self._unsettled and (self._settler is None or self._settler.done()):
            self._settler = asyncio.create_task(self._settle())

    async def _settle(self) -> None:
        """``SETTLE_STEP`` customers of a group into its sorted chunks (under 1 ms), then a
        turn for the requests waiting, until none is left (readers see no difference)."""
        while self._unsettled:
            uid = next(iter(self._unsettled))
            if self.committed.settle(uid, SETTLE_STEP) == 0:
                self._unsettled.discard(uid)
            await take_turn()

    async def _append(self, data: bytes) -> None:
        """One record, durable in the journal of the file this server holds."""
        assert self._journal is not None
        assert self.path is not None
        async with self._io:
            if not await asyncio.to_thread(self._check):
                await self._write_again()
            await asyncio.to_thread(self._journal.append, data)

    def _check(self) -> bool:
        return self._lock is None or self._lock.check()

    async def _write_again(self) -> None:
        """The database file was deleted: write it again from the committed state (the
        journal's records in it too, which replay again to the same)."""
        assert self.path is not None
        blob = dumps(document(self.committed))
        await asyncio.to_thread(write_atomic, self.path, blob, lock=self._lock)

    def _undo(self, failed: list[asyncio.Future[None]]) -> None:
        """Forget every change not on disk: the working state is the committed one again."""
        self._pending, self._ops = [], []
        self.working = Layer(self.committed)
        for future in failed:
            if not future.done():
                future.set_exception(WriteFailed("The change could not be written to disk."))

    # --- folding the journal into the file ---

    def _fold_if_due(self) -> None:
        journal = self._journal
        if journal is None or (self._folder is not None and not self._folder.done()):
            return
        if journal.size >= max(self._fold_bytes, self._file_size):
            self._folder = asyncio.create_task(self._fold(in_process=False))

    async def _fold(self, in_process: bool) -> None:
        """Fold the journal's records so far into a new file that replaces the database, then
        trim them off the journal. A failure leaves both as they were, and is logged."""
        journal, path = self._journal, self.path
        assert journal is not None
        assert path is not None
        upto = journal.size
        new = path.with_name(f".{path.name}.{os.getpid()}.fold.tmp")
        try:
            if in_process:
                await asyncio.to_thread(fold, path, journal.path, upto, new)
            else:
                await _fold_in_child(path, journal.path, upto, new)
            async with self._io:  # no commit checks the lock while it moves to the new file
                await asyncio.to_thread(install, new, path, self._lock)
                self._file_size = path.stat().st_size
                await asyncio.to_thread(journal.trim, upto)
        except Exception as exc:
            with contextlib.suppress(FileNotFoundError):
                new.unlink()
            if in_process:
                raise
            self._fold_bytes = max(self._fold_bytes, journal.size) * 2  # not again at once
            if isinstance(exc, LockLost):
                log.error("%s The journal is not folded into it.", exc)
            else:
                log.exception(
                    "Folding %s into %s failed; it stays in the journal", journal.path, path
                )


async def _fold_in_child(db: Path, journal: Path, upto: int, new: Path) -> None:
    """``journal.fold`` in a process of its own, off this interpreter's lock."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "customergroup_rpc.store.journal",
        *(str(db), str(journal), str(upto), str(new)),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, said = await child.communicate()
    if child.returncode != 0:
        raise RuntimeError(f"exit {child.returncode}: {said.decode(errors='replace')[-2000:]}")


def _version(fields: dict[str, Any]) -> int:
    return int(fields.get("version", 1))  # a group stored before versions: 1


def _resolved(path: Path) -> Path:
    try:
        return resolved(path)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (Python < 3.13)
        raise StoreError(f"Cannot follow the links of {path}: {exc}.") from None


def _in_use(path: Path | None) -> StoreError:
    return StoreError(f"{path} is in use by another customergroup-rpc server.")
