"""The shops of a PostgreSQL deployment, in its ``shops`` table (``shops.py`` has the rules).

``read`` gives every shop, shop 1 included whether or not the table records it; ``create``
records a shop and starts its uid counter in one transaction, and announces the change on the
channel the servers' token registries listen on (``pg_tokens.PgTokens`` reads both tables),
so a running server serves the shop from the next request on.
"""

from __future__ import annotations

import asyncpg

from .shops import Shop, new_shop, with_first


async def read(connection: asyncpg.Connection) -> dict[int, Shop]:
    """Every shop of the database, by id."""
    return with_first(await recorded(connection))


async def recorded(connection: asyncpg.Connection) -> dict[int, Shop]:
    """The shops the table records (shop 1 only once ``shop create 1`` named it)."""
    rows = await connection.fetch("SELECT id, name, language, created FROM shops")
    return {row["id"]: Shop(**row) for row in rows}


async def create(
    connection: asyncpg.Connection, shop: int, name: str, language: str, channel: str
) -> Shop:
    """Record a new shop (``shops.new_shop`` says which may be made)."""
    async with connection.transaction():
        # Read, decide, write: another shop create waits until this one commits.
        await connection.execute("LOCK TABLE shops IN EXCLUSIVE MODE")
        record = new_shop(await recorded(connection), shop, name, language)
        await connection.execute(
            "INSERT INTO shops (id, name, language, created) VALUES ($1, $2, $3, $4)",
            record.id,
            record.name,
            record.language,
            record.created,
        )
        await connection.execute(
            "INSERT INTO uid_counters (shop, last_uid) VALUES ($1, 0)"
            " ON CONFLICT (shop) DO NOTHING",
            record.id,
        )
        await connection.execute("SELECT pg_notify($1, '')", channel)
    return record
