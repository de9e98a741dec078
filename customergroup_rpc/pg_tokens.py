"""API tokens in PostgreSQL's ``tokens`` table, seen by every worker and machine (SPEC 2).

The rules are tokens.py's (digest, records, environment rotation, unknown scopes); this module
only keeps them in a table. ``scope_of`` runs on every request and reads a table in memory.
Each server keeps it current on a connection of its own that LISTENs: every change to the
table NOTIFYs in its transaction, PostgreSQL delivers that at commit, and the server reads the
table again. The CLI's ``token create`` and ``token revoke`` wait out ``settle()`` before they
return, so the next request after the command meets the change on every worker. A NOTIFY is
lost while the connection is down, so the table is also read every ``REREAD`` seconds, and at
once after a reconnect; until then a server keeps the tokens it knew.

The same connection keeps the server's list of shops (the ``shops`` table, ``pg_shops.py``)
current the same way: ``shop create`` announces on the same channel.

``PgTokens`` is the servers' (async); ``PgTokenAdmin`` the CLI's (each call a connection of its
own, the schema migrated first).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from typing import Any, TypeVar

import asyncpg

from . import pg_shops
from .filters import fits_text
from .shops import Shop, ShopError, with_first
from .store.migrate import SchemaError, migrate
from .store.postgres import UnreadableUrl, connect, shown
from .tokens import (
    Grant,
    TokenError,
    TokenRecord,
    check_label,
    check_scope,
    digest,
    environment_problem,
    grants,
    new_record,
    new_token,
    rotation,
)

log = logging.getLogger(__name__)
CHANNEL = "customergroup_rpc_tokens"
# Seconds between the reads that catch what a lost NOTIFY missed; between reconnects.
REREAD = 5.0
RETRY = 1.0
# The CLI waits this long after an edit: a NOTIFY reaches every listener and each has read
# the table again (a round trip on its own connection) well within it.
SETTLE = 0.25
CONNECT_TIMEOUT = 10.0
# What a lost or refused connection raises (InternalClientError: one a crash of PostgreSQL
# confused, see store/postgres.py).
_DOWN = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.InternalClientError,
    TokenError,
)
_T = TypeVar("_T")


class PgTokens:
    """The token registry of a server on a PostgreSQL database (open with ``PgTokens.open``)."""

    def __init__(self, url: str, reread: float = REREAD) -> None:
        self.url = url
        self._reread_every = reread
        self._connection: asyncpg.Connection | None = None
        self._busy = asyncio.Lock()  # a connection runs one command at a time
        self._records: dict[str, TokenRecord] = {}
        self._by_hash: dict[str, Grant] = {}
        self._shops: Mapping[int, Shop] = with_first({})
        self._refused: set[tuple[str, str]] = set()
        self._stale = False
        self._reader: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()  # set when the connection closes: reconnect now

    @classmethod
    async def open(cls, url: str, reread: float = REREAD) -> PgTokens:
        """Connect, listen and read the table; raises if the database cannot be reached."""
        tokens = cls(url, reread)
        async with tokens._refused_as_token_error():
            await tokens._connect()
        tokens._keeper = asyncio.create_task(tokens._keep())
        return tokens

    async def aclose(self) -> None:
        for task in (self._keeper, self._reader):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._connection is not None:
            await self._connection.close()
            self._connection = None

    def scope_of(self, token: str) -> str | None:
        """The scope of a valid token, or None for an unknown or revoked one."""
        grant = self._by_hash.get(digest(token))
        return None if grant is None else grant.scope

    def grant_of(self, token: str) -> Grant | None:
        """What a valid token may do, or None for an unknown or revoked one."""
        return self._by_hash.get(digest(token))

    def shops(self) -> Mapping[int, Shop]:
        """Every shop of the deployment, as read last (the same object until it changes)."""
        return self._shops

    @staticmethod
    def settle() -> None:
        """Wait until every server has read the table since the last edit (see the module)."""
        time.sleep(SETTLE)

    async def list(self) -> list[TokenRecord]:
        await self._reload()
        return sorted(self._records.values(), key=lambda r: (r.created, r.id))

    async def create(
        self,
        scope: str,
        token: str | None = None,
        shops: Iterable[int] | None = None,
        label: str = "",
    ) -> tuple[TokenRecord, str]:
        """Add a token (a new random one unless given) for ``shops`` (None: every shop);
        return its record and the token."""
        return await self._edit(lambda c: _create(c, scope, token, shops, label))

    async def create_shop(self, shop: int, name: str, language: str = "en") -> Shop:
        """Record a new shop (``shops.new_shop``)."""
        return await self._edit(lambda c: pg_shops.create(c, shop, name, language, CHANNEL))

    async def revoke(self, token_id: str) -> bool:
        """Remove a token by its id; False if there was none."""
        return await self._edit(lambda c: _revoke(c, token_id))

    async def from_environment(self, token: str) -> bool:
        """Make ``token`` the environment's manage token (tokens.rotation); True if the table
        had to change. Several workers starting at once change it once."""
        return await self._edit(lambda c: _rotate(c, token))

    async def first(self) -> str | None:
        """A first manage token when the table has none (the first start), else None; of
        several workers starting at once, one makes it."""
        return await self._edit(_first)

    # -- keeping the table in memory current ---------------------------------------------------

    async def _edit(self, change: Callable[[asyncpg.Connection], Awaitable[_T]]) -> _T:
        async with self._refused_as_token_error():
            async with self._busy:
                result = await change(self._open_connection())
            await self._reload()  # this server sees its own edit at once
        return result

    @contextlib.asynccontextmanager
    async def _refused_as_token_error(self) -> AsyncIterator[None]:
        """A database that cannot be reached or refuses a statement (a statement_timeout,
        a restart) is a ``TokenError`` naming it: ``serve`` says it in one line."""
        try:
            yield
        except TokenError:
            raise
        except _DOWN as exc:
            raise TokenError(f"PostgreSQL at {shown(self.url)}: {exc}") from None

    def _open_connection(self) -> asyncpg.Connection:
        if self._connection is None or self._connection.is_closed():
            raise TokenError(f"No connection to PostgreSQL at {shown(self.url)}")
        return self._connection

    async def _connect(self) -> None:
        connection = await asyncpg.connect(self.url, timeout=CONNECT_TIMEOUT)
        try:
            # Listen first, then read: a change in between is read or announced, never lost.
            await connection.add_listener(CHANNEL, self._notified)
            connection.add_termination_listener(lambda _: self._lost.set())
        except BaseException:
            await connection.close()
            raise
        self._connection = connection
        await self._reload()

    def _notified(self, connection: Any, pid: int, channel: str, payload: object) -> None:
        self._stale = True
        if self._reader is None or self._reader.done():
            self._reader = asyncio.get_running_loop().create_task(self._read_while_stale())

    async def _read_while_stale(self) -> None:
        # A NOTIFY during a read may have come after the read's snapshot: read again then.
        while self._stale:
            self._stale = False
            try:
                await self._reload()
            except _DOWN:
                return  # the keeper reconnects and reads

    async def _reload(self) -> None:
        async with self._busy:
            records, shops = await _snapshot(self._open_connection())
        self._records = records
        self._by_hash = grants(records.values(), self._refused)
        if shops != self._shops:
            self._shops = shops

    async def _keep(self) -> None:
        """Read the table every ``reread`` seconds; reconnect when the connection is lost."""
        down = False
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow the cancel of
            # aclose() when the event is set in the same turn (the connection lost at a stop).
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RETRY if down else self._reread_every):
                    await self._lost.wait()
            self._lost.clear()
            try:
                if self._connection is None or self._connection.is_closed():
                    down = down or self._say_lost("the connection closed")
                    await self._reconnect()
                else:
                    await self._reload()
            except _DOWN as exc:
                down = down or self._say_lost(str(exc) or type(exc).__name__)
                continue
            if down:
                log.warning("Tokens: PostgreSQL at %s is back", shown(self.url))
            down = False

    def _say_lost(self, why: str) -> bool:
        log.warning(
            "Tokens: lost PostgreSQL at %s (%s); keeping the tokens read before",
            shown(self.url),
            why,
        )
        return True

    async def _reconnect(self) -> None:
        old, self._connection = self._connection, None
        if old is not None:
            old.terminate()
        await self._connect()


class PgTokenAdmin:
    """The tokens of a PostgreSQL database as the CLI edits them: same calls as
    ``tokens.Tokens``, each on a connection of its own, the schema migrated first."""

    def __init__(self, url: str) -> None:
        self.url = url

    settle = staticmethod(PgTokens.settle)

    def list(self) -> list[TokenRecord]:
        records = self._run(_read)
        return sorted(records.values(), key=lambda r: (r.created, r.id))

    def create(
        self,
        scope: str,
        token: str | None = None,
        shops: Iterable[int] | None = None,
        label: str = "",
    ) -> tuple[TokenRecord, str]:
        return self._run(lambda c: _create(c, scope, token, shops, label))

    def list_shops(self) -> tuple[Shop, ...]:
        return tuple(self._run(pg_shops.read).values())

    def create_shop(self, shop: int, name: str, language: str = "en") -> Shop:
        return self._run(lambda c: pg_shops.create(c, shop, name, language, CHANNEL))

    def revoke(self, token_id: str) -> bool:
        return self._run(lambda c: _revoke(c, token_id))

    def _run(self, action: Callable[[asyncpg.Connection], Awaitable[_T]]) -> _T:
        async def run() -> _T:
            connection = await connect(self.url, timeout=CONNECT_TIMEOUT)
            try:
                await migrate(connection)
                return await action(connection)
            finally:
                await connection.close()

        try:
            return asyncio.run(run())
        except ShopError:
            raise
        except (*_DOWN, SchemaError, UnreadableUrl) as exc:
            raise TokenError(f"PostgreSQL at {shown(self.url)}: {exc}") from None


# -- the table: one transaction each, announced to the listeners at commit ------------------------


async def _read(connection: asyncpg.Connection) -> dict[str, TokenRecord]:
    rows = await connection.fetch("SELECT id, scope, sha256, created, shops, label FROM tokens")
    return {row["id"]: _record(row) for row in rows}


async def _snapshot(
    connection: asyncpg.Connection,
) -> tuple[dict[str, TokenRecord], Mapping[int, Shop]]:
    """The tokens and the shops, as one statement sees them (one round trip: a reader
    cancelled in its first query must not start a second one on the connection)."""
    row = await connection.fetchrow(
        "SELECT (SELECT coalesce(json_agg(t), '[]') FROM"
        " (SELECT id, scope, sha256, created, shops, label FROM tokens) t) AS tokens,"
        " (SELECT coalesce(json_agg(s), '[]') FROM"
        " (SELECT id, name, language, created FROM shops) s) AS shops"
    )
    assert row is not None
    records = {r["id"]: _record(r) for r in json.loads(row["tokens"])}
    shops = with_first({s["id"]: Shop(**s) for s in json.loads(row["shops"])})
    return records, shops


def _record(row: Any) -> TokenRecord:
    shops = row["shops"]
    return TokenRecord(
        id=row["id"],
        scope=row["scope"],
        sha256=row["sha256"],
        created=row["created"],
        shops=None if shops is None else tuple(shops),
        label=row["label"],
    )


async def _create(
    connection: asyncpg.Connection,
    scope: str,
    token: str | None = None,
    shops: Iterable[int] | None = None,
    label: str = "",
) -> tuple[TokenRecord, str]:
    check_scope(scope)
    check_label(label)
    token = token or new_token()
    record = new_record(scope, digest(token), shops=shops, label=label)
    async with connection.transaction():
        try:
            await _insert(connection, record)
        except asyncpg.UniqueViolationError:
            raise ValueError("That token exists already; use another one.") from None
        await _announce(connection)
    return record, token


async def _revoke(connection: asyncpg.Connection, token_id: str) -> bool:
    if not fits_text(token_id):  # no id holds NUL or a lone surrogate: none to revoke
        return False
    async with connection.transaction():
        gone = await connection.fetchval("DELETE FROM tokens WHERE id = $1 RETURNING id", token_id)
        await _announce(connection)
    return gone is not None


async def _rotate(connection: asyncpg.Connection, token: str) -> bool:
    problem = environment_problem(token)
    if problem:
        raise ValueError(problem)
    async with connection.transaction():
        await _lock(connection)
        change = rotation((await _read(connection)).values(), digest(token))
        if change is None:
            return False
        ids = [record.id for record in change.drop]
        await connection.execute("DELETE FROM tokens WHERE id = ANY($1::text[])", ids)
        if change.add is not None:
            await _insert(connection, change.add)
        await _announce(connection)
    change.log()
    return True


async def _first(connection: asyncpg.Connection) -> str | None:
    token = new_token()
    async with connection.transaction():
        await _lock(connection)
        if await connection.fetchval("SELECT EXISTS (SELECT FROM tokens)"):
            return None
        await _insert(connection, new_record("manage", digest(token)))
        await _announce(connection)
    return token


async def _lock(connection: asyncpg.Connection) -> None:
    # Read, decide, write: other writers wait until this commits; plain reads go on.
    await connection.execute("LOCK TABLE tokens IN EXCLUSIVE MODE")


async def _insert(connection: asyncpg.Connection, record: TokenRecord) -> None:
    await connection.execute(
        "INSERT INTO tokens (id, scope, sha256, created, shops, label)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        record.id,
        record.scope,
        record.sha256,
        record.created,
        None if record.shops is None else list(record.shops),
        record.label,
    )


async def _announce(connection: asyncpg.Connection) -> None:
    await connection.execute("SELECT pg_notify($1, '')", CHANNEL)
