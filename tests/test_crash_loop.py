"""Crash loop (SPEC 3 uids, 8 durability, 10 members): SIGKILL under write load, again and again.

One database file, CYCLES times: start ``serve`` on it, let WRITERS threads write (creates,
renames of their own groups, ``addCustomers`` to them, now and then a delete), SIGKILL the
server 0-300 ms into the load, and check before and after the restart:

- the file parses as a whole (``json.load``);
- every acknowledged create is there with its last acknowledged name, every acknowledged
  member add is there, every acknowledged delete stays deleted;
- the one call per writer that was cut off by the kill is there entirely or not at all, and
  nothing else is (no group or member nobody asked for);
- uids are never handed out twice: every create acknowledged after a restart has a uid above
  every uid acknowledged (or seen on disk) before it, deleted ones included;
- after the restart the server serves exactly what the file holds.

A call is *acknowledged* when a 200 response with a ``result`` arrived in full. Each writer
owns the groups it created, so the last acknowledged value of each is known; what a cut-off
call did is learned from the file after each kill and carried forward.
"""

from __future__ import annotations

import http.client
import itertools
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

from customergroup_rpc.store.journal import replayed
from harness.client import Client, rpc
from harness.contract import feed_problems
from harness.server import ADMIN_TOKEN, Server

CYCLES = 24
WRITERS = 4
KILL_AFTER = (0.0, 0.3)  # seconds into the load
CALLS_PER_CYCLE = 2_000  # per writer; the kill ends a cycle long before
CUSTOMERS = 1_000
FOLD_OFTEN = 4_096  # bytes of journal that start a fold: folds all the time


@dataclass
class Group:
    name: str
    members: set[int] = field(default_factory=set)


@dataclass(frozen=True)
class Pending:
    """The call a writer had sent when its connection broke: applied entirely or not at all."""

    kind: str  # create, rename, add, delete
    uid: int | None = None
    name: str | None = None
    customers: frozenset[int] = frozenset()


@dataclass
class Writer:
    """A thread's groups, what was acknowledged to it, and its call in flight at the kill."""

    index: int
    groups: dict[int, Group] = field(default_factory=dict)
    names: itertools.count[int] = field(default_factory=itertools.count)
    created: list[int] = field(default_factory=list)  # uids acknowledged this cycle
    deleted: list[int] = field(default_factory=list)  # deletes acknowledged this cycle
    acknowledged: int = 0  # calls, this cycle
    pending: Pending | None = None
    sent_at: float = 0.0  # when ``pending`` was sent
    failures: list[str] = field(default_factory=list)

    def run(self, port: int, stopping: threading.Event, rng: random.Random) -> None:
        with Client(port, ADMIN_TOKEN, timeout=10) as client:
            for _ in range(CALLS_PER_CYCLE):
                if stopping.is_set() or not self.call(client, rng):
                    return

    def call(self, client: Client, rng: random.Random) -> bool:
        """One write; False once the server is gone (or answered wrongly)."""
        owned = sorted(self.groups)
        pick = rng.random()
        params: list[Any]
        if not owned or pick < 0.25:
            op = Pending("create", name=f"Crash w{self.index} n{next(self.names)}")
            method, params = "create", [{"name": op.name}, ["uid", "name"]]
        elif pick < 0.5:
            op = Pending("rename", rng.choice(owned), f"Crash w{self.index} n{next(self.names)}")
            method, params = "set", [op.uid, {"name": op.name}, ["uid", "name"]]
        elif pick < 0.95 or len(owned) < 3:
            customers = frozenset(rng.randint(1, CUSTOMERS) for _ in range(rng.randint(1, 8)))
            op = Pending("add", rng.choice(owned), customers=customers)
            method, params = "addCustomers", [op.uid, sorted(customers)]
        else:
            op = Pending("delete", rng.choice(owned))
            method, params = "delete", [op.uid]
        self.pending, self.sent_at = op, time.monotonic()
        try:
            reply = client.send(rpc(f"Customergroup.{method}", params))
            status, answer = reply.status, reply.json()
        except (OSError, http.client.HTTPException, ValueError):
            return False  # killed (refused, reset, cut short): ``pending`` may or may not be in
        if status != 200 or not isinstance(answer, dict) or "result" not in answer:
            self.failures.append(f"{method}{params}: HTTP {status} {answer!r}")
            return False
        self.pending = None
        self.acknowledged += 1
        self.apply(op, answer["result"])
        return True

    def apply(self, op: Pending, result: Any) -> None:
        if op.kind == "create":
            if result.get("name") != op.name or not isinstance(result.get("uid"), int):
                self.failures.append(f"create of {op.name!r} answered {result!r}")
                return
            self.groups[result["uid"]] = Group(op.name or "")
            self.created.append(result["uid"])
        elif op.kind == "rename":
            assert op.uid is not None
            assert op.name is not None
            if result != {"name": op.name, "uid": op.uid}:
                self.failures.append(f"rename of {op.uid} to {op.name!r} answered {result!r}")
            self.groups[op.uid].name = op.name
        elif op.kind == "add":
            assert op.uid is not None
            expected = len(op.customers - self.groups[op.uid].members)
            if result != expected:
                self.failures.append(f"addCustomers({op.uid}) = {result!r}, expected {expected}")
            self.groups[op.uid].members |= op.customers
        else:
            assert op.uid is not None
            if result is not True:
                self.failures.append(f"delete({op.uid}) answered {result!r}")
            del self.groups[op.uid]
            self.deleted.append(op.uid)


@dataclass
class History:
    """Everything acknowledged (or seen on disk) over all cycles."""

    writers: list[Writer]
    deleted: set[int] = field(default_factory=set)
    uids: set[int] = field(default_factory=set)  # every uid acknowledged or seen on disk

    def reconcile(self, cycle: int, stored: dict[int, Group]) -> list[str]:
        """Check what the file holds against what was acknowledged; adopt the cut-off calls.

        Returns the problems found; afterwards each writer's groups are what the file holds.
        """
        problems: list[str] = []
        highest_before = max(self.uids, default=0)
        new_uids: list[int] = []
        known: set[int] = set()
        for writer in self.writers:
            self.deleted.update(writer.deleted)
            new_uids += writer.created
            pending = writer.pending
            for uid, group in list(writer.groups.items()):
                known.add(uid)
                in_flight = pending if pending is not None and pending.uid == uid else None
                found = stored.get(uid)
                if found is None and in_flight is not None and in_flight.kind == "delete":
                    del writer.groups[uid]  # the cut-off delete was written
                    self.deleted.add(uid)
                    continue
                if found is None:
                    problems.append(f"acknowledged group {uid} {group.name!r} is lost")
                    del writer.groups[uid]
                    continue
                problems += compare(uid, group, found, in_flight)
                writer.groups[uid] = Group(found.name, set(found.members))
            if pending is not None and pending.kind == "create":
                applied = [uid for uid, group in stored.items() if group.name == pending.name]
                for uid in applied:  # the cut-off create was written: the writer owns the group
                    writer.groups[uid] = Group(stored[uid].name, set(stored[uid].members))
                    known.add(uid)
                    new_uids.append(uid)
            writer.created, writer.deleted, writer.pending = [], [], None

        reused = sorted(uid for uid in new_uids if uid <= highest_before)
        if reused or len(set(new_uids)) != len(new_uids):
            problems.append(f"uids handed out again: {sorted(new_uids)}, before {highest_before}")
        self.uids.update(new_uids)
        back = sorted(self.deleted & stored.keys())
        if back:
            problems.append(f"deleted groups back on disk: {back}")
        phantoms = sorted(stored.keys() - known - self.deleted)
        if phantoms:
            problems.append(f"groups nobody created: {[(u, stored[u].name) for u in phantoms]}")
        return [f"cycle {cycle}: {problem}" for problem in problems]


def compare(uid: int, group: Group, found: Group, in_flight: Pending | None) -> list[str]:
    """A group on disk against its last acknowledged state, with or without the cut-off call."""
    names, members = [group.name], [group.members]
    if in_flight is not None and in_flight.kind == "rename":
        names.append(in_flight.name or "")
    if in_flight is not None and in_flight.kind == "add":
        members.append(group.members | in_flight.customers)
    problems = []
    if found.name not in names:
        problems.append(f"group {uid} is named {found.name!r}, acknowledged {group.name!r}")
    if found.members not in members:
        missing = sorted(group.members - found.members)[:10]
        extra = sorted(found.members - group.members)[:10]
        problems.append(f"group {uid}: members missing {missing}, unexpected {extra}")
    return problems


def read_file(db: Path) -> dict[int, Group]:
    """The groups and members on disk: the database file, which must parse as a whole, with
    its journal replayed (whole records, a torn last one aside), as a start reads them."""
    with db.open("rb") as f:
        assert isinstance(json.load(f), dict)
    data = replayed(db)
    members = {int(uid): set(doc["customers"]) for uid, doc in data.get("members", {}).items()}
    return {
        int(uid): Group(doc["name"], members.get(int(uid), set()))
        for uid, doc in data["customergroups"].items()
    }


def served(server: Server) -> dict[int, Group]:
    """The groups and members the server answers with."""
    listed = server.result("Customergroup.list", [["uid", "name", "customerCount"]])
    assert server.result("Customergroup.count", [{}]) == len(listed)
    groups = {}
    for group in listed:
        customers = server.result("Customergroup.listCustomers", [group["uid"]])
        assert len(customers) == group["customerCount"], group
        groups[group["uid"]] = Group(group["name"], set(customers))
    return groups


def folding(db: Path) -> bool:
    """Whether a fold of the journal was under way: its new file is there, not yet renamed."""
    return any(db.parent.glob(f".{db.name}.*.fold.tmp"))


def until_folding(db: Path, wait: float = 5.0) -> None:
    """Return once a fold is under way, or after ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while not folding(db) and time.monotonic() < deadline:
        time.sleep(0.001)


@pytest.mark.parametrize(
    "fold_bytes",
    [None, FOLD_OFTEN],
    ids=["kills during appends", "kills during appends and folds"],
)
def test_sigkill_at_random_moments_loses_no_acknowledged_write(
    tmp_path: Path, fold_bytes: int | None
) -> None:
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    db = tmp_path / "groups.db.json"
    history = History([Writer(index) for index in range(WRITERS)])
    acknowledged, kills_with_calls_in_flight, kills_in_folds = 0, 0, 0
    env = {} if fold_bytes is None else {"CUSTOMERGROUP_RPC_FOLD_BYTES": str(fold_bytes)}
    with Server(tmp_path, db, env=env) as server:
        for cycle in range(CYCLES):
            stopping = threading.Event()
            threads = [
                threading.Thread(
                    target=writer.run,
                    args=(server.port, stopping, random.Random(rng.random())),
                    daemon=True,
                )
                for writer in history.writers
            ]
            for thread in threads:
                thread.start()
            delay = rng.uniform(*KILL_AFTER)
            time.sleep(delay)
            if fold_bytes is not None and cycle % 2:
                until_folding(db)  # every other kill aims at a fold (a random moment may miss)
            killed_at = time.monotonic()
            assert server.kill() == -9
            stopping.set()
            for thread in threads:
                thread.join(timeout=15)
                assert not thread.is_alive(), f"cycle {cycle}: a writer hangs"
            failures = [f for writer in history.writers for f in writer.failures]
            assert not failures, f"seed {seed}, cycle {cycle}: {failures}"
            acknowledged += sum(writer.acknowledged for writer in history.writers)
            kills_with_calls_in_flight += any(
                w.pending is not None and w.sent_at < killed_at for w in history.writers
            )
            for writer in history.writers:
                writer.acknowledged = 0
            kills_in_folds += folding(db)

            stored = read_file(db)  # parses as a whole
            problems = history.reconcile(cycle, stored)
            assert not problems, f"seed {seed}, killed after {delay * 1000:.0f} ms: {problems}"

            server.start()
            assert served(server) == stored, f"seed {seed}, cycle {cycle}: served != file"
            assert not feed_problems(server.result), f"seed {seed}, cycle {cycle}"
        final = served(server)
        assert server.stop() == 0

    # A clean stop folds the journal and removes it: TinyDB alone reads the data.
    assert not db.with_name(db.name + ".journal").exists()
    plain = TinyDB(db, access_mode="r")
    members = {doc.doc_id: set(doc["customers"]) for doc in plain.table("members").all()}
    in_tinydb = {
        doc.doc_id: Group(doc["name"], members.get(doc.doc_id, set()))
        for doc in plain.table("customergroups").all()
    }
    plain.close()
    assert in_tinydb == final

    uids, deleted = len(history.uids), len(history.deleted)
    print(f"{CYCLES} SIGKILLs, {kills_with_calls_in_flight} with a call in flight, ", end="")
    print(f"{kills_in_folds} during a fold; {acknowledged} writes acknowledged, ", end="")
    print(f"{uids} uids handed out, {deleted} deleted")
    assert acknowledged >= CYCLES, f"only {acknowledged} writes acknowledged in {CYCLES} cycles"
    assert kills_with_calls_in_flight >= CYCLES // 2, "the kills rarely met a call in flight"
    if fold_bytes is not None:
        # A fold's new file is there only once its process has started: not all its time.
        assert kills_in_folds >= 2, f"only {kills_in_folds} kills met a fold"
