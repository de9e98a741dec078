"""Benchmark the service over HTTP on loopback with wrk, against baselines from the same run.

Usage: make bench [ARGS="..."], or .venv/bin/python bench/figures.py [--only embedded|postgresql]
[--quick] (``--help`` lists every option).

Needs wrk (``make bench`` installs Debian's when missing) and ``taskset``; the PostgreSQL
figures need Debian's PostgreSQL server (``make bench`` installs it as root) and run on a
throwaway cluster of their own (harness/postgres.py). Every server is a process of its own
started by harness.Server, its access log on as in production (to a file); wrk runs pinned to
core 1 (``-t1 --latency``), each measured run after a warm-up run of ``--warmup`` seconds
(bench/wrk.py). Every figure is a ratio of two measurements of this one run. A figure taken in
rounds runs its sides back to back, alternating which goes first, and reports the median of the
rounds' ratios (each round's shown), each side by its median run: latencies at one connection
in ``P50_ROUNDS`` (3) rounds, requests/s at 32 connections on 100 groups in ``ROUNDS`` (5),
and every PostgreSQL figure in ``ROUNDS``. Each figure's key (``FIGURES``) comes first below.

The embedded engine (a TinyDB file and its journal per server, pinned to core 0; groups and
memberships made through the API: bench/embedded.py). The issue's seven figures first:

1. ``create``: durable ``create`` p50, one client, ``--groups`` (100,000) groups against 100;
   each run stops after ``--creates`` answers (or ``--duration``), and the groups must have
   grown by as many. Target: <= 1.5x.
2. ``add``: ``addCustomers`` of 10,000 new customers (taken out again after each, untimed), the
   client's round trip, median of ``ADDS`` (20) calls, to a group of 1,000,000 against a group
   of an otherwise empty database (no members), alternating call by call. Target: <= 1.5x.
3. ``get-adds``: ``get(1, "name")`` p99 on the 1,000,000-member database while another client
   adds 10,000 customers to that group every 0.5 s, against the same with no writes, in
   ``ADD_ROUNDS`` (3) rounds. Target: <= 3x.
4. ``list``: ``list`` page of 20 by name (``sort: name``), p50, 100,000 groups against 100.
   Target: <= 2x.
5. ``count``: ``count`` with ``contains`` "clearance" (25 matches in both), p50, 100,000 groups
   against 100. Target: <= 30x.
6. ``members``: ``listCustomers`` page of 20 at offset 1,000,000 of the 1,000,000-member group
   (its last page) against the last page of a 10,000-member group, p50. Target: <= 2x.
7. ``import``: importing 100,000 groups (figure 1's database, batches of 100 creates), absolute.
   Target: < 15 s. Seeding gives up after ``--import-timeout`` seconds; the other figures use
   what was made.

Then two figures kept from before, and the memory:

8. ``get``: ``get(1, "name")`` requests/s against bench/baseline.py (a bare aiohttp handler that
   parses a small JSON body and answers a small JSON object). Target: >= 0.75x.
8b. ``metrics``: what metrics cost: figure 8's ``get`` with metrics on (the default) against
   ``--no-metrics``, on two servers started alike, each on a database of its own seeded alike
   with 100 groups (a running server's file alone is no copy of its data: see the journal), so
   that the flag is all that differs, not the history of a server that ran the figures before.
   Target: >= 0.95x (at most 5% fewer).
9. ``throughput``: durable ``create`` requests/s, 32 clients against one, each on a fresh copy
   of a 1,000-group database, each stopping after ``--throughput-creates`` answers; the rate is
   answers over the time from the first request to the last answer (bench/create.lua).
   Reported: it was >= 5x while every commit rewrote the file, which group commit shared out
   among the clients; a commit is now an append of what changed, so one client is no longer
   held up by the disk, and the ratio shows how far one core goes, not the group commit
   (tests/test_tiny.py).
10. ``rss-groups``, ``rss-members``: the server's resident memory (VmRSS) after the import of
   100,000 groups, and with the 1,000,000 memberships, against the 218 MB and 141 MB measured
   before the journal. Target: <= 1.5x.

PostgreSQL (servers and PostgreSQL on either core: two workers need both; two databases of 100
and ``--pg-groups`` (100,000) groups filled by SQL, see ``FILL``):

7. ``workers``: ``get`` requests/s, ``serve --workers 2`` against ``--workers 1``; beside it, in
   the same rounds, bench/baseline.py with 2 processes against 1 (what a second process adds to
   a bare handler on this machine at that moment), bare and with ``--db`` (reading the name from
   the same database, one statement per request: what a second process adds to the least
   handler backed by PostgreSQL). Target: >= 1.4x.
8. ``pg-create``: figure 1 on PostgreSQL, 100,000 groups against 100. Target: <= 1.5x.
9. ``pg-list``: ``list(["uid", "name"], {"filters": {"/name": {"contains": "clearance"}},
   "limit": 20})``, p50, 100,000 groups against 100: the same page of 20 out of 25 matches
   (checked in both), found among 1,000 times more groups. Target: <= 3x.

Prints a Markdown table, the machine, PostgreSQL's settings, and the command lines (the token
as ``$TOKEN``, the temporary folder as ``$DIR``). A figure that fails says why in its row.
Exits 1 when a target is missed, after the whole table. ``--quick`` is a smoke test (2 s runs,
10,000 groups, 100,000 members, no import target). Every process started is stopped by its PID
at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import astuple, dataclass, fields
from pathlib import Path
from types import FrameType
from typing import Any, Literal, TypeVar

import embedded as embedded_data  # bench/embedded.py, beside this script
from embedded import BATCH, NEEDLE, NEEDLES
from report import machine, ms, table, times  # bench/report.py, beside this script
from wrk import CREATE_LUA, FAILURES, PIN, POST_LUA, Bench, BenchError, Run, body

from customergroup_rpc.text import fold
from harness.postgres import Cluster, Unavailable
from harness.server import Server

SMALL, MEDIUM, IMPORT_GROUPS = 100, 1_000, 100_000  # groups: the few, throughput, the many
IMPORT_TARGET = 15.0  # seconds for IMPORT_GROUPS
MEMBERS, FEW_MEMBERS = 1_000_000, 10_000  # the big group, and figure 6's baseline group
ADDS, ADD_ROUNDS = 20, 3  # timed adds per side (figure 2), rounds of figure 3
P50_ROUNDS = 3  # rounds of figures 1, 4, 5 and 6
ROUNDS = 5  # rounds of figures 8 and 8b and of the PostgreSQL figures (odd: a median round)
RSS_BEFORE = {"rss-groups": 218.0, "rss-members": 141.0}  # MB, before the journal (the issue)
PAGE = 20  # groups or members per page read
MANY = 32  # connections for the throughput figures
READING = "bare aiohttp handler reading the name (one SELECT, asyncpg)"
POOL = 10  # connections to PostgreSQL per worker (serve's default --pool-size, said out loud)
SETTINGS = ["server_version", "shared_buffers", "synchronous_commit", "fsync", "work_mem"]
SETTINGS += ["max_connections"]
EMBEDDED = {  # each figure's title and target, in the table's order; a figure not met says so
    "create": ("durable `create` p50 latency, 1 connection", "≤ 1.5x"),
    "add": ("`addCustomers` of 10,000, median round trip of 20 calls each, alternating", "≤ 1.5x"),
    "get-adds": (
        "`get` p99 while another client adds 10,000 customers every 0.5 s, a group of 1,000,000 "
        "customers, 1 connection",
        "≤ 3x",
    ),
    "list": ("`list` page of 20 by name, p50, 1 connection", "≤ 2x"),
    "count": ("`count` with `contains`, p50, 1 connection 'clearance' (25 matches)", "≤ 30x"),
    "members": ("`listCustomers` page of 20, p50, 1 connection, the last page", "≤ 2x"),
    "import": ("importing groups", f"< {IMPORT_TARGET:g} s"),
    "get": ("`Customergroup.get` requests/s, 32 connections, 100 groups", "≥ 0.75x"),
    "metrics": ("`get` requests/s, metrics on / off, 32 connections, 100 groups", "≥ 0.95x"),
    "throughput": ("durable `create` throughput, 1,000 groups: 32 clients / 1 client", "reported"),
    "rss-groups": ("resident memory, 100,000 groups", "≤ 1.5x"),
    "rss-members": ("resident memory, 1,000,000 memberships", "≤ 1.5x"),
}
POSTGRESQL = {
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
FIGURES = EMBEDDED | POSTGRESQL
PARTS = {"embedded": list(EMBEDDED), "postgresql": list(POSTGRESQL)}
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
GET_BODY = body("get", [1, "name"])
LIST_BODY = body("list", [["uid", "name"], {"sort": "name", "limit": PAGE}])
COUNT_BODY = body("count", [{"/name": {"contains": NEEDLE}}])
CONTAINS = [["uid", "name"], {"filters": {"/name": {"contains": NEEDLE}}, "limit": PAGE}]
T = TypeVar("T")


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


def call(server: Server, method: str, params: Any) -> Any:
    with server.client() as client:
        return client.call(method, params)


# -- rows ------------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    service: str = "—"
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: str = "—"

    @property
    def missed(self) -> bool:
        return self.met.startswith("**no")


def met(target: str, ratio: float) -> str:
    """Whether ``ratio`` meets a target such as ``≤ 1.5x`` or ``≥ 0.75x``: yes or **no**."""
    sign, limit = target.split()
    bound = float(limit.rstrip("x"))
    return "yes" if (ratio <= bound if sign == "≤" else ratio >= bound) else "**no**"


def judged(key: str, service: str, baseline: str, ratio: float, said: str = "") -> Row:
    """Figure ``key``'s row, its ratio (``said``, if not just the number) held to its target."""
    figure, target = FIGURES[key]
    return Row(figure, service, baseline, said or times(ratio), target, met(target, ratio))


def failed(key: str, exc: Exception) -> Row:
    message = " ".join(str(exc).split())[:300].replace("|", "/")
    figure, target = FIGURES[key]
    return Row(figure, f"failed: {message}", target=target, met="**no** (not measured)")


def measured(key: str, figure: Callable[[], Row]) -> Row:
    """Figure ``key``'s row, or the failure that stopped it, said in the row."""
    try:
        return figure()
    except FAILURES as exc:
        return failed(key, exc)


def groups(n: int) -> str:
    return f"{n:,} groups"


def members(n: int) -> str:
    return f"a group of {n:,} customers"


def rate(run: Run) -> str:
    return f"{run.rate:,.0f}/s (p50 {ms(run.p50)}, p99 {ms(run.p99)})"


def latency(run: Run) -> str:
    return f"{ms(run.p50)} (p99 {ms(run.p99)}, {run.requests:,} requests)"


def told(found: list[float], of: str = "") -> str:
    """A median ratio, and every round's when there were several."""
    each = f" (rounds: {', '.join(f'{r:.2f}' for r in found)})" if len(found) > 1 else ""
    return times(statistics.median(found)) + of + each


# -- rounds of two sides or more -------------------------------------------------------------------

Side = Callable[[int], Run]  # one measured run in round i (its command line shown in round 0)
By = Literal["p50", "p99", "rate"]  # what a figure compares of two runs


def alternate(sides: dict[str, Callable[[int], T]], rounds: int) -> dict[str, list[T]]:
    """``rounds`` rounds of every side back to back, alternating which goes first."""
    runs: dict[str, list[T]] = {side: [] for side in sides}
    for round_ in range(rounds):
        for side in list(sides) if round_ % 2 == 0 else reversed(sides):
            runs[side].append(sides[side](round_))
    return runs


def middle(runs: list[Run], by: By) -> Run:
    """The median run (of an odd number) in ``by``."""
    return sorted(runs, key=lambda run: float(getattr(run, by)))[len(runs) // 2]


def ratios(above: list[Run], below: list[Run], by: By) -> list[float]:
    """Round by round, ``by`` of ``above`` over ``below``."""
    return [getattr(a, by) / getattr(b, by) for a, b in zip(above, below, strict=True)]


def compare(
    key: str, runs: dict[str, list[Run]], above: tuple[str, str], below: tuple[str, str], by: By
) -> Row:
    """Figure ``key``'s row: the median of the rounds' ratios of side ``above`` to side
    ``below`` (each a side's name and its label) in ``by``, each side shown by its median run
    (of an odd number), held to the figure's target."""
    found = ratios(runs[above[0]], runs[below[0]], by)
    shown = rate if by == "rate" else latency
    service, baseline = (label + shown(middle(runs[name], by)) for name, label in (above, below))
    of = " of p99" if by == "p99" else ""
    return judged(key, service, baseline, statistics.median(found), told(found, of))


def post(bench: Bench, server: Server, text: str, connections: int, label: str) -> Side:
    """bench/post.lua with one body at ``server``, as a side of ``alternate``."""
    return lambda i: bench.measure(label if i == 0 else "", server, POST_LUA, [text], connections)


def creates(bench: Bench, server: Server, limit: int, label: str) -> Side:
    """bench/create.lua, one client, ``limit`` creates named after the round, each made."""

    def run(i: int) -> Run:
        before = call(server, "count", [{}])
        args = [f"Bench {i}", str(limit)]  # each database its own
        made = bench.measure(label if i == 0 else "", server, CREATE_LUA, args, 1)
        if call(server, "count", [{}]) - before < made.requests:
            raise BenchError(f"{made.requests} creates answered, fewer made ({label})")
        return made

    return run


def p50(key: str, sides: list[tuple[str, Side]], rounds: int) -> Row:
    """p50 at one connection of the second side (many groups or members) against the first's
    (few), each side its label and its run."""
    (few, low), (many, high) = sides
    runs = alternate({"few": low, "many": high}, rounds)
    return compare(key, runs, ("many", f"{many}: "), ("few", f"{few}: "), "p50")


def gets(bench: Bench, sides: dict[str, tuple[Server, str]]) -> dict[str, list[Run]]:
    """``get(1, "name")`` at MANY connections on each side's server (its wrk label), ROUNDS
    rounds."""
    return alternate(
        {n: post(bench, s, GET_BODY, MANY, label) for n, (s, label) in sides.items()}, ROUNDS
    )


# -- the other figures -----------------------------------------------------------------------------


def figure_add(bench: Bench, big: Server, empty: Server) -> Row:
    few = embedded_data.Adds(empty, 1, bench.token)
    many = embedded_data.Adds(big, 1, bench.token)
    try:
        took = alternate({"few": lambda i: few.once(), "many": lambda i: many.once()}, ADDS)
    finally:
        few.close()
        many.close()
    many_ms, few_ms = (statistics.median(took[side]) for side in ("many", "few"))
    said = f"{members(MEMBERS)}: {ms(many_ms)}", f"an empty database: {ms(few_ms)}"
    return judged("add", *said, many_ms / few_ms)


def figure_get_during_adds(bench: Bench, big: Server) -> Row:
    quiet = post(bench, big, GET_BODY, 1, "get, 1,000,000 memberships, no writes")
    loud = post(bench, big, GET_BODY, 1, "get, while adds run")

    def with_adds(i: int) -> Run:
        adder = embedded_data.Adder(embedded_data.Adds(big, 1, bench.token))
        adder.start()
        try:
            return loud(i)
        finally:
            adder.stop()

    runs = alternate({"adds": with_adds, "quiet": quiet}, ADD_ROUNDS)
    return compare("get-adds", runs, ("adds", "with adds: "), ("quiet", "no writes: "), "p99")


def figure_get(bench: Bench, small: Server) -> Row:
    if call(small, "get", [1, "name"]) != {"name": embedded_data.name(1, SMALL)}:
        raise BenchError("get(1) did not answer group 1's name")
    baseline = bench.start("baseline", baseline=True)
    bench.shown.append(("baseline server", bench.show(baseline.argv())))
    runs = gets(
        bench, {"service": (small, "get, service"), "baseline": (baseline, "get, baseline")}
    )
    baseline.stop()
    return compare(
        "get", runs, ("service", ""), ("baseline", "bare aiohttp JSON handler: "), "rate"
    )


def figure_metrics(bench: Bench, timeout: float) -> Row:
    on = bench.start("metrics")
    off = bench.start("no-metrics", args=["--no-metrics"])
    for server in (on, off):
        embedded_data.seed(server, SMALL, timeout)
    runs = gets(bench, {"on": (on, "get, metrics on"), "off": (off, "get, --no-metrics")})
    on.stop()
    off.stop()
    return compare("metrics", runs, ("on", "on: "), ("off", "off: "), "rate")


def figure_rss(key: str, server: Server, what: str) -> Row:
    now, before = embedded_data.rss_mb(server), RSS_BEFORE[key]
    return judged(
        key, f"{now:,.0f} MB ({what})", f"{before:,.0f} MB (before the journal)", now / before
    )


def figure_import(seeding: embedded_data.Seeding, wanted: int) -> Row:
    figure, target = FIGURES["import"]
    figure = f"{figure}: {wanted:,} with batches of {BATCH} creates"
    speed = f"{seeding.made / seeding.seconds if seeding.seconds else 0.0:,.0f} groups/s"
    if seeding.gave_up:
        took = f"gave up after {seeding.seconds:,.1f} s at {seeding.made:,} groups ({speed})"
        return Row(figure, took, target=target, met="**no**")
    took = f"{seeding.seconds:,.2f} s ({speed})"
    if wanted != IMPORT_GROUPS:
        return Row(figure, took, target=f"{target} for {IMPORT_GROUPS:,}")
    ok = seeding.seconds < IMPORT_TARGET
    return Row(figure, took, target=target, met="yes" if ok else "**no**")


def figure_throughput(bench: Bench, args: argparse.Namespace) -> Row:
    figure, target = FIGURES["throughput"]
    medium = bench.start("medium")
    seeded = embedded_data.seed(medium, MEDIUM, args.import_timeout)
    medium.stop()
    if seeded.made != MEDIUM:
        raise BenchError(f"seeding {MEDIUM} groups gave up after {seeded.seconds:.0f} s")
    found: dict[int, tuple[Run, int]] = {}
    for connections in (1, MANY):
        name = f"throughput-{connections}"
        (bench.folder / name).mkdir()
        shutil.copyfile(medium.db, bench.folder / name / "db.json")
        server = bench.start(name)
        label = f"create throughput, {connections} client(s), {MEDIUM:,} groups"
        limit = [f"Bench C{connections}", str(args.throughput_creates)]
        run = bench.measure(label, server, CREATE_LUA, limit, connections)
        found[connections] = (run, call(server, "count", [{}]))
        server.stop()
        if run.span <= 0:
            raise BenchError(f"bench/create.lua did not time the creates ({label})")

    def text(clients: int) -> str:
        run, after = found[clients]
        return (
            f"{clients} client(s): {run.creates_per_second:,.0f}/s (p50 {ms(run.p50)}; "
            f"{run.answers:,} creates in {run.span:.2f} s; {MEDIUM:,} → {after:,} groups)"
        )

    ratio = found[MANY][0].creates_per_second / found[1][0].creates_per_second
    return Row(figure, text(MANY), text(1), times(ratio), target)


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
    row = compare("workers", runs, ("2", "2 workers: "), ("1", "1 worker: "), "rate")
    for kind, what in (("bare", "bare aiohttp handler"), ("bare+pg", READING)):
        found = told(ratios(runs[f"{kind} 2"], runs[f"{kind} 1"], "rate"))
        row.ratio += f"; {what}, 2 processes / 1, same rounds: {found}"
    return row


# -- the two halves --------------------------------------------------------------------------------


def embedded(args: argparse.Namespace, bench: Bench, rows: dict[str, Row]) -> None:
    """The embedded figures, on TinyDB files and their journals."""
    small = bench.start("small")
    command = f"{bench.show(small.argv())} 2>{bench.show([str(small.stderr_path)])}"
    label = "service, one per database (its access log on, to a file)"
    bench.shown.append((label, f'CUSTOMERGROUP_RPC_ADMIN_TOKEN="$TOKEN" {command}'))
    seeded = embedded_data.seed(small, SMALL, args.import_timeout)
    if seeded.made != SMALL:
        raise BenchError(f"seeding {SMALL} groups gave up after {seeded.seconds:.0f} s")
    embedded_data.fill(small, 2, FEW_MEMBERS)
    large = bench.start("large")
    imported = embedded_data.seed(large, args.groups, args.import_timeout)
    rows["import"] = figure_import(imported, args.groups)
    rows["rss-groups"] = figure_rss("rss-groups", large, f"after the import of {imported.made:,}")
    big, empty = bench.start("big"), bench.start("empty")
    for server in (big, empty):
        embedded_data.seed(server, 1, args.import_timeout)
    embedded_data.fill(big, 1, args.members)
    rows["rss-members"] = figure_rss("rss-members", big, f"{args.members:,} in one group")

    sizes = [(groups(SMALL), small), (groups(imported.made), large)]
    made = [(n, creates(bench, server, args.creates, f"create, {n}")) for n, server in sizes]
    rows["create"] = measured("create", lambda: p50("create", made, P50_ROUNDS))
    rows["add"] = measured("add", lambda: figure_add(bench, big, empty))
    rows["get-adds"] = measured("get-adds", lambda: figure_get_during_adds(bench, big))
    for key, text in (("list", LIST_BODY), ("count", COUNT_BODY)):
        sides = [(n, post(bench, server, text, 1, f"{key}, {n}")) for n, server in sizes]
        rows[key] = measured(key, lambda: p50(key, sides, P50_ROUNDS))  # noqa: B023
    pages = []
    for server, uid, n in ((small, 2, FEW_MEMBERS), (big, 1, args.members)):
        text = body("listCustomers", [uid, {"offset": n - PAGE, "limit": PAGE}])
        pages.append((members(n), post(bench, server, text, 1, f"listCustomers, {members(n)}")))
    rows["members"] = measured("members", lambda: p50("members", pages, P50_ROUNDS))
    rows["get"] = measured("get", lambda: figure_get(bench, small))
    rows["metrics"] = measured("metrics", lambda: figure_metrics(bench, args.import_timeout))
    for server in (small, large, big, empty):
        server.stop()
    rows["throughput"] = measured("throughput", lambda: figure_throughput(bench, args))


def postgresql(args: argparse.Namespace, bench: Bench, rows: dict[str, Row]) -> str:
    """The PostgreSQL figures, on a throwaway PostgreSQL cluster; its settings, said."""
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
        rows["workers"] = measured("workers", lambda: figure_workers(bench, small, two))
        two.stop()
        pairs = [(groups(count), on[name]) for name, count in sizes.items()]
        text = body("list", CONTAINS)
        lists = [(n, post(bench, server, text, 1, f"contains, {n}")) for n, server in pairs]
        rows["pg-list"] = measured("pg-list", lambda: p50("pg-list", lists, ROUNDS))
        label = "create, PostgreSQL, "
        made = [(n, creates(bench, server, args.creates, label + n)) for n, server in pairs]
        rows["pg-create"] = measured("pg-create", lambda: p50("pg-create", made, ROUNDS))
        return settings
    except (Unavailable, RuntimeError, *FAILURES) as exc:
        for key in PARTS["postgresql"]:
            rows.setdefault(key, failed(key, exc))
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


# -- output and main -------------------------------------------------------------------------------


def machine_line(folder: Path, load: tuple[float, float, float]) -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk = (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()
    pinning = "wrk on core 1" if PIN else "no pinning (fewer than 2 cores)"
    return f"{machine(folder)}; {wrk}; {pinning}; load average at start {load[0]:.2f}."


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    options: list[tuple[str, Any, Any, str]] = [
        ("--only", str, None, "embedded or postgresql: one half of the figures"),
        ("--duration", int, 5, "seconds per measured run (5)"),
        ("--warmup", int, 1, "seconds of warm-up per run (1)"),
        ("--creates", int, 100, "creates per p50 run of create and pg-create (100)"),
        ("--throughput-creates", int, 1_000, "creates per run of throughput (1000)"),
        ("--groups", int, IMPORT_GROUPS, "groups in the big database (100000)"),
        ("--members", int, MEMBERS, "customers of the big group (1000000)"),
        ("--pg-groups", int, IMPORT_GROUPS, "groups in the big PostgreSQL database (100000)"),
        ("--import-timeout", float, 120.0, "seconds before seeding gives up"),
        ("--dir", Path, None, "where to make the temp folder"),
    ]
    for name, kind, default, text in options:
        parser.add_argument(name, type=kind, default=default, help=text)
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 s runs, fewer groups")
    args = parser.parse_args(argv)
    if args.only not in (None, *PARTS):
        parser.error(f"--only takes {' or '.join(PARTS)}")
    if args.quick:
        args.duration, args.warmup, args.creates, args.throughput_creates = 2, 1, 30, 300
        args.groups, args.pg_groups, args.members = 10_000, 10_000, 100_000
        args.import_timeout = min(args.import_timeout, 30.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/figures.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, interrupted)
    began, load = time.perf_counter(), os.getloadavg()
    parts = [args.only] if args.only else list(PARTS)
    keys = [key for part in parts for key in PARTS[part]]
    rows: dict[str, Row] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-", dir=args.dir) as tmp:
        token = "cgr_bench_" + secrets.token_urlsafe(24)
        bench = Bench(Path(tmp), token, args.duration, args.warmup)
        problem, settings = "", ""
        try:
            if "embedded" in parts:
                embedded(args, bench, rows)
            if "postgresql" in parts:
                settings = postgresql(args, bench, rows)
        except FAILURES as exc:
            problem = f"The bench stopped early: {exc}"
        except KeyboardInterrupt:
            problem = "Interrupted."
        finally:
            for server in reversed(bench.servers):
                server.stop()
        found = [
            rows.get(key) or Row(f"{FIGURES[key][0]}: not measured", met="**no**") for key in keys
        ]
        columns = [column.name for column in fields(Row)]
        print(table(columns, map(astuple, found)), "", machine_line(bench.folder, load), sep="\n")
        if settings:
            print(settings)
        print(
            f"Whole run {time.perf_counter() - began:.0f} s. Measured runs of {args.duration} s, "
            f"each after a warm-up run of {args.warmup} s (the same command with "
            f"-d{args.warmup}s; creates with other names and a tenth of the limit)."
        )
        print("", "Command lines, from the repository's root:", "", "```", sep="\n")
        for label, command in bench.shown:
            print(f"# {label}\n{command}")
        print("```")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 1 if any(row.missed for row in found) else 0


if __name__ == "__main__":
    sys.exit(main())
