"""The PostgreSQL half of bench/figures.py: figures 7 to 9 on a throwaway PostgreSQL cluster.

What each figure measures, against what, and its target: bench/figures.py's docstring. Two
databases of ``SMALL`` and ``--pg-groups`` groups are filled by SQL (``FILL``); how a figure is
measured and judged is bench/rounds.py.
"""

from __future__ import annotations

import argparse

from embedded import NEEDLE, NEEDLES  # bench/embedded.py, beside this script
from rounds import (
    PAGE,
    ROUNDS,
    SMALL,
    Row,
    call,
    compare,
    creates,
    failed,
    gets,
    groups,
    measured,
    p50,
    post,
    ratios,
    told,
)
from wrk import FAILURES, Bench, BenchError, body

from customergroup_rpc.text import fold
from harness.postgres import Cluster, Unavailable
from harness.server import Server

READING = "bare aiohttp handler reading the name (one SELECT, asyncpg)"
POOL = 10  # connections to PostgreSQL per worker (serve's default --pool-size, said out loud)
SETTINGS = ["server_version", "shared_buffers", "synchronous_commit", "fsync", "work_mem"]
SETTINGS += ["max_connections"]
FIGURES = {
    "workers": (
        "PostgreSQL: `get` requests/s, 2 workers / 1, 32 connections, 100 groups",
        "≥ 1.4x",
    ),
    "pg-create": ("PostgreSQL: durable `create` p50 latency, 1 connection", "≤ 1.5x"),
    "pg-list": (
        "PostgreSQL: `list` with `contains` p50, 1 connection, page of 20 of 25 matches",
        "≤ 3x",
    ),
}
# Groups 1..N named as the API's seeding names them (six digits), one in every N / NEEDLES with
# NEEDLE after its number: uids AT, AT + every, ... (AT = every / 3 + 1, off the multiples of
# N / 100 where ANALYZE, reading every row of a small table, puts its histogram's bounds: with
# the needles there, a quarter of the bounds held NEEDLE and the planner expected a quarter of
# the groups to match). name_key is the service's text.fold(name): for these ASCII names (no
# invisible characters, single spaces, nothing NFKC changes) that is lower(name); fill()
# checks a sample against fold() itself.
FILL = """
INSERT INTO customergroups (shop, uid, name, name_key, created, changed)
SELECT 1, i, name, lower(name), now, now FROM (
    SELECT i, date_trunc('second', now()) AS now, 'Group ' || lpad(i::text, 6, '0')
        || CASE WHEN i % {every} = {every} / 3 + 1 THEN ' {needle}' ELSE '' END AS name
    FROM generate_series(1, {count}) AS i) AS made;
UPDATE uid_counters SET last_uid = {count} WHERE shop = 1;
"""
CONTAINS = [["uid", "name"], {"filters": {"/name": {"contains": NEEDLE}}, "limit": PAGE}]


def fill(cluster: Cluster, database: str, count: int) -> None:
    """Groups 1..count in a database the service has migrated, by SQL (FILL), then analysed."""
    try:
        cluster.psql(FILL.format(count=count, every=count // NEEDLES, needle=NEEDLE), database)
        cluster.psql("VACUUM ANALYZE customergroups", database)
        sample = cluster.psql(
            "SELECT name, name_key FROM customergroups WHERE uid % 997 = 4", database
        )
    except RuntimeError as exc:
        raise BenchError(str(exc)) from None
    for row in sample.splitlines():
        name, key = row.split("|")
        if fold(name) != key:
            raise BenchError(f"name_key {key!r} is not the fold of {name!r}")


def figure_workers(bench: Bench, one: Server, two: Server) -> Row:
    if call(two, "get", [1, "name"]) != {"name": "Group 000001"}:
        raise BenchError("get(1) did not answer group 1's name")
    sides = {"1": (one, "get, PostgreSQL, 1 worker"), "2": (two, "get, PostgreSQL, 2 workers")}
    bare: list[Server] = []
    for kind, db in (("bare", []), ("bare+pg", ["--db", one.db])):
        for n in (1, 2):
            args = ["--workers", str(n), *db]
            bare.append(bench.start(f"{kind}-{n}", baseline=True, core=None, args=args))
            sides[f"{kind} {n}"] = (bare[-1], "")
        bench.shown.append((f"baseline ({kind}), 2 processes", bench.show(bare[-1].argv())))
    runs = gets(bench, sides)
    for server in bare:
        server.stop()
    row = compare(FIGURES["workers"], runs, ("2", "2 workers: "), ("1", "1 worker: "), "rate")
    for kind, what in (("bare", "bare aiohttp handler"), ("bare+pg", READING)):
        found = told(ratios(runs[f"{kind} 2"], runs[f"{kind} 1"], "rate"))
        row.ratio += f"; {what}, 2 processes / 1, same rounds: {found}"
    return row


def measure(args: argparse.Namespace, bench: Bench, rows: dict[str, Row]) -> str:
    """The PostgreSQL figures, on a throwaway cluster, into ``rows``; its settings, said."""
    cluster = Cluster.temporary()
    try:
        cluster.start()
        sizes = {"small": SMALL, "large": args.pg_groups}
        on: dict[str, Server] = {}
        for name, count in sizes.items():
            database = cluster.create_database(f"bench_{name}")
            # One machine: the service talks to PostgreSQL over its Unix socket, not TCP.
            url = cluster.url(database, socket=True)
            pool = ["--pool-size", str(POOL)]
            on[name] = bench.start(f"pg-{name}", db=url, args=pool, core=None)
            fill(cluster, database, count)
            page = call(on[name], "list", CONTAINS)
            every = count // NEEDLES
            expected = [every // 3 + 1 + every * i for i in range(PAGE)]
            if [group["uid"] for group in page] != expected:
                raise BenchError(f"list with contains did not answer the page expected: {page}")
        small = on["small"]
        command = bench.show(small.argv())
        bench.shown.append(("service on PostgreSQL (1 worker; --workers 2 for 2)", command))
        filled = FILL.format(count=count, every=count // NEEDLES, needle=NEEDLE).strip()
        bench.shown.append(("filling the big database (psql -c; VACUUM ANALYZE after)", filled))
        settings = pg_settings(cluster)
        two = bench.start("pg-two", db=small.db, args=["--workers", "2"], core=None)
        rows["workers"] = measured(FIGURES["workers"], lambda: figure_workers(bench, small, two))
        two.stop()
        pairs = [(groups(count), on[name]) for name, count in sizes.items()]
        text = body("list", CONTAINS)
        lists = [(n, post(bench, server, text, 1, f"contains, {n}")) for n, server in pairs]
        rows["pg-list"] = measured(
            FIGURES["pg-list"], lambda: p50(FIGURES["pg-list"], lists, ROUNDS)
        )
        label = "create, PostgreSQL, "
        made = [(n, creates(bench, server, args.creates, label + n)) for n, server in pairs]
        rows["pg-create"] = measured(
            FIGURES["pg-create"], lambda: p50(FIGURES["pg-create"], made, ROUNDS)
        )
        return settings
    except (Unavailable, RuntimeError, *FAILURES) as exc:
        for key, title in FIGURES.items():
            rows.setdefault(key, failed(title, exc))
        return f"PostgreSQL: {exc}"
    finally:
        for server in bench.servers:
            server.stop()
        cluster.close()


def pg_settings(cluster: Cluster) -> str:
    found = {name: cluster.setting(name) for name in SETTINGS}
    version = found.pop("server_version")
    said = ", ".join(f"{name} {value}" for name, value in found.items())
    return (
        f"PostgreSQL {version}, a throwaway cluster (harness/postgres.py: initdb's defaults, "
        f"fsync and synchronous_commit on); {said}; {POOL} pooled connections per worker, "
        "over PostgreSQL's Unix socket."
    )
