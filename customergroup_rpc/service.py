"""MODEL: the Customergroup use cases and their rules (SPEC 3, 4, 6, 10).

Names are what the object schema allows, then trimmed, and unique under ``text.fold``;
``created`` is set once and ``changed`` moves only when a value changes (a name, or the group's
customers); uids come from the store and are never reused. ``customerCount`` is derived from
the members, never stored.

Reads see the store's committed state: nothing that is not on disk yet. Checks and writes use
its working state, and each write checks, stages and applies its changes without an ``await``
in between, so of many parallel creates of one name exactly one wins; the write then awaits
durability before it answers.

>>> import asyncio
>>> from customergroup_rpc.schemas import Schemas
>>> from customergroup_rpc.store import TinyStore
>>> groups = Customergroups(TinyStore.open(None), Schemas.load())
>>> asyncio.run(groups.set(None, {"name": " Students "}))["name"]
'Students'
>>> groups.validate(None, {"name": "STUDENTS"})
[{'pointer': '/name', 'message': 'The name is taken: customer group 1 is called Students.'}]
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from . import filters
from .errors import InvalidParams, ObjectNotFound, PatchInvalid, Problem, join
from .schemas import Schemas
from .state import Change, Drop, Fields, Members, Put, State
from .store import Store
from .text import SPACES

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


# Orderings (SPEC 6) other than uid and name, which come ordered from the store's indexes:
# the sort key of a uid in a state. Each ends with the uid, so pages never overlap.
ORDERINGS: Mapping[str, Callable[[State], Callable[[int], tuple[Any, ...]]]] = {
    "created": lambda state: lambda uid: (state.groups[uid]["created"], uid),
    "changed": lambda state: lambda uid: (state.groups[uid]["changed"], uid),
    "customerCount": lambda state: lambda uid: (len(state.members(uid)), uid),
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

    # --- reads: the committed state ---

    def count(self, where: filters.Filter) -> int:
        """How many groups match a filter."""
        state = self._store.committed
        prefix, answered = filters.prefix(where, "name")
        if answered:
            return state.count_prefixed(prefix or "")
        return sum(1 for _ in self._matching(state, where, "uid"))

    def get(self, uid: int, at: str = "/0") -> Group:
        """One group; ``ObjectNotFound`` pointing at ``at`` if there is none."""
        return _group(self._store.committed, _existing(self._store.committed, uid, at))

    def select(self, selection: Selection) -> list[Group]:
        """The groups a selection picks, ordered and paged."""
        state, end = self._store.committed, _end(selection.offset, selection.limit)
        if selection.sort == "uid":  # already in order: stop as soon as the page is full
            found = self._matching(state, selection.where, "uid", selection.descending)
            return [_group(state, uid) for uid in itertools.islice(found, selection.offset, end)]
        uids = list(self._matching(state, selection.where, selection.sort))
        if selection.sort in ORDERINGS:
            uids.sort(key=ORDERINGS[selection.sort](state))
        if selection.descending:
            uids.reverse()
        return [_group(state, uid) for uid in uids[selection.offset : end]]

    def schema(self, uid: int | None, at: str = "/0") -> dict[str, Any]:
        """The JSON Schema for a new group (``None``) or an existing one."""
        if uid is not None:
            _existing(self._store.committed, uid, at)
        return self._schemas.object_for(new=uid is None)

    def list_customers(self, uid: int, page: Page, at: str = "/0") -> list[int]:
        """A group's customer uids, ascending unless the page says descending."""
        state = self._store.committed
        ordered = sorted(state.members(_existing(state, uid, at)), reverse=page.descending)
        return _page(ordered, page.offset, page.limit)

    def validate(self, uid: int | None, patch: Mapping[str, Any], at: str = "/0") -> list[Problem]:
        """Every problem ``set`` would find with this patch now; nothing is saved."""
        if uid is not None:
            _existing(self._store.working, uid, at)
        return self._problems(uid, patch)

    # --- writes: checked against the working state, answered once durable ---

    @contextlib.contextmanager
    def writes_together(self) -> Iterator[None]:
        """Writes staged inside go to disk in one commit, when the block ends."""
        self._store.hold()
        try:
            yield
        finally:
            self._store.release()

    async def set(self, uid: int | None, patch: Mapping[str, Any], at: str = "/0") -> Group:
        """Create (uid None) or update a group with a patch; return the group as stored."""
        state = self._store.working
        current = None if uid is None else state.get(_existing(state, uid, at))
        problems = self._problems(uid, patch)
        if problems:
            raise PatchInvalid(problems)
        patch = _normalised(patch)
        if uid is None or current is None:
            now = timestamp(self._clock())
            uid = state.last_uid + 1
            durable = self._store.stage(
                [Put(uid, {"name": patch["name"], "created": now, "changed": now})]
            )
        elif any(current[k] != v for k, v in patch.items()):
            fields = {**current, **patch, "changed": timestamp(self._clock())}
            durable = self._store.stage([Put(uid, fields)])
        else:
            return _group(state, uid)
        group = _group(state, uid)  # as this write left it, whatever comes while it is written
        await durable
        return group

    async def delete(self, uid: int, at: str = "/0") -> None:
        """Remove a group and unassign its customers; its uid is not handed out again."""
        await self._store.stage([Drop(_existing(self._store.working, uid, at))])

    async def add_customers(self, uid: int, customers: Sequence[int], at: str = "/0") -> int:
        """Make customers members of a group; how many were not members before."""
        current = self._store.working.members(_existing(self._store.working, uid, at))
        new = frozenset(customers) - current
        await self._save_members({uid: current | new})
        return len(new)

    async def remove_customers(self, uid: int, customers: Sequence[int], at: str = "/0") -> int:
        """Take customers out of a group; how many were members."""
        current = self._store.working.members(_existing(self._store.working, uid, at))
        gone = current & frozenset(customers)
        await self._save_members({uid: current - gone})
        return len(gone)

    async def move_customers(
        self, source: int, target: int, customers: Sequence[int] | None, at: Sequence[str]
    ) -> int:
        """Move customers (None: all) from one group to another, all or nothing; how many."""
        state = self._store.working
        _existing(state, source, at[0])
        _existing(state, target, at[1])
        if source == target:
            raise InvalidParams.at(at[1], "A group cannot move customers to itself; name another.")
        members = state.members(source)
        moving = members if customers is None else frozenset(customers)
        if not moving <= members:
            raise InvalidParams(_strangers(customers or [], members, source, at[2]))
        await self._save_members({source: members - moving, target: state.members(target) | moving})
        return len(moving)

    async def _save_members(self, changes: Mapping[int, frozenset[int]]) -> None:
        """Store new memberships in one write, moving ``changed`` of the groups that changed."""
        state = self._store.working
        now = timestamp(self._clock())
        staged: list[Change] = []
        for uid, customers in changes.items():
            if customers != state.members(uid):
                staged += [
                    Members(uid, customers),
                    Put(uid, {**_fields(state, uid), "changed": now}),
                ]
        if staged:
            await self._store.stage(staged)

    def _problems(self, uid: int | None, patch: Mapping[str, Any]) -> list[Problem]:
        # The schema judges the patch as sent, as a client validating with getSchema does;
        # uniqueness, which no schema can tell, compares the trimmed name.
        problems = self._schemas.check_patch(patch, new=uid is None)
        name = _normalised(patch).get("name")
        if isinstance(name, str) and not any(p["pointer"] == "/name" for p in problems):
            other = self._store.working.named(name)
            if other is not None and other != uid:
                taken = _fields(self._store.working, other)["name"]
                message = f"The name is taken: customer group {other} is called {taken}."
                problems.append(Problem(pointer="/name", message=message))
        return sorted(problems, key=lambda p: p["pointer"])

    def _matching(
        self, state: State, where: filters.Filter, sort: str, descending: bool = False
    ) -> Iterator[int]:
        """The uids a filter holds for, lazily: in name order for ``sort="name"``, else by uid.

        A name prefix narrows the candidates through the name index when that is the cheaper
        way: when few names have it. When most do, walking groups in uid order finds a page
        sooner than sorting every match would.
        """
        prefix, answered = filters.prefix(where, "name")
        if sort == "name":
            uids: Iterable[int] = state.prefixed(prefix or "")
        elif prefix is not None and state.count_prefixed(prefix) * 8 < len(state.groups):
            uids = sorted(state.prefixed(prefix), reverse=descending)
        else:
            uids, answered = (reversed(state.groups) if descending else iter(state.groups)), False
        if answered or where == filters.MATCH_ALL:
            return iter(uids)
        test = filters.compile_filter(where)
        return (uid for uid in uids if test(_record(state, uid)))


def _existing(state: State, uid: int, at: str) -> int:
    if state.get(uid) is None:
        raise ObjectNotFound(uid, at)
    return uid


def _fields(state: State, uid: int) -> Fields:
    return state.get(uid) or {}


def _group(state: State, uid: int) -> Group:
    """The object as clients see it: stored fields, the derived customer count, the uid."""
    return {**_fields(state, uid), "customerCount": len(state.members(uid)), "uid": uid}


def _record(state: State, uid: int) -> dict[str, Any]:
    """What filters see of a group: the object and its customers, which results never show."""
    return {**_group(state, uid), "customers": state.members(uid)}


def _end(offset: int, limit: int | None) -> int | None:
    return None if limit is None else offset + limit


def _page(items: list[Any], offset: int, limit: int | None) -> list[Any]:
    return items[offset : _end(offset, limit)]


def _strangers(
    customers: Sequence[int], members: frozenset[int], uid: int, at: str
) -> list[Problem]:
    """A problem for each listed customer that is not in the group (InvalidParams caps them)."""
    return [
        Problem(pointer=join(at, i), message=f"Customer {c} is not in customer group {uid}.")
        for i, c in enumerate(customers)
        if c not in members
    ]


def _normalised(patch: Mapping[str, Any]) -> dict[str, Any]:
    """The patch as stored: the name trimmed of the whitespace the schema allows around it."""
    name = patch.get("name")
    return {**patch, "name": name.strip(SPACES)} if isinstance(name, str) else dict(patch)
