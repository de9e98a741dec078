"""MODEL: the Customergroup use cases and their rules (SPEC 3, 4, 6, 10).

Names are trimmed, 1 to 255 characters, unique under ``text.fold``; ``created`` is set once and
``changed`` moves only when a value changes (a name, or the group's customers); uids come from
the store and are never reused. ``customerCount`` is derived from the members, never stored.
Every method here runs without an ``await``, so a check and the write that follows it cannot
interleave with another request: of many parallel creates of one name, exactly one wins.

>>> from customergroup_rpc.schemas import Schemas
>>> from customergroup_rpc.store import TinyStore
>>> groups = Customergroups(TinyStore.open(None), Schemas.load())
>>> groups.set(None, {"name": " Students "})["name"]
'Students'
>>> groups.validate(None, {"name": "STUDENTS"})
[{'pointer': '/name', 'message': 'The name is taken: customer group 1 is called Students.'}]
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import filters
from .errors import InvalidParams, ObjectNotFound, PatchInvalid, Problem, join
from .schemas import Schemas
from .store import Fields, Store
from .text import fold

Group = dict[str, Any]
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """The stored form of a moment: UTC, whole seconds, ``Z``.

    >>> timestamp(datetime(2014, 1, 16, 14, 14, 18, 999, tzinfo=UTC))
    '2014-01-16T14:14:18Z'
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Orderings (SPEC 6): each is a sort key; every one ends with the uid, so pages never overlap.
ORDERINGS: Mapping[str, Callable[[Group], tuple[Any, ...]]] = {
    "uid": lambda g: (g["uid"],),
    "name": lambda g: (fold(g["name"]), g["uid"]),
    "created": lambda g: (g["created"], g["uid"]),
    "changed": lambda g: (g["changed"], g["uid"]),
    "customerCount": lambda g: (g["customerCount"], g["uid"]),
}


@dataclass(frozen=True)
class Selection:
    """Which groups ``list`` returns, in which order (SPEC 6)."""

    where: filters.Filter = filters.MATCH_ALL
    limit: int | None = None
    offset: int = 0
    sort: str = "uid"
    descending: bool = False


@dataclass(frozen=True)
class Page:
    """Which of a group's customer uids ``listCustomers`` returns."""

    limit: int | None = None
    offset: int = 0
    descending: bool = False


class Customergroups:
    """The customer groups of one shop, over a store."""

    def __init__(self, store: Store, schemas: Schemas, clock: Clock = utc_now) -> None:
        self._store = store
        self._schemas = schemas
        self._clock = clock

    def count(self, where: filters.Filter) -> int:
        """How many groups match a filter."""
        return len(self._matching(where))

    def get(self, uid: int, at: str = "/0") -> Group:
        """One group; ``ObjectNotFound`` pointing at ``at`` if there is none."""
        fields = self._store.get(uid)
        if fields is None:
            raise ObjectNotFound(uid, at)
        return _group(uid, fields, self._store.members(uid))

    def select(self, selection: Selection) -> list[Group]:
        """The groups a selection picks, ordered and paged."""
        found = self._matching(selection.where)
        if selection.sort != "uid" or selection.descending:
            found.sort(key=ORDERINGS[selection.sort], reverse=selection.descending)
        return _page(found, selection.offset, selection.limit)

    def schema(self, uid: int | None, at: str = "/0") -> dict[str, Any]:
        """The JSON Schema for a new group (``None``) or an existing one."""
        if uid is not None:
            self.get(uid, at)
        return self._schemas.object_for(new=uid is None)

    def validate(self, uid: int | None, patch: Mapping[str, Any], at: str = "/0") -> list[Problem]:
        """Every problem ``set`` would find with this patch; nothing is saved."""
        if uid is not None:
            self.get(uid, at)
        return self._problems(uid, _normalised(patch))

    def set(self, uid: int | None, patch: Mapping[str, Any], at: str = "/0") -> Group:
        """Create (uid None) or update a group with a patch; return the group as stored."""
        current = None if uid is None else self.get(uid, at)
        patch = _normalised(patch)
        problems = self._problems(uid, patch)
        if problems:
            raise PatchInvalid(problems)
        if current is None:
            now = timestamp(self._clock())
            fields: Fields = {"name": patch["name"], "created": now, "changed": now}
            return _group(self._store.insert(fields), fields, frozenset())
        return self._update(current, patch)

    def delete(self, uid: int, at: str = "/0") -> None:
        """Remove a group and unassign its customers; its uid is not handed out again."""
        self.get(uid, at)
        self._store.remove(uid)

    def add_customers(self, uid: int, customers: Sequence[int], at: str = "/0") -> int:
        """Make customers members of a group; how many were not members before."""
        self.get(uid, at)
        current = self._store.members(uid)
        new = frozenset(customers) - current
        self._save_members({uid: current | new})
        return len(new)

    def remove_customers(self, uid: int, customers: Sequence[int], at: str = "/0") -> int:
        """Take customers out of a group; how many were members."""
        self.get(uid, at)
        current = self._store.members(uid)
        gone = current & frozenset(customers)
        self._save_members({uid: current - gone})
        return len(gone)

    def list_customers(self, uid: int, page: Page, at: str = "/0") -> list[int]:
        """A group's customer uids, ascending unless the page says descending."""
        self.get(uid, at)
        ordered = sorted(self._store.members(uid), reverse=page.descending)
        return _page(ordered, page.offset, page.limit)

    def move_customers(
        self, source: int, target: int, customers: Sequence[int] | None, at: Sequence[str]
    ) -> int:
        """Move customers (None: all) from one group to another, all or nothing; how many."""
        self.get(source, at[0])
        self.get(target, at[1])
        if source == target:
            raise InvalidParams.at(at[1], "A group cannot move customers to itself; name another.")
        members = self._store.members(source)
        moving = members if customers is None else frozenset(customers)
        if not moving <= members:
            raise InvalidParams(_strangers(customers or [], members, source, at[2]))
        self._save_members({source: members - moving, target: self._store.members(target) | moving})
        return len(moving)

    def _save_members(self, changes: Mapping[int, frozenset[int]]) -> None:
        """Store new memberships in one write, moving ``changed`` of the groups that changed."""
        changed = {uid: m for uid, m in changes.items() if m != self._store.members(uid)}
        if not changed:
            return
        now = timestamp(self._clock())
        fields = {uid: {**self._stored(uid), "changed": now} for uid in changed}
        self._store.save(fields, changed)

    def _update(self, current: Group, patch: Mapping[str, Any]) -> Group:
        changes = {k: v for k, v in patch.items() if current[k] != v}
        if not changes:
            return current
        uid = current["uid"]
        fields = {**self._stored(uid), **changes, "changed": timestamp(self._clock())}
        self._store.save({uid: fields}, {})
        return _group(uid, fields, self._store.members(uid))

    def _stored(self, uid: int) -> Fields:
        return dict(self._store.get(uid) or {})

    def _problems(self, uid: int | None, patch: Mapping[str, Any]) -> list[Problem]:
        problems = self._schemas.check_patch(patch, new=uid is None)
        name = patch.get("name")
        if isinstance(name, str) and not any(p["pointer"] == "/name" for p in problems):
            problems += self._name_taken(uid, name)
        return sorted(problems, key=lambda p: p["pointer"])

    def _name_taken(self, uid: int | None, name: str) -> list[Problem]:
        key = fold(name)
        for other, fields in self._store.items():
            if other != uid and fold(fields["name"]) == key:
                taken = f"The name is taken: customer group {other} is called {fields['name']}."
                return [Problem(pointer="/name", message=taken)]
        return []

    def _matching(self, where: filters.Filter) -> list[Group]:
        """Every group the filter holds for, in uid order."""
        members = self._store.members
        groups = [_group(uid, fields, members(uid)) for uid, fields in self._store.items()]
        if where == filters.MATCH_ALL:
            return groups
        test = filters.compile_filter(where)
        # Filters may look at a group's customers, which results never show.
        return [g for g in groups if test({**g, "customers": members(g["uid"])})]


def _group(uid: int, fields: Fields, members: frozenset[int]) -> Group:
    """The object as clients see it: stored fields, the derived customer count, the uid."""
    return {**fields, "customerCount": len(members), "uid": uid}


def _page(items: list[Any], offset: int, limit: int | None) -> list[Any]:
    return items[offset : None if limit is None else offset + limit]


def _strangers(
    customers: Sequence[int], members: frozenset[int], uid: int, at: str
) -> list[Problem]:
    """A problem for each listed customer that is not in the group (the first 100)."""
    found = [
        Problem(pointer=join(at, i), message=f"Customer {c} is not in customer group {uid}.")
        for i, c in enumerate(customers)
        if c not in members
    ]
    return found[:100]


def _normalised(patch: Mapping[str, Any]) -> dict[str, Any]:
    """Names are trimmed before any rule looks at them (SPEC 3)."""
    name = patch.get("name")
    return {**patch, "name": name.strip()} if isinstance(name, str) else dict(patch)
