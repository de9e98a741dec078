"""The PostgreSQL store's own business (customergroup_rpc/store/postgres.py), beyond the
contract suite that runs every service test on it: what a call costs PostgreSQL."""

from __future__ import annotations

import asyncpg

from customergroup_rpc.store.postgres import PgStore


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
        "SELECT uid, name, created, changed, customer_count FROM customergroups"
        " WHERE shop = $1 AND uid = $2"
    ]
