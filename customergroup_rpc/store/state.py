"""The data in memory: groups, memberships and the indexes reads and checks need.

A ``State`` changes only through ``apply`` of a ``Change`` (``Put``, ``Drop``, ``Members``,
``Join``, ``Leave``), the same changes the store writes to its journal. ``tiny.py`` keeps one
State, the committed data, and stages the writes in flight in layers over it
(``overlay.py``).

The indexes: each group's folded name (``text.fold``, computed once per name, never per read);
the folded names in order, with ties by uid (a ``SortedList``: pages by name and prefix
ranges in O(log n + page)); folded name -> uid (uniqueness); trigrams of folded names
(``contains``); each group's customers (``index.SortedInts``).
The change feed is kept beside the groups, one document per event: ``Event`` adds one (in the
same staged changes as the change it records), ``Forget`` drops the oldest (retention).

>>> state = State()
>>> state.apply(Put(1, {"name": "Staff", "created": "x", "changed": "x"}))
>>> state.apply(Join(1, frozenset({17})))
>>> state.named(" STAFF "), state.prefixed("sta"), state.members(1) == {17}
(1, [1], True)
"""

from __future__ import annotations

import itertools
from bisect import bisect_right, insort
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from sortedcontainers import SortedList

from ..text import fold, successor
from .feed import concerned, made_with
from .index import SortedInts, Trigrams

Fields = dict[str, Any]
NONE: frozenset[int] = frozenset()


@dataclass(frozen=True)
class Put:
    """Create or replace a group's stored fields."""

    uid: int
    fields: Fields


@dataclass(frozen=True)
class Drop:
    """Delete a group and unassign its customers."""

    uid: int


@dataclass(frozen=True)
class Members:
    """Set a group's customers, all of them."""

    uid: int
    customers: frozenset[int]


@dataclass(frozen=True)
class Join:
    """Make customers members of a group (a change of O(customers), whatever the group)."""

    uid: int
    customers: frozenset[int]


@dataclass(frozen=True)
class Leave:
    """Take customers out of a group."""

    uid: int
    customers: frozenset[int]


@dataclass(frozen=True)
class Event:
    """Add the event at ``position`` (the next one) to the feed."""

    position: int
    fields: Fields


@dataclass(frozen=True)
class Forget:
    """Drop the feed's events ``first`` to ``upto`` (its oldest ones)."""

    first: int
    upto: int


Change = Put | Drop | Members | Join | Leave | Event | Forget


class State:
    """One consistent view of the data, with the indexes reads and checks need."""

    def __init__(self) -> None:
        self.groups: dict[int, Fields] = {}
        self.folded: dict[int, str] = {}  # uid -> fold(name)
        self._members: dict[int, SortedInts] = {}  # only groups with customers
        # Folded name -> uid: names are unique by fold. A database written before the fold
        # dropped invisible characters may hold two groups with one key: the lower uid is kept
        # here (so the name stays taken) and both are in _keys (so both are listed).
        self._by_key: dict[str, int] = {}
        self._keys: SortedList[tuple[Any, ...]] = SortedList()  # (folded name, uid)
        self._grams = Trigrams()
        self.last_uid = 0
        # The feed: position -> event, oldest first; positions run on from last_position.
        self.events: dict[int, Fields] = {}
        self.last_position = 0
        # The kept events' positions, ascending, by group (either side of a move) and by token
        # id: a read of the feed filtered by either reads those, not every kept event.
        self._event_uids: dict[int, list[int]] = {}
        self._event_tokens: dict[str, list[int]] = {}

    @property
    def horizon(self) -> int:
        """The position up to which events are no longer kept."""
        return next(iter(self.events), self.last_position + 1) - 1

    def event(self, position: int) -> Fields | None:
        """The kept event at ``position``, if any."""
        return self.events.get(position)

    def positions(self, uid: int | None, token: str | None) -> list[int] | None:
        """The positions, ascending, of the kept events that concern group ``uid`` or were
        made with token ``token`` (the fewer of the two when both are given); None when
        neither is: every kept event. The list is the index's own: read it, do not keep it."""
        found = [] if uid is None else [self._event_uids.get(uid, [])]
        if token is not None:
            found.append(self._event_tokens.get(token, []))
        return min(found, key=len) if found else None

    def get(self, uid: int) -> Fields | None:
        return self.groups.get(uid)

    def items(self) -> Iterator[tuple[int, Fields]]:
        """Every group in ascending uid order."""
        return iter(self.groups.items())

    def members(self, uid: int) -> SortedInts | frozenset[int]:
        """A group's customers (a set that also pages by position)."""
        return self._members.get(uid, NONE)

    def memberships(self) -> int:
        """How many (group, customer) pairs there are: one C-level pass over the groups that
        have customers (a few ms at 100,000; only a metrics scrape asks)."""
        return sum(map(len, self._members.values()))

    def count(self, uid: int) -> int:
        found = self._members.get(uid)
        return 0 if found is None else len(found)

    def absent(self, uid: int, customers: frozenset[int]) -> frozenset[int]:
        """Those of ``customers`` that are not members of the group."""
        found = self._members.get(uid)
        return customers if found is None else customers - found.as_set()

    def waiting(self, uid: int) -> int:
        """How many of a group's customers its sorted chunks have yet to catch up with."""
        found = self._members.get(uid)
        return 0 if found is None else found.waiting()

    def settle(self, uid: int, most: int) -> int:
        """Catch a group's chunks up with at most ``most`` customers (``SortedInts.settle``);
        how many still wait."""
        found = self._members.get(uid)
        return 0 if found is None else found.settle(most)

    def everyone(self, uid: int) -> frozenset[int]:
        found = self._members.get(uid)
        return NONE if found is None else frozenset(found.as_set())

    def named(self, name: str) -> int | None:
        """The uid of the group whose name folds like ``name``, if any."""
        return self._by_key.get(fold(name))

    def holder(self, key: str) -> int | None:
        """The uid of the group whose folded name is ``key``, if any."""
        return self._by_key.get(key)

    def count_prefixed(self, folded: str) -> int:
        """How many folded names start with ``folded``, without listing them."""
        start, end = self._span(folded)
        return end - start

    def prefixed(self, folded: str) -> list[int]:
        """The uids of groups whose folded name starts with ``folded``, in name order."""
        return list(self.by_name(folded))

    def by_name(self, folded: str = "", descending: bool = False) -> Iterator[int]:
        """Lazily, the uids whose folded name starts with ``folded``, in name order."""
        start, end = self._span(folded)
        found = self._keys.islice(start, end, reverse=descending)
        return (uid for _, uid in found)

    def name_keys(
        self, folded: str, descending: bool, after: tuple[str, int] | None, limit: int
    ) -> list[tuple[str, int]]:
        """Up to ``limit`` (folded name, uid) in name order whose name starts with ``folded``,
        from just past ``after`` (None: the first): a walk that changes may come between."""
        low: tuple[Any, ...] = (folded,)
        after_prefix = successor(folded)
        high: tuple[Any, ...] | None = None if after_prefix is None else (after_prefix,)
        if after is not None:
            low, high = (after, high) if not descending else (low, after)
        found = self._keys.irange(
            low,
            high,
            inclusive=(after is None or descending, False),
            reverse=descending,
        )
        return list(itertools.islice(found, limit))

    def name_candidates(self, text: str) -> set[int] | None:
        """The uids whose folded name may contain ``text`` (folded), from the trigrams; None
        when ``text`` is too short for them (every group may)."""
        return self._grams.candidates(text)

    def apply(self, change: Change) -> None:
        """Take a change, as staged (``overlay.Layer.apply``): a Join's customers absent from
        the group, a Leave's present in it."""
        if isinstance(change, Event | Forget):
            self._feed(change)
            return
        uid = change.uid
        if isinstance(change, Put):
            old = self.folded.get(uid)
            key = fold(change.fields["name"])
            if old != key:
                if old is not None:
                    self._unindex(old, uid)
                self._index(key, uid)
            self.groups[uid] = change.fields
            self.last_uid = max(self.last_uid, uid)
        elif isinstance(change, Drop):
            del self.groups[uid]
            self._unindex(self.folded.pop(uid), uid)
            self._members.pop(uid, None)
        else:
            self._membership(change)

    def _membership(self, change: Members | Join | Leave) -> None:
        uid = change.uid
        if isinstance(change, Members):
            if change.customers:
                self._members[uid] = SortedInts(change.customers)
            else:
                self._members.pop(uid, None)
        elif isinstance(change, Join):  # its customers are absent, a Leave's present (apply)
            if change.customers:
                self._members.setdefault(uid, SortedInts()).update(change.customers, absent=True)
        else:
            found = self._members.get(uid)
            if found is not None:
                found.discard_all(change.customers, present=True)
                if not found:
                    del self._members[uid]

    def load(self, uid: int, customers: Iterable[int]) -> None:
        """A group's customers as read from the database file (ascending, at start)."""
        self._members[uid] = SortedInts(customers)

    def _feed(self, change: Event | Forget) -> None:
        if isinstance(change, Event):
            self.events[change.position] = change.fields
            self.last_position = max(self.last_position, change.position)
            for uid in concerned(change.fields):
                insort(self._event_uids.setdefault(uid, []), change.position)
            token = made_with(change.fields)
            if token is not None:
                insort(self._event_tokens.setdefault(token, []), change.position)
            return
        uids: set[int] = set()
        tokens: set[str | None] = set()
        for position in range(change.first, change.upto + 1):
            event = self.events.pop(position, None)
            if event is not None:
                uids.update(concerned(event))
                tokens.add(made_with(event))
        _forget(self._event_uids, uids, change.upto)
        _forget(self._event_tokens, tokens, change.upto)

    def copy(self) -> State:
        """An independent copy, built again from the data (O(database): tests and tools)."""
        twin = State()
        for uid, fields in self.items():
            twin.apply(Put(uid, fields))
            if uid in self._members:
                twin.apply(Members(uid, frozenset(self._members[uid].as_set())))
        twin.last_uid = self.last_uid
        for position, fields in self.events.items():
            twin.apply(Event(position, fields))
        twin.last_position = self.last_position
        return twin

    def _span(self, folded: str) -> tuple[int, int]:
        """Where the keys that start with ``folded`` are in ``_keys``: [start, end)."""
        start = self._keys.bisect_left((folded,))
        after = successor(folded)
        end = len(self._keys) if after is None else self._keys.bisect_left((after,))
        return start, end

    def _index(self, key: str, uid: int) -> None:
        self.folded[uid] = key
        self._by_key.setdefault(key, uid)
        self._keys.add((key, uid))
        self._grams.add(uid, key)

    def _unindex(self, key: str, uid: int) -> None:
        self._keys.remove((key, uid))
        self._grams.remove(uid, key)
        if self._by_key[key] == uid:
            del self._by_key[key]
            rest = next(itertools.islice(self._keys.irange((key,)), 1), None)
            if rest is not None and rest[0] == key:  # another group, same key
                self._by_key[key] = rest[1]


def _forget(index: dict[Any, list[int]], keys: Iterable[object], upto: int) -> None:
    """Drop the positions up to ``upto`` from the lists of ``keys``: retention drops the
    oldest events, so each list loses a run at its front."""
    for key in index.keys() & set(keys):
        kept = index[key]
        del kept[: bisect_right(kept, upto)]
        if not kept:
            del index[key]
