"""Tokens in PostgreSQL (customergroup_rpc/pg_tokens.py): every worker sees every change.

Each ``PgTokens`` stands for one worker; ``PgTokenAdmin`` is what ``token create|revoke``
runs, called in a thread here as the CLI runs in a process of its own. The workers read the
table again every hour here (``reread``), unless a test is about that read, so what they see
came by NOTIFY.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from customergroup_rpc import pg_tokens
from customergroup_rpc.pg_tokens import CHANNEL, PgTokenAdmin, PgTokens
from customergroup_rpc.store.migrate import migrate
from customergroup_rpc.store.postgres import shown
from customergroup_rpc.tokens import TokenError, digest
from harness.postgres import Cluster

from .server_process import cli, free_port

OLD, NEW = "old-environment-token", "new-environment-token"
HOUR = 3600.0
Workers = Callable[..., Awaitable[PgTokens]]


@pytest.fixture
async def url(postgres_url: str) -> str:
    """A database with the schema."""
    connection = await asyncpg.connect(postgres_url)
    try:
        await migrate(connection)
    finally:
        await connection.close()
    return postgres_url


@pytest.fixture
async def worker(url: str) -> AsyncIterator[Workers]:
    """``await worker()`` opens one more worker's tokens; all are closed after the test."""
    opened: list[PgTokens] = []

    async def open_one(reread: float = HOUR) -> PgTokens:
        opened.append(await PgTokens.open(url, reread))
        return opened[-1]

    yield open_one
    await asyncio.gather(*(tokens.aclose() for tokens in opened))


async def settled(admin: PgTokenAdmin) -> None:
    """What the CLI does after an edit, off the event loop as in another process."""
    await asyncio.to_thread(admin.settle)


async def eventually(check: Callable[[], bool], timeout: float = 30.0) -> bool:
    """Whether ``check`` comes true before ``timeout`` (for reads on a timer, not NOTIFY)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.02)
    return True


async def written(url: str, token_id: str, scope: str, secret: str) -> None:
    """A token written into the table by hand, with no NOTIFY (as psql would)."""
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(
            "INSERT INTO tokens VALUES ($1, $2, $3, '2026-01-01T00:00:00Z')",
            token_id,
            scope,
            digest(secret),
        )
    finally:
        await connection.close()


async def test_a_token_made_by_the_cli_is_seen_by_every_worker_after_it_settled(
    url: str, worker: Workers
) -> None:
    one, two = await worker(), await worker()
    admin = PgTokenAdmin(url)
    record, secret = await asyncio.to_thread(admin.create, "view")
    await settled(admin)

    assert (one.scope_of(secret), two.scope_of(secret)) == ("view", "view")
    assert [r.id for r in await one.list()] == [record.id]


async def test_a_token_revoked_by_the_cli_is_refused_by_every_worker_after_it_settled(
    url: str, worker: Workers
) -> None:
    one, two = await worker(), await worker()
    record, secret = await one.create("manage")
    assert one.scope_of(secret) == "manage"  # its own edit: at once
    admin = PgTokenAdmin(url)
    await settled(admin)
    assert two.scope_of(secret) == "manage"

    assert await asyncio.to_thread(admin.revoke, record.id) is True
    await settled(admin)
    assert (one.scope_of(secret), two.scope_of(secret)) == (None, None)
    assert await asyncio.to_thread(admin.revoke, record.id) is False


async def test_a_change_that_came_without_notify_is_read_on_the_next_reread(
    url: str, worker: Workers
) -> None:
    one = await worker(reread=0.05)
    await written(url, "a1b2c3d4", "view", "quiet-token")
    assert await eventually(lambda: one.scope_of("quiet-token") == "view")


async def test_a_reread_that_meets_a_connection_a_crash_confused_is_tried_again(
    url: str, worker: Workers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # (InternalClientError: see test_postgres. Its reader must not end: no token change
    # would reach this worker again.)
    one = await worker(reread=0.05)
    snapshot = pg_tokens._snapshot
    failed: list[bool] = []

    async def confused_once(connection: asyncpg.Connection) -> Any:
        if not failed:
            failed.append(True)
            raise asyncpg.exceptions.InternalClientError("cannot switch to state 12")
        return await snapshot(connection)

    monkeypatch.setattr(pg_tokens, "_snapshot", confused_once)
    assert await eventually(lambda: bool(failed))
    await written(url, "a1b2c3d4", "view", "after-the-crash")
    assert await eventually(lambda: one.scope_of("after-the-crash") == "view")


async def test_a_worker_reconnects_and_reads_what_it_missed(
    url: str, worker: Workers, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(pg_tokens, "RETRY", 0.05)
    one = await worker()  # no reread for an hour: the lost connection itself wakes it
    _, kept = await one.create("view")
    connection = await asyncpg.connect(url)
    try:
        # Cut the worker's own connection: what is announced meanwhile never reaches it.
        cut = await connection.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert cut == 1
        await connection.execute(
            "INSERT INTO tokens VALUES ('a1b2c3d4', 'manage', $1, '2026-01-01T00:00:00Z')",
            digest("made-meanwhile"),
        )
        await connection.execute("SELECT pg_notify($1, '')", CHANNEL)
    finally:
        await connection.close()

    assert await eventually(lambda: one.scope_of("made-meanwhile") == "manage")
    assert one.scope_of(kept) == "view"  # served from memory throughout
    said = [r.getMessage() for r in caplog.records if r.name == pg_tokens.__name__]
    assert any("lost PostgreSQL" in line for line in said), said
    assert any("is back" in line for line in said), said


async def test_the_environment_token_rotates_once_however_many_workers_start(
    worker: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    workers = [await worker() for _ in range(4)]
    assert await workers[0].from_environment(OLD) is True
    _, made = await workers[0].create("view")

    caplog.set_level(logging.INFO)
    changed = await asyncio.gather(*(w.from_environment(NEW) for w in workers))
    assert sorted(changed) == [False, False, False, True]
    for w in workers:
        assert (w.scope_of(OLD), w.scope_of(NEW), w.scope_of(made)) == (None, "manage", "view")
    records = await workers[0].list()
    assert [r.scope for r in records if r.id.startswith("env-")] == ["manage"]
    revoked = [r.getMessage() for r in caplog.records if "Revoked token env-" in r.getMessage()]
    assert len(revoked) == 1, revoked


async def test_an_unmarked_record_of_the_environment_token_is_marked_keeping_created(
    url: str, worker: Workers
) -> None:
    await written(url, "1a2b3c4d", "manage", OLD)
    one = await worker()
    assert await one.from_environment(OLD) is True
    (record,) = await one.list()
    assert record.id.startswith("env-")
    assert record.created == "2026-01-01T00:00:00Z"


async def test_of_workers_starting_at_once_on_an_empty_table_one_makes_the_first_token(
    worker: Workers,
) -> None:
    workers = [await worker() for _ in range(4)]
    made = await asyncio.gather(*(w.first() for w in workers))
    tokens = [token for token in made if token is not None]
    assert len(tokens) == 1
    assert [w.scope_of(tokens[0]) for w in workers[:1]] == ["manage"]
    assert await workers[1].first() is None


async def test_a_record_of_unknown_scope_is_refused_with_one_warning(
    url: str, worker: Workers, caplog: pytest.LogCaptureFixture
) -> None:
    await written(url, "b2", "root", "root-token")
    one = await worker()
    await one.create("view")
    await one.list()  # read again: no second warning
    assert one.scope_of("root-token") is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Token b2 has the unknown scope 'root' and is refused; use manage or view"]


async def test_a_given_token_is_kept_and_a_second_of_the_same_is_refused(worker: Workers) -> None:
    one = await worker()
    record, token = await one.create("view", "a-given-token-of-ours")
    assert token == "a-given-token-of-ours"
    assert record.sha256 == digest(token)
    with pytest.raises(ValueError, match="exists already"):
        await one.create("manage", "a-given-token-of-ours")
    with pytest.raises(ValueError, match="Unknown scope"):
        await one.create("root")


async def test_a_worker_that_cannot_open_its_tokens_says_why_in_one_token_error(
    url: str,
) -> None:
    # (serve prints a TokenError as one line; anything else was a traceback at start.)
    missing = url.rsplit("/", 1)[0] + "/no_such_database"
    with pytest.raises(TokenError, match=r'PostgreSQL at .*: database "no_such_database"'):
        await PgTokens.open(missing, HOUR)


async def test_a_token_edit_the_database_refuses_is_one_token_error(
    url: str, worker: Workers
) -> None:
    # As at a start when another worker holds the table past the database's statement_timeout
    # (or the database went away between the store's start and the tokens').
    tokens = await worker()
    holder = await asyncpg.connect(url)
    try:
        async with holder.transaction():
            await holder.execute("LOCK TABLE tokens IN ACCESS EXCLUSIVE MODE")
            assert tokens._connection is not None
            await tokens._connection.execute("SET statement_timeout = 50")
            with pytest.raises(TokenError, match=r"PostgreSQL at .*: canceling statement"):
                await tokens.from_environment(NEW)
    finally:
        await holder.close()


def test_a_password_is_never_shown() -> None:
    assert shown("postgresql://u:pw@h:1/d") == "postgresql://u:***@h:1/d"
    assert shown("postgresql://u@h/d") == "postgresql://u@h/d"
    # asyncpg takes the password in the query string too (beside a Unix socket's folder).
    assert shown("postgresql://u@/d?host=/run/pg&password=pw") == (
        "postgresql://u@/d?host=/run/pg&password=***"
    )


def test_a_password_is_never_shown_however_badly_the_url_is_formed() -> None:
    assert shown("postgresql://u:secret@[::1/d") == "postgresql://u:***@[::1/d"
    # asyncpg reads up to the first @, urllib to the last: neither shows what it thought host
    assert shown("postgresql://u:sec@ret@h/d") == "postgresql://u:***@h/d"
    assert shown("postgresql://u:sec#ret@h/d") == "postgresql://u:***@h/d"
    assert shown("postgresql://u@h/d?password=sec#ret&x=1") == "postgresql://u@h/d?password=***&x=1"


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://app:secret@127.0.0.1:notaport/d",  # asyncpg: int('notaport')
        "postgresql://app:secret@127.0.0.1:99999/d",  # the socket: port must be 0-65535
        "postgresql://app:secret@[::1/d",  # urllib: Invalid IPv6 URL
        "postgresql://a@pp:secret@127.0.0.1:1/d",  # asyncpg reads "secret@127..." as the port
    ],
    ids=["port not a number", "port too large", "unclosed bracket", "unescaped @ in the user"],
)
@pytest.mark.parametrize("command", [["serve", "--port", "0"], ["token", "list"]])
def test_a_url_that_cannot_be_used_exits_1_with_one_line_and_never_the_password(
    tmp_path: Path, url: str, command: list[str]
) -> None:
    done = cli(*command, "--db", url, cwd=tmp_path, timeout=30)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert "secret" not in done.stderr, done.stderr
    assert "customergroup-rpc: " in done.stderr.splitlines()[-1], done.stderr


def test_serve_never_prints_the_database_password(tmp_path: Path) -> None:
    # Port 1 on loopback: nothing answers, so serve prints its banner, then refuses to start.
    url = "postgresql://app:netloc-secret@127.0.0.1:1/d?password=query-secret"
    done = cli("serve", "--port", str(free_port()), "--db", url, cwd=tmp_path, timeout=30)
    assert done.returncode != 0
    assert "127.0.0.1:1" in done.stderr, done.stderr
    assert "secret" not in done.stderr, done.stderr


# The command line: customergroup-rpc token create|list|revoke --db postgresql://...

TOKEN = re.compile(r"cgr_[A-Za-z0-9_\-]+")


async def test_token_commands_on_postgresql_reach_a_running_worker(
    postgres_url: str, worker: Workers, tmp_path: Path
) -> None:
    one = await worker()
    made = await asyncio.to_thread(
        cli, "token", "create", "--scope", "view", "--db", postgres_url, cwd=tmp_path
    )
    assert made.returncode == 0, made.stderr
    secret = made.stdout.strip()
    assert TOKEN.fullmatch(secret), made.stdout
    assert one.scope_of(secret) == "view"  # the command settled before it returned

    listed = await asyncio.to_thread(cli, "token", "list", "--db", postgres_url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    (row,) = [line.split() for line in listed.stdout.splitlines()]
    assert row[1] == "view"
    assert secret not in listed.stdout

    gone = await asyncio.to_thread(
        cli, "token", "revoke", row[0], "--db", postgres_url, cwd=tmp_path
    )
    assert gone.returncode == 0, gone.stderr
    assert one.scope_of(secret) is None


@pytest.mark.parametrize("bad", ["\udcff\udcfe", "a\x00b"], ids=["not UTF-8", "NUL"])
def test_revoking_an_id_postgresql_cannot_hold_finds_no_token_as_a_file_does(
    url: str, bad: str
) -> None:
    # (A command line with bytes that are not UTF-8 hands Python such an id.)
    assert PgTokenAdmin(url).revoke(bad) is False


def test_token_commands_migrate_a_fresh_database(postgres_url: str, tmp_path: Path) -> None:
    listed = cli("token", "list", "--db", postgres_url, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert "No tokens yet." in listed.stderr


def test_a_token_command_on_unreachable_postgresql_exits_1_saying_so(
    postgres: Cluster, tmp_path: Path
) -> None:
    url = f"postgresql://someone:hunter2@127.0.0.1:{postgres.port}/no_such_database"
    done = cli("token", "list", "--db", url, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith("customergroup-rpc: PostgreSQL at postgresql://someone:***@")
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


def test_a_token_command_on_a_newer_schema_exits_1_naming_the_versions(
    postgres: Cluster, url: str, tmp_path: Path
) -> None:
    postgres.psql("INSERT INTO schema_migrations (version) VALUES (999)", url.rsplit("/", 1)[1])
    done = cli("token", "list", "--db", url, cwd=tmp_path)
    assert done.returncode == 1
    assert "schema version 999" in done.stderr


# --- shops: tokens for given shops, and the shops table read with the tokens ---------------------


async def test_a_token_for_given_shops_opens_those_and_an_old_one_every_shop(
    url: str, worker: Workers
) -> None:
    one = await worker()
    admin = PgTokenAdmin(url)
    await asyncio.to_thread(admin.create_shop, 22222, "Sverige", "sv")
    _, secret = await asyncio.to_thread(admin.create, "view", None, [33333, 22222])
    _, every = await asyncio.to_thread(admin.create, "manage")
    await settled(admin)

    grant = one.grant_of(secret)
    assert grant is not None
    assert grant.shops == frozenset({22222, 33333})
    assert (grant.opens(22222), grant.opens(1)) == (True, False)
    everywhere = one.grant_of(every)
    assert everywhere is not None
    assert everywhere.shops is None
    (record,) = [r for r in await asyncio.to_thread(admin.list) if r.scope == "view"]
    assert record.shops == (22222, 33333)


async def test_a_shop_made_by_the_cli_is_seen_by_every_worker_after_it_settled(
    url: str, worker: Workers
) -> None:
    one, two = await worker(), await worker()
    assert list(one.shops()) == [1]
    admin = PgTokenAdmin(url)
    made = await asyncio.to_thread(admin.create_shop, 22222, "Sverige", "sv")
    await settled(admin)

    assert one.shops()[22222] == two.shops()[22222] == made
    assert made.language == "sv"
    assert one.shops() is one.shops()  # unchanged: the same mapping
    connection = await asyncpg.connect(url)
    try:  # its uids start at 1, as shop 1's did
        assert (
            await connection.fetchval("SELECT last_uid FROM uid_counters WHERE shop = 22222") == 0
        )
    finally:
        await connection.close()


def test_shop_commands_on_postgresql(postgres_url: str, tmp_path: Path) -> None:
    assert cli("shop", "list", "--db", postgres_url, cwd=tmp_path).stdout == "1  en  Shop 1\n"
    made = cli(
        "shop",
        "create",
        "22222",
        "--name",
        "Sverige",
        "--language",
        "sv",
        "--db",
        postgres_url,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    again = cli("shop", "create", "22222", "--name", "X", "--db", postgres_url, cwd=tmp_path)
    assert again.returncode == 1
    assert "Shop 22222 exists already (Sverige)" in again.stderr
    listed = cli("shop", "list", "--db", postgres_url, cwd=tmp_path)
    assert listed.stdout == "1  en  Shop 1\n22222  sv  Sverige\n"
    token = cli(
        "token",
        "create",
        "--scope",
        "view",
        "--shop",
        "22222",
        "--db",
        postgres_url,
        cwd=tmp_path,
    )
    assert token.returncode == 0, token.stderr
    assert "for shop 22222" in token.stderr
    tokens = cli("token", "list", "--db", postgres_url, cwd=tmp_path)
    assert tokens.stdout.split()[-2:] == ["shop", "22222"]
