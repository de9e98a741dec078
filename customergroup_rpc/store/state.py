"""The data in memory: groups, memberships and the indexes reads and checks need.

A ``State`` changes only through ``apply`` of a ``Change`` (``Put``, ``Drop``, ``Members``), the
same changes the store writes to disk; ``tiny.py`` keeps two of them, working and committed.
The change feed is kept beside the groups, one document per event: ``Event`` adds one (in the
same staged changes as the change it records), ``Forget`` drops the oldest (retention).

>>> state = State()
>>> state.apply(Put(1, {"name": "Staff", "created": "x", "changed": "x"}))
>>> state.apply(Members(1, frozenset({17})))
>>> state.named(" STAFF "), state.prefixed("sta"), state.members(1)
(1, [1], frozenset({17}))
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..text import fold, successor

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
    """Set a group's customers."""

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


Change = Put | Drop | Members | Event | Forget


class State:
    """One consistent view of the data, with the indexes reads and checks need."""

    def __init__(self) -> None:
        self.groups: dict[int, Fields] = {}
        self._members: dict[int, frozenset[int]] = {}
        # Folded name -> uid: names are unique by fold. A database written before the fold
        # dropped invisible characters may hold two groups with one key: the lower uid is kept
        # here (so the name stays taken) and both are in _keys (so both are listed).
        self._by_key: dict[str, int] = {}
        # (folded name, uid), sorted: name order with ties by uid, for prefix searches.
        self._keys: list[tuple[str, int]] = []
        self.last_uid = 0
        # The feed: position -> event, oldest first; positions run on from last_position.
        self.events: dict[int, Fields] = {}
        self.last_position = 0

    @property
    def horizon(self) -> int:
        """The position up to which events are no longer kept."""
        return next(iter(self.events), self.last_position + 1) - 1

    def get(self, uid: int) -> Fields | None:
        return self.groups.get(uid)

    def items(self) -> Iterator[tuple[int, Fields]]:
        """Every group in ascending uid order."""
        return iter(self.groups.items())

    def members(self, uid: int) -> frozenset[int]:
        return self._members.get(uid, NONE)

    def named(self, name: str) -> int | None:
        """The uid of the group whose name folds like ``name``, if any."""
        return self._by_key.get(fold(name))

    def count_prefixed(self, folded: str) -> int:
        """How many folded names start with ``folded``, without listing them."""
        start, end = self._span(folded)
        return end - start

    def prefixed(self, folded: str) -> list[int]:
        """The uids of groups whose folded name starts with ``folded``, in name order."""
        start, end = self._span(folded)
        return [uid for _, uid in self._keys[start:end]]

    def apply(self, change: Change) -> None:
        if isinstance(change, Event | Forget):
            self._feed(change)
        elif isinstance(change, Put):
            old = self.groups.get(change.uid)
            name = change.fields["name"]
            if old is None or old["name"] != name:
                if old is not None:
                    self._unindex(old["name"], change.uid)
                self._index(name, change.uid)
            self.groups[change.uid] = change.fields
            self.last_uid = max(self.last_uid, change.uid)
        elif isinstance(change, Drop):
            self._unindex(self.groups.pop(change.uid)["name"], change.uid)
            self._members.pop(change.uid, None)
        elif change.customers:
            self._members[change.uid] = change.customers
        else:
            self._members.pop(change.uid, None)

    def _feed(self, change: Event | Forget) -> None:
        if isinstance(change, Event):
            self.events[change.position] = change.fields
            self.last_position = max(self.last_position, change.position)
        else:
            for position in range(change.first, change.upto + 1):
                self.events.pop(position, None)

    def copy(self) -> State:
        """An independent copy (values are never mutated in place, so sharing them is safe)."""
        twin = State()
        twin.groups, twin._members = dict(self.groups), dict(self._members)
        twin._by_key, twin._keys, twin.last_uid = (
            dict(self._by_key),
            list(self._keys),
            self.last_uid,
        )
        twin.events, twin.last_position = dict(self.events), self.last_position
        return twin

    def _span(self, folded: str) -> tuple[int, int]:
        """Where the keys that start with ``folded`` are in ``_keys``: [start, end)."""
        start = bisect.bisect_left(self._keys, (folded,))
        after = successor(folded)
        end = len(self._keys) if after is None else bisect.bisect_left(self._keys, (after,))
        return start, end

    def _index(self, name: str, uid: int) -> None:
        key = fold(name)
        self._by_key.setdefault(key, uid)
        bisect.insort(self._keys, (key, uid))

    def _unindex(self, name: str, uid: int) -> None:
        key = fold(name)
        del self._keys[bisect.bisect_left(self._keys, (key, uid))]
        if self._by_key[key] == uid:
            del self._by_key[key]
            rest = bisect.bisect_left(self._keys, (key,))
            if rest < len(self._keys) and self._keys[rest][0] == key:  # another group, same key
                self._by_key[key] = self._keys[rest][1]
