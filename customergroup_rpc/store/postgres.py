"""The scale-out engine: customer groups in PostgreSQL, through asyncpg (the only module that
imports it, with ``pg_tokens.py`` and ``migrate.py``).

Every call is one transaction, committed with ``synchronous_commit`` on before it returns, so
a write is acknowledged only once PostgreSQL has it durable; the writes of a ``together()``
block share one transaction on one connection, each in a savepoint, committed when the block
ends. The database keeps the rules that must hold across processes: a name is unique by its
folded key (a unique index: of parallel creates of one name exactly one wins), uids come from a
per-shop counter updated in the create's transaction (a refused create consumes none, so uids
run 1, 2, 3 as with the embedded engine), and ``customer_count`` changes in the same
transaction as the memberships it counts. Membership changes lock their group's row first, so
parallel changes to one group queue instead of losing an update. Reads and counts run the SQL
that ``sql.py`` makes of a parsed filter, with every value a bound parameter. The gets of one
turn of the event loop share one statement (``_Gets``).

The change feed: every write transaction first locks its shop's ``feed_heads`` row (so writes
are serialised per shop, and positions follow commit order: no reader sees position n + 1
before n), then appends its event, moves the head, drops what retention no longer keeps and
NOTIFYs, in one statement at its end (``_log``); PostgreSQL delivers the NOTIFY at the commit,
to every process (``listen.py``). ``version`` moves in the statement that changes the group.

A lost connection (PostgreSQL restarting, unreachable) is ``Unavailable``, answered as a
JSON-RPC error; the pool reconnects by itself on the next call. The log says once that the
database is unavailable and once that it is back, not once per call, and without tracebacks:
a database that is down is no bug.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import re
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import asyncpg
from asyncpg.pool import PoolConnectionProxy
from asyncpg.transaction import Transaction

from .. import filters
from ..codec import dumps, loads
from ..errors import GroupMissing, NameTaken, NotMembers, Unavailable, VersionConflict
from ..text import fold
from . import CommitHook, Group, Page, Selection, StoreError, WriteFailed, feed, no_hook, sql
from .feed import Actor, Changes, Retention
from .listen import CHANNEL, Listener
from .migrate import SchemaError, migrate

log = logging.getLogger(__name__)
# A connection of its own (at open) or of the pool.
Db: TypeAlias = "asyncpg.Connection[asyncpg.Record] | PoolConnectionProxy[asyncpg.Record]"
SHOP = 1  # the shop of a database made before shops (the shop column leads every key)
# Every transaction of the store runs read committed, whatever the database or role defaults
# to: a write waits for the shop's feed head, then reads it as the writer before it left it
# (under repeatable read or serializable that read fails: "could not serialize access").
_SESSION = {"default_transaction_isolation": "read committed"}
PING_TIMEOUT = 2.0  # seconds a probe waits for the database before it answers "down"
_GROUP = "uid, name, created, changed, customer_count, version"


class _Head:
    """The shop's feed head as a write transaction locked it: newest position, horizon."""

    def __init__(self, last: int, horizon: int) -> None:
        self.last, self.horizon = last, horizon


class _Health:
    """Whether the database was found unreachable (said once, and once when it is back), and
    the transitions so far: a call reports one only if none happened since it began, so a call
    that began before a change cannot undo it."""

    def __init__(self) -> None:
        self.down, self.changes = False, 0


class _Shared:
    """The connection and transaction of a together() block, taken by its first call."""

    def __init__(self, since: int) -> None:
        self.since = since  # the store's count of changes between down and back, at the start
        self.leases = contextlib.AsyncExitStack()  # gives the connection back at the end
        self.db: Db | None = None
        self.transaction: Transaction | None = None
        self.writes = 0  # the writes it will commit
        self.head: _Head | None = None  # locked when the transaction starts
        # A statement PostgreSQL refused outside a savepoint (a read, cancelled by a
        # statement_timeout or the DBA) aborted the transaction: its COMMIT would roll back.
        self.aborted: asyncpg.PostgresError | None = None


# The together() block of this task, else None.
_TOGETHER: contextvars.ContextVar[_Shared | None] = contextvars.ContextVar(
    "pg_together", default=None
)
# What a lost or refused connection raises, as asyncpg and the OS report it.
# ("too many connections" too: workers x --pool-size past max_connections, or a role's limit.)
_DOWN = (
    OSError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.InterfaceError,
    # A connection told of a crash of another server process while its transaction was
    # open: its protocol still consumes that error when the COMMIT comes ("cannot switch to
    # state 15; another operation (2) is in progress"). The pool drops it at its release.
    asyncpg.exceptions.InternalClientError,
    TimeoutError,
)


# Statements PostgreSQL cancelled while the database is up: a statement_timeout or
# lock_timeout of the database or role, or a cancel by the DBA. The call answers -32000
# (retry), the log says why in one line, and the database is not marked down.
_CANCELLED = (asyncpg.exceptions.QueryCanceledError, asyncpg.exceptions.LockNotAvailableError)


class _Reason(logging.Filter):
    """asyncpg's pool logs each failed reconnect with a traceback while the database is down:
    keep its line, with the reason in place of the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, _DOWN):
            record.msg, record.args = f"PostgreSQL: {record.getMessage()}: {exc}", None
            record.exc_info = record.exc_text = None
        return True


logging.getLogger("asyncpg.pool").addFilter(_Reason())


def is_url(db: object) -> bool:
    """Whether a ``--db`` value names a PostgreSQL database."""
    return isinstance(db, str) and db.startswith(("postgresql://", "postgres://"))


class PgStore:
    """The store over a pool of connections to one database."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        shop: int = SHOP,
        health: _Health | None = None,
        *,
        url: str | None = None,
        retention: Retention | None = None,
    ) -> None:
        self._pool, self._shop = pool, shop
        # Shared by the stores of every shop on the pool (for_shop): the database is down or
        # back once for all of them. None: this store's own, and the pool is its to close.
        self._owner = health is None
        self._health = health or _Health()
        self.on_commit: CommitHook = no_hook
        self._url, self._retention = url, retention or Retention()
        # Wakes followers of the shop's feed; connects when the first one asks.
        self._listener = Listener(url, shop) if url else None
        self._gets = _Gets(self)

    def for_shop(self, shop: int) -> PgStore:
        """The store of another shop of the database, on the same pool (closed with this one)."""
        return PgStore(self._pool, shop, self._health, url=self._url, retention=self._retention)

    @classmethod
    async def open(
        cls, url: str, *, pool_size: int = 10, retention: Retention | None = None
    ) -> PgStore:
        """Connect, bring the schema up to date (or refuse a newer one), make the pool."""
        try:
            async with _connection(url) as connection:
                await migrate(connection)
                await connection.execute(
                    "INSERT INTO uid_counters (shop, last_uid) VALUES ($1, 0)"
                    " ON CONFLICT (shop) DO NOTHING",
                    SHOP,
                )
                await connection.execute(
                    "INSERT INTO feed_heads (shop) VALUES ($1) ON CONFLICT (shop) DO NOTHING", SHOP
                )
                session = await _session(connection)
            pool = await asyncpg.create_pool(
                url, min_size=1, max_size=pool_size, reset=_kept, server_settings=session
            )
        except SchemaError as exc:
            raise StoreError(str(exc)) from None
        except (*_DOWN, asyncpg.PostgresError, UnreadableUrl) as exc:
            raise StoreError(f"Cannot use PostgreSQL at {shown(url)}: {exc}") from None
        assert pool is not None
        return cls(pool, url=url, retention=retention)

    async def ping(self) -> bool:
        """Whether the database answers now (``/health``, ``/readyz``), within
        ``PING_TIMEOUT`` seconds, getting a connection included: a database that froze or
        cannot be reached over the network keeps a new connection waiting a minute, and one
        whose connections all hang in calls gives none back."""
        try:
            async with asyncio.timeout(PING_TIMEOUT):
                return bool(await self._pool.fetchval("SELECT 1"))
        except (*_DOWN, asyncpg.PostgresError):  # (TimeoutError among them)
            return False

    async def totals(self) -> tuple[int, int]:
        async with self._reading() as db:
            row = await db.fetchrow(
                "SELECT count(*), coalesce(sum(customer_count), 0) FROM customergroups"
                " WHERE shop = $1",
                self._shop,
            )
        assert row is not None
        return int(row[0]), int(row[1])

    # --- reads ---

    async def get(self, uid: int) -> Group | None:
        if _TOGETHER.get() is None:
            return await self._gets.get(uid)
        async with self._reading() as db:  # a together() block's: it sees the block's writes
            row = await db.fetchrow(
                f"SELECT {_GROUP} FROM customergroups WHERE shop = $1 AND uid = $2",
                self._shop,
                uid,
            )
        return None if row is None else _group(row)

    async def _get_all(self, uids: list[int]) -> dict[int, Group]:
        """Groups by uid, in one statement (``_Gets``)."""
        async with self._connected() as db:
            rows = await db.fetch(
                f"SELECT {_GROUP} FROM customergroups WHERE shop = $1 AND uid = ANY($2::bigint[])",
                self._shop,
                uids,
            )
        return {row["uid"]: _group(row) for row in rows}

    async def count(self, where: filters.Filter) -> int:
        query = sql.count(self._shop, where)
        async with self._reading() as db:
            return int(await db.fetchval(query.text, *query.params))

    async def select(self, selection: Selection) -> list[Group]:
        query = sql.select(
            self._shop,
            selection.where,
            sort=selection.sort,
            descending=selection.descending,
            limit=selection.limit,
            offset=selection.offset,
        )
        async with self._reading() as db:
            return [_group(row) for row in await db.fetch(query.text, *query.params)]

    async def named(self, name: str) -> tuple[int, str] | None:
        async with self._reading() as db:
            row = await db.fetchrow(
                "SELECT uid, name FROM customergroups WHERE shop = $1 AND name_key = $2",
                self._shop,
                fold(name),
            )
        return None if row is None else (row["uid"], row["name"])

    async def members(self, uid: int, page: Page) -> list[int] | None:
        direction = "DESC" if page.descending else "ASC"
        async with self._reading() as db:
            if not await self._exists(db, uid):
                return None
            rows = await db.fetch(
                "SELECT customer FROM memberships WHERE shop = $1 AND group_uid = $2"
                f" ORDER BY customer {direction} LIMIT $3 OFFSET $4",
                self._shop,
                uid,
                page.limit,
                page.offset,
            )
        return [row["customer"] for row in rows]

    async def changes(
        self, since: int, limit: int | None, uid: int | None = None, token: str | None = None
    ) -> Changes:
        # One statement, one snapshot: the head and the events agree.
        conditions = ""
        params: list[Any] = [self._shop, since, limit]
        if uid is not None:
            params.append(uid)
            conditions += f" AND (uid = ${len(params)} OR to_uid = ${len(params)})"
        if token is not None:
            params.append(token)
            conditions += f" AND token_id = ${len(params)}"
        async with self._reading() as db:
            rows = await db.fetch(
                "SELECT h.last_position, h.horizon, e.position, e.event FROM feed_heads h"
                " LEFT JOIN LATERAL (SELECT position, event FROM events WHERE shop = h.shop"
                f" AND position > GREATEST($2::bigint, h.horizon){conditions}"
                " ORDER BY position LIMIT $3::bigint) e ON true"
                " WHERE h.shop = $1 ORDER BY e.position",
                *params,
            )
        last, horizon = (rows[0]["last_position"], rows[0]["horizon"]) if rows else (0, 0)
        events = [
            feed.shown(row["position"], loads(row["event"].encode()))
            for row in rows
            if row["position"] is not None
        ]
        if limit == 0:
            return Changes([], last, horizon)
        if limit is not None and len(events) == limit:
            return Changes(events, events[-1]["position"], horizon, cut=True)
        return Changes(events, last, horizon)

    def feed_tick(self) -> int:
        return 0 if self._listener is None else self._listener.tick()

    async def feed_wait(self, tick: int) -> None:
        if self._listener is None:
            await asyncio.Event().wait()  # no listener: only the follower's own timeout
        else:
            await self._listener.wait(tick)

    # --- writes: each in a transaction (a savepoint inside together) ---

    async def create(self, name: str, at: str, *, actor: Actor | None = None) -> Group:
        async with self._writing() as (db, head):
            # The uid and the row in one statement: a refused name takes back the uid too.
            made = await self._named(
                db,
                "WITH next AS (UPDATE uid_counters SET last_uid = last_uid + 1 WHERE shop = $1"
                " RETURNING last_uid)"
                " INSERT INTO customergroups (shop, uid, name, name_key, created, changed)"
                f" SELECT $1, last_uid, $2, $3, $4, $4 FROM next RETURNING {_GROUP}",
                name,
                _moment(at),
            )
            await self._log(db, head, feed.created(made["uid"], at, actor, name=name))
        return made

    async def rename(
        self,
        uid: int,
        name: str,
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> Group:
        async with self._writing() as (db, head):
            current = await self._locked(db, uid, expected)
            if current["name"] == name:
                return _group(current)
            made = await self._named(
                db,
                "UPDATE customergroups SET name = $2, name_key = $3, changed = $4,"
                f" version = version + 1 WHERE shop = $1 AND uid = $5 RETURNING {_GROUP}",
                name,
                _moment(at),
                uid,
            )
            old = current["name"]
            version = made["version"]
            await self._log(
                db, head, feed.renamed(uid, at, actor, version=version, name=name, old=old)
            )
        return made

    async def delete(
        self,
        uid: int,
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> None:
        async with self._writing() as (db, head):
            current = await self._locked(db, uid, expected)
            await db.execute(
                "DELETE FROM customergroups WHERE shop = $1 AND uid = $2", self._shop, uid
            )
            version, name = current["version"], current["name"]
            await self._log(db, head, feed.deleted(uid, at, actor, version=version, name=name))

    async def add(
        self,
        uid: int,
        customers: frozenset[int],
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        async with self._writing() as (db, head):
            await self._locked(db, uid, expected)
            rows = await db.fetch(
                "INSERT INTO memberships (shop, group_uid, customer)"
                " SELECT $1, $2, unnest($3::bigint[]) ON CONFLICT DO NOTHING RETURNING customer",
                self._shop,
                uid,
                sorted(customers),
            )
            added = [row["customer"] for row in rows]
            if added:
                version = await self._counted(db, uid, len(added), at)
                kind = "customersAdded"
                event = feed.members(kind, uid, at, actor, version=version, customers=added)
                await self._log(db, head, event)
        return len(added)

    async def remove(
        self,
        uid: int,
        customers: frozenset[int],
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        async with self._writing() as (db, head):
            await self._locked(db, uid, expected)
            rows = await db.fetch(
                "DELETE FROM memberships WHERE shop = $1 AND group_uid = $2"
                " AND customer = ANY($3::bigint[]) RETURNING customer",
                self._shop,
                uid,
                sorted(customers),
            )
            removed = [row["customer"] for row in rows]
            if removed:
                version = await self._counted(db, uid, -len(removed), at)
                kind = "customersRemoved"
                event = feed.members(kind, uid, at, actor, version=version, customers=removed)
                await self._log(db, head, event)
        return len(removed)

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
        async with self._writing() as (db, head):
            rows = {}
            for uid in sorted({source, target}):  # one order for every mover: no deadlock
                rows[uid] = await self._row(db, uid)
            # Checked source first, whatever the lock order, as the embedded engine does.
            locked = {
                uid: _checked(uid, rows[uid], expected if uid == source else None)
                for uid in (source, target)
            }
            moving = await self._moving(db, source, customers)
            if not moving:
                return 0
            status = await db.execute(
                "DELETE FROM memberships WHERE shop = $1 AND group_uid = $2"
                " AND customer = ANY($3::bigint[])",
                self._shop,
                source,
                moving,
            )
            left = _rows(status)
            status = await db.execute(
                "INSERT INTO memberships (shop, group_uid, customer)"
                " SELECT $1, $2, unnest($3::bigint[]) ON CONFLICT DO NOTHING",
                self._shop,
                target,
                moving,
            )
            joined = _rows(status)
            version = await self._counted(db, source, -left, at)
            to = (
                await self._counted(db, target, joined, at) if joined else locked[target]["version"]
            )
            event = feed.members(
                "customersMoved",
                source,
                at,
                actor,
                version=version,
                customers=moving,
                to=(target, to),
            )
            await self._log(db, head, event)
        return left

    @contextlib.asynccontextmanager
    async def together(self) -> AsyncIterator[None]:
        """Calls in this block (in this task) share one transaction, committed at its end.

        The first call takes the connection, so a block on a database that is down answers
        each call ``Unavailable``, as outside a block. A connection lost at the commit is
        ``Unavailable`` too: the writes may or may not have been applied.
        """
        shared = _Shared(self._health.changes)
        try:
            async with shared.leases:
                token = _TOGETHER.set(shared)
                try:
                    yield
                except BaseException:
                    if shared.transaction is not None:
                        with contextlib.suppress(*_DOWN):  # a lost connection rolled it back
                            await shared.transaction.rollback()
                    raise
                finally:
                    _TOGETHER.reset(token)
                await self._commit(shared)
        except _DOWN as exc:  # at the commit, or as the connection went back to the pool
            self._lost(exc, shared.since)
            raise Unavailable from None

    async def _commit(self, shared: _Shared) -> None:
        if shared.transaction is None:
            return  # no call reached the database
        if shared.aborted is not None:  # PostgreSQL would answer the COMMIT with a ROLLBACK
            await shared.transaction.rollback()
            log.error(
                "A statement of a batch failed, so none of its writes was kept: %s", shared.aborted
            )
            raise WriteFailed("The batch's writes could not be committed.")
        started = time.perf_counter()
        try:
            await shared.transaction.commit()
        except _DOWN:
            raise  # some are PostgresErrors too: together() makes them Unavailable
        except asyncpg.PostgresError as exc:
            log.error("Committing a batch's writes failed; none of them was kept: %s", exc)
            raise WriteFailed("The batch's writes could not be committed.") from None
        if shared.writes:
            self.on_commit(time.perf_counter() - started, shared.writes)
        self._back(shared.since)

    async def aclose(self) -> None:
        await self._gets.aclose()
        if self._listener is not None:
            await self._listener.aclose()
        if self._owner:
            await self._pool.close()

    # --- connections ---

    @contextlib.asynccontextmanager
    async def _connected(self) -> AsyncIterator[Db]:
        """A connection of the pool; a lost database is ``Unavailable``."""
        since = self._health.changes
        with self._answered(since):
            async with self._pool.acquire() as db:
                yield db
        self._back(since)

    @contextlib.contextmanager
    def _answered(self, since: int) -> Iterator[None]:
        """PostgreSQL's failures as a call answers them, ``Unavailable`` (-32000, retry): a
        lost database (said once, until it is back) and a statement it cancelled (a
        statement_timeout or lock_timeout, the DBA: said each time, the database still up)."""
        try:
            yield
        except _DOWN as exc:
            self._lost(exc, since)
            raise Unavailable from None
        except _CANCELLED as exc:
            log.warning("PostgreSQL cancelled a statement (the call answers -32000): %s", exc)
            raise Unavailable from None

    def _lost(self, exc: BaseException, since: int) -> None:
        """Say once, not per call, that the database cannot be reached."""
        health = self._health
        if not health.down and since == health.changes:
            health.down, health.changes = True, health.changes + 1
            log.warning("PostgreSQL is unavailable (calls answer -32000 until it is back): %s", exc)

    def _back(self, since: int) -> None:
        health = self._health
        if health.down and since == health.changes:
            health.down, health.changes = False, health.changes + 1
            log.warning("PostgreSQL is back")

    async def _shared(self, shared: _Shared) -> Db:
        """A together() block's connection, in its transaction (started by the first call);
        ``Unavailable`` once a statement of the block aborted it (nothing more can run in it)."""
        if shared.aborted is not None:
            raise Unavailable
        with self._answered(shared.since), _aborting(shared):
            if shared.db is None:
                shared.db = await shared.leases.enter_async_context(self._pool.acquire())
            if shared.transaction is None:
                transaction = shared.db.transaction()
                await transaction.start()
                shared.transaction = transaction
            if shared.head is None:  # (again, if the connection was lost under it)
                shared.head = await self._head(shared.db)
        return shared.db

    @contextlib.asynccontextmanager
    async def _reading(self) -> AsyncIterator[Db]:
        """Inside together(): its connection, so a batch's writes see those before them."""
        shared = _TOGETHER.get()
        if shared is None:
            async with self._connected() as db:
                yield db
            return
        db = await self._shared(shared)
        with self._answered(shared.since), _aborting(shared):
            yield db

    @contextlib.asynccontextmanager
    async def _writing(self) -> AsyncIterator[tuple[Db, _Head]]:
        """A transaction of its own, or a savepoint in the together() transaction; with the
        shop's feed head, locked first (see the module)."""
        shared = _TOGETHER.get()
        if shared is None:
            async with self._connected() as db:
                async with db.transaction():
                    yield db, await self._head(db)
                    started = time.perf_counter()  # the commit: leaving the block
                self.on_commit(time.perf_counter() - started, 1)
            return
        db = await self._shared(shared)
        assert shared.head is not None
        with self._answered(shared.since):  # (a savepoint: a refused write leaves the block)
            async with db.transaction():
                yield db, shared.head
            shared.writes += 1  # one more the commit acknowledges (a refused one is undone)

    # --- helpers inside a transaction ---

    async def _head(self, db: Db) -> _Head:
        """The shop's feed head, locked until the transaction ends."""
        lock = "SELECT last_position, horizon FROM feed_heads WHERE shop = $1 FOR UPDATE"
        row = await db.fetchrow(lock, self._shop)
        if row is None:  # a shop's first write (open() makes the row of the default shop)
            await db.execute(
                "INSERT INTO feed_heads (shop) VALUES ($1) ON CONFLICT DO NOTHING", self._shop
            )
            row = await db.fetchrow(lock, self._shop)
        assert row is not None
        return _Head(row["last_position"], row["horizon"])

    async def _log(self, db: Db, head: _Head, event: feed.Fields) -> None:
        """Append the event, move the head, drop what retention no longer keeps (never the
        new event: it is not there yet for the statement's other parts), and NOTIFY."""
        position = head.last + 1
        cutoff = self._retention.cutoff(event["at"])
        token = event["token"]
        upto = await db.fetchval(
            "WITH old AS (SELECT COALESCE(max(position), 0) AS upto FROM events"
            " WHERE shop = $1 AND (position <= $8::bigint OR at < $9::timestamptz)),"
            " gone AS (DELETE FROM events WHERE shop = $1 AND position <= (SELECT upto FROM old)),"
            " added AS (INSERT INTO events (shop, position, uid, to_uid, token_id, at, event)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb)),"
            " moved AS (UPDATE feed_heads SET last_position = $2,"
            " horizon = GREATEST(horizon, (SELECT upto FROM old)) WHERE shop = $1)"
            " SELECT (SELECT upto FROM old), pg_notify($10, $1::text)",
            self._shop,
            position,
            event["uid"],
            event.get("toUid"),
            None if token is None else token["id"],
            _moment(event["at"]),
            dumps(event).decode(),
            self._retention.cut(head.horizon + 1, position) or 0,
            _moment(cutoff) if cutoff else datetime.min.replace(tzinfo=UTC),
            CHANNEL,
        )
        head.last, head.horizon = position, max(head.horizon, upto)

    async def _exists(self, db: Db, uid: int) -> bool:
        found = await db.fetchval(
            "SELECT 1 FROM customergroups WHERE shop = $1 AND uid = $2", self._shop, uid
        )
        return found is not None

    async def _locked(self, db: Db, uid: int, expected: int | None = None) -> asyncpg.Record:
        """The group's row, locked until the transaction ends; ``GroupMissing`` if none,
        ``VersionConflict`` unless it has the ``expected`` version (None: any)."""
        return _checked(uid, await self._row(db, uid), expected)

    async def _row(self, db: Db, uid: int) -> asyncpg.Record | None:
        """The group's row, locked until the transaction ends, or None if there is none."""
        return await db.fetchrow(
            f"SELECT {_GROUP} FROM customergroups WHERE shop = $1 AND uid = $2 FOR UPDATE",
            self._shop,
            uid,
        )

    async def _named(self, db: Db, statement: str, name: str, at: datetime, *more: object) -> Group:
        """Run a statement that gives a group ``name`` (params: shop, name, its folded key,
        the moment, then ``more``); ``NameTaken`` if another group has it."""
        try:
            async with db.transaction():
                row = await db.fetchrow(statement, self._shop, name, fold(name), at, *more)
        except asyncpg.UniqueViolationError:
            raise await self._taken(db, name) from None
        assert row is not None
        return _group(row)

    async def _taken(self, db: Db, name: str) -> NameTaken:
        row = await db.fetchrow(
            "SELECT uid, name FROM customergroups WHERE shop = $1 AND name_key = $2",
            self._shop,
            fold(name),
        )
        return NameTaken(row["uid"], row["name"]) if row else NameTaken(0, name)

    async def _moving(self, db: Db, source: int, customers: Sequence[int] | None) -> list[int]:
        """The customers to move: all of ``source``, or those listed, all of them members."""
        if customers is None:
            rows = await db.fetch(
                "SELECT customer FROM memberships WHERE shop = $1 AND group_uid = $2",
                self._shop,
                source,
            )
            return [row["customer"] for row in rows]
        listed = sorted(set(customers))
        rows = await db.fetch(
            "SELECT customer FROM memberships WHERE shop = $1 AND group_uid = $2"
            " AND customer = ANY($3::bigint[])",
            self._shop,
            source,
            listed,
        )
        members = {row["customer"] for row in rows}
        if len(members) < len(listed):
            strangers = [(i, c) for i, c in enumerate(customers) if c not in members]
            raise NotMembers(source, strangers)
        return listed

    async def _counted(self, db: Db, uid: int, delta: int, at: str) -> int:
        """Keep the group's count with its memberships, which changed: ``changed`` and
        ``version`` move; the new version."""
        version: int = await db.fetchval(
            "UPDATE customergroups SET customer_count = customer_count + $3, changed = $4,"
            " version = version + 1 WHERE shop = $1 AND uid = $2 RETURNING version",
            self._shop,
            uid,
            delta,
            _moment(at),
        )
        return version


class _Gets:
    """The gets of one turn of the event loop, read in one statement (``uid = ANY(...)``).

    A get waits for the turn to end, then every group asked for in it is read at once, on one
    connection of the pool: under load, many gets cost one round trip and one statement
    instead of one each (the worker and PostgreSQL spent most of a get's CPU on the round
    trip). The statement is sent after every get of the turn was asked, so each reads the
    database as it is after its call began, as a statement of its own would. Outside
    together() blocks only: a block's reads run on its own connection.
    """

    def __init__(self, store: PgStore) -> None:
        self._store = store
        self._asked: dict[int, list[asyncio.Future[Group | None]]] = {}
        self._reading: set[asyncio.Task[None]] = set()  # kept: the loop keeps weak references

    def get(self, uid: int) -> asyncio.Future[Group | None]:
        loop = asyncio.get_running_loop()
        if not self._asked:  # the first get of this turn: read when the turn ends
            loop.call_soon(self._read)
        answer: asyncio.Future[Group | None] = loop.create_future()
        self._asked.setdefault(uid, []).append(answer)
        return answer

    def _read(self) -> None:
        asked, self._asked = self._asked, {}
        task = asyncio.get_running_loop().create_task(self._answer(asked))
        self._reading.add(task)
        task.add_done_callback(self._reading.discard)

    async def _answer(self, asked: dict[int, list[asyncio.Future[Group | None]]]) -> None:
        answers = [answer for waiting in asked.values() for answer in waiting]
        try:
            found = await self._store._get_all(list(asked))
        except asyncio.CancelledError:  # the server is stopping
            for answer in answers:
                answer.cancel()
            raise
        except Unavailable:  # the database is down: each get says so
            for answer in answers:
                if not answer.done():
                    answer.set_exception(Unavailable())
            return
        except Exception as exc:  # each get fails with it (rpc.py logs and answers -32603)
            for answer in answers:
                if not answer.done():
                    answer.set_exception(exc)
            return
        for uid, waiting in asked.items():
            group = found.get(uid)
            for answer in waiting:
                if not answer.done():  # a get cancelled meanwhile needs none
                    answer.set_result(None if group is None else dict(group))

    async def aclose(self) -> None:
        """Wait for the reads under way (the pool closes after them)."""
        if self._reading:
            await asyncio.gather(*self._reading, return_exceptions=True)


class UnreadableUrl(Exception):
    """A URL asyncpg cannot read; the message says how to write one (never the URL's parts)."""

    def __init__(self) -> None:
        super().__init__(
            "the URL cannot be read: write it as postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME,"
            " the port a number from 1 to 65535, and an @, :, / or # in the user or password"
            " as %40, %3A, %2F or %23"
        )


async def connect(url: str, timeout: float) -> asyncpg.Connection[asyncpg.Record]:
    """``asyncpg.connect``; a URL it cannot read is ``UnreadableUrl`` (asyncpg's own message
    may quote a piece of the password, and its ValueError would otherwise be a traceback)."""
    try:
        return await asyncpg.connect(url, timeout=timeout)
    except (ValueError, OverflowError):  # int('port'), Invalid IPv6 URL; port past 65535
        raise UnreadableUrl from None


async def _session(connection: asyncpg.Connection[asyncpg.Record]) -> dict[str, str]:
    """The settings of the pool's connections: ``_SESSION``, and ``synchronous_commit`` on
    when the database or role turned it off (SPEC 8: a write is durable when it is answered;
    a stronger value, ``remote_apply`` for one, is kept). ``fsync`` is the server's own: a
    warning says when it is off."""
    settings = dict(_SESSION)
    row = await connection.fetchrow(
        "SELECT current_setting('synchronous_commit'), current_setting('fsync')"
    )
    assert row is not None
    commit, fsync = row
    if commit == "off":
        settings["synchronous_commit"] = "on"
    if fsync == "off":
        log.warning("PostgreSQL runs with fsync off: a crash of its machine can lose writes")
    return settings


@contextlib.asynccontextmanager
async def _connection(url: str) -> AsyncIterator[asyncpg.Connection[asyncpg.Record]]:
    connection = await connect(url, timeout=10)
    try:
        yield connection
    finally:
        await connection.close()


async def _kept(connection: asyncpg.Connection[asyncpg.Record]) -> None:
    """A connection goes back to the pool as it is: the store leaves no session state (no
    settings, cursors, LISTEN or advisory locks; asyncpg rolls back an open transaction
    itself), so the default reset's round trip would be a second statement on every call
    (it cost a ``get`` a third of its time in the worker)."""


@contextlib.contextmanager
def _aborting(shared: _Shared) -> Iterator[None]:
    """Statements of a together() block outside a savepoint: one PostgreSQL refuses (not a
    lost connection) aborts the block's transaction, whose COMMIT would then roll back."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        if not isinstance(exc, _DOWN):
            shared.aborted = exc
        raise


def _checked(uid: int, row: asyncpg.Record | None, expected: int | None) -> asyncpg.Record:
    """A locked row as ``_locked`` gives it: ``GroupMissing`` if none, ``VersionConflict``
    unless it has the ``expected`` version (None: any)."""
    if row is None:
        raise GroupMissing(uid)
    if expected is not None and row["version"] != expected:
        raise VersionConflict(_group(row))
    return row


def _group(row: Any) -> Group:
    return {
        "name": row["name"],
        "created": _stamp(row["created"]),
        "changed": _stamp(row["changed"]),
        "customerCount": row["customer_count"],
        "uid": row["uid"],
        "version": row["version"],
    }


def _moment(at: str) -> datetime:
    return datetime.strptime(at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _rows(status: str) -> int:
    """How many rows a statement touched, from its status (``INSERT 0 3``, ``DELETE 2``)."""
    return int(status.rsplit(" ", 1)[-1])


def shown(url: str) -> str:
    """A database URL fit for messages and logs: without its password, wherever it was given,
    and however badly the URL is formed (such a URL is what an error message shows).

    >>> shown("postgresql://app:s3cret@db.example:5432/groups")
    'postgresql://app:***@db.example:5432/groups'
    >>> shown("postgresql://app@/groups?host=/run/postgresql&password=s3cret")
    'postgresql://app@/groups?host=/run/postgresql&password=***'

    The user information ends at the last ``@``: a password with an unescaped ``@``, ``/``,
    ``?`` or ``#`` in it is hidden whole, though URL parsers stop it earlier (asyncpg at the
    first ``@``: it then reads the rest of the password as the host and port).

    >>> shown("postgresql://app:s3@c#r/et@db.example/groups")
    'postgresql://app:***@db.example/groups'
    """
    scheme, sep, rest = url.partition("://")
    info, at, after = rest.rpartition("@")
    if at and ":" in info:
        rest = f"{info.partition(':')[0]}:***@{after}"
    # (The hidden part may have held a "password=": the one left is the query string's.)
    return scheme + sep + _PASSWORD_PARAM.sub(r"\1***", rest)


_PASSWORD_PARAM = re.compile(r"([?&]password=)[^&]*")
