"""MODEL: the Customergroup use cases and their rules (SPEC 3, 4, 6).

Names are trimmed, 1 to 255 characters, unique under ``text.fold``; ``created`` is set once and
``changed`` moves only when a value changes; uids come from the store and are never reused.
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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import filters
from .errors import ObjectNotFound, PatchInvalid, Problem
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
}


@dataclass(frozen=True)
class Selection:
    """Which groups ``list`` returns, in which order (SPEC 6)."""

    where: filters.Filter = filters.MATCH_ALL
    limit: int | None = None
    offset: int = 0
    sort: str = "uid"
    descending: bool = False


class Customergroups:
    """The customer groups of one shop, over a store."""

    def __init__(self, store: Store, schemas: Schemas, clock: Clock = utc_now) -> None:
        self._store = store
        self._schemas = schemas
        self._clock = clock

    def count(self, where: filters.Filter) -> int:
        """How many groups match a filter."""
        test = filters.compile_filter(where)
        return sum(1 for group in self._all() if test(group))

    def get(self, uid: int, at: str = "/0") -> Group:
        """One group; ``ObjectNotFound`` pointing at ``at`` if there is none."""
        fields = self._store.get(uid)
        if fields is None:
            raise ObjectNotFound(uid, at)
        return _group(uid, fields)

    def select(self, selection: Selection) -> list[Group]:
        """The groups a selection picks, ordered and paged."""
        test = filters.compile_filter(selection.where)
        found = [group for group in self._all() if test(group)]
        if selection.sort != "uid" or selection.descending:
            found.sort(key=ORDERINGS[selection.sort], reverse=selection.descending)
        end = None if selection.limit is None else selection.offset + selection.limit
        return found[selection.offset : end]

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
            return _group(self._store.insert(fields), fields)
        return self._update(current, patch)

    def delete(self, uid: int, at: str = "/0") -> None:
        """Remove a group; its uid is not handed out again."""
        self.get(uid, at)
        self._store.remove(uid)

    def _update(self, current: Group, patch: Mapping[str, Any]) -> Group:
        changes = {k: v for k, v in patch.items() if current[k] != v}
        if not changes:
            return current
        fields = {k: v for k, v in current.items() if k != "uid"}
        fields.update(changes, changed=timestamp(self._clock()))
        self._store.replace(current["uid"], fields)
        return _group(current["uid"], fields)

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

    def _all(self) -> list[Group]:
        return [_group(uid, fields) for uid, fields in self._store.items()]


def _group(uid: int, fields: Fields) -> Group:
    """The object as clients see it: stored fields plus the uid."""
    return {**fields, "uid": uid}


def _normalised(patch: Mapping[str, Any]) -> dict[str, Any]:
    """Names are trimmed before any rule looks at them (SPEC 3)."""
    name = patch.get("name")
    return {**patch, "name": name.strip()} if isinstance(name, str) else dict(patch)
