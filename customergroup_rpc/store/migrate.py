"""The PostgreSQL schema: versioned SQL files in ``migrations/``, applied in order on start.

A file is named ``NNNN_what.sql``; its number is its version. ``migrate`` applies every file
whose version the database has not recorded in ``schema_migrations``, each in its own
transaction together with its record, so a failed file leaves neither its changes nor its
record. Several workers start at once: an advisory lock lets one of them migrate while the
others wait and then find nothing left to do. A database that records a version newer than
the newest file (a newer customergroup-rpc migrated it) is refused: this code would misread it.

>>> [(m.version, m.name) for m in migrations()][:1]
[(1, '0001_initial.sql')]
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from importlib.abc import Traversable

import asyncpg

# The advisory lock that serialises migrations (per database): "cgr-migr" as a bigint.
LOCK = int.from_bytes(b"cgr-migr", "big")
_FILE = re.compile(r"(\d{4})_[a-z0-9_]+\.sql")
# migrate() reads the version before any file ran; 0001_initial.sql says the same, IF NOT EXISTS.
_TABLE = """CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    applied timestamptz NOT NULL DEFAULT now()
)"""


class SchemaError(Exception):
    """The database's schema cannot be brought to this code's version."""


class SchemaTooNew(SchemaError):
    """The database records a schema version newer than any this code knows."""

    def __init__(self, found: int, known: int) -> None:
        super().__init__(
            f"The database has schema version {found}, newer than the newest this "
            f"customergroup-rpc knows ({known}): run the newer customergroup-rpc that "
            "migrated it, or another database."
        )
        self.found = found
        self.known = known


class WrongEncoding(SchemaError):
    """The database's encoding cannot hold every name the API accepts (any Unicode text)."""

    def __init__(self, encoding: str) -> None:
        super().__init__(
            f"The database has the encoding {encoding}, which cannot hold every name (names "
            "are Unicode): use a database made with ENCODING 'UTF8' (CREATE DATABASE ... "
            "ENCODING 'UTF8' TEMPLATE template0)."
        )
        self.encoding = encoding


# UTF8 holds all of Unicode; SQL_ASCII keeps the bytes it is given, unconverted and unchecked.
_ENCODINGS = {"UTF8", "SQL_ASCII"}


class MigrationFailed(SchemaError):
    """A migration file failed; nothing of it was kept."""


@dataclass(frozen=True)
class Migration:
    """One versioned SQL file."""

    version: int
    name: str
    sql: str


def migrations(folder: Traversable | None = None) -> list[Migration]:
    """The migration files of ``folder`` (the package's own by default), by version."""
    folder = folder or resources.files(__name__.rpartition(".")[0]) / "migrations"
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        match = _FILE.fullmatch(entry.name)
        if match is None:
            continue
        version = int(match[1])
        if version in found:
            raise ValueError(
                f"Two migrations with version {version}: {entry.name}, {found[version].name}"
            )
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return [found[version] for version in sorted(found)]


async def migrate(
    connection: asyncpg.Connection, available: Sequence[Migration] | None = None
) -> list[int]:
    """Bring the database to the newest version; the versions applied now (none: it was).

    Raises ``WrongEncoding`` for a database whose encoding cannot hold every name,
    ``SchemaTooNew`` when the database is newer than ``available`` (the package's files by
    default), ``MigrationFailed`` when a file fails.
    """
    available = migrations() if available is None else available
    newest = max((m.version for m in available), default=0)
    encoding = await connection.fetchval("SELECT current_setting('server_encoding')")
    if encoding not in _ENCODINGS:
        raise WrongEncoding(encoding)
    await connection.execute("SELECT pg_advisory_lock($1)", LOCK)
    try:
        # Under the lock: two concurrent CREATE TABLE IF NOT EXISTS can still collide.
        await connection.execute(_TABLE)
        rows = await connection.fetch("SELECT version FROM schema_migrations")
        applied = {row["version"] for row in rows}
        if max(applied, default=0) > newest:
            raise SchemaTooNew(max(applied), newest)
        done = []
        for migration in available:
            if migration.version not in applied:
                await _apply(connection, migration)
                done.append(migration.version)
        return done
    finally:
        if not connection.is_closed():
            await connection.execute("SELECT pg_advisory_unlock($1)", LOCK)


async def _apply(connection: asyncpg.Connection, migration: Migration) -> None:
    try:
        async with connection.transaction():
            # No arguments: asyncpg sends it as one simple query, so a file may hold many
            # statements; all of them commit with the record, or none does.
            await connection.execute(migration.sql)
            await connection.execute(
                "INSERT INTO schema_migrations (version) VALUES ($1)", migration.version
            )
    except asyncpg.PostgresError as exc:
        raise MigrationFailed(f"Migration {migration.name} failed: {exc}") from exc
