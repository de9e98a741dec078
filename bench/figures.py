"""Benchmark the service over HTTP on loopback with wrk, against baselines from the same run.

Usage: make bench [ARGS="..."], or
       .venv/bin/python bench/figures.py [--only embedded|postgresql] [--duration 5]
           [--warmup 1] [--creates 100] [--throughput-creates 1000] [--groups 100000]
           [--pg-groups 100000] [--import-timeout 120] [--quick] [--dir DIR]

Needs wrk (``make bench`` installs Debian's when missing) and ``taskset``; the PostgreSQL
figures need Debian's PostgreSQL server (``make bench`` installs it as root) and run on a
throwaway cluster of their own (harness/postgres.py). Every server is a process of its own
started by harness.Server, its access log on as in production (to a file); wrk runs pinned to
core 1 (``-t1 --latency``), each measured run after a warm-up run of ``--warmup`` seconds.
Every figure is a ratio of two measurements of this one run.

The embedded engine (a TinyDB file and its journal per server, pinned to core 0; groups made
through the API, creates in batches of 100 named ``Group 000001``, ..., 25 of them evenly spread
named ``Group 000004 clearance``, ...: bench/embedded.py). The issue's seven figures first:

1. Durable ``create`` p50, one client, ``--groups`` (100,000) groups against 100; each run stops
   after ``--creates`` answers (or ``--duration``). Target: <= 1.5x. This and figures 4-6 in
   ``P50_ROUNDS`` rounds, alternating which goes first, the median of the rounds' ratios.
2. ``addCustomers`` of 10,000 new customers (taken out again after each, untimed), the client's
   round trip, median of ``ADDS`` calls, to a group of 1,000,000 against a group of an otherwise
   empty database (no members), the two alternating. Target: <= 1.5x.
3. ``get(1, "name")`` p99 at one connection on the 1,000,000-member database while another
   client adds 10,000 customers to that group every 0.5 s, against the same with no writes;
   in ``ADD_ROUNDS`` rounds, alternating, the median of the rounds' ratios. Target: <= 3x.
4. ``list`` page of 20 by name (``sort: name``), p50, 100,000 groups against 100. Target: <= 2x.
5. ``count`` with ``contains`` "clearance" (25 matches), p50, 100,000 groups against 100.
   Target: <= 30x.
6. ``listCustomers`` page of 20 at offset 1,000,000 of the 1,000,000-member group (its last
   page) against the last page of a 10,000-member group, p50. Target: <= 2x.
7. Importing 100,000 groups (the seeding of figure 1's database), absolute. Target: < 15 s.
   Seeding gives up after ``--import-timeout`` seconds; the other figures use what was made.

Then two figures kept from before, and the memory:

8. ``get(1, "name")`` requests/s at 32 connections on 100 groups, against bench/baseline.py (a
   bare aiohttp handler that parses a small JSON body and answers a small JSON object), in
   ``ROUNDS`` rounds of the two back to back, alternating which goes first; the ratio is the
   median of the rounds' ratios, the rates shown the median rounds. Target: >= 0.75x.
8b. What metrics cost: figure 8's ``get`` requests/s with metrics on (the default) against
   ``--no-metrics``, two servers started and seeded alike (``SMALL`` groups each), in
   ``ROUNDS`` rounds as figure 8. Target: >= 0.95x (at most 5% fewer).
9. Durable ``create`` requests/s, 32 clients against one, each on a fresh copy of a 1,000-group
   database, each stopping after ``--throughput-creates`` answers; the rate is answers over the
   time from the first request to the last answer (bench/create.lua). Reported: it was >= 5x
   while every commit rewrote the file, which group commit shared out among the clients; a
   commit is now an append of what changed, so one client is no longer held up by the disk,
   and the ratio shows how far one core goes, not the group commit (tests/test_tiny.py).
10. The server's resident memory (VmRSS) after the import of 100,000 groups, and with the
   1,000,000 memberships, against the 218 MB and 141 MB measured before the journal. Target:
   <= 1.5x.

PostgreSQL (servers and PostgreSQL on either core: two workers need both; two databases filled
by SQL, see ``FILL``, ``Group 000001``, ..., with ``NEEDLES`` of them named ``Group 000004
clearance``, ... evenly spread; each figure in ``ROUNDS`` rounds as figure 1, the median of the
rounds' ratios):

7. ``get(1, "name")`` requests/s at 32 connections on 100 groups, ``serve --workers 2`` against
   ``--workers 1``; beside it, in the same rounds, bench/baseline.py with 2 processes against 1
   (what a second process adds to a bare handler on this machine at that moment), bare and with
   ``--db`` (reading the name from the same database, one statement per request: what a second
   process adds to the least handler backed by PostgreSQL). Target: >= 1.4x.
8. Durable ``create`` p50, one client, ``--pg-groups`` (100,000) groups against 100. Target:
   <= 1.5x.
9. ``list(["uid", "name"], {"filters": {"/name": {"contains": "clearance"}}, "limit": 20})``,
   p50 at one connection, 100,000 groups against 100: the same page of 20 out of 25 matches,
   found among 1,000 times more groups. Target: <= 3x.

Prints a Markdown table, the machine, PostgreSQL's settings, and the command lines (the token
as ``$TOKEN``, the temporary folder as ``$DIR``). Exits 1 when a target is missed, after the
whole table. ``--quick`` is a smoke test (2 s runs, 1,000 and 10,000 groups, no import
target). Every process started is stopped by its PID at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import embedded as embedded_data  # bench/embedded.py, beside this script
from machine import cpu_model, file_system  # bench/machine.py, beside this script
from wrk import CREATE_LUA, FAILURES, PIN, POST_LUA, Bench, BenchError, Run, usable_cores

from customergroup_rpc.text import fold
from harness.postgres import Cluster, Unavailable
from harness.server import Server

BATCH = 100  # creates per JSON-RPC batch when seeding (the service's default --max-batch)
SMALL, MEDIUM, IMPORT_GROUPS = 100, 1_000, 100_000  # groups: the few, throughput, the many
PG_GROUPS = 100_000  # figures 8 and 9, against SMALL
IMPORT_TARGET = 15.0  # seconds for IMPORT_GROUPS
MEMBERS, FEW_MEMBERS = 1_000_000, 10_000  # the big group, and figure 6's baseline group
ADDS, ADD_ROUNDS = 20, 3  # timed adds per side (figure 2), rounds of figure 3
P50_ROUNDS = 3  # rounds of figures 1, 4, 5 and 6
RSS_BEFORE = {"groups": 218.0, "members": 141.0}  # MB, before the journal (the issue)
PAGE = 20
PG_PAGE, NEEDLE, NEEDLES = 20, "clearance", 25  # figure 9: a page of 20 of 25 matches
MANY = 32  # connections for the throughput figures
ROUNDS = 5  # rounds of figures 1 and 7-9 (odd: a median round)
READING = "bare aiohttp handler reading the name (one SELECT, asyncpg)"
POOL = 10  # connections to PostgreSQL per worker (serve's default --pool-size, said out loud)
SETTINGS = ["server_version", "shared_buffers", "synchronous_commit", "fsync", "work_mem"]
SETTINGS += ["max_connections"]
FIGURES = {  # the table's order and each figure's target; a figure not reached says so
    "create": ("durable `create` p50 latency", "≤ 1.5x"),
    "add": ("`addCustomers` of 10,000, median round trip", "≤ 1.5x"),
    "get-adds": ("`get` p99 while another client adds 10,000 customers every 0.5 s", "≤ 3x"),
    "list": ("`list` page of 20 by name, p50", "≤ 2x"),
    "count": ("`count` with `contains`, p50", "≤ 30x"),
    "members": ("`listCustomers` page of 20, p50", "≤ 2x"),
    "import": ("importing groups", f"< {IMPORT_TARGET:g} s"),
    "get": ("`Customergroup.get` requests/s", "≥ 0.75x"),
    "throughput": ("durable `create` throughput", "reported"),
    "rss-groups": ("resident memory, 100,000 groups", "≤ 1.5x"),
    "rss-members": ("resident memory, 1,000,000 memberships", "≤ 1.5x"),
    "metrics": ("`get` requests/s, metrics on / off", "≥ 0.95x"),
    "workers": ("PostgreSQL: `get` requests/s, 2 workers / 1", "≥ 1.4x"),
    "pg-create": ("PostgreSQL: durable `create` p50 latency", "≤ 1.5x"),
    "pg-list": ("PostgreSQL: `list` with `contains` p50", "≤ 3x"),
}
PARTS = {
    "embedded": [
        *("create", "add", "get-adds", "list", "count", "members", "import"),
        *("get", "metrics", "throughput", "rss-groups", "rss-members"),
    ],
    "postgresql": ["workers", "pg-create", "pg-list"],
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


def body(method: str, params: Any) -> str:
    call = {"jsonrpc": "2.0", "method": f"Customergroup.{method}", "params": params, "id": 1}
    return json.dumps(call, separators=(",", ":"))


GET_BODY = body("get", [1, "name"])
LIST_BODY = body("list", [["uid", "name"], {"sort": "name", "limit": PAGE}])
COUNT_BODY = body("count", [{"/name": {"contains": NEEDLE}}])
CONTAINS_BODY = body(
    "list", [["uid", "name"], {"filters": {"/name": {"contains": NEEDLE}}, "limit": PG_PAGE}]
)


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


# -- the figures -----------------------------------------------------------------------------------


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


def ms(value: float) -> str:
    if value < 1:
        return f"{value * 1000:,.0f} µs"
    return f"{value:,.2f} ms" if value < 10 else f"{value:,.1f} ms"


def times(value: float) -> str:
    return f"{value:,.2f}x" if value < 100 else f"{value:,.0f}x"


def verdict(ok: bool) -> str:
    return "yes" if ok else "**no**"


def failed(key: str, exc: Exception) -> Row:
    message = " ".join(str(exc).split())[:300].replace("|", "/")
    figure, target = FIGURES[key]
    return Row(figure, f"failed: {message}", target=target, met="**no** (not measured)")


def groups(n: int) -> str:
    return f"{n:,} groups"


def rate(run: Run) -> str:
    return f"{run.rate:,.0f}/s (p50 {ms(run.p50)}, p99 {ms(run.p99)})"


def latency(run: Run) -> str:
    return f"{ms(run.p50)} (p99 {ms(run.p99)}, {run.requests:,} requests)"


Side = Callable[[int], Run]  # one measured run in round i (its command line shown in round 0)


def alternate(sides: dict[str, Side], rounds: int) -> dict[str, list[Run]]:
    """``rounds`` rounds of every side back to back, alternating which goes first."""
    runs: dict[str, list[Run]] = {side: [] for side in sides}
    for round_ in range(rounds):
        for side in list(sides) if round_ % 2 == 0 else reversed(sides):
            runs[side].append(sides[side](round_))
    return runs


def ratios(above: list[Run], below: list[Run], key: Callable[[Run], float]) -> list[float]:
    return [key(a) / key(b) for a, b in zip(above, below, strict=True)]


def middle(runs: list[Run], key: Callable[[Run], float]) -> Run:
    """The median run (of an odd number)."""
    return sorted(runs, key=key)[len(runs) // 2]


def told(found: list[float]) -> str:
    """A median ratio, and every round's when there were several."""
    each = f" (rounds: {', '.join(f'{r:.2f}' for r in found)})" if len(found) > 1 else ""
    return times(statistics.median(found)) + each


def post(bench: Bench, server: Server, text: str, connections: int, label: str) -> Side:
    """bench/post.lua with one body at ``server``, as a side of ``alternate``."""
    url = bench.url(server)
    return lambda i: bench.measure(label if i == 0 else "", url, POST_LUA, [text], connections)


def creates(bench: Bench, server: Server, limit: int, label: str, kept: list[Run]) -> Side:
    """bench/create.lua, one client, ``limit`` creates named after the round, each made; the
    runs are kept in ``kept`` too."""

    def run(i: int) -> Run:
        before = call(server, "count", [{}])
        args = [f"Bench {i}", str(limit)]  # each database its own
        made = bench.measure(label if i == 0 else "", bench.url(server), CREATE_LUA, args, 1)
        if call(server, "count", [{}]) - before < made.requests:
            raise BenchError(f"{made.requests} creates answered, fewer made ({label})")
        kept.append(made)
        return made

    return run


def figure_p50(
    key: str, sides: list[tuple[int, Side]], rounds: int, unit: Callable[[int], str] | None = None
) -> Row:
    """p50 with many groups against few (``[(few, side), (many, side)]``), the median of the
    rounds' ratios; ``unit`` says what the numbers count (groups)."""
    figure, target = FIGURES[key]
    said = unit or groups
    try:
        runs = alternate({"few": sides[0][1], "many": sides[1][1]}, rounds)
    except FAILURES as exc:
        return failed(key, exc)
    found = ratios(runs["many"], runs["few"], lambda run: run.p50)
    return Row(
        f"{figure}, 1 connection",
        f"{said(sides[1][0])}: {latency(middle(runs['many'], lambda run: run.p50))}",
        f"{said(sides[0][0])}: {latency(middle(runs['few'], lambda run: run.p50))}",
        told(found),
        target,
        verdict(statistics.median(found) <= float(target.split()[1].rstrip("x"))),
    )


def rate_row(
    key: str, runs: dict[str, list[Run]], above: tuple[str, str], below: tuple[str, str]
) -> Row:
    """A throughput figure at ``MANY`` connections on ``SMALL`` groups: the median of the
    rounds' ratios of side ``above`` to side ``below`` (each a side's name and its label),
    held to the figure's target (``≥ 0.75x``)."""
    figure, target = FIGURES[key]
    found = ratios(runs[above[0]], runs[below[0]], lambda run: run.rate)
    return Row(
        f"{figure}, {MANY} connections, {groups(SMALL)}",
        f"{above[1]}{rate(middle(runs[above[0]], lambda run: run.rate))}",
        f"{below[1]}{rate(middle(runs[below[0]], lambda run: run.rate))}",
        told(found),
        target,
        verdict(statistics.median(found) >= float(target.split()[1].rstrip("x"))),
    )


def figure_get(bench: Bench, small: Server) -> Row:
    try:
        if call(small, "get", [1, "name"]) != {"name": embedded_data.name(1, SMALL)}:
            raise BenchError("get(1) did not answer group 1's name")
        baseline = bench.start("baseline", baseline=True)
        bench.shown.append(("baseline server", bench.show(baseline.argv())))
        sides = {"service": post(bench, small, GET_BODY, MANY, "get, service")}
        sides["baseline"] = post(bench, baseline, GET_BODY, MANY, "get, baseline")
        runs = alternate(sides, ROUNDS)
        baseline.stop()
    except FAILURES as exc:
        return failed("get", exc)
    return rate_row("get", runs, ("service", ""), ("baseline", "bare aiohttp JSON handler: "))


def figure_metrics(bench: Bench, timeout: float) -> Row:
    """Figure 8b: ``get`` with metrics on against off, two servers started alike, each on a
    database of its own seeded alike with ``SMALL`` groups (a running server's file alone is no
    copy of its data: see the journal): the flag is all that differs between the two sides,
    not the history of a server that ran the figures before."""
    try:
        on = bench.start("metrics")
        off = bench.start("no-metrics", args=["--no-metrics"])
        for server in (on, off):
            embedded_data.seed(server, SMALL, timeout)
        sides = {"on": post(bench, on, GET_BODY, MANY, "get, metrics on")}
        sides["off"] = post(bench, off, GET_BODY, MANY, "get, --no-metrics")
        runs = alternate(sides, ROUNDS)
        on.stop()
        off.stop()
    except FAILURES as exc:
        return failed("metrics", exc)
    return rate_row("metrics", runs, ("on", "on: "), ("off", "off: "))


def members(n: int) -> str:
    return f"a group of {n:,} customers"


def figure_add(bench: Bench, big: Server, empty: Server) -> Row:
    """Figure 2: timed adds to the big group against adds to an empty database's group."""
    figure, target = FIGURES["add"]
    sides = [embedded_data.Adds(empty, 1, bench.token), embedded_data.Adds(big, 1, bench.token)]
    try:
        few, many = embedded_data.alternate_adds(sides, ADDS)
    except FAILURES as exc:
        return failed("add", exc)
    finally:
        for side in sides:
            side.close()
    return Row(
        f"{figure} of {ADDS} calls each, alternating",
        f"{members(MEMBERS)}: {ms(many)}",
        f"an empty database: {ms(few)}",
        times(many / few),
        target,
        verdict(many / few <= 1.5),
    )


def figure_get_during_adds(bench: Bench, big: Server) -> Row:
    """Figure 3: get p99 with adds every 0.5 s against none, ADD_ROUNDS rounds."""
    figure, target = FIGURES["get-adds"]
    quiet = post(bench, big, GET_BODY, 1, "get, 1,000,000 memberships, no writes")
    loud = post(bench, big, GET_BODY, 1, "get, while adds run")

    def with_adds(i: int) -> Run:
        adder = embedded_data.Adder(embedded_data.Adds(big, 1, bench.token))
        adder.start()
        try:
            return loud(i)
        finally:
            adder.stop()

    try:
        runs = alternate({"adds": with_adds, "quiet": quiet}, ADD_ROUNDS)
    except FAILURES as exc:
        return failed("get-adds", exc)
    found = ratios(runs["adds"], runs["quiet"], lambda run: run.p99)
    return Row(
        f"{figure}, {members(MEMBERS)}, 1 connection",
        f"with adds: {latency(middle(runs['adds'], lambda run: run.p99))}",
        f"no writes: {latency(middle(runs['quiet'], lambda run: run.p99))}",
        told(found).replace(" (rounds", " of p99 (rounds"),
        target,
        verdict(statistics.median(found) <= 3),
    )


def figure_rss(key: str, server: Server, what: str) -> Row:
    figure, target = FIGURES[key]
    now, before = embedded_data.rss_mb(server), RSS_BEFORE[key.split("-")[1]]
    return Row(
        figure,
        f"{now:,.0f} MB ({what})",
        f"{before:,.0f} MB (before the journal)",
        times(now / before),
        target,
        verdict(now <= 1.5 * before),
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
    return Row(figure, took, target=target, met=verdict(seeding.seconds < IMPORT_TARGET))


def figure_throughput(bench: Bench, seeded: Path, limit: int) -> Row:
    """Figure 4: creates/s with MANY clients against one, each on a fresh copy of ``seeded``."""
    figure, target = FIGURES["throughput"]
    found: dict[int, tuple[Run, int]] = {}
    try:
        for connections in (1, MANY):
            name = f"throughput-{connections}"
            (bench.folder / name).mkdir()
            shutil.copyfile(seeded, bench.folder / name / "db.json")
            server = bench.start(name)
            label = f"create throughput, {connections} client(s), {MEDIUM:,} groups"
            args = [f"Bench C{connections}", str(limit)]
            run = bench.measure(label, bench.url(server), CREATE_LUA, args, connections)
            found[connections] = (run, call(server, "count", [{}]))
            server.stop()
            if run.span <= 0:
                raise BenchError(f"bench/create.lua did not time the creates ({label})")
    except FAILURES as exc:
        return failed("throughput", exc)
    ratio = found[MANY][0].creates_per_second / found[1][0].creates_per_second

    def text(clients: int) -> str:
        run, after = found[clients]
        return (
            f"{clients} client(s): {run.creates_per_second:,.0f}/s (p50 {ms(run.p50)}; "
            f"{run.answers:,} creates in {run.span:.2f} s; {MEDIUM:,} → {after:,} groups)"
        )

    return Row(
        f"{figure}, {groups(MEDIUM)}: {MANY} clients / 1 client",
        text(MANY),
        text(1),
        times(ratio),
        target,
    )


def figure_workers(bench: Bench, one: Server, two: Server) -> Row:
    """Figure 7: 2 workers against 1; beside it, in the same rounds, bench/baseline.py's 2
    processes against 1, bare and reading the name from the same database (``--db``)."""
    try:
        if call(two, "get", [1, "name"]) != {"name": "Group 000001"}:
            raise BenchError("get(1) did not answer group 1's name")
        sides = {"1": post(bench, one, GET_BODY, MANY, "get, PostgreSQL, 1 worker")}
        sides["2"] = post(bench, two, GET_BODY, MANY, "get, PostgreSQL, 2 workers")
        bare: list[Server] = []
        for kind, db in (("bare", []), ("bare+pg", ["--db", one.db])):
            for n in (1, 2):
                args = ["--workers", str(n), *db]
                bare.append(bench.start(f"{kind}-{n}", baseline=True, core=None, args=args))
                sides[f"{kind} {n}"] = post(bench, bare[-1], GET_BODY, MANY, "")
            bench.shown.append((f"baseline ({kind}), 2 processes", bench.show(bare[-1].argv())))
        runs = alternate(sides, ROUNDS)
        for server in bare:
            server.stop()
    except FAILURES as exc:
        return failed("workers", exc)
    row = rate_row("workers", runs, ("2", "2 workers: "), ("1", "1 worker: "))
    for kind, what in (("bare", "bare aiohttp handler"), ("bare+pg", READING)):
        found = told(ratios(runs[f"{kind} 2"], runs[f"{kind} 1"], lambda run: run.rate))
        row.ratio += f"; {what}, 2 processes / 1, same rounds: {found}"
    return row


def pg_settings(cluster: Cluster) -> str:
    found = {name: cluster.setting(name) for name in SETTINGS}
    version = found.pop("server_version")
    said = ", ".join(f"{name} {value}" for name, value in found.items())
    return (
        f"PostgreSQL {version}, a throwaway cluster (harness/postgres.py: initdb's defaults, "
        f"fsync and synchronous_commit on); {said}; {POOL} pooled connections per worker, "
        "over PostgreSQL's Unix socket."
    )


def embedded(args: argparse.Namespace, bench: Bench, rows: dict[str, Row]) -> None:
    """The embedded figures, on TinyDB files and their journals."""
    small = bench.start("small")
    shown = f"{bench.show(small.argv())} 2>{bench.show([str(small.stderr_path)])}"
    bench.shown.append(
        (
            "service, one per database (its access log on, to a file)",
            f'CUSTOMERGROUP_RPC_ADMIN_TOKEN="$TOKEN" {shown}',
        )
    )
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

    made = [(SMALL, creates(bench, small, args.creates, f"create, {groups(SMALL)}", []))]
    label = f"create, {groups(imported.made)}"
    made.append((imported.made, creates(bench, large, args.creates, label, [])))
    rows["create"] = figure_p50("create", made, P50_ROUNDS)
    rows["add"] = figure_add(bench, big, empty)
    rows["get-adds"] = figure_get_during_adds(bench, big)
    for key, text in (("list", LIST_BODY), ("count", COUNT_BODY)):
        few = post(bench, small, text, 1, f"{key}, {groups(SMALL)}")
        many = post(bench, large, text, 1, f"{key}, {groups(imported.made)}")
        rows[key] = figure_p50(key, [(SMALL, few), (imported.made, many)], P50_ROUNDS)
    rows["count"].figure += f" {NEEDLE!r} ({NEEDLES} matches)"
    last = [
        (n, body("listCustomers", [uid, {"offset": n - PAGE, "limit": PAGE}]))
        for uid, n in ((2, FEW_MEMBERS), (1, args.members))
    ]
    pages = [
        (n, post(bench, server, text, 1, f"listCustomers, {members(n)}"))
        for server, (n, text) in zip((small, big), last, strict=True)
    ]
    rows["members"] = figure_p50("members", pages, P50_ROUNDS, members)
    rows["members"].figure += ", the last page"
    rows["get"] = figure_get(bench, small)
    rows["metrics"] = figure_metrics(bench, args.import_timeout)
    for server in (small, large, big, empty):
        server.stop()
    medium = bench.start("medium")
    seeded = embedded_data.seed(medium, MEDIUM, args.import_timeout)
    medium.stop()
    if seeded.made != MEDIUM:
        problem = BenchError(f"seeding {MEDIUM} groups gave up after {seeded.seconds:.0f} s")
        rows["throughput"] = failed("throughput", problem)
    else:
        rows["throughput"] = figure_throughput(bench, Path(medium.db), args.throughput_creates)


def postgresql(args: argparse.Namespace, bench: Bench, rows: dict[str, Row]) -> str:
    """Figures 7-9, on a throwaway PostgreSQL cluster; its settings, said."""
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
            page = call(on[name], "list", json.loads(CONTAINS_BODY)["params"])
            every = count // NEEDLES
            if [group["uid"] for group in page] != [
                every // 3 + 1 + every * i for i in range(PG_PAGE)
            ]:
                raise BenchError(f"list with contains did not answer the page expected: {page}")
        command = bench.show(on["small"].argv())
        bench.shown.append(("service on PostgreSQL (1 worker; --workers 2 for 2)", command))
        filled = FILL.format(count=count, every=count // NEEDLES, needle=NEEDLE).strip()
        bench.shown.append(("filling the big database (psql -c; VACUUM ANALYZE after)", filled))
        settings = pg_settings(cluster)
        two = bench.start("pg-two", db=on["small"].db, args=["--workers", "2"], core=None)
        rows["workers"] = figure_workers(bench, on["small"], two)
        two.stop()
        lists = [
            (c, post(bench, on[n], CONTAINS_BODY, 1, f"contains, {groups(c)}"))
            for n, c in sizes.items()
        ]
        rows["pg-list"] = figure_p50("pg-list", lists, ROUNDS)
        rows["pg-list"].figure += f", page of {PG_PAGE} of {NEEDLES} matches"
        label = "create, PostgreSQL, "
        made = [
            (c, creates(bench, on[n], args.creates, label + groups(c), []))
            for n, c in sizes.items()
        ]
        rows["pg-create"] = figure_p50("pg-create", made, ROUNDS)
        return settings
    except (Unavailable, RuntimeError, *FAILURES) as exc:
        for key in PARTS["postgresql"]:
            rows.setdefault(key, failed(key, exc))
        return f"PostgreSQL: {exc}"
    finally:
        for server in bench.servers:
            server.stop()
        cluster.close()


# -- output and main ------------------------------------------------------------------------------


def table(found: dict[str, Row], keys: list[str]) -> str:
    rows = [found.get(key, Row(f"{FIGURES[key][0]}: not measured", met="**no**")) for key in keys]
    lines = ["| figure | service | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r.figure} | {r.service} | {r.baseline} | {r.ratio} | {r.target} | {r.met} |"
        for r in rows
    ]
    return "\n".join(lines)


def machine(folder: Path, load: tuple[float, float, float]) -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk = (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()
    pinning = "wrk on core 1" if PIN else "no pinning (fewer than 2 cores)"
    return (
        f"Machine: {cpu_model()}, nproc {usable_cores()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, temporary folder on {file_system(folder)}; "
        f"{wrk}; {pinning}; load average at start {load[0]:.2f}."
    )


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    options: list[tuple[str, Any, Any, str]] = [
        ("--only", str, None, "embedded or postgresql: one half of the figures"),
        ("--duration", int, 5, "seconds per measured run (5)"),
        ("--warmup", int, 1, "seconds of warm-up per run (1)"),
        ("--creates", int, 100, "creates per latency run of figures 3 and 8 (100)"),
        ("--throughput-creates", int, 1_000, "creates per throughput run of figure 4 (1000)"),
        ("--groups", int, IMPORT_GROUPS, "groups in the big database (100000)"),
        ("--members", int, MEMBERS, "customers of the big group (1000000)"),
        ("--pg-groups", int, PG_GROUPS, "groups in the big PostgreSQL database (100000)"),
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
        print(table(rows, keys), "", machine(bench.folder, load), sep="\n")
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
    return 1 if any(rows.get(key, Row("", met="**no")).missed for key in keys) else 0


if __name__ == "__main__":
    sys.exit(main())
