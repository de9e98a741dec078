"""A group's name read from PostgreSQL, one statement per call: what bench/baseline.py ``--db``
adds to the bare handler, the least any handler backed by PostgreSQL does.

asyncpg's pool as the service's store uses it (``--pool-size`` connections, returned without
the reset round trip), one ``SELECT`` by primary key per call and nothing else: no batching of
the reads of one turn, no JSON-RPC, no access log.
"""

from __future__ import annotations

from typing import Any

import asyncpg

READ = "SELECT name FROM customergroups WHERE shop = 1 AND uid = $1"


class Names:
    """Names of groups by uid, from a database the service made (``customergroups``)."""

    def __init__(self, pool: asyncpg.Pool[Any]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, url: str, size: int) -> Names:
        pool = await asyncpg.create_pool(url, min_size=1, max_size=size, reset=_kept)
        assert pool is not None
        return cls(pool)

    async def name(self, uid: int) -> str | None:
        found = await self._pool.fetchval(READ, uid)
        return None if found is None else str(found)

    async def close(self) -> None:
        await self._pool.close()


async def _kept(connection: asyncpg.Connection[Any]) -> None:
    """No reset when a connection goes back: the service's store does the same (one round
    trip per call, not two)."""
