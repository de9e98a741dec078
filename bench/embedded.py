"""The embedded store's data and load for bench/figures.py: groups, memberships, timed adds.

Groups are made through the API in batches of ``BATCH`` creates, named ``Group 000001``, ...,
with ``NEEDLES`` of them (evenly spread) named ``Group 000004 clearance``: ``contains`` finds
the same 25 among 100 groups as among 100,000. Memberships are made with ``addCustomers`` of
``ADD`` customers. An add that is timed adds ``ADD`` customers nobody had, then takes them out
again (not timed), so the database holds as many memberships before each timed add.
"""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from wrk import body  # bench/wrk.py, beside this script

from harness.client import Client, result
from harness.server import Server

BATCH = 100  # creates per JSON-RPC batch (the service's default --max-batch)
ADD = 10_000  # customers per addCustomers (the most a call takes)
NEEDLE, NEEDLES = "clearance", 25
EVERY = 0.5  # seconds between two adds while get is measured


def name(n: int, count: int) -> str:
    """The name of group ``n`` of ``count``."""
    every = max(1, count // NEEDLES)
    return f"Group {n:06d}" + (f" {NEEDLE}" if n % every == every // 3 + 1 else "")


@dataclass
class Seeding:
    made: int
    seconds: float
    gave_up: bool


def seed(server: Server, count: int, give_up_after: float) -> Seeding:
    """Create ``count`` groups through the API, in batches of BATCH creates (timed)."""
    with server.client(timeout=300.0) as client:
        start, made, began = client.call("count", [{}]), 0, time.perf_counter()
        while made < count:
            if time.perf_counter() - began > give_up_after:
                return Seeding(made, time.perf_counter() - began, gave_up=True)
            size = min(BATCH, count - made)
            names = [name(start + made + i + 1, count) for i in range(size)]
            for answer in client.batch([("create", [{"name": n}, ["uid"]]) for n in names]):
                result(answer)
            made += size
        return Seeding(made, time.perf_counter() - began, gave_up=False)


def fill(server: Server, uid: int, members: int, first: int = 1) -> None:
    """Make customers ``first`` .. ``first + members - 1`` members of group ``uid``."""
    with server.client(timeout=300.0) as client:
        for start in range(first, first + members, ADD):
            chunk = list(range(start, min(start + ADD, first + members)))
            if client.call("addCustomers", [uid, chunk]) != len(chunk):
                raise AssertionError(f"addCustomers({uid}) did not add {len(chunk)}")


@dataclass
class Adds:
    """Timed adds of ADD new customers to one group of a server, each taken out again after."""

    server: Server
    uid: int
    token: str
    first: int = 10**12  # customers above any the seeding made
    _client: Client | None = None
    _ready: list[tuple[bytes, bytes]] = field(default_factory=list)

    def prepare(self, count: int) -> None:
        """Encode the bodies of the next ``count`` adds and removes now: encoding one takes
        this process a few ms, which must not be taken from the server's core while ``get``
        is measured."""
        for _ in range(count):
            customers = list(range(self.first, self.first + ADD))
            self.first += ADD
            self._ready.append(
                (
                    body("addCustomers", [self.uid, customers]).encode(),
                    body("removeCustomers", [self.uid, customers]).encode(),
                )
            )

    def once(self) -> float:
        """One timed add (then an untimed remove); its milliseconds, the client's round trip."""
        if self._client is None:
            self._client = Client(self.server.port, self.token, timeout=60.0)
        if not self._ready:
            self.prepare(1)
        add, remove = self._ready.pop(0)
        began = time.perf_counter()
        reply = self._client.send(add)
        took = (time.perf_counter() - began) * 1000
        if reply.status != 200 or result(reply.json()) != ADD:
            raise AssertionError(f"addCustomers answered {reply.status} {reply.body[:200]!r}")
        removed = self._client.send(remove)
        if removed.status != 200 or result(removed.json()) != ADD:
            raise AssertionError("removeCustomers did not take the customers out")
        return took

    def close(self) -> None:
        if self._client is not None:
            self._client.close()


class Adder(threading.Thread):
    """Adds (and takes out again) ADD customers every EVERY seconds until stopped; the bodies
    for ``seconds`` of it are encoded before it starts (``Adds.prepare``)."""

    def __init__(self, adds: Adds, seconds: float) -> None:
        super().__init__(daemon=True)
        self.adds, self.stopping, self.failed = adds, threading.Event(), ""
        adds.prepare(int(seconds / EVERY) + 2)

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                began = time.monotonic()
                self.adds.once()
                self.stopping.wait(max(0.0, EVERY - (time.monotonic() - began)))
        except (OSError, http.client.HTTPException, AssertionError) as exc:
            self.failed = repr(exc)

    def stop(self) -> None:
        self.stopping.set()
        self.join(timeout=60)
        self.adds.close()
        if self.failed:
            raise AssertionError(f"the adds during the run failed: {self.failed}")


def rss_mb(server: Server) -> float:
    """The server process's resident memory now (VmRSS), in MB."""
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1000
    raise AssertionError("no VmRSS")
