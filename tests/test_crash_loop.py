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
- after the restart the server serves exactly what the file holds, and its change feed agrees.

A call is *acknowledged* when a 200 response with its due ``result`` arrived in full. Each
writer owns the groups it created, so the last acknowledged value of each is known; what a
cut-off call did is learned from the file after each kill and carried forward.
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
from harness.contract import feed_problems, same
from harness.server import ADMIN_TOKEN, Server

CYCLES = 24
WRITERS = 4
KILL_AFTER = (0.0, 0.3)  # seconds into the load
CALLS_PER_CYCLE = 2_000  # per writer; the kill ends a cycle long before
CUSTOMERS = 1_000
FOLD_OFTEN = 4_096  # bytes of journal that start a fold: folds all the time
TABLES = ("customergroups", "members")


@dataclass
class Group:
    name: str
    members: set[int] = field(default_factory=set)


@dataclass
class Write:
    """One write, the result due, and the group as it leaves it (None: deleted)."""

    method: str
    params: list[Any]
    uid: int | None  # None: a create, whose result is ``due`` with the uid it was given
    due: Any
    after: Group | None


@dataclass
class Writer:
    """A thread's groups as last acknowledged, and the write it had in flight at the kill."""

    index: int
    groups: dict[int, Group] = field(default_factory=dict)
    names: itertools.count[int] = field(default_factory=itertools.count)
    created: list[int] = field(default_factory=list)  # uids since the last check of the file
    deleted: set[int] = field(default_factory=set)  # acknowledged, or cut off and written
    acknowledged: int = 0
    pending: Write | None = None
    sent_at: float = 0.0  # when ``pending`` was sent
    failures: list[str] = field(default_factory=list)

    def run(self, port: int, stopping: threading.Event, rng: random.Random) -> None:
        with Client(port, ADMIN_TOKEN, timeout=10) as client:
            for _ in range(CALLS_PER_CYCLE):
                if stopping.is_set() or not self.call(client, self.pick(rng)):
                    return

    def pick(self, rng: random.Random) -> Write:
        """A create, a rename, an add or a delete of an own group."""
        owned, pick, query = sorted(self.groups), rng.random(), ["uid", "name"]
        name = f"Crash w{self.index} n{next(self.names)}"
        if not owned or pick < 0.25:
            return Write("create", [{"name": name}, query], None, {"name": name}, Group(name))
        uid = rng.choice(owned)
        group = self.groups[uid]
        if pick < 0.5:
            due = {"uid": uid, "name": name}
            return Write("set", [uid, {"name": name}, query], uid, due, Group(name, group.members))
        if pick < 0.95 or len(owned) < 3:
            customers = {rng.randint(1, CUSTOMERS) for _ in range(rng.randint(1, 8))}
            added = Group(group.name, group.members | customers)
            new = len(customers - group.members)
            return Write("addCustomers", [uid, sorted(customers)], uid, new, added)
        return Write("delete", [uid], uid, True, None)

    def call(self, client: Client, write: Write) -> bool:
        """Send one write; False once the server is gone (or answered wrongly)."""
        self.pending, self.sent_at = write, time.monotonic()
        try:
            reply = client.send(rpc(f"Customergroup.{write.method}", write.params))
            answer = reply.json()
        except (OSError, http.client.HTTPException, ValueError):
            return False  # killed (refused, reset, cut short): ``pending`` may or may not be in
        got = answer.get("result") if isinstance(answer, dict) else None
        uid = got.get("uid") if write.uid is None and isinstance(got, dict) else write.uid
        due = {**write.due, "uid": uid} if write.uid is None else write.due
        if reply.status != 200 or type(uid) is not int or not same(got, due):
            self.failures.append(f"{write.method}{write.params}: HTTP {reply.status} {answer!r}")
            return False
        self.pending = None
        self.acknowledged += 1
        self.created += [uid] if write.uid is None else []
        if write.after is None:
            del self.groups[uid]
            self.deleted.add(uid)
        else:
            self.groups[uid] = write.after
        return True

    def reconcile(self, stored: dict[int, Group]) -> list[str]:
        """Its groups on disk against the acknowledged ones, each with the cut-off write or
        without; afterwards its groups are what the file holds."""
        states: dict[int, list[Group | None]] = {uid: [g] for uid, g in self.groups.items()}
        write, self.pending = self.pending, None
        if write is not None and write.uid is not None:  # cut off: it may be in or not
            states[write.uid].append(write.after)
            if write.after is None and write.uid not in stored:
                self.deleted.add(write.uid)  # the cut-off delete was written
        problems = [
            differs(uid, self.groups[uid], stored.get(uid))
            for uid in states
            if stored.get(uid) not in states[uid]
        ]
        self.groups = {uid: stored[uid] for uid in states if uid in stored}
        if write is not None and write.uid is None:  # a create: the file says whether it was
            name = write.due["name"]
            adopted = {uid: group for uid, group in stored.items() if group.name == name}
            self.groups |= adopted
            self.created += adopted
        return problems


def differs(uid: int, acknowledged: Group, found: Group | None) -> str:
    if found is None:
        return f"acknowledged group {uid} {acknowledged.name!r} is lost"
    missing = sorted(acknowledged.members - found.members)[:10]
    extra = sorted(found.members - acknowledged.members)[:10]
    return (
        f"group {uid} is named {found.name!r}, acknowledged {acknowledged.name!r}; "
        f"members missing {missing}, unexpected {extra}"
    )


def reconcile(writers: list[Writer], stored: dict[int, Group], earlier: set[int]) -> list[str]:
    """Check what the file holds against what was acknowledged (``earlier``: every uid
    acknowledged or seen on disk before this check, to which the new ones are added)."""
    problems = [problem for writer in writers for problem in writer.reconcile(stored)]
    new = [uid for writer in writers for uid in writer.created]
    highest = max(earlier, default=0)
    if len(set(new)) != len(new) or any(uid <= highest for uid in new):
        problems.append(f"uids handed out again: {sorted(new)}, before {highest}")
    earlier.update(new)
    deleted = {uid for writer in writers for uid in writer.deleted}
    owned = {uid for writer in writers for uid in writer.groups}
    if deleted & stored.keys():
        problems.append(f"deleted groups back on disk: {sorted(deleted & stored.keys())}")
    if stored.keys() - owned - deleted:
        problems.append(f"groups nobody created: {sorted(stored.keys() - owned - deleted)}")
    for writer in writers:
        writer.created = []
    return problems


def read_file(db: Path) -> dict[int, Group]:
    """The groups and members on disk: the database file, which must parse as a whole, with
    its journal replayed (whole records, a torn last one aside), as a start reads them."""
    with db.open("rb") as f:
        assert isinstance(json.load(f), dict)
    return groups_of(replayed(db))


def groups_of(tables: dict[str, Any]) -> dict[int, Group]:
    """The groups and members in a database's tables."""
    members = {int(uid): set(doc["customers"]) for uid, doc in tables.get("members", {}).items()}
    return {
        int(uid): Group(doc["name"], members.get(int(uid), set()))
        for uid, doc in tables["customergroups"].items()
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


def kill_under_load(server: Server, writers: list[Writer], rng: random.Random, fold: bool) -> bool:
    """SIGKILL the server 0-300 ms into the writers' load (with ``fold``, not before a fold is
    under way, for at most 5 s); whether a call was in flight then."""
    stopping = threading.Event()
    threads = [
        threading.Thread(
            target=w.run, args=(server.port, stopping, random.Random(rng.random())), daemon=True
        )
        for w in writers
    ]
    for thread in threads:
        thread.start()
    time.sleep(rng.uniform(*KILL_AFTER))
    deadline = time.monotonic() + 5
    while fold and not folding(Path(server.db)) and time.monotonic() < deadline:
        time.sleep(0.001)
    killed_at = time.monotonic()
    assert server.kill() == -9
    stopping.set()
    for thread in threads:
        thread.join(timeout=15)
        assert not thread.is_alive(), "a writer hangs"
    return any(w.pending is not None and w.sent_at < killed_at for w in writers)


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
    writers = [Writer(index) for index in range(WRITERS)]
    uids: set[int] = set()
    in_flight = in_folds = 0
    env = {} if fold_bytes is None else {"CUSTOMERGROUP_RPC_FOLD_BYTES": str(fold_bytes)}
    with Server(tmp_path, db, env=env) as server:
        for cycle in range(CYCLES):
            where = f"seed {seed}, cycle {cycle}"
            # Every other kill of the fold case aims at a fold (a random moment may miss).
            aim = fold_bytes is not None and cycle % 2 == 1
            in_flight += kill_under_load(server, writers, rng, fold=aim)
            failures = [failure for writer in writers for failure in writer.failures]
            assert not failures, f"{where}: {failures}"
            in_folds += folding(db)
            stored = read_file(db)
            problems = reconcile(writers, stored, uids)
            assert not problems, f"{where}: {problems}"
            server.start()
            assert served(server) == stored, f"{where}: served != file"
            assert not feed_problems(server.result), where
        final = served(server)
        assert server.stop() == 0

    # A clean stop folds the journal and removes it: TinyDB alone reads the data.
    assert not db.with_name(db.name + ".journal").exists()
    with TinyDB(db, access_mode="r") as plain:
        tables = {name: {d.doc_id: d for d in plain.table(name).all()} for name in TABLES}
    assert groups_of(tables) == final

    acknowledged = sum(writer.acknowledged for writer in writers)
    deleted = len({uid for writer in writers for uid in writer.deleted})
    print(
        f"{CYCLES} SIGKILLs, {in_flight} with a call in flight, {in_folds} during a fold; "
        f"{acknowledged} writes acknowledged, {len(uids)} uids handed out, {deleted} deleted"
    )
    assert acknowledged >= CYCLES, f"only {acknowledged} writes acknowledged in {CYCLES} cycles"
    assert in_flight >= CYCLES // 2, "the kills rarely met a call in flight"
    if fold_bytes is not None:
        # A fold's new file is there only once its process has started: not all its time.
        assert in_folds >= 2, f"only {in_folds} kills met a fold"
