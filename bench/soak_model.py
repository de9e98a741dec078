"""The model a soak client checks its answers against: the groups it owns, and what they predict.

Only the owner renames, deletes or changes the members of a group, so the last acknowledged
value of each owned group is known: ``Owned`` holds it and predicts the answers that depend on
it (an owner's reads, member counts, a name already taken). What any answer must be whatever
the data, the contract checks (``harness/contract.py``). A ``Call`` is one request with its
prediction; ``judge`` holds an answer to it and raises ``Broken`` when it differs.
"""

from __future__ import annotations

import collections
import itertools
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from customergroup_rpc.text import fold
from harness.client import DEFAULT, NO_PARAMS, request
from harness.methods import INVALID_PARAMS, METHODS, need

CUSTOMERS = 400  # customer uids drawn from 1..CUSTOMERS
SUFFIXES = ("", "", "", " Straße", " Ærøskøbing", " ǅemal", " İzmir", " ﬁle", " Ωmega", " 東京")
FULLWIDTH = {
    ord(c): ord(c) + 0xFEE0
    for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:"
}

Then = Callable[[Any], None]
WRITES = {name.removeprefix("Customergroup.") for name, m in METHODS.items() if m.scope == "manage"}


@dataclass
class Call:
    """One call and its prediction.

    ``then`` gets the result when one is due (checks it, updates the model); ``fails`` lists the
    error codes that are due instead (or, with ``then``, allowed: a race). A -32602 must name
    ``at`` (positional pointers). ``raw`` is sent instead of a well-formed request, and
    ``method`` is then only its label in the figures.
    """

    method: str
    params: Any = NO_PARAMS
    then: Then | None = None
    fails: tuple[int, ...] = ()
    at: tuple[str, ...] = ()
    raw: dict[str, Any] | None = None
    names: Sequence[str] | None = None  # send the params by these names
    token: Any = DEFAULT  # the manage token; None for none, or another one

    def request(self, id_: Any) -> dict[str, Any]:
        if self.raw is not None:
            return {**self.raw, "id": id_}
        params = self.params
        if self.names is not None and params is not NO_PARAMS:
            params = dict(zip(self.names, params, strict=False))
        return request(self.method, params, id_)

    def judge(self, answer: dict[str, Any]) -> None:
        error = answer.get("error")
        if error is None:
            need(not self.fails or self.then is not None, "expected", self.fails, "got", answer)
            if self.then is not None:
                self.then(answer["result"])
            return
        need(error["code"] in self.fails, "expected", self.fails or "a result", "got", answer)
        if error["code"] == INVALID_PARAMS:
            found = {problem["pointer"] for problem in error["data"]}
            for pointer in map(self.in_params, self.at):
                need(pointer in found, "expected a problem at", pointer, "got", answer)

    def in_params(self, pointer: str) -> str:
        """A pointer into positional params (``/1/sort``) as this call sent them."""
        head, _, rest = pointer[1:].partition("/")
        if self.names is None or not head.isdigit():
            return pointer
        return "/" + "/".join(part for part in (self.names[int(head)], rest) if part)


# Spellings of a name that fold to the same key: case, width, spaces, or as it is.
SPELLINGS: tuple[Callable[[random.Random, str], str], ...] = (
    lambda rng, name: name.upper(),
    lambda rng, name: name.lower(),
    lambda rng, name: name.swapcase(),
    lambda rng, name: "".join(c.translate(FULLWIDTH) if rng.random() < 0.5 else c for c in name),
    lambda rng, name: name.replace(" ", rng.choice(("  ", "\u00a0", " \u3000 "))),
    lambda rng, name: f"{' ' * rng.randrange(1, 3)}{name}{' ' * rng.randrange(3)}",
    lambda rng, name: name,
    lambda rng, name: name,
)


def styled(rng: random.Random, name: str) -> str:
    """A spelling of ``name`` that folds to the same key (``SPELLINGS``)."""
    spelling = rng.choice(SPELLINGS)(rng, name)
    return spelling if fold(spelling) == fold(name) else name


def other_spelling(rng: random.Random, name: str) -> str:
    """A different string with the same key, when one of a few tries finds it."""
    for _ in range(8):
        spelling = styled(rng, name).strip()
        if spelling != name:
            return spelling
    return name


class Registry:
    """Uids and names every client has seen created, for reads and collisions across clients."""

    def __init__(self, uids: Sequence[int] = ()) -> None:
        self._lock = threading.Lock()
        self.uids: list[int] = list(uids)
        self.names: collections.deque[str] = collections.deque(maxlen=256)
        # soak_bad.bad_call's kinds in turn: drawn at random, a 4-second soak missed some.
        self.bad_kinds = itertools.count()

    def add(self, uid: int | None, name: str | None) -> None:
        with self._lock:
            self.uids += [] if uid is None else [uid]
            self.names.extend([] if name is None else [name])

    def some(self, rng: random.Random, names: bool = False) -> Any:
        """A uid (or with ``names`` a name) someone created; None before the first."""
        with self._lock:
            found: Sequence[Any] = self.names if names else self.uids
            return rng.choice(found) if found else None


class Owned:
    """One client's groups: last acknowledged names and members, deletes, and its creates."""

    def __init__(self, prefix: str, rng: random.Random, registry: Registry) -> None:
        self.prefix, self.rng, self.registry = prefix, rng, registry
        self.live: dict[int, str] = {}
        self.members: dict[int, set[int]] = {}
        self.deleted: set[int] = set()
        self.uncertain: set[int] = set()  # owned, but a call to it went unanswered
        self.unknown_creates = 0  # creates that went unanswered
        self.creates: list[tuple[int, float, float]] = []  # uid, sent, answered
        self.sent = self.answered = 0.0  # of the request being judged
        self.counter = itertools.count(1)

    # -- picks ------------------------------------------------------------------------------

    def fresh_name(self) -> str:
        suffix = self.rng.choice(SUFFIXES)
        return styled(self.rng, f"{self.prefix}n{next(self.counter)}{suffix}")

    def own(self, exclude: int | None = None) -> int | None:
        """A live owned group whose state is known."""
        choices = [uid for uid in self.live if uid != exclude and uid not in self.uncertain]
        return self.rng.choice(choices) if choices else None

    def gone(self) -> int | None:
        """An owned group this client deleted."""
        return self.rng.choice(sorted(self.deleted)) if self.deleted else None

    def any_uid(self) -> int:
        """Some uid: another client's, an own deleted one, or one nobody has."""
        pick = self.rng.random()
        if pick < 0.1 and self.deleted:
            return self.rng.choice(sorted(self.deleted))
        if pick < 0.15:
            return 10**9 + self.rng.randrange(1000)
        return self.registry.some(self.rng) or 1

    def customers(self, most: int = 12) -> list[int]:
        picked = [self.rng.randint(1, CUSTOMERS) for _ in range(self.rng.randint(0, most))]
        if picked and self.rng.random() < 0.3:
            picked.append(picked[0])  # a repeated uid counts once
        return picked

    def matching(self) -> set[int]:
        """Owned groups (state known) whose names start with the prefix."""
        key = fold(self.prefix)
        known = self.live.keys() - self.uncertain
        return {uid for uid in known if fold(self.live[uid]).startswith(key)}

    def lost(self, call: Call) -> None:
        """No answer (or a wrong one): the groups a write names are unknown from now on."""
        if call.method in WRITES and isinstance(call.params, list):
            head = call.params[:2]
            self.uncertain.update(u for u in head if type(u) is int and u in self.live)
            self.unknown_creates += call.method == "create" or head[:1] == [None]

    # -- predictions: each takes the result last, checks it and updates the model ---------
    # (a Call's ``then`` is one of them with all but the result given: functools.partial)

    def created(self, name: str, group: dict[str, Any]) -> None:
        uid, last = group["uid"], self.creates[-1][0] if self.creates else 0
        need(uid > last, "uid", uid, "after this client's uid", last)
        self.creates.append((uid, self.sent, self.answered))
        self.live[uid], self.members[uid] = name.strip(), set()
        self.registry.add(uid, name.strip())

    def renamed(self, uid: int, name: str, group: dict[str, Any]) -> None:
        need(group.get("uid", uid) == uid, "set of", uid, "answered", group)
        self.live[uid] = name.strip()
        self.registry.add(None, name.strip())

    def group(self, uid: int, group: dict[str, Any]) -> None:
        """An owner's read: the acknowledged name and member count (the keys its query chose)."""
        expected = {"name": self.live[uid], "uid": uid, "customerCount": len(self.members[uid])}
        for key in expected.keys() & group.keys():
            need(group[key] == expected[key], "group", group, "acknowledged", expected)

    def same_uid(self, uid: int, group: dict[str, Any]) -> None:
        need(group.get("uid", uid) == uid, "read of", uid, "answered", group)

    def at_least_own(self, count: int) -> None:
        need(count >= len(self.matching()), "count", count, "below", len(self.matching()), "owned")

    def at_most(self, most: int, count: int) -> None:
        need(count <= most, "count of", most, "uids answered", count)

    def listed(self, selection: dict[str, Any], complete: bool, groups: list[Any]) -> None:
        """Ordered by the sort key, ties by uid; own groups as acknowledged; if ``complete``,
        every own group with the prefix and none without."""
        sort, descending = selection["sort"], selection["descending"]
        keys = [(fold(g["name"]) if sort == "name" else g[sort], g["uid"]) for g in groups]
        need(keys == sorted(set(keys), reverse=descending), "not ordered by", sort, keys[:9])
        if "/customerCount" in selection.get("filters", {}):
            need(all(g["customerCount"] >= 1 for g in groups), "customerCount < 1 matched")
        for group in groups:
            need(group["uid"] not in self.deleted, "own deleted group listed:", group)
            if group["uid"] in self.live.keys() - self.uncertain:
                self.group(group["uid"], group)
        if complete:
            listed = {g["uid"] for g in groups} & (self.live.keys() - self.uncertain)
            need(listed == self.matching(), "own prefix listed", listed, self.matching())

    def customers_of(self, uid: int, selection: Any, listed: list[int]) -> None:
        chosen = selection if isinstance(selection, dict) else {}
        ordered = sorted(self.members[uid], reverse=bool(chosen.get("descending")))
        offset, limit = chosen.get("offset", 0), chosen.get("limit")
        expected = ordered[offset : None if limit is None else offset + limit]
        need(listed == expected, "listCustomers", uid, chosen, listed, "acknowledged", expected)

    def added(self, uid: int, customers: list[int], added: int) -> None:
        need(added == len(set(customers) - self.members[uid]), "added", added, "of", customers)
        self.members[uid] |= set(customers)

    def removed(self, uid: int, customers: list[int], removed: int) -> None:
        need(removed == len(set(customers) & self.members[uid]), "removed", removed, customers)
        self.members[uid] -= set(customers)

    def moved(self, source: int, target: int, customers: list[int] | None, moved: int) -> None:
        moving = set(self.members[source] if customers is None else customers)
        need(moved == len(moving), "moved", moved, "of", sorted(moving))
        self.members[source] -= moving
        self.members[target] |= moving

    def events_of(self, uid: int, limit: int | None, found: dict[str, Any]) -> None:
        """changes of an own group: only its events, in position order, within the limit."""
        events = found["events"]
        need(all(uid in (e["uid"], e.get("toUid")) for e in events), "events of", uid, events)
        positions = [e["position"] for e in events]
        need(positions == sorted(set(positions)), "not in order:", positions)
        need(limit is None or len(events) <= limit, len(events), "events over", limit)

    def deleted_group(self, uid: int, done: bool) -> None:
        del self.live[uid], self.members[uid]
        self.deleted.add(uid)

    def problems_at(self, pointers: Sequence[str], found: list[dict[str, Any]]) -> None:
        """validate's answer: problems at every one of ``pointers``; none when there are none."""
        at = {problem["pointer"] for problem in found}
        need(set(pointers) <= at and (bool(pointers) or not found), "problems", found)
