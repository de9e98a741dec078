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
rounds' ratios (each round's shown), each side by its median run (bench/rounds.py): latencies
at one connection in ``P50_ROUNDS`` (3) rounds, requests/s at 32 connections on 100 groups in
``ROUNDS`` (5), and every PostgreSQL figure in ``ROUNDS``. Each figure's key (``FIGURES`` of
bench/figures_embedded.py and bench/figures_postgresql.py, which measure the two halves) comes
first below.

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
and ``--pg-groups`` (100,000) groups filled by SQL, see bench/figures_postgresql.py's ``FILL``):

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
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import astuple, fields
from pathlib import Path
from types import FrameType
from typing import Any

import figures_embedded  # bench/figures_embedded.py, beside this script
import figures_postgresql
from figures_embedded import IMPORT_GROUPS, MEMBERS
from report import machine, table  # bench/report.py, beside this script
from rounds import Row
from wrk import FAILURES, PIN, Bench

FIGURES = figures_embedded.FIGURES | figures_postgresql.FIGURES  # the table's order
PARTS = {
    "embedded": list(figures_embedded.FIGURES),
    "postgresql": list(figures_postgresql.FIGURES),
}


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
                figures_embedded.measure(args, bench, rows)
            if "postgresql" in parts:
                settings = figures_postgresql.measure(args, bench, rows)
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
