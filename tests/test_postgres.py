"""The PostgreSQL store's own business (customergroup_rpc/store/postgres.py), beyond the
contract suite that runs every service test on it: what a call costs PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from customergroup_rpc.errors import Unavailable
from customergroup_rpc.store import Group, WriteFailed
from customergroup_rpc.store import postgres as pg_store
from customergroup_rpc.store.postgres import PgStore
from harness.postgres import Cluster

from .server_process import Server

AT = "2026-11-30T12:00:00Z"


@contextlib.asynccontextmanager
async def opened(url: str, pool_size: int) -> AsyncIterator[PgStore]:
    """The store on ``url`` with ``pool_size`` pooled connections, closed at the end."""
    store = await PgStore.open(url, pool_size=pool_size)
    try:
        yield store
    finally:
        await store.aclose()


async def by_default(url: str, setting: str) -> None:
    """``setting`` for every later session of ``url``'s database, as a DBA sets it."""
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f"ALTER DATABASE {url.rsplit('/', 1)[1]} SET {setting}")
    finally:
        await admin.close()


async def test_a_read_is_one_statement_with_no_reset_after_it(postgres_url: str) -> None:
    watcher = await asyncpg.connect(postgres_url)
    try:
        async with opened(postgres_url, 1) as store:
            assert await store.get(1) is None
            # pg_stat_activity shows each session's latest statement as soon as it starts.
            latest = await watcher.fetch(
                "SELECT query FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    finally:
        await watcher.close()
    assert [row["query"] for row in latest] == [
        "SELECT uid, name, created, changed, customer_count, version FROM customergroups"
        " WHERE shop = $1 AND uid = ANY($2::bigint[])"
    ]


async def test_the_gets_of_one_turn_are_one_statement_and_each_gets_its_own_group(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    statements: list[list[int]] = []

    async with opened(postgres_url, 2) as store:
        get_all = store._get_all

        async def counted(uids: list[int]) -> dict[int, Group]:
            statements.append(sorted(uids))
            return await get_all(uids)

        one = await store.create("One", AT)
        two = await store.create("Two", AT)
        monkeypatch.setattr(store, "_get_all", counted)
        found = await asyncio.gather(*(store.get(uid) for uid in (1, 2, 1, 99)))
        assert found == [one, two, one, None]
        assert statements == [[1, 2, 99]]
        assert found[0] is not found[2]  # each caller may change its own
        assert await store.get(2) == two  # a later turn: a statement of its own
        assert statements == [[1, 2, 99], [2]]


async def test_a_get_sees_a_write_acknowledged_before_it_began(postgres_url: str) -> None:
    async with opened(postgres_url, 2) as store:
        made = await store.create("Before", AT)
        assert await store.get(made["uid"]) == made
        renamed = await store.rename(made["uid"], "After", AT)
        assert await store.get(made["uid"]) == renamed


async def test_gets_while_the_database_is_unreachable_are_each_unavailable(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError(111, "Connection refused")

    async with opened(postgres_url, 1) as store:
        monkeypatch.setattr(asyncpg.Pool, "acquire", refused)
        found = await asyncio.gather(*(store.get(uid) for uid in (1, 2, 1)), return_exceptions=True)
        assert [type(exc) for exc in found] == [Unavailable] * 3
        assert len({id(exc) for exc in found}) == 3  # one each: no traceback shared
        monkeypatch.undo()
        assert await store.get(1) is None  # back


async def test_a_ping_that_gets_no_connection_in_time_says_the_database_is_down(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A frozen or partitioned database (or a pool whose every connection hangs in one) lets
    # a connection never come: /health and /readyz must still answer, not wait with it.

    @contextlib.asynccontextmanager
    async def never(*args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        await asyncio.Event().wait()
        yield None

    async with opened(postgres_url, 1) as store:
        monkeypatch.setattr(pg_store, "PING_TIMEOUT", 0.05)
        monkeypatch.setattr(asyncpg.Pool, "acquire", never)
        assert await asyncio.wait_for(store.ping(), 30) is False
        monkeypatch.undo()
        assert await store.ping() is True


@pytest.mark.parametrize("isolation", ["serializable", "repeatable read"])
async def test_writes_in_parallel_succeed_whatever_isolation_the_database_defaults_to(
    postgres_url: str, isolation: str
) -> None:
    # The store relies on read committed (writes queue on the shop's feed head, then read
    # it); a database or role that defaults to a stricter level made most parallel writes
    # fail with "could not serialize access", answered -32603.
    await by_default(postgres_url, f"default_transaction_isolation = '{isolation}'")
    async with opened(postgres_url, 8) as store:
        made = await asyncio.gather(*(store.create(f"Group {n}", AT) for n in range(8)))
        assert sorted(group["uid"] for group in made) == list(range(1, 9))
        added = await asyncio.gather(*(store.add(uid, frozenset({7}), AT) for uid in range(1, 9)))
        assert added == [1] * 8


async def test_a_write_is_durable_at_its_answer_though_the_database_turns_synchronous_commit_off(
    postgres_url: str,
) -> None:
    # SPEC 8: synchronous_commit stays on. A database or role with it off acknowledged
    # writes PostgreSQL had not flushed: a crash of PostgreSQL lost them.
    await by_default(postgres_url, "synchronous_commit = off")
    async with opened(postgres_url, 1) as store, store._pool.acquire() as connection:
        assert await connection.fetchval("SHOW synchronous_commit") == "on"
        assert await connection.fetchval("SHOW transaction_isolation") == "read committed"


async def test_a_commit_on_a_connection_a_crash_confused_is_unavailable(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PostgreSQL killed under load: a backend told "terminating connection because of crash
    # of another server process" while its transaction was open leaves asyncpg's protocol
    # consuming that error, and the COMMIT that follows raises InternalClientError ("cannot
    # switch to state 15; another operation (2) is in progress"): answered -32603 before.

    async def confused(self: Any) -> None:
        raise asyncpg.exceptions.InternalClientError(
            "cannot switch to state 15; another operation (2) is in progress"
        )

    async with opened(postgres_url, 1) as store:
        monkeypatch.setattr(asyncpg.transaction.Transaction, "_Transaction__commit", confused)
        with pytest.raises(Unavailable):
            await store.create("Cut off", AT)
        monkeypatch.undo()
        assert await store.named("Cut off") is None
        assert (await store.create("Later", AT))["uid"] == 1


async def test_a_refused_connection_is_unavailable_not_an_internal_error(
    postgres_url: str,
) -> None:
    # A role allowed two connections (superusers have no limit): the pool's third is refused
    # with "too many connections", as when workers x pool size pass max_connections. (Two: the
    # migration's connection, just closed, may not have left yet when the pool's first opens.)
    role = "limited_" + postgres_url.rsplit("/", 1)[1]
    admin = await asyncpg.connect(postgres_url)
    store = None
    try:
        await (await PgStore.open(postgres_url)).aclose()  # the schema, made as a superuser
        await admin.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 2")
        await admin.execute(f"GRANT ALL ON SCHEMA public TO {role}")
        await admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        store = await PgStore.open(postgres_url.replace("//postgres@", f"//{role}@"), pool_size=3)
        with pytest.raises(Unavailable):  # (gets would share one connection: _Gets)
            await asyncio.gather(*(store.named(str(n)) for n in range(3)))
    finally:
        if store is not None:
            await store.aclose()
        await admin.execute(f"DROP OWNED BY {role}; DROP ROLE IF EXISTS {role}")
        await admin.close()


def test_the_service_runs_over_postgresqls_unix_socket(postgres: Cluster, tmp_path: Path) -> None:
    # One machine: no TCP between the service and PostgreSQL (Debian's default, peer auth).
    name = postgres.create_database()
    try:
        with Server(tmp_path, postgres.url(name, socket=True)) as server:
            made = server.result("Customergroup.create", [{"name": "Over the socket"}])
            assert server.result("Customergroup.get", [made["uid"], "name"]) == {
                "name": "Over the socket"
            }
            assert server.get("/health")[0] == 200
    finally:
        postgres.drop_database(name)


async def test_a_batch_whose_read_fails_in_postgresql_acknowledges_none_of_its_writes(
    postgres_url: str,
) -> None:
    # A read of a together() block runs in the block's transaction, outside any savepoint: a
    # statement PostgreSQL refuses there (a statement_timeout, a cancel by the DBA) aborts the
    # transaction, and its COMMIT then rolls back. The writes before the read must not be
    # answered as done.

    async def batch() -> None:
        async with store.together():
            await store.create("Before the read", AT)
            with pytest.raises(Unavailable):  # -32000: retry
                await cancelled_read()
            with pytest.raises(Unavailable):  # nothing more runs in the aborted transaction
                await store.create("After the read", AT)

    async def cancelled_read() -> None:
        async with store._reading() as db:
            await db.execute("SET LOCAL statement_timeout = 1")
            await db.fetchval("SELECT pg_sleep(1)")

    async with opened(postgres_url, 2) as store:
        with pytest.raises(WriteFailed):
            await batch()
        assert (await store.named("Before the read"), await store.named("After the read")) == (
            None,
            None,
        )
        assert (await store.create("Next", AT))["uid"] == 1  # the block used up no uid


async def test_a_call_postgresql_cancels_is_unavailable_and_leaves_the_database_up(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    # A cancel by the DBA (pg_cancel_backend), as a statement_timeout would: -32000 and one
    # line in the log, not -32603 with a traceback; the database is not said to be down.
    watcher = await asyncpg.connect(postgres_url)

    async def cancel_the_sleep() -> None:
        # Only once the backend sleeps: a cancel that lands between asyncpg's prepare and its
        # execute finds the backend reading from the client, and PostgreSQL drops it.
        while not await watcher.fetchval(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity"
            " WHERE query = 'SELECT pg_sleep(30)' AND wait_event = 'PgSleep'"
        ):
            await asyncio.sleep(0.01)

    async def slow_read() -> None:
        async with store._reading() as db:
            await db.fetchval("SELECT pg_sleep(30)")

    try:
        async with opened(postgres_url, 1) as store:
            cancelling = asyncio.create_task(cancel_the_sleep())
            with pytest.raises(Unavailable):
                await slow_read()
            await cancelling
            assert await store.ping()
            assert await store.get(1) is None  # the next call is served
    finally:
        await watcher.close()
    assert "PostgreSQL cancelled a statement" in caplog.text
    assert "unavailable (calls answer" not in caplog.text  # not marked down
