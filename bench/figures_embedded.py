"""The embedded half of bench/figures.py: figures 1 to 10 on TinyDB files and their journals.

What each figure measures, against what, and its target: bench/figures.py's docstring. The
data and the load they run on are made by bench/embedded.py; how a figure is measured and
judged is bench/rounds.py.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
from collections.abc import Callable

import embedded as embedded_data  # bench/embedded.py, beside this script
from embedded import BATCH, NEEDLE
from report import ms, times  # bench/report.py, beside this script
from rounds import (
    GET_BODY,
    MANY,
    PAGE,
    SMALL,
    Row,
    Title,
    alternate,
    call,
    compare,
    creates,
    gets,
    groups,
    judged,
    measured,
    members,
    p50,
    post,
)
from wrk import CREATE_LUA, Bench, BenchError, Run, body

from harness.server import Server

MEDIUM, IMPORT_GROUPS = 1_000, 100_000  # groups: throughput's, the many
IMPORT_TARGET = 15.0  # seconds for IMPORT_GROUPS
MEMBERS, FEW_MEMBERS = 1_000_000, 10_000  # the big group, and figure 6's baseline group
ADDS, ADD_ROUNDS = 20, 3  # timed adds per side (figure 2), rounds of figure 3
P50_ROUNDS = 3  # rounds of figures 1, 4, 5 and 6
RSS_BEFORE = {"rss-groups": 218.0, "rss-members": 141.0}  # MB, before the journal (the issue)
FIGURES = {  # each figure's title and target, in the table's order; a figure not met says so
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
LIST_BODY = body("list", [["uid", "name"], {"sort": "name", "limit": PAGE}])
COUNT_BODY = body("count", [{"/name": {"contains": NEEDLE}}])


def figure_add(title: Title, bench: Bench, big: Server, empty: Server) -> Row:
    few = embedded_data.Adds(empty, 1, bench.token)
    many = embedded_data.Adds(big, 1, bench.token)
    try:
        took = alternate({"few": lambda i: few.once(), "many": lambda i: many.once()}, ADDS)
    finally:
        few.close()
        many.close()
    many_ms, few_ms = (statistics.median(took[side]) for side in ("many", "few"))
    said = f"{members(MEMBERS)}: {ms(many_ms)}", f"an empty database: {ms(few_ms)}"
    return judged(title, *said, many_ms / few_ms)


def figure_get_during_adds(title: Title, bench: Bench, big: Server) -> Row:
    quiet = post(bench, big, GET_BODY, 1, "get, 1,000,000 memberships, no writes")
    loud = post(bench, big, GET_BODY, 1, "get, while adds run")

    def with_adds(i: int) -> Run:
        seconds = bench.warmup + bench.duration
        adder = embedded_data.Adder(embedded_data.Adds(big, 1, bench.token), seconds)
        adder.start()
        try:
            return loud(i)
        finally:
            adder.stop()

    runs = alternate({"adds": with_adds, "quiet": quiet}, ADD_ROUNDS)
    return compare(title, runs, ("adds", "with adds: "), ("quiet", "no writes: "), "p99")


def figure_get(title: Title, bench: Bench, small: Server) -> Row:
    if call(small, "get", [1, "name"]) != {"name": embedded_data.name(1, SMALL)}:
        raise BenchError("get(1) did not answer group 1's name")
    baseline = bench.start("baseline", baseline=True)
    bench.shown.append(("baseline server", bench.show(baseline.argv())))
    runs = gets(
        bench, {"service": (small, "get, service"), "baseline": (baseline, "get, baseline")}
    )
    baseline.stop()
    return compare(
        title, runs, ("service", ""), ("baseline", "bare aiohttp JSON handler: "), "rate"
    )


def figure_metrics(title: Title, bench: Bench, timeout: float) -> Row:
    on = bench.start("metrics")
    off = bench.start("no-metrics", args=["--no-metrics"])
    for server in (on, off):
        embedded_data.seed(server, SMALL, timeout)
    runs = gets(bench, {"on": (on, "get, metrics on"), "off": (off, "get, --no-metrics")})
    on.stop()
    off.stop()
    return compare(title, runs, ("on", "on: "), ("off", "off: "), "rate")


def figure_rss(key: str, server: Server, what: str) -> Row:
    now, before = embedded_data.rss_mb(server), RSS_BEFORE[key]
    return judged(
        FIGURES[key],
        f"{now:,.0f} MB ({what})",
        f"{before:,.0f} MB (before the journal)",
        now / before,
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


def figure_throughput(title: Title, bench: Bench, args: argparse.Namespace) -> Row:
    figure, target = title
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


def measure(args: argparse.Namespace, bench: Bench, rows: dict[str, Row]) -> None:
    """The embedded figures, on TinyDB files and their journals, into ``rows``."""
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

    def take(key: str, figure: Callable[[Title], Row]) -> None:
        rows[key] = measured(FIGURES[key], lambda: figure(FIGURES[key]))

    sizes = [(groups(SMALL), small), (groups(imported.made), large)]
    made = [(n, creates(bench, server, args.creates, f"create, {n}")) for n, server in sizes]
    take("create", lambda title: p50(title, made, P50_ROUNDS))
    take("add", lambda title: figure_add(title, bench, big, empty))
    take("get-adds", lambda title: figure_get_during_adds(title, bench, big))
    for key, text in (("list", LIST_BODY), ("count", COUNT_BODY)):
        sides = [(n, post(bench, server, text, 1, f"{key}, {n}")) for n, server in sizes]
        take(key, lambda title: p50(title, sides, P50_ROUNDS))  # noqa: B023 (called at once)
    pages = []
    for server, uid, n in ((small, 2, FEW_MEMBERS), (big, 1, args.members)):
        text = body("listCustomers", [uid, {"offset": n - PAGE, "limit": PAGE}])
        pages.append((members(n), post(bench, server, text, 1, f"listCustomers, {members(n)}")))
    take("members", lambda title: p50(title, pages, P50_ROUNDS))
    take("get", lambda title: figure_get(title, bench, small))
    take("metrics", lambda title: figure_metrics(title, bench, args.import_timeout))
    for server in (small, large, big, empty):
        server.stop()
    take("throughput", lambda title: figure_throughput(title, bench, args))
