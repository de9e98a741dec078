"""PostgreSQL under crashes, outages and parallel load, through real ``serve`` processes
(issue 12; SPEC 8): ``customergroup_rpc/store/postgres.py`` with ``serve --workers``.

- A worker SIGKILLed under write load is replaced, and every write acknowledged before, while
  or after it died is in the database.
- PostgreSQL stopped as by a power cut (``pg_ctl -m immediate``) under write load, a few times
  over: while it is down every call answers -32000 ``Storage unavailable`` (never -32603, no
  traceback in the log) and ``/health`` answers 503; the server recovers by itself once
  PostgreSQL is back, and every acknowledged write is there.
- Two workers, parallel calls each on a connection of its own: of 20 creates of one name exactly
  one wins; parallel ``addCustomers`` to one group lose no update; parallel ``moveCustomers``
  between two groups, both ways, neither deadlock nor lose or duplicate a customer.
- ``serve`` with PostgreSQL unreachable exits 1 with one clear line, no traceback; the pool
  size flag caps the connections a worker keeps.

A write is *acknowledged* when a 200 response with a ``result`` arrived. A write cut off by a
kill or an outage may or may not have been applied, and is not counted. The writers' calls each
open a connection of their own, so with two workers both take some of them.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from customergroup_rpc import filters
from customergroup_rpc.app import STORE
from customergroup_rpc.errors import Unavailable
from customergroup_rpc.store.postgres import PgStore
from harness.client import post, rpc
from harness.contract import feed_problems
from harness.postgres import Cluster
from harness.server import ADMIN_TOKEN, Server, cli, free_port

from .conftest import ENDPOINT, MANAGE, req

WRITERS = 3
CRASHES = 3  # PostgreSQL outages in one run of the outage test
PARALLEL = 20  # clients calling at once in the concurrency tests
WAIT = 60.0  # seconds a test waits for something that takes well under one here
UNAVAILABLE = {"code": -32000, "message": "Storage unavailable"}
T = TypeVar("T")
OUTAGE_BATCH = json.dumps(
    [
        {"jsonrpc": "2.0", "method": "Customergroup.addCustomers", "params": [1, [8]], "id": 1},
        {"jsonrpc": "2.0", "method": "Customergroup.count", "params": [], "id": 2},
    ]
).encode()


# --- calls and the write load ----------------------------------------------------------------


def call(port: int, method: str, params: Any) -> tuple[str, Any]:
    """One call on a new connection: ("ok", result), ("error", response) or ("cut", why)."""
    try:
        status, answer = post(
            port, rpc(f"Customergroup.{method}", params), token=ADMIN_TOKEN, timeout=30
        )
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return "cut", repr(exc)  # no answer: the call may or may not have been applied
    if status == 200 and isinstance(answer, dict) and "result" in answer:
        return "ok", answer["result"]
    return "error", (status, answer)


def call_batch(port: int, calls: list[tuple[str, Any]]) -> tuple[str, Any]:
    """A batch on a new connection: ("ok", results) when every member succeeded, ("error",
    (status, first error)) or ("cut", why)."""
    body = json.dumps(
        [
            {"jsonrpc": "2.0", "method": f"Customergroup.{method}", "params": params, "id": i}
            for i, (method, params) in enumerate(calls)
        ]
    ).encode()
    try:
        status, answers = post(port, body, token=ADMIN_TOKEN, timeout=30)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        return "cut", repr(exc)
    if status != 200 or not isinstance(answers, list) or len(answers) != len(calls):
        return "error", (status, answers)
    failed = [answer for answer in answers if "result" not in answer]
    if failed:
        return "error", (status, failed[0])
    return "ok", [answer["result"] for answer in sorted(answers, key=lambda a: a["id"])]


@dataclass
class Writer:
    """One thread's writes: groups it created, customers it added to them, what went wrong."""

    index: int
    groups: dict[int, str] = field(default_factory=dict)  # uid: name, acknowledged creates
    members: dict[int, set[int]] = field(default_factory=dict)  # acknowledged adds
    acknowledged: int = 0
    errors: list[Any] = field(default_factory=list)  # error responses, as (status, body)
    cut: list[str] = field(default_factory=list)  # calls that got no answer

    crashed: BaseException | None = None  # an assertion that failed in the thread

    def run(self, port: int, stopping: threading.Event) -> None:
        try:
            self.write(port, stopping)
        except BaseException as exc:
            self.crashed = exc

    def write(self, port: int, stopping: threading.Event) -> None:
        customers = itertools.count(self.index * 1_000_000 + 1)
        for n in itertools.count():
            if stopping.is_set():
                return
            if self.groups and n % 4 == 2:  # two adds in one batch: committed together
                uid = max(self.groups)
                pair = [[next(customers) for _ in range(3)] for _ in range(2)]
                outcome, value = call_batch(port, [("addCustomers", [uid, c]) for c in pair])
                if outcome == "ok":
                    assert value == [3, 3]
                    self.members[uid].update(pair[0] + pair[1])
            elif not self.groups or n % 3 == 0:
                name = f"Load w{self.index} n{n}"
                outcome, value = call(port, "create", [{"name": name}, ["uid", "name"]])
                if outcome == "ok":
                    assert value["name"] == name
                    self.groups[value["uid"]] = name
                    self.members[value["uid"]] = set()
            else:
                uid = max(self.groups)
                batch = [next(customers) for _ in range(3)]
                outcome, value = call(port, "addCustomers", [uid, batch])
                if outcome == "ok":
                    assert value == 3
                    self.members[uid].update(batch)
            if outcome == "ok":
                self.acknowledged += 1
            elif outcome == "error":
                self.errors.append(value)
            else:
                self.cut.append(value)


class Load:
    """WRITERS threads writing to a server until the block ends."""

    def __init__(self, port: int) -> None:
        self.writers = [Writer(i) for i in range(WRITERS)]
        self.stopping = threading.Event()
        self.threads = [
            threading.Thread(target=w.run, args=(port, self.stopping), daemon=True)
            for w in self.writers
        ]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(WAIT)
        assert not any(thread.is_alive() for thread in self.threads)
        for writer in self.writers:
            if writer.crashed is not None:
                raise writer.crashed

    def acknowledged(self) -> int:
        return sum(w.acknowledged for w in self.writers)

    def errors(self) -> list[Any]:
        return [e for w in self.writers for e in w.errors]

    def cut(self) -> list[str]:
        return [c for w in self.writers for c in w.cut]

    def more(self, count: int) -> None:
        """Wait until ``count`` more writes were acknowledged."""
        target = self.acknowledged() + count
        until(lambda: self.acknowledged() >= target, f"{count} more acknowledged writes")

    def error_counts(self) -> list[int]:
        return [len(w.errors) for w in self.writers]

    def each_answered_an_error_since(self, counts: list[int]) -> None:
        """Wait until every writer got an error answer more than ``counts`` says."""
        until(
            lambda: all(now > then for now, then in zip(self.error_counts(), counts, strict=True)),
            "every writer to meet the outage",
        )

    def groups(self) -> dict[int, str]:
        return {uid: name for w in self.writers for uid, name in w.groups.items()}

    def members(self) -> dict[int, set[int]]:
        return {uid: set(c) for w in self.writers for uid, c in w.members.items()}


def until(condition: Callable[[], bool], what: str, timeout: float = WAIT) -> None:
    """Wait for ``condition``; a safety net only: it holds within a second or two here."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"waited {timeout:g} s for {what}"
        time.sleep(0.02)


def stored(postgres: Cluster, url: str) -> tuple[dict[int, str], dict[int, set[int]]]:
    """The groups (uid: name) and memberships (uid: customers) in the database, by psql."""
    database = url.rsplit("/", 1)[1]
    groups = {}
    for line in postgres.psql("SELECT uid, name FROM customergroups", database).splitlines():
        uid, name = line.split("|", 1)
        groups[int(uid)] = name
    members: dict[int, set[int]] = {uid: set() for uid in groups}
    rows = postgres.psql("SELECT group_uid, customer FROM memberships", database)
    for line in rows.splitlines():
        uid, customer = line.split("|")
        members[int(uid)].add(int(customer))
    return groups, members


def assert_kept(load: Load, postgres: Cluster, url: str, server: Server) -> None:
    """Every acknowledged create and add is in the database, and each group's count matches
    its memberships, in the tables and through the API."""
    groups, members = stored(postgres, url)
    acknowledged = load.groups()
    assert acknowledged, "no write was acknowledged: the test proves nothing"
    for uid, name in acknowledged.items():
        assert groups.get(uid) == name, uid
    for uid, customers in load.members().items():
        assert customers <= members[uid], uid
    listed = server.result("Customergroup.list", [["uid", "name", "customerCount"]])
    assert {g["uid"]: g["name"] for g in listed} == groups
    assert {g["uid"]: g["customerCount"] for g in listed} == {
        uid: len(customers) for uid, customers in members.items()
    }
    assert not feed_problems(server.result)  # every committed change has its event, no other


def worker_pids(server: Server) -> list[int]:
    assert server.process is not None
    pid = server.process.pid
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def no_traceback(server: Server) -> None:
    log = server.stderr()
    assert "Traceback" not in log, log
    assert " ERROR " not in log, log


@pytest.fixture
def workers(tmp_path: Path, postgres_url: str) -> Iterator[Server]:
    """``serve --workers 2`` on a new database, stopped (by its PID) after the test."""
    with Server(tmp_path, postgres_url, args=("--workers", "2")) as server:
        yield server


# --- 1. crashes ------------------------------------------------------------------------------


def test_a_worker_killed_under_write_load_is_replaced_and_no_acknowledged_write_is_lost(
    workers: Server, postgres: Cluster, postgres_url: str
) -> None:
    before = worker_pids(workers)
    assert len(before) == 2
    with Load(workers.port) as load:
        load.more(30)
        os.kill(before[0], signal.SIGKILL)
        until(
            lambda: len(worker_pids(workers)) == 2 and before[0] not in worker_pids(workers),
            "the killed worker to be replaced",
        )
        load.more(30)  # acknowledged by the new worker and the one that went on
    assert load.errors() == []  # a kill cuts calls off; it never makes one answer wrongly
    assert f"Worker {before[0]} was killed by SIGKILL; starting another" in workers.stderr()
    assert_kept(load, postgres, postgres_url, workers)
    no_traceback(workers)


def test_postgresql_crashes_under_write_load_answer_32000_and_the_server_recovers_by_itself(
    workers: Server, postgres: Cluster, postgres_url: str
) -> None:
    with Load(workers.port) as load:
        for crash in range(CRASHES):
            load.more(20)
            answered = load.error_counts()
            postgres.crash()
            try:
                # While it is down: a clear error for reads and writes, and /health says so.
                for method, params in (
                    ("create", [{"name": f"During outage {crash}"}]),
                    ("addCustomers", [1, [7]]),
                    ("get", [1]),
                    ("count", []),
                ):
                    outcome, (status, answer) = call(workers.port, method, params)
                    assert outcome == "error"
                    assert status == 200
                    assert answer["error"] == UNAVAILABLE | {"data": answer["error"]["data"]}
                # A batch's writes, committed together, too (one write, then a read).
                status, answers = post(workers.port, OUTAGE_BATCH, token=ADMIN_TOKEN)
                assert status == 200
                assert [a["error"]["code"] for a in answers] == [-32000, -32000], answers
                status, body = workers.get("/health")
                assert (status, json.loads(body)) == (
                    503,
                    {"status": "unavailable", "database": "down"},
                )
                load.each_answered_an_error_since(answered)
            finally:
                postgres.start()
            # Back without restarting the server: writes succeed again, /health says ok.
            until(lambda: call(workers.port, "count", [])[0] == "ok", "calls to succeed again")
            load.more(20)
            assert workers.get("/health") == (200, b'{"status": "ok"}')
    for status, answer in load.errors():
        assert status == 200
        assert answer["error"]["code"] == -32000, answer
        assert answer["error"]["message"] == "Storage unavailable"
    assert load.cut() == []  # the server stayed up: every call got an answer
    assert_kept(load, postgres, postgres_url, workers)
    assert workers.process is not None
    assert workers.process.poll() is None  # the same server all along
    no_traceback(workers)
    # Each worker says once per outage that the database is down and once that it is back,
    # not once per call (a thousand lines here).
    log = workers.stderr()
    assert 1 <= log.count("PostgreSQL is unavailable") <= 2 * CRASHES
    assert 1 <= log.count("PostgreSQL is back") <= log.count("PostgreSQL is unavailable")


# --- 2. concurrency across processes ---------------------------------------------------------


def at_once(count: int, action: Callable[[int], T]) -> list[T]:
    """``action(i)`` for each i below ``count``, in as many threads, released together."""
    barrier = threading.Barrier(count)

    def run(i: int) -> T:
        barrier.wait(WAIT)
        return action(i)

    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(run, range(count)))


def test_of_parallel_creates_of_one_name_on_two_workers_exactly_one_wins(workers: Server) -> None:
    spellings = ["Wholesale", "wholesale", " WHOLESALE ", "Whole\u200bsale"]  # one name (SPEC 2)
    outcomes = at_once(
        PARALLEL,
        lambda i: call(workers.port, "create", [{"name": spellings[i % 4]}, ["uid", "name"]]),
    )
    won = [value for outcome, value in outcomes if outcome == "ok"]
    assert len(won) == 1, outcomes
    winner = won[0]
    assert winner["uid"] == 1
    taken = {
        "pointer": "/name",
        "message": f"The name is taken: customer group 1 is called {winner['name']}.",
    }
    for outcome, value in outcomes:
        if outcome != "ok":
            assert outcome == "error"
            status, answer = value
            assert status == 200
            assert answer["error"]["code"] == -32602
            assert answer["error"]["data"] == [taken]
    assert workers.result("Customergroup.count", []) == 1
    # A refused create took no uid: the next one is 2, from either worker.
    assert workers.result("Customergroup.create", [{"name": "Retail"}, "uid"]) == {"uid": 2}
    no_traceback(workers)


def test_parallel_add_customers_from_two_workers_to_one_group_lose_no_update(
    workers: Server, postgres: Cluster, postgres_url: str
) -> None:
    uid = workers.result("Customergroup.create", [{"name": "Everyone"}, "uid"])["uid"]
    per_client = 50

    def add(i: int) -> list[tuple[str, Any]]:
        # Each client's own customers, in five calls, so the calls of all clients interleave.
        mine = list(range(i * per_client + 1, (i + 1) * per_client + 1))
        return [
            call(workers.port, "addCustomers", [uid, mine[k : k + 10]]) for k in range(0, 50, 10)
        ]

    outcomes = [o for each in at_once(PARALLEL, add) for o in each]
    assert outcomes == [("ok", 10)] * (PARALLEL * per_client // 10)
    everyone = list(range(1, PARALLEL * per_client + 1))
    assert workers.result("Customergroup.listCustomers", [uid]) == everyone
    group = workers.result("Customergroup.get", [uid, ["customerCount"]])
    assert group == {"customerCount": len(everyone)}
    _, members = stored(postgres, postgres_url)
    assert members == {uid: set(everyone)}
    no_traceback(workers)


def test_parallel_moves_both_ways_between_two_groups_neither_deadlock_nor_lose_a_customer(
    workers: Server, postgres: Cluster, postgres_url: str
) -> None:
    left = workers.result("Customergroup.create", [{"name": "Left"}, "uid"])["uid"]
    right = workers.result("Customergroup.create", [{"name": "Right"}, "uid"])["uid"]
    everyone = set(range(1, 201))
    assert workers.result("Customergroup.addCustomers", [left, list(range(1, 101))]) == 100
    assert workers.result("Customergroup.addCustomers", [right, list(range(101, 201))]) == 100

    def move(i: int) -> list[tuple[str, Any]]:
        source, target = (left, right) if i % 2 else (right, left)
        # Half of the clients move all; the others some named customers, which may have left
        # the source group already (then the call moves nothing and says which).
        named = None if i % 4 < 2 else sorted({(i * 37 + k * 11) % 200 + 1 for k in range(10)})
        return [call(workers.port, "moveCustomers", [source, target, named]) for _ in range(5)]

    outcomes = [o for each in at_once(PARALLEL, move) for o in each]
    assert len(outcomes) == PARALLEL * 5  # every call answered
    for outcome, value in outcomes:
        if outcome == "ok":
            assert isinstance(value, int)
        else:  # named customers not (or no longer) in the source group
            assert outcome == "error", value
            assert value[1]["error"]["code"] == -32602, value
            assert value[1]["error"]["data"][0]["pointer"].startswith("/2/"), value
    in_left = set(workers.result("Customergroup.listCustomers", [left]))
    in_right = set(workers.result("Customergroup.listCustomers", [right]))
    assert in_left | in_right == everyone
    assert not in_left & in_right
    counts = workers.result("Customergroup.list", [["uid", "customerCount"]])
    assert counts == [
        {"uid": left, "customerCount": len(in_left)},
        {"uid": right, "customerCount": len(in_right)},
    ]
    assert stored(postgres, postgres_url)[1] == {left: in_left, right: in_right}
    no_traceback(workers)


# --- 3. starting without the database; the pool size -----------------------------------------


def test_serve_with_postgresql_stopped_exits_1_with_one_clear_line_and_no_traceback(
    tmp_path: Path, postgres: Cluster, postgres_url: str
) -> None:
    postgres.stop()
    try:
        for count in ("1", "2"):
            port = str(free_port())
            done = cli(
                "serve", "--workers", count, "--db", postgres_url, "--port", port, cwd=tmp_path
            )
            assert done.returncode == 1, done.stderr
            assert f"customergroup-rpc: Cannot use PostgreSQL at {postgres_url}: " in done.stderr
            assert "Traceback" not in done.stderr, done.stderr
    finally:
        postgres.start()


@pytest.mark.parametrize(
    ("workers", "change", "said"),
    [
        ("1", ("/test_", "/missing_"), 'database "missing_'),
        ("2", ("postgres@", "nobody@"), 'role "nobody" does not exist'),
    ],
    ids=["no such database", "no such role"],
)
def test_serve_on_a_database_postgresql_refuses_exits_1_saying_why(
    tmp_path: Path, postgres_url: str, workers: str, change: tuple[str, str], said: str
) -> None:
    url = postgres_url.replace(*change)
    port = str(free_port())
    done = cli("serve", "--workers", workers, "--db", url, "--port", port, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"customergroup-rpc: Cannot use PostgreSQL at {url}: " in done.stderr
    assert said in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def catches(pid: int, sig: int) -> bool:
    """Whether a process has a handler for ``sig`` (its SigCgt mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (sig - 1) & 1)
    raise AssertionError(f"no SigCgt for {pid}")


def test_a_worker_still_opening_the_database_is_ended_by_a_stop_at_once(tmp_path: Path) -> None:
    """Workers take SIGTERM as a graceful stop only once their app has started: before, a
    worker that failed to open the database could meet the stop the supervisor sends every
    worker as its event loop closed, and Python printed a traceback (seen, now and then, as
    both workers of a serve on a stopped PostgreSQL failed at once)."""
    with socket.create_server(("127.0.0.1", 0)) as silent:  # accepts, never answers
        silent.settimeout(WAIT)
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/customergroups"
        server = Server(tmp_path, url, args=("--workers", "2"))
        server.spawn()
        try:
            held = [silent.accept()[0] for _ in range(2)]  # both workers are opening it
            pids = worker_pids(server)
            assert len(pids) == 2
            assert not any(catches(pid, signal.SIGTERM) for pid in pids)
            assert server.stop() == 0  # the parent passes one SIGTERM on; they end at once
        finally:
            server.stop()
            for connection in locals().get("held", []):
                connection.close()
    assert "Traceback" not in server.stderr(), server.stderr()


def test_serving_workers_take_sigterm_as_a_graceful_stop(workers: Server) -> None:
    pids = worker_pids(workers)
    assert len(pids) == 2
    # (/health answered from one of them: the other may still be starting)
    until(lambda: all(catches(pid, signal.SIGTERM) for pid in pids), "both to have started")


def test_serve_on_a_database_with_a_newer_schema_exits_1_saying_so(
    tmp_path: Path, postgres: Cluster, postgres_url: str
) -> None:
    postgres.psql(
        "CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
        " applied timestamptz NOT NULL DEFAULT now()); INSERT INTO schema_migrations VALUES (999)",
        postgres_url.rsplit("/", 1)[1],
    )
    port = str(free_port())
    done = cli("serve", "--workers", "2", "--db", postgres_url, "--port", port, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "The database has schema version 999, newer than the newest" in done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_pool_size_caps_the_connections_a_worker_keeps_and_parallel_calls_wait_their_turn(
    tmp_path: Path, postgres: Cluster, postgres_url: str
) -> None:
    with Server(tmp_path, postgres_url, args=("--pool-size", "2")) as server:
        outcomes = at_once(
            PARALLEL, lambda i: call(server.port, "create", [{"name": f"Pool {i}"}, "uid"])
        )
        assert sorted(value["uid"] for _, value in outcomes) == list(range(1, PARALLEL + 1))
        # The pool keeps what it opened (idle connections live for minutes): its two, and the
        # token registry's own listening connection.
        database = postgres_url.rsplit("/", 1)[1]
        sessions = f"SELECT count(*) FROM pg_stat_activity WHERE datname = '{database}'"
        assert int(postgres.psql(sessions)) <= 3
        no_traceback(server)


# --- 4. a batch's shared transaction when the connection goes ------------------------------------

AT = "2014-01-16T14:14:18Z"


def cut_off(postgres: Cluster, url: str) -> None:
    """End every session on the test's database, and wait until they are gone (as a restart
    of PostgreSQL does to its clients)."""
    database = url.rsplit("/", 1)[1]
    postgres.psql(
        "SELECT pg_terminate_backend(pid, 10000) FROM pg_stat_activity"
        f" WHERE datname = '{database}'"
    )


@pytest.fixture
def db(postgres_url: str) -> str:
    """The app tests here (``client`` in conftest.py) run on PostgreSQL only."""
    return postgres_url


async def test_calls_in_a_together_block_after_its_connection_is_lost_are_unavailable(
    postgres: Cluster, postgres_url: str
) -> None:
    store = await PgStore.open(postgres_url, pool_size=2)
    raised: list[type[BaseException]] = []  # by the calls after the cut (the block's end
    # raises too, and must not hide what they raised)

    async def batch() -> None:
        async with store.together():
            await store.create("Before", AT)
            cut_off(postgres, postgres_url)
            for later in (lambda: store.create("After", AT), lambda: store.named("After")):
                try:
                    await later()
                except Exception as exc:
                    raised.append(type(exc))

    try:
        with pytest.raises(Unavailable):  # leaving the block: the commit cannot happen
            await batch()
        assert raised == [Unavailable, Unavailable]
        assert await store.count(filters.MATCH_ALL) == 0  # back by itself; nothing was kept
    finally:
        await store.aclose()


async def test_a_batch_whose_commit_loses_the_database_answers_its_writes_32000(
    client: TestClient[Any, Any], postgres: Cluster, postgres_url: str
) -> None:
    store = client.app[STORE]
    together = store.together

    @contextlib.asynccontextmanager
    async def cut_before_the_commit() -> AsyncIterator[None]:
        async with together():
            yield
            cut_off(postgres, postgres_url)

    store.together = cut_before_the_commit
    batch = [req("create", [{"name": "A"}], 1), req("create", [{"name": "B"}], 2)]
    response = await client.post(f"{ENDPOINT}?auth={MANAGE}", json=batch)
    answers = await response.json()
    assert [answer["error"]["code"] for answer in answers] == [-32000, -32000], answers
    assert [answer["error"]["message"] for answer in answers] == ["Storage unavailable"] * 2
    database = postgres_url.rsplit("/", 1)[1]
    assert postgres.psql("SELECT count(*) FROM customergroups", database) == "0"


async def test_a_connection_lost_as_a_together_block_gives_it_back_is_unavailable(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """(Seen under the crash test: the pool's reset of the connection failed after the commit.)"""
    store = await PgStore.open(postgres_url, pool_size=2)
    release = asyncpg.Pool.release

    async def lost(pool: asyncpg.Pool, connection: Any, *, timeout: float | None = None) -> None:
        await release(pool, connection, timeout=timeout)
        raise asyncpg.exceptions.ConnectionDoesNotExistError("connection was closed")

    async def batch() -> None:
        async with store.together():
            await store.create("Kept", AT)

    try:
        monkeypatch.setattr(asyncpg.Pool, "release", lost)
        with pytest.raises(Unavailable):
            await batch()
        monkeypatch.undo()
        assert (await store.named("Kept")) == (1, "Kept")  # -32000: it may have been applied
    finally:
        await store.aclose()
