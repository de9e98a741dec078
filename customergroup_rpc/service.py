"""MODEL: the Customergroup use cases and their rules (SPEC 3, 4, 6, 10), over a store.

The service keeps every rule that is not storage: a patch is checked with the object schema
as sent, then its name trimmed; ``created`` and ``changed`` are the service's clock;
``changed`` moves only when a value changes (a name, or the group's customers). The store
does what only it can do atomically: hand out uids, keep names unique as a person reads them,
and apply a change only while the group is still there. Its ``NameTaken`` becomes a problem
at ``/name``, as the uniqueness check before it would have said.

Errors about the data are ``DomainError``s naming the param they concern (``fromUid``,
``customers``), never a pointer: ``rpc.py`` knows where each param is in the request.

Writes take the ``Actor`` (the caller's token) that the store records in the change feed, and
an ``expected`` version (``ifVersion``): the store checks it in the write's commit (the
service, once the patch is valid, also before a write that would change nothing).
A feed read from a position whose events are not all kept, or past the newest, is ``FeedGone``.

>>> import asyncio
>>> from customergroup_rpc.schemas import Schemas
>>> from customergroup_rpc.store import open_store
>>> groups = Customergroups(open_store(None), Schemas.load())
>>> asyncio.run(groups.set(None, {"name": " Students "}))["name"]
'Students'
>>> [str(p["message"]) for p in asyncio.run(groups.validate(None, {"name": "STUDENTS"}))]
['The name is taken: customer group 1 is called Students.']
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from . import filters
from .errors import (
    FeedGone,
    GroupMissing,
    NameTaken,
    PatchInvalid,
    Problem,
    SameGroup,
    VersionConflict,
)
from .schemas import Schemas
from .store import Actor, Changes, Group, Page, Selection, Store
from .text import SPACES

__all__ = [
    "Actor",
    "Changes",
    "Clock",
    "Customergroups",
    "Group",
    "Page",
    "Selection",
    "timestamp",
    "utc_now",
]

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime) -> str:
    """The stored form of a moment: UTC, whole seconds, ``Z``.

    >>> timestamp(datetime(2014, 1, 16, 14, 14, 18, 999, tzinfo=UTC))
    '2014-01-16T14:14:18Z'
    """
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Customergroups:
    """The customer groups of one shop, over a store."""

    def __init__(self, store: Store, schemas: Schemas, clock: Clock = utc_now) -> None:
        self._store = store
        self._schemas = schemas
        self._clock = clock

    # --- reads ---

    async def count(self, where: filters.Filter) -> int:
        """How many groups match a filter."""
        return await self._store.count(where)

    async def get(self, uid: int, param: str = "uid") -> Group:
        """One group; ``GroupMissing`` if there is none."""
        _stored(uid, param)
        found = await self._store.get(uid)
        if found is None:
            raise GroupMissing(uid, param)
        return found

    async def select(self, selection: Selection) -> list[Group]:
        """The groups a selection picks, ordered and paged."""
        return await self._store.select(selection)

    async def schema(self, uid: int | None) -> dict[str, Any]:
        """The JSON Schema for a new group (``None``) or an existing one."""
        if uid is not None:
            await self.get(uid)
        return self._schemas.object_for(new=uid is None)

    async def list_customers(self, uid: int, page: Page) -> list[int]:
        """A group's customer uids, ascending unless the page says descending."""
        _stored(uid)
        found = await self._store.members(uid, page)
        if found is None:
            raise GroupMissing(uid)
        return found

    async def validate(self, uid: int | None, patch: Mapping[str, Any]) -> list[Problem]:
        """Every problem ``set`` would find with this patch now; nothing is saved."""
        if uid is not None:
            await self.get(uid)
        return await self._problems(uid, patch)

    async def changes(
        self,
        since: int | None,
        limit: int | None,
        uid: int | None = None,
        token: str | None = None,
    ) -> Changes:
        """The committed events after ``since`` (None or 0: from the oldest kept); ``FeedGone``
        when some of them are no longer kept, or ``since`` is past the newest."""
        if (uid is not None and not filters.fits_bigint(uid)) or (
            token is not None and not filters.fits_text(token)
        ):
            # No event can match: none, and the newest position, as a filter matching none.
            uid, token, limit = None, None, 0
        found = await self._store.changes(since or 0, limit, uid, token)
        if since and not found.horizon <= since <= found.last:
            raise FeedGone(since, found.horizon, found.last)
        return found

    def feed_tick(self) -> int:
        """A number that moves on when events may have committed (see ``feed_wait``)."""
        return self._store.feed_tick()

    async def feed_wait(self, tick: int) -> None:
        """Return once ``feed_tick()`` moved on from ``tick``."""
        await self._store.feed_wait(tick)

    # --- writes ---

    def writes_together(self) -> AbstractAsyncContextManager[None]:
        """Writes inside commit together when the block ends."""
        return self._store.together()

    async def set(
        self,
        uid: int | None,
        patch: Mapping[str, Any],
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> Group:
        """Create (uid None) or update a group with a patch; return the group as stored."""
        current = None if uid is None else await self.get(uid)
        problems = await self._problems(uid, patch)
        if problems:  # what the params say first, as for every other call
            raise PatchInvalid(problems)
        if current is not None and expected is not None and current["version"] != expected:
            raise VersionConflict(current)
        name = _normalised(patch).get("name")
        try:
            if uid is None:
                return await self._store.create(str(name), self._now(), actor=actor)
            if name is not None:
                return await self._store.rename(
                    uid, name, self._now(), actor=actor, expected=expected
                )
        except NameTaken as taken:  # a write in flight took it since the check
            raise PatchInvalid([taken.problem()]) from None
        assert current is not None
        return current

    async def delete(
        self, uid: int, *, actor: Actor | None = None, expected: int | None = None
    ) -> None:
        """Remove a group and unassign its customers; its uid is not handed out again."""
        _stored(uid)
        await self._store.delete(uid, self._now(), actor=actor, expected=expected)

    async def add_customers(
        self,
        uid: int,
        customers: Sequence[int],
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        """Make customers members of a group; how many were not members before."""
        _stored(uid)
        return await self._store.add(
            uid, frozenset(customers), self._now(), actor=actor, expected=expected
        )

    async def remove_customers(
        self,
        uid: int,
        customers: Sequence[int],
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        """Take customers out of a group; how many were members."""
        _stored(uid)
        return await self._store.remove(
            uid, frozenset(customers), self._now(), actor=actor, expected=expected
        )

    async def move_customers(
        self,
        source: int,
        target: int,
        customers: Sequence[int] | None,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        """Move customers (None: all) from one group to another, all or nothing; how many.
        ``expected`` is the version the source group must have."""
        if source == target:
            await self.get(source, "fromUid")
            raise SameGroup
        _stored(source, "fromUid")
        _stored(target, "toUid")
        try:
            return await self._store.move(
                source, target, customers, self._now(), actor=actor, expected=expected
            )
        except GroupMissing as missing:
            raise GroupMissing(
                missing.uid, "fromUid" if missing.uid == source else "toUid"
            ) from None

    def _now(self) -> str:
        return timestamp(self._clock())

    async def _problems(self, uid: int | None, patch: Mapping[str, Any]) -> list[Problem]:
        # The schema judges the patch as sent, as a client validating with getSchema does;
        # uniqueness, which no schema can tell, compares the trimmed name.
        problems = self._schemas.check_patch(patch, new=uid is None)
        name = _normalised(patch).get("name")
        if isinstance(name, str) and not any(p["pointer"] == "/name" for p in problems):
            holder = await self._store.named(name)
            if holder is not None and holder[0] != uid:
                problems.append(NameTaken(*holder).problem())
        return sorted(problems, key=lambda p: p["pointer"])


def _stored(uid: int, param: str = "uid") -> None:
    """``GroupMissing`` for a uid no group can have (past 64 bits), before a store sees it:
    PostgreSQL cannot even compare one with its ``bigint`` uids."""
    if not filters.fits_bigint(uid):
        raise GroupMissing(uid, param)


def _normalised(patch: Mapping[str, Any]) -> dict[str, Any]:
    """The patch as stored: the name trimmed of the whitespace the schema allows around it."""
    name = patch.get("name")
    return {**patch, "name": name.strip(SPACES)} if isinstance(name, str) else dict(patch)
