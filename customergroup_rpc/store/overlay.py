"""The writes in flight: a layer of staged changes over the committed state.

A write checks its conditions against the working view (a name free, a group there, which
customers are members) and stages its changes there at once, so the next write sees them; the
committed ``State`` takes them only once they are durable. The working view is a ``Layer``:
what the changes staged in it did, over the view below it (the committed state, or the layer
being written to disk). Each answer costs what the change did, never what the group holds: a
layer keeps, per group, the customers joined and left in it, not the group's members.

>>> from .state import Join, Put, State
>>> committed = State()
>>> working = Layer(committed)
>>> working.apply(Put(1, {"name": "Staff", "created": "x", "changed": "x"}))
>>> working.apply(Join(1, frozenset({17, 42})))
>>> working.named("staff"), working.count(1), committed.get(1)
(1, 2, None)
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

from ..text import fold
from .state import NONE, Change, Drop, Event, Fields, Forget, Join, Leave, Members, Put

_EMPTY: frozenset[int] = frozenset()


class View(Protocol):
    """What writes ask of the data: the committed ``State`` and every ``Layer`` answer it."""

    last_uid: int
    last_position: int

    @property
    def horizon(self) -> int: ...
    def event(self, position: int) -> Fields | None: ...
    def get(self, uid: int) -> Fields | None: ...
    def named(self, name: str) -> int | None: ...
    def holder(self, key: str) -> int | None: ...
    def count(self, uid: int) -> int: ...
    def absent(self, uid: int, customers: frozenset[int]) -> frozenset[int]: ...
    def everyone(self, uid: int) -> frozenset[int]: ...
    def items(self) -> Iterator[tuple[int, Fields]]: ...


class Layer:
    """The view below with the changes staged here applied."""

    def __init__(self, below: View) -> None:
        self.below = below
        self.changes: list[Change] = []
        self.last_uid = below.last_uid
        self._fields: dict[int, Fields | None] = {}  # None: dropped here
        self._keys: dict[str, int | None] = {}  # folded name -> holder (None: freed here)
        self._joined: dict[int, set[int]] = {}  # customers made members here
        self._left: dict[int, set[int]] = {}  # members below, taken out here
        self._cleared: set[int] = set()  # groups whose members below no longer count
        self.last_position = below.last_position
        self._events: dict[int, Fields] = {}  # the feed's events added here
        self._horizon = below.horizon  # events up to here are forgotten

    @property
    def horizon(self) -> int:
        return max(self._horizon, self.below.horizon)

    def event(self, position: int) -> Fields | None:
        if position <= self.horizon:
            return None
        return self._events[position] if position in self._events else self.below.event(position)

    def get(self, uid: int) -> Fields | None:
        return self._fields[uid] if uid in self._fields else self.below.get(uid)

    def named(self, name: str) -> int | None:
        return self.holder(fold(name))

    def holder(self, key: str) -> int | None:
        """The uid of the group whose folded name is ``key``, if any."""
        return self._keys[key] if key in self._keys else self.below.holder(key)

    def count(self, uid: int) -> int:
        joined = len(self._joined.get(uid, _EMPTY))
        if uid in self._cleared:
            return joined
        return self.below.count(uid) + joined - len(self._left.get(uid, _EMPTY))

    def absent(self, uid: int, customers: frozenset[int]) -> frozenset[int]:
        joined = self._joined.get(uid, _EMPTY)
        if uid in self._cleared:
            return customers - joined
        left = self._left.get(uid, _EMPTY)
        return (self.below.absent(uid, customers) - joined) | (customers & left)

    def everyone(self, uid: int) -> frozenset[int]:
        joined = self._joined.get(uid, _EMPTY)
        if uid in self._cleared:
            return frozenset(joined)
        return (self.below.everyone(uid) - self._left.get(uid, _EMPTY)) | joined

    def members(self, uid: int) -> frozenset[int]:
        """Every customer of a group (O(group): for tests)."""
        return self.everyone(uid) if self.get(uid) is not None else NONE

    def items(self) -> Iterator[tuple[int, Fields]]:
        """Every group in ascending uid order (O(database): for tests)."""
        found = dict(self.below.items())
        for uid, fields in self._fields.items():
            if fields is None:
                found.pop(uid, None)
            else:
                found[uid] = fields
        return iter(sorted(found.items()))

    def apply(self, change: Change) -> None:
        """Stage a change: a Join's customers must be absent, a Leave's present."""
        self.changes.append(change)
        if isinstance(change, Event | Forget):
            self._feed(change)
            return
        if isinstance(change, Put | Drop):
            self._fields_of(change)
            return
        uid = change.uid
        if isinstance(change, Members):
            self._cleared.add(uid)
            self._joined[uid] = set(change.customers)
            self._left.pop(uid, None)
        elif isinstance(change, Join):
            left = self._left.get(uid, _EMPTY)
            back = change.customers & left
            if back:
                self._left[uid] = set(left - back)
            self._joined.setdefault(uid, set()).update(
                change.customers - back if back else change.customers
            )
        elif isinstance(change, Leave):
            joined = self._joined.get(uid, _EMPTY)
            here = change.customers & joined
            if here:
                self._joined[uid] = set(joined - here)
            rest = change.customers - here
            if rest:
                self._left.setdefault(uid, set()).update(rest)

    def _fields_of(self, change: Put | Drop) -> None:
        uid = change.uid
        old = self.get(uid)
        new = change.fields if isinstance(change, Put) else None
        old_key = None if old is None else fold(old["name"])
        new_key = None if new is None else fold(new["name"])
        if old_key != new_key:
            if old_key is not None and self.holder(old_key) == uid:
                self._keys[old_key] = None
            if new_key is not None:
                self._keys[new_key] = uid
        self._fields[uid] = new
        if new is None:
            self._cleared.add(uid)
            self._joined.pop(uid, None)
            self._left.pop(uid, None)
        else:
            self.last_uid = max(self.last_uid, uid)

    def _feed(self, change: Event | Forget) -> None:
        if isinstance(change, Event):
            self._events[change.position] = change.fields
            self.last_position = max(self.last_position, change.position)
        else:
            self._horizon = max(self._horizon, change.upto)
