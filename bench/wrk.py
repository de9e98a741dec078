"""The runs of wrk that bench/figures.py measures with, and the servers they measure.

Servers are harness.Server processes pinned to core 0 (``taskset -c 0``, when there are two
cores and taskset), wrk runs pinned to core 1 (``-t1 --latency``) with bench/post.lua or
bench/create.lua, each measured run after a warm-up run. ``Bench`` keeps the servers started,
to stop them all at the end, and the command lines to print (the token as ``$TOKEN``, the
temporary folder as ``$DIR``).
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report import usable_cores  # bench/report.py, beside this script

from harness.client import ENDPOINT, CallError
from harness.server import Server

ROOT = Path(__file__).resolve().parent.parent
POST_LUA, CREATE_LUA = "bench/post.lua", "bench/create.lua"
WRK_TIMEOUT = "10s"  # wrk's per-request timeout; a timeout shows as a socket error
START_TIMEOUT = 60.0


class BenchError(Exception):
    """Something the bench cannot measure through: shown in the figure's row."""


FAILURES = (BenchError, CallError, AssertionError)  # AssertionError: a server did not start


PIN = usable_cores() >= 2 and shutil.which("taskset") is not None


def pinned(core: int | None) -> list[str]:
    """``taskset -c CORE`` when this machine has two cores or more and taskset exists; None
    leaves a process on every core (as several workers need)."""
    return ["taskset", "-c", str(core)] if PIN and core is not None else []


def body(method: str, params: Any) -> str:
    """One JSON-RPC request for ``Customergroup.<method>``, compact, as post.lua sends it."""
    call = {"jsonrpc": "2.0", "method": f"Customergroup.{method}", "params": params, "id": 1}
    return json.dumps(call, separators=(",", ":"))


class Baseline(Server):
    """bench/baseline.py, launched and stopped as a service is (``args``: ``--workers N``)."""

    def argv(self) -> list[str]:
        return [*self.command, "--port", str(self.port), *self.args]


# -- wrk ------------------------------------------------------------------------------------------


@dataclass
class Run:
    """What one wrk run reported."""

    requests: int
    rate: float  # requests/s over the whole run
    p50: float  # milliseconds
    p99: float
    errors: str  # socket errors, non-2xx answers and JSON-RPC errors, when any
    answers: int = 0  # bench/create.lua: answers, and seconds from the first request sent
    span: float = 0.0  # to the last answer (wrk's own rate divides by -d, even after a stop)

    @property
    def creates_per_second(self) -> float:
        return self.answers / self.span if self.span > 0 else 0.0


UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(text: str) -> Run:
    """wrk's report, and the lines post.lua or create.lua print after it."""

    def find(pattern: str, absent: str = "") -> list[str]:
        """The groups of ``pattern`` in the report; each ``absent`` when it is not there and
        need not be."""
        match = re.search(pattern, text, re.MULTILINE)
        if match is None and not absent:
            raise BenchError(f"cannot read wrk's output ({pattern!r}): {text[-800:]}")
        return list(match.groups()) if match else [absent] * re.compile(pattern).groups

    def millis(percent: int) -> float:
        number, unit = find(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)")
        return float(number) * UNITS[unit]

    sockets = find(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", "0")
    non_2xx = find(r"Non-2xx or 3xx responses: (\d+)", "0")
    errors = (sum(map(int, sockets)), int(non_2xx[0]), int(find(r"^JSON-RPC errors: (\d+)")[0]))
    answers, span = find(r"^Creates: (\d+) answers in ([\d.]+) s", "0")
    return Run(
        requests=int(find(r"^\s*(\d+) requests in ")[0]),
        rate=float(find(r"^Requests/sec:\s+([\d.]+)")[0]),
        p50=millis(50),
        p99=millis(99),
        errors="{} socket, {} non-2xx, {} JSON-RPC errors".format(*errors) if any(errors) else "",
        answers=int(answers),
        span=float(span),
    )


@dataclass
class Bench:
    """Options, the temporary folder, the servers started, and the command lines to show."""

    folder: Path
    token: str
    duration: int
    warmup: int
    servers: list[Server] = field(default_factory=list)
    shown: list[tuple[str, str]] = field(default_factory=list)

    def start(
        self,
        name: str,
        *,
        db: str | None = None,
        args: Sequence[str] = (),
        core: int | None = 0,
        baseline: bool = False,
    ) -> Server:
        """A server (the service, or bench/baseline.py) on ``core`` (None: unpinned), started;
        on ``db``, else on ``DIR/name/db.json`` (made or copied there before)."""
        folder = self.folder / name
        folder.mkdir(exist_ok=True)
        exe = Path(sys.executable).parent / "customergroup-rpc"
        program = [str(exe)] if exe.exists() else [sys.executable, "-m", "customergroup_rpc"]
        if baseline:
            program = [sys.executable, str(ROOT / "bench/baseline.py")]
        kind, command = Baseline if baseline else Server, [*pinned(core), *program]
        where = db or str(folder / "db.json")
        started = kind(folder, where, admin_token=self.token, args=args, command=command)
        self.servers.append(started)
        return started.start(START_TIMEOUT)

    def url(self, server: Server) -> str:
        if isinstance(server, Baseline):
            return f"http://127.0.0.1:{server.port}/"
        return f"http://127.0.0.1:{server.port}{ENDPOINT}?auth={self.token}"

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

    def measure(
        self, label: str, server: Server, script: str, args: Sequence[str], connections: int
    ) -> Run:
        """A warm-up run of --warmup seconds (not shown), then the measured run, its command
        line shown under ``label`` unless that is empty."""

        def command(seconds: int, sent: Sequence[str]) -> list[str]:
            head = [*pinned(1), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency"]
            return [*head, "--timeout", WRK_TIMEOUT, "-s", script, self.url(server), "--", *sent]

        if self.warmup > 0:
            warm = list(args)
            if script == CREATE_LUA:  # other names, and at most a tenth of the creates
                warm = [f"{args[0]} warm-up", str(max(10, int(args[1]) // 10)) if args[1:] else "0"]
            self.wrk(command(self.warmup, warm), self.warmup)
        return self.wrk(command(self.duration, args), self.duration, label)

    def wrk(self, command: list[str], seconds: int, label: str = "") -> Run:
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
        run = parse_wrk(done.stdout)
        if run.errors:
            raise BenchError(f"wrk saw errors: {run.errors} in {run.requests} requests")
        return run
