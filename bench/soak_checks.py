"""The soak's invariants, checked on the quiet server after every client stopped.

``final_checks`` reads every group and its customers (in batches) and holds them to what the
clients' models acknowledged; ``disk_invariant`` holds the database file to the same, after a
clean stop of a server the soak started itself.
"""

from __future__ import annotations

import collections
import itertools
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soak_load import Load, Stats

from customergroup_rpc.text import fold
from harness.client import Client
from harness.contract import INTERNAL
from harness.methods import METHODS, NOT_FOUND, short

Groups = dict[int, dict[str, Any]]
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
    found = list(group_invariants(client, groups))
    found.append(owned_invariant(client, loads, final))
    members, counts = customer_counts(client, final)
    found += [counts, members_invariant(loads, members), uid_invariant(loads, final, before)]
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


def owned_invariant(client: Client, loads: Sequence[Load], final: Groups) -> Invariant:
    wrong: list[tuple[int, str, str]] = []
    missing: list[int] = []
    for load in loads:
        for uid, name in load.model.live.items():
            if uid in load.model.uncertain:
                continue
            if uid not in final:
                missing.append(uid)
            elif final[uid]["name"] != name:
                wrong.append((uid, final[uid]["name"], name))
    deleted = [uid for load in loads for uid in sorted(load.model.deleted)]
    answers = client.batch([("get", [uid]) for uid in deleted])
    not_gone = [
        (uid, short(answer, 120))
        for uid, answer in zip(deleted, answers, strict=True)
        if answer.get("error", {}).get("code") != NOT_FOUND
    ]
    owned = sum(len(load.model.live) for load in loads)
    return Invariant(
        "owned groups have their last acknowledged name; deleted ones answer 9003",
        not (wrong or not_gone or missing),
        f"{owned} live, {len(deleted)} deleted; missing {missing[:10]}, wrong names "
        f"{wrong[:5]}, deleted but found {not_gone[:5]}",
    )


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


def members_invariant(loads: Sequence[Load], members: dict[int, list[int]]) -> Invariant:
    wrong: list[tuple[int, list[int], list[int]]] = []
    checked = 0
    for load in loads:
        for uid, expected in load.model.members.items():
            if uid in load.model.uncertain or uid not in members:
                continue  # a missing group is reported by the owned-groups invariant
            checked += 1
            found = set(members[uid])
            if found != expected:
                wrong.append((uid, sorted(expected - found)[:5], sorted(found - expected)[:5]))
    return Invariant(
        "members of owned groups are the acknowledged ones",
        not wrong,
        f"{checked} groups; wrong (group, missing, extra): {wrong[:5]}",
    )


def traffic_invariants(loads: Sequence[Load], stats: Stats) -> list[Invariant]:
    internal = sum(codes.get(INTERNAL, 0) for codes in stats.errors.values())
    fives = {status: n for status, n in stats.http.items() if status >= 500}
    errors = [load.error for load in loads if load.error]
    unexercised = [name for name in NAMES if not stats.ok[name]]
    texts = "".join(f"\n      {text}" for text in stats.problem_texts[:12])
    return [
        Invariant("no -32603 Internal error", not internal, f"{internal} answered"),
        Invariant("no HTTP 5xx", not fives, f"statuses {dict(sorted(stats.http.items()))}"),
        Invariant(
            "every request answered",
            stats.unanswered == 0 and not errors,
            f"{stats.unanswered} unanswered of {stats.requests}; {errors}",
        ),
        Invariant(
            "every answer as the contract and the owners' models predict",
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
    """Unique, increasing per client and in real time, never reused after a delete."""
    creates = [create for load in loads for create in load.model.creates]
    problems: list[str] = []
    counts = collections.Counter(uid for uid, _, _ in creates)
    twice = sorted(uid for uid, n in counts.items() if n > 1)
    if twice:
        problems.append(f"handed out twice: {twice[:10]}")
    for load in loads:
        uids = [uid for uid, _, _ in load.model.creates]
        if any(b <= a for a, b in itertools.pairwise(uids)):
            problems.append(f"client {load.cid}: not strictly increasing")
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


def disk_invariant(
    db: Path, final: Groups, members: dict[int, list[int]], exit_code: int | None
) -> Invariant:
    """After a clean stop, the database file holds exactly the final state."""
    try:
        data = json.loads(db.read_bytes())
    except (OSError, ValueError) as error:
        return Invariant("database file holds the final state", False, f"{error!r}")
    stored = {int(uid): doc.get("name") for uid, doc in data.get("customergroups", {}).items()}
    stored_members = {
        int(uid): sorted(doc.get("customers", [])) for uid, doc in data.get("members", {}).items()
    }
    problems = []
    if exit_code != 0:
        problems.append(f"serve exited with {exit_code} on SIGTERM")
    if stored != {uid: group["name"] for uid, group in final.items()}:
        problems.append(f"groups differ: {len(stored)} on disk, {len(final)} served")
    if {u: m for u, m in stored_members.items() if m} != {u: m for u, m in members.items() if m}:
        problems.append("members differ")
    memberships = sum(map(len, stored_members.values()))
    return Invariant(
        "server stops cleanly; database file parses and holds the final state",
        not problems,
        "; ".join([f"{len(stored)} groups, {memberships} memberships on disk", *problems]),
    )


def restart_invariant(
    client: Client, final: Groups, members: dict[int, list[int]], exit_code: int | None
) -> Invariant:
    """After a clean stop, a new server on the same database serves exactly the final state
    (a PostgreSQL database has no file to read: ``client`` talks to that new server)."""
    groups = client.call("list", [["uid", "name", "customerCount"]])
    served = {group["uid"]: group for group in groups}
    again, _ = customer_counts(client, served)
    problems = []
    if exit_code != 0:
        problems.append(f"serve exited with {exit_code} on SIGTERM")
    if {u: g["name"] for u, g in served.items()} != {u: g["name"] for u, g in final.items()}:
        problems.append(f"groups differ: {len(served)} after the restart, {len(final)} before")
    if {u: m for u, m in again.items() if m} != {u: m for u, m in members.items() if m}:
        problems.append("members differ")
    memberships = sum(map(len, again.values()))
    return Invariant(
        "server stops cleanly; a restarted server serves the final state",
        not problems,
        "; ".join([f"{len(served)} groups, {memberships} memberships after restart", *problems]),
    )
