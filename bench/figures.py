"""Benchmark the service over HTTP on loopback with wrk, against baselines from the same run.

Usage: make bench [ARGS="..."], or
       .venv/bin/python bench/figures.py [--duration 5] [--warmup 1] [--creates 100]
           [--throughput-creates 1000] [--groups 10000] [--import-timeout 120] [--quick]
           [--dir DIR]

Needs wrk (``make bench`` installs Debian's when missing) and ``taskset``. Every server is a
process of its own pinned to core 0, wrk runs pinned to core 1 (``-t1 --latency``). The service
is ``.venv/bin/customergroup-rpc serve`` started by harness.Server on ``DIR/<name>/db.json``,
its access log on, as in production (to a file). Databases are seeded through the API, creates
in batches of 100 named ``Group 00001``, ... Each measured wrk run follows a warm-up run of
``--warmup`` seconds. Every figure is a ratio of two measurements of this one run:

1. ``get(1, "name")`` requests/s at 32 connections on 100 groups, against bench/baseline.py (a
   bare aiohttp handler that parses a small JSON body and answers a small JSON object), in
   ``GET_ROUNDS`` rounds of the two back to back, alternating which goes first; the ratio is
   the median of the rounds' ratios, the rates shown the median rounds. Target: >= 0.75x.
2. ``list(["uid", "name"], {"filters": {"/name": {"startsWith": "Group 0"}}, "limit": 50})``,
   a full page, p50 at one connection: ``--groups`` (10,000) groups against 100. Target: <= 3x.
3. Durable ``create`` p50, one client, 10,000 groups against 100; each run stops after
   ``--creates`` answers (or ``--duration``). Target: <= 3x.
4. Durable ``create`` requests/s, 32 clients against one, each on a fresh copy of a 1,000-group
   database, each stopping after ``--throughput-creates`` answers; the rate is answers over the
   time from the first request to the last answer (bench/create.lua). Target: >= 5x.
5. Importing 10,000 groups (the seeding of figure 2's database), absolute. Target: < 10 s.
   Seeding gives up after ``--import-timeout`` seconds; the other figures use what was made.
6. A durable write, bare: the big database's bytes written to a temporary file, fsynced, renamed
   over a file and the folder fsynced, in a loop on core 0; figure 3's p50 against its median.

Prints a Markdown table, the machine, and the wrk command lines (the token as ``$TOKEN``, the
temporary folder as ``$DIR``). Exits 1 when a target is missed, after the whole table.
``--quick`` is a smoke test (2 s runs, 1,000 groups, no import target). Every process started
is stopped by its PID at the end, also on Ctrl-C or an error.
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
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from machine import cpu_model, file_system  # bench/machine.py, beside this script
from wrk import (
    CREATE_LUA,
    FAILURES,
    PIN,
    POST_LUA,
    Baseline,
    Bench,
    BenchError,
    Run,
    on_core,
    usable_cores,
)

from harness.client import result
from harness.server import Server

BATCH = 100  # creates per JSON-RPC batch when seeding (the service's default --max-batch)
SMALL, MEDIUM, IMPORT_GROUPS = 100, 1_000, 10_000  # groups: figures 1-3, figure 4, figure 5
IMPORT_TARGET = 10.0  # seconds for IMPORT_GROUPS
PAGE, LIST_PREFIX = 50, "Group 0"
MANY = 32  # connections for the throughput figures
GET_ROUNDS = 5  # rounds of figure 1, each the service and the baseline (odd: a median round)
FIGURES = {  # the table's order; a figure not reached (the bench stopped early) says so
    "get": "`Customergroup.get` requests/s",
    "list": "`Customergroup.list` p50",
    "create": "durable `create` p50 latency",
    "throughput": "durable `create` throughput",
    "import": "importing groups",
    "bare": "a durable write, bare",
}
GET_BODY = '{"jsonrpc":"2.0","method":"Customergroup.get","params":[1,"name"],"id":1}'
LIST_BODY = json.dumps(
    {
        "jsonrpc": "2.0",
        "method": "Customergroup.list",
        "params": [
            ["uid", "name"],
            {"filters": {"/name": {"startsWith": LIST_PREFIX}}, "limit": PAGE},
        ],
        "id": 1,
    },
    separators=(",", ":"),
)


@dataclass
class Seeding:
    made: int
    seconds: float
    gave_up: bool


def seed(server: Server, count: int, give_up_after: float) -> Seeding:
    """Create groups ``Group 00001``... through the API, in batches of BATCH creates."""
    with server.client(timeout=300.0) as client:
        start, made, began = client.call("count", [{}]), 0, time.perf_counter()
        while made < count:
            if time.perf_counter() - began > give_up_after:
                return Seeding(made, time.perf_counter() - began, gave_up=True)
            names = [f"Group {start + made + i + 1:05d}" for i in range(min(BATCH, count - made))]
            for answer in client.batch([("create", [{"name": name}, ["uid"]]) for name in names]):
                result(answer)
            made += len(names)
        return Seeding(made, time.perf_counter() - began, gave_up=False)


def count(server: Server) -> int:
    with server.client() as client:
        found: int = client.call("count", [{}])
        return found


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


def failed(figure: str, target: str, exc: Exception) -> Row:
    message = " ".join(str(exc).split())[:300].replace("|", "/")
    return Row(figure, f"failed: {message}", target=target, met="**no** (not measured)")


def groups(n: int) -> str:
    return f"{n:,} groups"


def figure_get(bench: Bench, small: Server) -> Row:
    figure = f"`Customergroup.get` requests/s, {MANY} connections, {groups(SMALL)}"
    target = "≥ 0.75x"
    runs: dict[str, list[Run]] = {"service": [], "baseline": []}
    try:
        with small.client() as client:
            if result(client.post(json.loads(GET_BODY))) != {"name": "Group 00001"}:
                raise BenchError("get(1) did not answer group 1's name")
        baseline = bench.start("baseline", Baseline)
        bench.shown.append(("baseline server", bench.show(baseline.argv())))
        urls = {"service": bench.url(small), "baseline": f"http://127.0.0.1:{baseline.port}/"}
        for round_ in range(GET_ROUNDS):  # alternate, so neither side always goes first
            for side in ("service", "baseline") if round_ % 2 == 0 else ("baseline", "service"):
                label = f"get, {side}" if round_ == 0 else ""  # the command lines once
                runs[side].append(bench.measure(label, urls[side], POST_LUA, [GET_BODY], MANY))
        baseline.stop()
    except FAILURES as exc:
        return failed(figure, target, exc)
    ratios = [s.rate / b.rate for s, b in zip(runs["service"], runs["baseline"], strict=True)]
    ratio = statistics.median(ratios)
    service, bare = (sorted(r, key=lambda run: run.rate)[len(r) // 2] for r in runs.values())
    return Row(
        figure,
        f"{service.rate:,.0f}/s (p50 {ms(service.p50)}, p99 {ms(service.p99)})",
        f"bare aiohttp JSON handler: {bare.rate:,.0f}/s (p50 {ms(bare.p50)}, p99 {ms(bare.p99)})",
        f"{times(ratio)} (rounds: {', '.join(f'{r:.2f}' for r in ratios)})",
        target,
        verdict(ratio >= 0.75),
    )


def figure_list(bench: Bench, small: Server, large: Server, large_groups: int) -> Row:
    figure = (
        f'`Customergroup.list` page of {PAGE}, `startsWith` "{LIST_PREFIX}", p50 at 1 connection'
    )
    target = "≤ 3x"
    try:
        for server in (small, large):
            with server.client() as client:
                page = result(client.post(json.loads(LIST_BODY)))
            if not isinstance(page, list) or len(page) != PAGE:
                raise BenchError(f"list did not answer a page of {PAGE}: {str(page)[:200]}")
        few = bench.measure("list, 100 groups", bench.url(small), POST_LUA, [LIST_BODY], 1)
        label = f"list, {large_groups:,} groups"
        many = bench.measure(label, bench.url(large), POST_LUA, [LIST_BODY], 1)
    except FAILURES as exc:
        return failed(figure, target, exc)
    return Row(
        figure,
        f"{groups(large_groups)}: {ms(many.p50)} (p99 {ms(many.p99)})",
        f"{groups(SMALL)}: {ms(few.p50)} (p99 {ms(few.p99)})",
        times(many.p50 / few.p50),
        target,
        verdict(many.p50 / few.p50 <= 3),
    )


@dataclass
class Creates:
    run: Run
    before: int
    after: int

    def text(self) -> str:
        run = self.run
        return (
            f"{self.before:,} → {self.after:,} groups: {ms(run.p50)} "
            f"(p99 {ms(run.p99)}, {run.requests:,} creates)"
        )


def creates(bench: Bench, server: Server, label: str, args: list[str], connections: int) -> Creates:
    """A run of bench/create.lua, and the groups there were before and after."""
    before = count(server)
    run = bench.measure(label, bench.url(server), CREATE_LUA, args, connections)
    return Creates(run, before, count(server))


def latency(bench: Bench, server: Server, label: str, prefix: str, limit: int) -> Creates:
    made = creates(bench, server, label, [prefix, str(limit)], 1)
    if made.after - made.before < made.run.requests:
        raise BenchError(
            f"{made.run.requests} creates answered but {made.after - made.before} made"
        )
    return made


def figure_creates(
    bench: Bench, small: Server, large: Server, large_groups: int, limit: int
) -> tuple[Row, Creates | None]:
    figure, target = "durable `create` p50 latency, one client", "≤ 3x"
    try:
        few = latency(bench, small, "create, 1 client, 100 groups", "Bench A", limit)
        label = f"create, 1 client, {large_groups:,} groups"
        many = latency(bench, large, label, "Bench B", limit)
    except FAILURES as exc:
        return failed(figure, target, exc), None
    ratio = many.run.p50 / few.run.p50
    return Row(figure, many.text(), few.text(), times(ratio), target, verdict(ratio <= 3)), many


def figure_bare_write(bench: Bench, large: Server, made: Creates | None, seconds: float) -> Row:
    """Figure 6: the disk's floor for one commit of the big database's bytes."""
    figure = "a durable write, bare (commit / bare write)"
    if made is None:
        return Row(figure, "not measured: figure 3 failed", target="reported")
    data = Path(large.db).read_bytes()
    folder = bench.folder / "bare"
    folder.mkdir(exist_ok=True)
    target_file, temporary = folder / "bare.json", folder / "bare.json.tmp"
    took: list[float] = []
    with on_core(0):
        began = time.perf_counter()
        while len(took) < 10 or (time.perf_counter() - began < seconds and len(took) < 2000):
            start = time.perf_counter()
            with open(temporary, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, target_file)
            directory = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)
            took.append((time.perf_counter() - start) * 1000)
    floor = statistics.median(took)
    return Row(
        figure,
        f"create p50 at {groups(made.after)}: {ms(made.run.p50)}",
        f"write + fsync + rename + folder fsync of {len(data):,} bytes: {ms(floor)} "
        f"(median of {len(took):,})",
        times(made.run.p50 / floor),
        "reported",
    )


def figure_import(seeding: Seeding, wanted: int) -> Row:
    figure = f"importing {wanted:,} groups with batches of {BATCH} creates"
    rate = f"{seeding.made / seeding.seconds if seeding.seconds else 0.0:,.0f} groups/s"
    if seeding.gave_up:
        took = f"gave up after {seeding.seconds:,.1f} s at {seeding.made:,} groups ({rate})"
        return Row(figure, took, target=f"< {IMPORT_TARGET:g} s", met="**no**")
    took = f"{seeding.seconds:,.2f} s ({rate})"
    if wanted != IMPORT_GROUPS:
        return Row(figure, took, target=f"< {IMPORT_TARGET:g} s for {IMPORT_GROUPS:,}")
    met = verdict(seeding.seconds < IMPORT_TARGET)
    return Row(figure, took, target=f"< {IMPORT_TARGET:g} s", met=met)


def figure_throughput(bench: Bench, seeded: Path, limit: int) -> Row:
    """Figure 4: creates/s with MANY clients against one, each on a fresh copy of ``seeded``."""
    figure = f"durable `create` requests/s, {MEDIUM:,} groups: {MANY} clients / 1 client"
    target = "≥ 5x"
    found: dict[int, Creates] = {}
    try:
        for connections in (1, MANY):
            name = f"throughput-{connections}"
            (bench.folder / name).mkdir()
            shutil.copyfile(seeded, bench.folder / name / "db.json")
            server = bench.start(name)
            clients = f"{connections} client{'s' if connections > 1 else ''}"
            label = f"create throughput, {clients}, {MEDIUM:,} groups"
            args = [f"Bench C{connections}", str(limit)]
            found[connections] = creates(bench, server, label, args, connections)
            server.stop()
            if found[connections].run.span <= 0:
                raise BenchError(f"bench/create.lua did not time the creates ({label})")
    except FAILURES as exc:
        return failed(figure, target, exc)
    many, one = found[MANY], found[1]
    ratio = many.run.creates_per_second / one.run.creates_per_second

    def text(c: Creates) -> str:
        return (
            f"{c.run.creates_per_second:,.0f}/s (p50 {ms(c.run.p50)}; {c.run.answers:,} creates "
            f"in {c.run.span:.2f} s; {c.before:,} → {c.after:,} groups)"
        )

    many_text, one_text = f"{MANY} clients: {text(many)}", f"1 client: {text(one)}"
    return Row(figure, many_text, one_text, times(ratio), target, verdict(ratio >= 5))


# -- output and main ------------------------------------------------------------------------------


def table(found: dict[str, Row]) -> str:
    rows = [
        found.get(key, Row(f"{title}: not measured", met="**no**"))
        for key, title in FIGURES.items()
    ]
    lines = ["| figure | service | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r.figure} | {r.service} | {r.baseline} | {r.ratio} | {r.target} | {r.met} |"
        for r in rows
    ]
    return "\n".join(lines)


def machine(folder: Path, load: tuple[float, float, float]) -> str:
    done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    wrk = (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()
    pinning = "servers on core 0, wrk on core 1" if PIN else "no pinning (fewer than 2 cores)"
    return (
        f"Machine: {cpu_model()}, nproc {usable_cores()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, temporary folder on {file_system(folder)}; "
        f"{wrk}; {pinning}; load average at start {load[0]:.2f}."
    )


def run(args: argparse.Namespace, bench: Bench, rows: dict[str, Row]) -> None:
    """Start the servers and measure every figure into ``rows``."""
    small = bench.start("small")
    shown = f"{bench.show(small.argv())} 2>{bench.show([str(small.stderr_path)])}"
    bench.shown.append(
        (
            "service, one per database (its access log on, to a file)",
            f'CUSTOMERGROUP_RPC_ADMIN_TOKEN="$TOKEN" {shown}',
        )
    )
    seeded = seed(small, SMALL, args.import_timeout)
    if seeded.made != SMALL:
        raise BenchError(f"seeding {SMALL} groups gave up after {seeded.seconds:.0f} s")
    large = bench.start("large")
    imported = seed(large, args.groups, args.import_timeout)
    rows["import"] = figure_import(imported, args.groups)
    rows["get"] = figure_get(bench, small)
    rows["list"] = figure_list(bench, small, large, imported.made)
    rows["create"], made = figure_creates(bench, small, large, imported.made, args.creates)
    rows["bare"] = figure_bare_write(bench, large, made, max(1.0, args.duration / 2))
    small.stop()
    large.stop()
    medium = bench.start("medium")
    seeded = seed(medium, MEDIUM, args.import_timeout)
    medium.stop()
    if seeded.made != MEDIUM:
        problem = BenchError(f"seeding {MEDIUM} groups gave up after {seeded.seconds:.0f} s")
        rows["throughput"] = failed("durable `create` throughput", "≥ 5x", problem)
    else:
        rows["throughput"] = figure_throughput(bench, Path(medium.db), args.throughput_creates)


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    options: list[tuple[str, Any, Any, str]] = [
        ("--duration", int, 5, "seconds per measured run (5)"),
        ("--warmup", int, 1, "seconds of warm-up per run (1)"),
        ("--creates", int, 100, "creates per latency run of figure 3 (100)"),
        ("--throughput-creates", int, 1_000, "creates per throughput run of figure 4 (1000)"),
        ("--groups", int, IMPORT_GROUPS, "groups in the big database (10000)"),
        ("--import-timeout", float, 120.0, "seconds before seeding gives up"),
        ("--dir", Path, None, "where to make the temp folder"),
    ]
    for name, kind, default, text in options:
        parser.add_argument(name, type=kind, default=default, help=text)
    parser.add_argument("--quick", action="store_true", help="smoke test: 2 s runs, 1,000 groups")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.creates, args.throughput_creates = 2, 1, 30, 300
        args.groups, args.import_timeout = MEDIUM, min(args.import_timeout, 30.0)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("wrk") is None:
        print("bench/figures.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2
    signal.signal(signal.SIGTERM, interrupted)
    began, load = time.perf_counter(), os.getloadavg()
    rows: dict[str, Row] = {}
    with tempfile.TemporaryDirectory(prefix="bench-http-", dir=args.dir) as tmp:
        bench = Bench(
            Path(tmp), "cgr_bench_" + secrets.token_urlsafe(24), args.duration, args.warmup
        )
        problem = ""
        try:
            run(args, bench, rows)
        except FAILURES as exc:
            problem = f"The bench stopped early: {exc}"
        except KeyboardInterrupt:
            problem = "Interrupted."
        finally:
            for server in reversed(bench.servers):
                server.stop()
        print(table(rows), "", machine(bench.folder, load), sep="\n")
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
    return 1 if any(r.missed for r in rows.values()) or len(rows) < len(FIGURES) else 0


if __name__ == "__main__":
    sys.exit(main())
