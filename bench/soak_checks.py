"""The soak's invariants, checked on the quiet server after every client stopped.

What the server answers then is held to what the clients' models acknowledged:

- ``count({})`` and ``count(null)`` equal the length of ``list()``; no two names fold to one
  key (``customergroup_rpc.text.fold``);
- every owned group has its last acknowledged name and members, every deleted one answers
  9003; ``customerCount`` equals the length of ``listCustomers`` for every group;
- uids of creates are unique, strictly increasing per client and in real time (a create
  answered before another was sent has the smaller uid), none is from before the run, a
  deleted uid never comes back, and no group appears that nobody created;
- no HTTP 5xx, every request answered, every answer as the contract (never ``-32603``) and
  the owners' models predict, every method answered with a result at least once;
- the change feed holds to the writes (soak_feed.py);
- with its own server: it stops cleanly on SIGTERM, its log has no traceback, and the database
  file holds exactly the final groups and members (on PostgreSQL: a server started again on
  the database serves exactly them).
"""

from __future__ import annotations

import collections
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soak_load import Load, Stats

from customergroup_rpc.store.postgres import is_url
from customergroup_rpc.text import fold
from harness.client import Client
from harness.methods import METHODS, NOT_FOUND, short
from harness.server import Server

Groups = dict[int, dict[str, Any]]
STOP_TIMEOUT = 15.0
NAMES = tuple(name.removeprefix("Customergroup.") for name in METHODS)


@dataclass
class Invariant:
    name: str
    ok: bool
    detail: str


def final_checks(
    client: Client, loads: Sequence[Load], stats: Stats, before: set[int]
) -> tuple[list[Invariant], Groups, dict[int, list[int]]]:
    """The invariants; also the final groups and their members."""
    groups = client.call("list", [["uid", "name", "customerCount", "version"]])
    final = {group["uid"]: group for group in groups}
    members, counts = customer_counts(client, final)
    found = [*group_invariants(client, groups), *owned_invariants(client, loads, final, members)]
    found += [counts, uid_invariant(loads, final, before)]
    return found + traffic_invariants(loads, stats), final, members


def group_invariants(client: Client, groups: list[dict[str, Any]]) -> Iterator[Invariant]:
    counted, counted_null = client.call("count", [{}]), client.call("count", [None])
    yield Invariant(
        "count({}) == len(list())",
        counted == len(groups) == counted_null,
        f"count {counted}, count(null) {counted_null}, list {len(groups)}",
    )
    by_key: dict[str, list[int]] = collections.defaultdict(list)
    for group in groups:
        by_key[fold(group["name"])].append(group["uid"])
    clashes = {key: uids for key, uids in by_key.items() if len(uids) > 1}
    yield Invariant(
        "no two names fold to one key", not clashes, f"{len(by_key)} keys; clashes {clashes}"
    )


def owned_invariants(
    client: Client, loads: Sequence[Load], final: Groups, members: dict[int, list[int]]
) -> list[Invariant]:
    """Owned groups (their state known) as last acknowledged; deleted ones answer 9003."""
    missing: list[int] = []
    names: list[tuple[int, str, str]] = []
    held: list[tuple[int, list[int], list[int]]] = []
    models = [load.model for load in loads]
    certain = [(m, uid) for m in models for uid in m.live if uid not in m.uncertain]
    for model, uid in certain:
        if uid not in final:
            missing.append(uid)
            continue
        if final[uid]["name"] != model.live[uid]:
            names.append((uid, final[uid]["name"], model.live[uid]))
        found, expected = set(members.get(uid, ())), model.members[uid]
        if uid in members and found != expected:  # else customer_counts says why
            held.append((uid, sorted(expected - found)[:5], sorted(found - expected)[:5]))
    deleted = [uid for load in loads for uid in sorted(load.model.deleted)]
    answers = client.batch([("get", [uid]) for uid in deleted])
    not_gone = [
        (uid, short(answer, 120))
        for uid, answer in zip(deleted, answers, strict=True)
        if answer.get("error", {}).get("code") != NOT_FOUND
    ]
    owned = sum(len(load.model.live) for load in loads)
    return [
        Invariant(
            "owned groups have their last acknowledged name; deleted ones answer 9003",
            not (names or not_gone or missing),
            f"{owned} live, {len(deleted)} deleted; missing {missing[:10]}, wrong names "
            f"{names[:5]}, deleted but found {not_gone[:5]}",
        ),
        Invariant(
            "members of owned groups are the acknowledged ones",
            not held,
            f"{len(certain)} groups; wrong (group, missing, extra): {held[:5]}",
        ),
    ]


def customer_counts(client: Client, final: Groups) -> tuple[dict[int, list[int]], Invariant]:
    """Every group's customers, and whether ``customerCount`` agrees."""
    uids = sorted(final)
    answers = client.batch([("listCustomers", [uid]) for uid in uids])
    members: dict[int, list[int]] = {}
    wrong: list[tuple[int, Any, Any]] = []
    for uid, answer in zip(uids, answers, strict=True):
        listed = answer.get("result")
        if not isinstance(listed, list):
            wrong.append((uid, short(answer, 120), None))
            continue
        members[uid] = listed
        if final[uid]["customerCount"] != len(listed) or listed != sorted(set(listed)):
            wrong.append((uid, final[uid]["customerCount"], len(listed)))
    memberships = sum(map(len, members.values()))
    return members, Invariant(
        "customerCount == len(listCustomers) for every group",
        not wrong,
        f"{len(uids)} groups, {memberships} memberships; wrong {wrong[:5]}",
    )


def traffic_invariants(loads: Sequence[Load], stats: Stats) -> list[Invariant]:
    fives = {status: n for status, n in stats.http.items() if status >= 500}
    errors = [load.error for load in loads if load.error]
    unexercised = [name for name in NAMES if not stats.ok[name]]
    texts = "".join(f"\n      {text}" for text in stats.problem_texts[:12])
    return [
        Invariant("no HTTP 5xx", not fives, f"statuses {dict(sorted(stats.http.items()))}"),
        Invariant(
            "every request answered",
            stats.unanswered == 0 and not errors,
            f"{stats.unanswered} unanswered of {stats.requests}; {errors}",
        ),
        Invariant(
            "every answer as the contract (never -32603) and the owners' models predict",
            stats.problems == 0,
            f"{stats.problems} unexpected{texts}",
        ),
        Invariant(
            "every method answered with a result at least once",
            not unexercised,
            f"without a result: {unexercised}" if unexercised else f"all {len(NAMES)} methods",
        ),
    ]


def uid_invariant(loads: Sequence[Load], final: Groups, before: set[int]) -> Invariant:
    """Unique, increasing in real time, never reused after a delete. (Increasing per client,
    in the order of its answers, ``Owned.created`` checks as they come.)"""
    creates = [create for load in loads for create in load.model.creates]
    problems: list[str] = []
    counts = collections.Counter(uid for uid, _, _ in creates)
    twice = sorted(uid for uid, n in counts.items() if n > 1)
    if twice:
        problems.append(f"handed out twice: {twice[:10]}")
    # A create answered before another was sent must have the smaller uid.
    by_answer = sorted(creates, key=lambda c: c[2])
    highest, i, late = 0, 0, 0
    for uid, sent, _ in sorted(creates, key=lambda c: c[1]):
        while i < len(by_answer) and by_answer[i][2] < sent:
            highest = max(highest, by_answer[i][0])
            i += 1
        late += uid <= highest
    if late:
        problems.append(f"{late} creates got a uid below one answered before they were sent")
    reused = sorted(before & counts.keys())
    if reused:
        problems.append(f"uids of groups that existed before: {reused[:10]}")
    back = sorted({uid for load in loads for uid in load.model.deleted} & final.keys())
    if back:
        problems.append(f"deleted uids listed again: {back[:10]}")
    unknown = sorted(final.keys() - counts.keys() - before)
    if len(unknown) > sum(load.model.unknown_creates for load in loads):
        problems.append(f"groups nobody created: {unknown[:10]}")
    return Invariant(
        "uids unique, strictly increasing, never reused",
        not problems,
        "; ".join([f"{len(creates)} creates, highest uid {max(counts, default=0)}", *problems]),
    )


def own_server_invariants(
    server: Server, folder: Path, final: Groups, members: dict[int, list[int]]
) -> list[Invariant]:
    """It stops cleanly on SIGTERM and keeps the final state (in its file, or for a server
    started again on its PostgreSQL database, which has no file to read), and its log has no
    traceback."""
    exit_code = server.stop(timeout=STOP_TIMEOUT)
    tracebacks = server.stderr().count("Traceback")
    problems = [] if exit_code == 0 else [f"serve exited with {exit_code} on SIGTERM"]
    kept: dict[int, str] = {}
    held: dict[int, list[int]] = {}
    if is_url(server.db):
        where = "a server started again serves"
        (folder / "again").mkdir()
        with (
            Server(folder / "again", server.db, admin_token=server.token) as again,
            again.client() as client,
        ):
            kept, held = served(client)
    else:
        where = "the database file holds"
        try:
            kept, held = stored(Path(server.db))
        except (OSError, ValueError, KeyError, TypeError) as error:
            problems.append(f"the file does not parse: {error!r}")
    if kept != {uid: group["name"] for uid, group in final.items()}:
        problems.append(f"groups differ: {len(kept)} kept, {len(final)} served before")
    if {u: m for u, m in held.items() if m} != {u: m for u, m in members.items() if m}:
        problems.append("members differ")
    memberships = sum(map(len, held.values()))
    return [
        Invariant(
            f"server stops cleanly; {where} the final state",
            not problems,
            "; ".join([f"{len(kept)} groups, {memberships} memberships", *problems]),
        ),
        Invariant("no traceback in the server log", tracebacks == 0, f"{tracebacks} found"),
    ]


def served(client: Client) -> tuple[dict[int, str], dict[int, list[int]]]:
    """The names and members a server answers with."""
    groups = {g["uid"]: g for g in client.call("list", [["uid", "name", "customerCount"]])}
    return {uid: g["name"] for uid, g in groups.items()}, customer_counts(client, groups)[0]


def stored(db: Path) -> tuple[dict[int, str], dict[int, list[int]]]:
    """The names and members in a database file (TinyDB's JSON)."""
    data = json.loads(db.read_bytes())
    names = {int(uid): doc["name"] for uid, doc in data["customergroups"].items()}
    held = {int(uid): sorted(doc["customers"]) for uid, doc in data.get("members", {}).items()}
    return names, held
