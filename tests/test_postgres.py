"""The PostgreSQL store's own business (customergroup_rpc/store/postgres.py), beyond the
contract suite that runs every service test on it: what a call costs PostgreSQL."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest

from customergroup_rpc.errors import Unavailable
from customergroup_rpc.store.postgres import PgStore
from harness.postgres import Cluster

from .server_process import Server


async def test_a_read_is_one_statement_with_no_reset_after_it(postgres_url: str) -> None:
    store = await PgStore.open(postgres_url, pool_size=1)
    watcher = await asyncpg.connect(postgres_url)
    try:
        assert await store.get(1) is None
        # pg_stat_activity shows each session's latest statement as soon as it starts.
        latest = await watcher.fetch(
            "SELECT query FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await watcher.close()
        await store.aclose()
    assert [row["query"] for row in latest] == [
        "SELECT uid, name, created, changed, customer_count, version FROM customergroups"
        " WHERE shop = $1 AND uid = $2"
    ]


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
        with pytest.raises(Unavailable):
            await asyncio.gather(*(store.get(1) for _ in range(3)))
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
