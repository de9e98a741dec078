"""Benchmark the service over HTTP on loopback with wrk, against baselines from the same run.

Usage: make bench [ARGS="..."], or
       .venv/bin/python bench/figures.py [--duration 5] [--warmup 1] [--creates 100]
           [--throughput-creates 1000] [--groups 10000] [--import-timeout 120] [--quick]
           [--dir DIR]

Needs wrk (Debian's ``apt-get install -y wrk``; ``make bench`` installs it when missing) and
``taskset``. Every server runs as its own process pinned to core 0 (``taskset -c 0``), wrk runs
pinned to core 1 (``-t1``, ``--latency``), so client and server do not share a core. The
service is started as ``.venv/bin/customergroup-rpc serve --host 127.0.0.1 --port P --db
DIR/<name>/db.json`` with ``CUSTOMERGROUP_RPC_ADMIN_TOKEN`` set (calls use ``?auth=TOKEN``) and
its access log on, as in production (standard error, to a file in the temporary folder).
Databases are seeded through the API: ``Customergroup.create`` in JSON-RPC batches of 100,
names ``Group 00001``, ``Group 00002``, ... Each measured wrk run is preceded by a warm-up run
of ``--warmup`` seconds. The machines are noisy, so every figure is a ratio of two
measurements taken in this one run; absolute numbers are shown only beside them.

Figures (each row of the printed table):

1. ``Customergroup.get`` requests/s at 32 connections (``get(1, "name")``, a 100-group
   database) against ``bench/baseline.py``, a bare aiohttp handler that parses a small JSON
   body and answers a small JSON object, also at 32 connections. Measured in ``GET_ROUNDS``
   (5) rounds of the two back to back, the service first in odd rounds and the baseline first
   in even ones; the ratio is the median of the rounds' ratios (one round's ratio moves by
   several percent on a shared machine), the rates shown are the medians. Target: at least
   0.75x.
2. ``Customergroup.list(["uid", "name"], {"filters": {"/name": {"startsWith": "Group 0"}},
   "limit": 50})``, a full page of 50, p50 latency at one connection: on the
   ``--groups`` (10,000) database against the same request on a 100-group database, two server
   processes of this run. Target: at most 3x. (``Group 0`` matches every seeded name, so both
   pages are full.)
3. Durable ``create`` p50 latency, one client, on the 10,000-group database against the same
   on the 100-group one. Each run stops after ``--creates`` answers (or ``--duration``), so
   the databases grow by a known, small number of groups; the table shows before and after.
   Target: at most 3x.
4. Durable ``create`` requests/s with 32 concurrent clients against one client, each on a
   fresh copy of a 1,000-group database. Each run stops after ``--throughput-creates``
   answers (or ``--duration``), so both grow the database alike, and the rate is the answers
   over the time from the first request to the last answer (timed in bench/create.lua; wrk's
   own Requests/sec divides by -d). Target: at least 5x (writes that arrive together are
   committed together).
5. Importing 10,000 groups with batches of 100 creates: the time the seeding of the big
   database took, absolute. Target: under 10 s on this machine. Seeding gives up after
   ``--import-timeout`` seconds; the other figures then use the groups made so far.
6. A durable write, bare: this script writes a temporary file of the 10,000-group database's
   current bytes in the same folder, flushes, fsyncs, renames it over a file and fsyncs the
   folder, in a loop (pinned to core 0 like the servers); its median beside the create p50 of
   figure 3 shows how close a commit gets to the disk's floor ("commit / bare write").
   Reported, no target.

Prints a Markdown table (figure | service | baseline | ratio | target | met), the machine, and
the exact wrk command lines (the token shown as ``$TOKEN``, the temporary folder as ``$DIR``).
Exits 1 when a target is missed, always after printing the whole table. ``--quick`` is a smoke
test (shorter runs, 1,000 groups instead of 10,000, no import target), under about 40 s.
Every process started is stopped by its PID at the end, also on Ctrl-C or an error.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import re
import secrets
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

from machine import cpu_model, file_system  # bench/machine.py, beside this script

ROOT = Path(__file__).resolve().parent.parent
ENDPOINT = "/backend/jsonrpc/v1/"
POST_LUA = "bench/post.lua"
CREATE_LUA = "bench/create.lua"
BATCH = 100  # creates per JSON-RPC batch when seeding (the service's default --max-batch)
SMALL = 100  # groups in the small database (figures 1-3)
MEDIUM = 1_000  # groups in the throughput databases (figure 4)
IMPORT_TARGET = 10.0  # seconds for 10,000 groups (figure 5)
IMPORT_GROUPS = 10_000
PAGE = 50
LIST_PREFIX = "Group 0"
MANY = 32  # connections for the throughput figures
GET_ROUNDS = 5  # rounds of figure 1, each the service and the baseline (odd: a median round)
WRK_TIMEOUT = "10s"  # wrk's per-request timeout; a timeout shows as a socket error
START_TIMEOUT = 60.0  # seconds for a server to answer after its start
STOP_TIMEOUT = 10.0

# The figures in the table's order; a figure not reached (the bench stopped early) says so.
FIGURES = {
    "get": "`Customergroup.get` requests/s",
    "list": "`Customergroup.list` p50",
    "create": "durable `create` p50 latency",
    "throughput": "durable `create` throughput",
    "import": "importing groups",
    "bare": "a durable write, bare",
}


GET_BODY = json.dumps(
    {"jsonrpc": "2.0", "method": "Customergroup.get", "params": [1, "name"], "id": 1},
    separators=(",", ":"),
)
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


class BenchError(Exception):
    """Something the bench cannot measure through: shown in the figure's row."""


# -- processes ------------------------------------------------------------------------------------


def pinned(core: int) -> list[str]:
    """``taskset -c CORE`` when this machine has two cores or more and taskset exists."""
    if PIN:
        return ["taskset", "-c", str(core)]
    return []


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


PIN = usable_cores() >= 2 and shutil.which("taskset") is not None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Processes:
    """Every process this bench starts; each is stopped by its PID (TERM, then KILL)."""

    running: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as stderr:  # the child keeps its own copy of the descriptor
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
            )
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes]) -> None:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process in self.running:
            self.running.remove(process)

    def stop_all(self) -> None:
        for process in list(reversed(self.running)):
            self.stop(process)


def get_status(port: int, method: str, path: str, body: bytes | None = None) -> int:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()


def wait_ready(
    process: subprocess.Popen[bytes], port: int, method: str, path: str, log: Path
) -> None:
    """Poll until the server answers 200, or fail with the end of its log."""
    body = b"{}" if method == "POST" else None
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:]
            raise BenchError(f"the server on port {port} exited ({process.returncode}): {tail}")
        try:
            if get_status(port, method, path, body) == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    raise BenchError(f"the server on port {port} did not answer within {START_TIMEOUT:.0f} s")


# -- the service and its client --------------------------------------------------------------------


def service_command() -> list[str]:
    exe = Path(sys.executable).parent / "customergroup-rpc"
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "customergroup_rpc"]


@dataclass
class Service:
    """One ``customergroup-rpc serve`` process on ``folder/db.json``."""

    folder: Path
    token: str
    processes: Processes
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    command: list[str] = field(default_factory=list)

    @property
    def db(self) -> Path:
        return self.folder / "db.json"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{ENDPOINT}?auth={self.token}"

    def start(self) -> Service:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.command = [*pinned(0), *service_command(), "serve", "--host", "127.0.0.1"]
        self.command += ["--port", str(self.port), "--db", str(self.db)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMERGROUP_RPC_")}
        env["CUSTOMERGROUP_RPC_ADMIN_TOKEN"] = self.token
        log = self.folder / "serve.log"
        self.process = self.processes.start(self.command, env, log)
        wait_ready(self.process, self.port, "GET", "/health", log)
        return self

    def stop(self) -> None:
        if self.process is not None:
            self.processes.stop(self.process)
            self.process = None

    def client(self) -> Client:
        return Client(self.port, self.token)


class Client:
    """JSON-RPC over one kept-alive HTTP connection (standard library only)."""

    def __init__(self, port: int, token: str, timeout: float = 300.0) -> None:
        self.path = f"{ENDPOINT}?auth={token}"
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.conn.close()

    def post(self, payload: Any) -> Any:
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        self.conn.request("POST", self.path, body=body, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != 200:
            raise BenchError(f"HTTP {response.status}: {data[:300]!r}")
        return json.loads(data)

    def call(self, method: str, params: Any) -> Any:
        answer = self.post({"jsonrpc": "2.0", "method": method, "params": params, "id": 1})
        return result_of(answer)

    def body(self, body: str) -> Any:
        """Send a request body as wrk will send it, and return its result."""
        return result_of(self.post(json.loads(body)))

    def count(self) -> int:
        found: int = self.call("Customergroup.count", [{}])
        return found


def result_of(answer: Any) -> Any:
    if not isinstance(answer, dict) or "result" not in answer:
        raise BenchError(f"expected a JSON-RPC result, got {json.dumps(answer)[:300]}")
    return answer["result"]


@dataclass
class Seeding:
    made: int
    seconds: float
    gave_up: bool


def seed(service: Service, count: int, give_up_after: float) -> Seeding:
    """Create groups ``Group 00001``... through the API, in batches of BATCH creates."""
    with service.client() as client:
        start = client.count()
        made, began = 0, time.perf_counter()
        while made < count:
            if time.perf_counter() - began > give_up_after:
                return Seeding(made, time.perf_counter() - began, gave_up=True)
            size = min(BATCH, count - made)
            batch = [
                {
                    "jsonrpc": "2.0",
                    "method": "Customergroup.create",
                    "params": [{"name": f"Group {start + made + i + 1:05d}"}, ["uid"]],
                    "id": i,
                }
                for i in range(size)
            ]
            answers = client.post(batch)
            if not isinstance(answers, list) or len(answers) != size:
                raise BenchError(f"a batch of {size} creates answered {str(answers)[:300]}")
            for answer in answers:
                result_of(answer)
            made += size
        return Seeding(made, time.perf_counter() - began, gave_up=False)


# -- wrk ------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one wrk run reported."""

    requests: int
    seconds: float
    rate: float  # requests/s over the whole run
    p50: float  # milliseconds
    p99: float
    socket_errors: int
    non_2xx: int
    rpc_errors: int
    answers: int = 0  # bench/create.lua: answers, and seconds from the first request sent
    span: float = 0.0  # to the last answer (wrk's own rate divides by -d, even after a stop)

    @property
    def creates_per_second(self) -> float:
        return self.answers / self.span if self.span > 0 else 0.0

    @property
    def errors(self) -> int:
        return self.socket_errors + self.non_2xx + self.rpc_errors

    def check(self) -> None:
        if self.errors:
            raise BenchError(
                f"wrk saw errors: {self.socket_errors} socket, {self.non_2xx} non-2xx, "
                f"{self.rpc_errors} JSON-RPC errors in {self.requests} requests"
            )


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_TIME = r"([\d.]+)(us|ms|s|m)"


def parse_wrk(text: str) -> Run:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, text, re.MULTILINE)
        if match is None:
            raise BenchError(f"cannot read wrk's output ({pattern!r}): {text[-800:]}")
        return match

    def millis(match: re.Match[str]) -> float:
        return float(match.group(1)) * UNITS[match.group(2)]

    done = find(r"^\s*(\d+) requests in " + _TIME)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    creates = re.search(r"^Creates: (\d+) answers in ([\d.]+) s", text, re.MULTILINE)
    return Run(
        requests=int(done.group(1)),
        seconds=float(done.group(2)) * UNITS[done.group(3)] / 1000,
        rate=float(find(r"^Requests/sec:\s+([\d.]+)").group(1)),
        p50=millis(find(r"^\s+50%\s+" + _TIME)),
        p99=millis(find(r"^\s+99%\s+" + _TIME)),
        socket_errors=sum(int(n) for n in sockets.groups()) if sockets else 0,
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        rpc_errors=int(find(r"^JSON-RPC errors: (\d+)").group(1)),
        answers=int(creates.group(1)) if creates else 0,
        span=float(creates.group(2)) if creates else 0.0,
    )


@dataclass
class Bench:
    """Options, the temporary folder, what was started, and the command lines to show."""

    folder: Path
    token: str
    duration: int
    warmup: int
    processes: Processes = field(default_factory=Processes)
    shown: list[tuple[str, str]] = field(default_factory=list)

    def show(self, command: Sequence[str]) -> str:
        """A command line to print: the token as $TOKEN, the temporary folder as $DIR.

        Paths inside the repository are shown relative to it (commands run from its root).
        """
        words = []
        for original in command:
            word = original.replace(str(self.folder), "$DIR").replace(f"{ROOT}/", "")
            if self.token in word or "$DIR" in word:
                words.append('"' + word.replace(self.token, "$TOKEN") + '"')
            else:
                words.append(shlex.quote(word))
        return " ".join(words)

    def wrk(
        self,
        label: str,
        url: str,
        script: str,
        args: Sequence[str],
        *,
        connections: int,
        seconds: int,
    ) -> Run:
        command = [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
        command += ["--timeout", WRK_TIMEOUT, "-s", script, url, "--", *args]
        try:
            done = subprocess.run(
                command, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 60, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"wrk did not finish: {self.show(command)}") from exc
        if done.returncode != 0:
            raise BenchError(f"wrk failed ({done.returncode}): {done.stderr[-800:]}")
        if label:
            self.shown.append((label, self.show(command)))
        return parse_wrk(done.stdout)

    def measure(
        self, label: str, url: str, script: str, args: Sequence[str], connections: int
    ) -> Run:
        """A warm-up run of --warmup seconds (not shown), then the measured run, checked."""
        if self.warmup > 0:
            warm = list(args)
            if script == CREATE_LUA:  # other names, and at most a tenth of the creates
                warm = [f"{args[0]} warm-up", str(max(10, int(args[1]) // 10)) if args[1:] else "0"]
            self.wrk("", url, script, warm, connections=connections, seconds=self.warmup).check()
        run = self.wrk(label, url, script, args, connections=connections, seconds=self.duration)
        run.check()
        return run


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


def failed(figure: str, target: str, exc: BenchError) -> Row:
    message = " ".join(str(exc).split())[:300].replace("|", "/")
    return Row(figure, f"failed: {message}", target=target, met="**no** (not measured)")


def groups(n: int) -> str:
    return f"{n:,} groups"


@dataclass
class Databases:
    """The servers of figures 1-3 and 6, and how the big one was seeded."""

    small: Service
    large: Service
    large_groups: int  # as seeded (fewer than --groups when the seeding gave up)


def figure_get(bench: Bench, small: Service, baseline_port: int) -> Row:
    figure = f"`Customergroup.get` requests/s, {MANY} connections, {groups(SMALL)}"
    target = "≥ 0.75x"
    baseline_url = f"http://127.0.0.1:{baseline_port}/"
    services: list[Run] = []
    bares: list[Run] = []
    try:
        with small.client() as client:
            if client.body(GET_BODY) != {"name": "Group 00001"}:
                raise BenchError("get(1) did not answer group 1's name")
        for round_ in range(GET_ROUNDS):
            shown = round_ == 0  # the command lines once
            service_first = round_ % 2 == 0  # alternate, so neither side always goes first
            for side in ("service", "baseline") if service_first else ("baseline", "service"):
                url, runs = (small.url, services) if side == "service" else (baseline_url, bares)
                label = f"get, {side}" if shown else ""
                runs.append(bench.measure(label, url, POST_LUA, [GET_BODY], MANY))
    except BenchError as exc:
        return failed(figure, target, exc)
    ratios = [s.rate / b.rate for s, b in zip(services, bares, strict=True)]
    ratio = statistics.median(ratios)
    service, bare = _median_run(services), _median_run(bares)
    rounds = ", ".join(f"{r:.2f}" for r in ratios)
    return Row(
        figure,
        f"{service.rate:,.0f}/s (p50 {ms(service.p50)}, p99 {ms(service.p99)})",
        f"bare aiohttp JSON handler: {bare.rate:,.0f}/s (p50 {ms(bare.p50)}, p99 {ms(bare.p99)})",
        f"{times(ratio)} (rounds: {rounds})",
        target,
        verdict(ratio >= 0.75),
    )


def _median_run(runs: list[Run]) -> Run:
    """The run with the median rate (of an odd number of runs)."""
    return sorted(runs, key=lambda run: run.rate)[len(runs) // 2]


def figure_list(bench: Bench, dbs: Databases) -> Row:
    figure = (
        f'`Customergroup.list` page of {PAGE}, `startsWith` "{LIST_PREFIX}", p50 at 1 connection'
    )
    target = "≤ 3x"
    try:
        for service in (dbs.small, dbs.large):
            with service.client() as client:
                page = client.body(LIST_BODY)
            if not isinstance(page, list) or len(page) != PAGE:
                raise BenchError(f"list did not answer a page of {PAGE}: {str(page)[:200]}")
        small = bench.measure("list, 100 groups", dbs.small.url, POST_LUA, [LIST_BODY], 1)
        large = bench.measure(
            f"list, {dbs.large_groups:,} groups", dbs.large.url, POST_LUA, [LIST_BODY], 1
        )
    except BenchError as exc:
        return failed(figure, target, exc)
    ratio = large.p50 / small.p50
    return Row(
        figure,
        f"{groups(dbs.large_groups)}: {ms(large.p50)} (p99 {ms(large.p99)})",
        f"{groups(SMALL)}: {ms(small.p50)} (p99 {ms(small.p99)})",
        times(ratio),
        target,
        verdict(ratio <= 3),
    )


@dataclass
class Creates:
    run: Run
    before: int
    after: int

    def text(self) -> str:
        return (
            f"{self.before:,} → {self.after:,} groups: {ms(self.run.p50)} "
            f"(p99 {ms(self.run.p99)}, {self.run.requests:,} creates)"
        )


def create_latency(bench: Bench, service: Service, label: str, prefix: str, limit: int) -> Creates:
    with service.client() as client:
        before = client.count()
    run = bench.measure(label, service.url, CREATE_LUA, [prefix, str(limit)], 1)
    with service.client() as client:
        after = client.count()
    if after - before < run.requests:
        raise BenchError(f"{run.requests} creates answered but {after - before} groups made")
    return Creates(run, before, after)


def figure_creates(bench: Bench, dbs: Databases, limit: int) -> tuple[Row, Creates | None]:
    figure = "durable `create` p50 latency, one client"
    target = "≤ 3x"
    try:
        small = create_latency(bench, dbs.small, "create, 1 client, 100 groups", "Bench A", limit)
        large = create_latency(
            bench, dbs.large, f"create, 1 client, {dbs.large_groups:,} groups", "Bench B", limit
        )
    except BenchError as exc:
        return failed(figure, target, exc), None
    ratio = large.run.p50 / small.run.p50
    row = Row(figure, large.text(), small.text(), times(ratio), target, verdict(ratio <= 3))
    return row, large


def figure_bare_write(bench: Bench, dbs: Databases, large: Creates | None, seconds: float) -> Row:
    """Figure 6: the disk's floor for one commit of the big database's bytes."""
    figure = "a durable write, bare (commit / bare write)"
    if large is None:
        return Row(figure, "not measured: figure 3 failed", target="reported")
    data = dbs.large.db.read_bytes()
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
        f"create p50 at {groups(large.after)}: {ms(large.run.p50)}",
        f"write + fsync + rename + folder fsync of {len(data):,} bytes: {ms(floor)} "
        f"(median of {len(took):,})",
        times(large.run.p50 / floor),
        "reported",
    )


@contextmanager
def on_core(core: int) -> Iterator[None]:
    """Run this process on one core for a while (as the servers), when pinning is on."""
    if not PIN:
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def figure_import(seeding: Seeding, wanted: int) -> Row:
    figure = f"importing {wanted:,} groups with batches of {BATCH} creates"
    rate = seeding.made / seeding.seconds if seeding.seconds else 0.0
    if seeding.gave_up:
        return Row(
            figure,
            f"gave up after {seeding.seconds:,.1f} s at {seeding.made:,} groups "
            f"({rate:,.0f} groups/s)",
            target=f"< {IMPORT_TARGET:g} s",
            met="**no**",
        )
    service = f"{seeding.seconds:,.2f} s ({rate:,.0f} groups/s)"
    if wanted != IMPORT_GROUPS:
        return Row(figure, service, target=f"< {IMPORT_TARGET:g} s for {IMPORT_GROUPS:,}")
    return Row(
        figure,
        service,
        target=f"< {IMPORT_TARGET:g} s",
        met=verdict(seeding.seconds < IMPORT_TARGET),
    )


def figure_throughput(bench: Bench, seeded: Path, limit: int) -> Row:
    """Figure 4: creates/s with MANY clients against one, each on a fresh copy of ``seeded``.

    Each measured run stops after ``limit`` answers (or at --duration), so both grow the
    database alike; the rate is answers over the time from the first request to the last
    answer, as bench/create.lua measures it.
    """
    figure = f"durable `create` requests/s, {MEDIUM:,} groups: {MANY} clients / 1 client"
    target = "≥ 5x"
    found: dict[int, Creates] = {}
    try:
        for connections in (1, MANY):
            folder = bench.folder / f"throughput-{connections}"
            folder.mkdir()
            shutil.copyfile(seeded, folder / "db.json")
            service = Service(folder, bench.token, bench.processes).start()
            try:
                with service.client() as client:
                    before = client.count()
                clients = f"{connections} client{'s' if connections > 1 else ''}"
                label = f"create throughput, {clients}, {MEDIUM:,} groups"
                prefix = f"Bench C{connections}"
                run = bench.measure(
                    label, service.url, CREATE_LUA, [prefix, str(limit)], connections
                )
                with service.client() as client:
                    after = client.count()
            finally:
                service.stop()
            if run.span <= 0:
                raise BenchError(f"bench/create.lua did not time the creates ({label})")
            found[connections] = Creates(run, before, after)
    except BenchError as exc:
        return failed(figure, target, exc)
    many, one = found[MANY], found[1]
    ratio = many.run.creates_per_second / one.run.creates_per_second

    def text(c: Creates) -> str:
        return (
            f"{c.run.creates_per_second:,.0f}/s (p50 {ms(c.run.p50)}; {c.run.answers:,} creates "
            f"in {c.run.span:.2f} s; {c.before:,} → {c.after:,} groups)"
        )

    return Row(
        figure,
        f"{MANY} clients: {text(many)}",
        f"1 client: {text(one)}",
        times(ratio),
        target,
        verdict(ratio >= 5),
    )


# -- output ---------------------------------------------------------------------------------------


def wrk_version() -> str:
    try:
        done = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    except OSError:
        return "wrk not found"
    return (done.stdout or done.stderr).splitlines()[0].split(" Copyright")[0].strip()


def table(found: dict[str, Row]) -> str:
    missing = {key: Row(f"{title}: not measured", met="**no**") for key, title in FIGURES.items()}
    rows = [found.get(key, missing[key]) for key in FIGURES]
    lines = ["| figure | service | baseline | ratio | target | met |", "|---|---|---|---|---|---|"]
    lines += [
        f"| {r.figure} | {r.service} | {r.baseline} | {r.ratio} | {r.target} | {r.met} |"
        for r in rows
    ]
    return "\n".join(lines)


def machine(folder: Path, load: tuple[float, float, float]) -> str:
    pinning = "servers on core 0, wrk on core 1" if PIN else "no pinning (fewer than 2 cores)"
    return (
        f"Machine: {cpu_model()}, nproc {usable_cores()}, Python {platform.python_version()}, "
        f"{platform.system()} {platform.release()}, temporary folder on {file_system(folder)}; "
        f"{wrk_version()}; {pinning}; load average at start {load[0]:.2f}."
    )


# -- main -----------------------------------------------------------------------------------------


def run(args: argparse.Namespace, bench: Bench, rows: dict[str, Row]) -> None:
    """Start the servers, measure every figure into ``rows``, and stop what was started."""
    folder = bench.folder
    small = Service(folder / "small", bench.token, bench.processes).start()
    serve_log = bench.show([str(small.folder / "serve.log")])
    shown = f'CUSTOMERGROUP_RPC_ADMIN_TOKEN="$TOKEN" {bench.show(small.command)} 2>{serve_log}'
    bench.shown.append(("service, one per database (its access log on, to a file)", shown))
    seeded = seed(small, SMALL, args.import_timeout)
    if seeded.made != SMALL:
        raise BenchError(f"seeding {SMALL} groups gave up after {seeded.seconds:.0f} s")
    large = Service(folder / "large", bench.token, bench.processes).start()
    imported = seed(large, args.groups, args.import_timeout)
    rows["import"] = figure_import(imported, args.groups)
    dbs = Databases(small, large, imported.made)

    port = free_port()
    baseline = [*pinned(0), sys.executable, "bench/baseline.py", "--port", str(port)]
    log = folder / "baseline.log"  # empty unless it fails: no access log
    process = bench.processes.start(baseline, dict(os.environ), log)
    wait_ready(process, port, "POST", "/", log)
    bench.shown.append(("baseline server", bench.show(baseline)))
    rows["get"] = figure_get(bench, small, port)
    bench.processes.stop(process)

    rows["list"] = figure_list(bench, dbs)
    rows["create"], large_creates = figure_creates(bench, dbs, args.creates)
    rows["bare"] = figure_bare_write(bench, dbs, large_creates, max(1.0, args.duration / 2))
    small.stop()
    large.stop()

    medium = Service(folder / "medium", bench.token, bench.processes).start()
    seeded = seed(medium, MEDIUM, args.import_timeout)
    medium.stop()
    if seeded.made != MEDIUM:
        problem = BenchError(f"seeding {MEDIUM} groups gave up after {seeded.seconds:.0f} s")
        rows["throughput"] = failed("durable `create` throughput", "≥ 5x", problem)
    else:
        rows["throughput"] = figure_throughput(bench, medium.db, args.throughput_creates)


def interrupted(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured run (5)")
    parser.add_argument("--warmup", type=int, default=1, help="seconds of warm-up per run (1)")
    parser.add_argument(
        "--creates", type=int, default=100, help="creates per latency run of figure 3 (100)"
    )
    parser.add_argument(
        "--throughput-creates",
        type=int,
        default=1_000,
        help="creates per throughput run of figure 4 (1000)",
    )
    parser.add_argument(
        "--groups", type=int, default=IMPORT_GROUPS, help="groups in the big database (10000)"
    )
    parser.add_argument(
        "--import-timeout", type=float, default=120.0, help="seconds before seeding gives up"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke test: 2 s runs, 1,000 groups, fewer creates"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temp folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.creates, args.throughput_creates = 2, 1, 30, 300
        args.groups, args.import_timeout = MEDIUM, min(args.import_timeout, 30.0)
    if shutil.which("wrk") is None:
        print("bench/figures.py needs wrk: apt-get install -y wrk", file=sys.stderr)
        return 2

    signal.signal(signal.SIGTERM, interrupted)
    began, load = time.perf_counter(), os.getloadavg()
    rows: dict[str, Row] = {}
    token = "cgr_bench_" + secrets.token_urlsafe(24)
    with tempfile.TemporaryDirectory(prefix="bench-http-", dir=args.dir) as tmp:
        bench = Bench(Path(tmp), token, args.duration, args.warmup)
        problem = ""
        try:
            run(args, bench, rows)
        except BenchError as exc:
            problem = f"The bench stopped early: {exc}"
        except KeyboardInterrupt:
            problem = "Interrupted."
        finally:
            bench.processes.stop_all()
        print(table(rows))
        print()
        print(machine(bench.folder, load))
        print(
            f"Whole run {time.perf_counter() - began:.0f} s. Measured runs of {args.duration} s, "
            f"each after a warm-up run of {args.warmup} s (the same command with "
            f"-d{args.warmup}s; creates with other names and a tenth of the limit)."
        )
        print()
        print("Command lines, from the repository's root:")
        print()
        print("```")
        for label, command in bench.shown:
            print(f"# {label}")
            print(command)
        print("```")
    if problem:
        print(problem, file=sys.stderr)
        return 1
    return 1 if any(r.missed for r in rows.values()) or len(rows) < len(FIGURES) else 0


if __name__ == "__main__":
    sys.exit(main())
