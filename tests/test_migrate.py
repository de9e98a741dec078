"""The PostgreSQL schema's migrations (customergroup_rpc.store.migrate.py), on the test cluster."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from customergroup_rpc.store.migrate import (
    Migration,
    MigrationFailed,
    SchemaTooNew,
    WrongEncoding,
    migrate,
    migrations,
)
from harness.postgres import Cluster

TABLES = ["customergroups", "events", "feed_heads", "memberships", "schema_migrations"]
TABLES += ["shops", "tokens", "uid_counters"]
VERSIONS = [m.version for m in migrations()]


@pytest.fixture
async def connection(postgres_url: str) -> AsyncIterator[asyncpg.Connection]:
    connection = await asyncpg.connect(postgres_url)
    try:
        yield connection
    finally:
        await connection.close()


async def tables(connection: asyncpg.Connection) -> list[str]:
    rows = await connection.fetch(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1"
    )
    return [row["tablename"] for row in rows]


async def recorded(connection: asyncpg.Connection) -> list[tuple[int, object]]:
    rows = await connection.fetch("SELECT version, applied FROM schema_migrations ORDER BY 1")
    return [(row["version"], row["applied"]) for row in rows]


async def test_a_fresh_database_gets_every_table_index_and_version(
    connection: asyncpg.Connection,
) -> None:
    assert await migrate(connection) == VERSIONS

    assert await tables(connection) == TABLES
    assert [version for version, _ in await recorded(connection)] == VERSIONS
    assert await connection.fetchval("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'")
    indexes = await connection.fetch(
        "SELECT indexname FROM pg_indexes WHERE tablename = $1", "customergroups"
    )
    assert {row["indexname"] for row in indexes} >= {
        "customergroups_name_key",
        "customergroups_name_trgm",
        "customergroups_created",
        "customergroups_changed",
        "customergroups_count",
    }


async def test_the_shop_leads_every_index_of_the_groups(connection: asyncpg.Connection) -> None:
    await migrate(connection)
    rows = await connection.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY($1::text[])",
        ["customergroups", "memberships"],
    )
    for row in rows:
        columns = row["indexdef"].partition("(")[2]
        assert columns.startswith("shop,"), row["indexname"]


async def test_the_folded_name_is_unique_per_shop_and_sorts_by_code_point(
    connection: asyncpg.Connection,
) -> None:
    await migrate(connection)
    insert = (
        "INSERT INTO customergroups (shop, uid, name, name_key, created, changed) "
        "VALUES ($1, $2, $3, $3, now(), now())"
    )
    for shop, uid, name in [(1, 1, "b"), (1, 2, "Z"), (1, 3, "é"), (2, 1, "b")]:
        await connection.execute(insert, shop, uid, name)
    with pytest.raises(asyncpg.UniqueViolationError):
        await connection.execute(insert, 1, 4, "b")
    names = await connection.fetch(
        "SELECT name_key FROM customergroups WHERE shop = 1 ORDER BY name_key"
    )
    assert [row["name_key"] for row in names] == sorted(["b", "Z", "é"])


async def test_a_second_migrate_changes_nothing(connection: asyncpg.Connection) -> None:
    await migrate(connection)
    before = await recorded(connection)

    assert await migrate(connection) == []
    assert await recorded(connection) == before


async def test_a_database_newer_than_the_code_is_refused_naming_both_versions(
    connection: asyncpg.Connection,
) -> None:
    await migrate(connection)
    newest = migrations()[-1].version
    await connection.execute("INSERT INTO schema_migrations (version) VALUES ($1)", newest + 7)

    with pytest.raises(SchemaTooNew) as refused:
        await migrate(connection)
    assert refused.value.found == newest + 7
    assert refused.value.known == newest
    message = str(refused.value)
    assert f"schema version {newest + 7}" in message
    assert f"knows ({newest})" in message


async def test_a_newer_database_is_refused_before_any_file_runs(
    connection: asyncpg.Connection,
) -> None:
    await connection.execute(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY, "
        "applied timestamptz NOT NULL DEFAULT now())"
    )
    await connection.execute("INSERT INTO schema_migrations (version) VALUES (9999)")

    with pytest.raises(SchemaTooNew):
        await migrate(connection)
    assert await tables(connection) == ["schema_migrations"]


@pytest.mark.parametrize("encoding", ["LATIN1", "WIN1252"])
async def test_a_database_that_cannot_hold_every_name_is_refused_before_any_file_runs(
    postgres: Cluster, encoding: str
) -> None:
    # A LATIN1 database took "Café" and answered -32603 to "Ωmega": the names the API
    # accepts are Unicode, so such a database is refused at start, saying how to make one.
    name = "enc_" + encoding.lower()
    postgres.psql(
        f"CREATE DATABASE {name} ENCODING '{encoding}' TEMPLATE template0"
        " LC_COLLATE 'C' LC_CTYPE 'C'"
    )
    try:
        connection = await asyncpg.connect(postgres.url(name))
        try:
            with pytest.raises(WrongEncoding) as refused:
                await migrate(connection)
            assert f"encoding {encoding}" in str(refused.value)
            assert "ENCODING 'UTF8'" in str(refused.value)
            assert await tables(connection) == []
        finally:
            await connection.close()
    finally:
        postgres.drop_database(name)


async def test_concurrent_migrates_apply_each_file_once(postgres_url: str) -> None:
    # Several workers start at once, each migrating on its own connection.
    connections = [await asyncpg.connect(postgres_url) for _ in range(4)]
    try:
        results = await asyncio.gather(*(migrate(c) for c in connections))
        assert sorted(results) == [[], [], [], VERSIONS]
        assert [version for version, _ in await recorded(connections[0])] == VERSIONS
        # Each released the lock: another migrate does not wait forever.
        assert await asyncio.wait_for(migrate(connections[0]), 30) == []
    finally:
        await asyncio.gather(*(c.close() for c in connections))


async def test_a_failing_file_keeps_nothing_of_itself_and_is_named(
    connection: asyncpg.Connection,
) -> None:
    broken = Migration(99, "0099_broken.sql", "CREATE TABLE half (x int); SELECT nonsense;")

    with pytest.raises(MigrationFailed, match=r"0099_broken\.sql"):
        await migrate(connection, [*migrations(), broken])
    assert "half" not in await tables(connection)
    assert [version for version, _ in await recorded(connection)] == VERSIONS  # those stay


async def test_a_gap_in_the_numbers_is_no_problem_and_a_file_filling_it_runs_later(
    connection: asyncpg.Connection,
) -> None:
    """0003_feed.sql was made beside 0002_shops.sql, on another branch: a database that
    has 1 and 3 gets 2 when it arrives."""
    one, three = (Migration(n, f"000{n}_x.sql", f"CREATE TABLE t{n} (x int);") for n in (1, 3))
    assert await migrate(connection, [one, three]) == [1, 3]
    two = Migration(2, "0002_x.sql", "CREATE TABLE t2 (x int);")
    assert await migrate(connection, [one, two, three]) == [2]
    assert await tables(connection) == ["schema_migrations", "t1", "t2", "t3"]


def test_files_are_found_by_version_and_a_duplicate_version_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0002_second.sql").write_text("SELECT 2;")
    (tmp_path / "0001_first.sql").write_text("SELECT 1;")
    (tmp_path / "README").write_text("not a migration")
    assert [(m.version, m.sql) for m in migrations(tmp_path)] == [
        (1, "SELECT 1;"),
        (2, "SELECT 2;"),
    ]

    (tmp_path / "0002_again.sql").write_text("SELECT 2;")
    with pytest.raises(ValueError, match="version 2"):
        migrations(tmp_path)
