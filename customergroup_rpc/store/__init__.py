"""STORE: the seam between the service and its engines, a store of operations.

The service asks for operations, never for the data: get a group, count or select by a parsed
filter with an ordering and a page, create (the store hands out the uid), rename and delete
under the conditions that make them safe (the name still free, the group still there), and
add, remove, list and move members. Each write is atomic and durable when it returns, unless it
runs inside ``together()``, whose writes become durable together when the block ends.

Each write that changes a group moves its ``version`` on by one and records one event of the
change feed (``feed.py``) in the same commit, with the ``Actor`` that made it; given an
``expected`` version, a write first checks that the group still has it (``VersionConflict``
with the group as it is, otherwise). ``changes`` reads the feed; ``feed_tick`` and
``feed_wait`` let a follower sleep until new events may have committed.

Engines, one module each: ``tiny.py`` (a TinyDB file, or memory) and ``postgres.py``. They
raise the domain errors of ``errors.py`` (``GroupMissing``, ``NameTaken``, ``NotMembers``),
never JSON-RPC errors, and see neither pointers nor messages.

>>> import asyncio
>>> async def demo():
...     store = open_store(None)
...     staff = await store.create("Staff", "2014-01-16T14:14:18Z")
...     added = await store.add(staff["uid"], frozenset({17, 42}), "2014-01-16T14:15:00Z")
...     return added, await store.get(staff["uid"])
>>> asyncio.run(demo())  # doctest: +NORMALIZE_WHITESPACE
(2, {'name': 'Staff', 'created': '2014-01-16T14:14:18Z', 'changed': '2014-01-16T14:15:00Z',
     'customerCount': 2, 'uid': 1, 'version': 2})
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from .. import filters
from ..files import resolved
from .feed import Actor, Changes, Retention

__all__ = ["Actor", "Changes", "Retention"]  # with the names defined here

Group = dict[str, Any]
"""A group as clients see it: name, created, changed, customerCount, uid, version (in this
order)."""

SORTS = ("uid", "name", "created", "changed", "customerCount")
"""The orderings of ``list`` (SPEC 6); each breaks ties by uid."""


class StoreError(Exception):
    """The database cannot be opened: locked by another server, unreadable or not ours."""


class WriteFailed(Exception):
    """A commit did not become durable; nothing of it was kept."""


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


def group(uid: int, fields: dict[str, Any], count: int) -> Group:
    """A group in the order results list properties (the source document's order)."""
    return {
        "name": fields["name"],
        "created": fields["created"],
        "changed": fields["changed"],
        "customerCount": count,
        "uid": uid,
        "version": fields.get("version", 1),  # a group stored before versions: 1
    }


CommitHook = Callable[[float, int], None]
"""Told each commit's seconds and how many writes it acknowledged (``/metrics``)."""


def no_hook(seconds: float, writes: int) -> None:
    """The ``on_commit`` of a store nobody observes."""


class Store(Protocol):
    """The operations the service asks of storage; ``at`` is the moment a write happens."""

    on_commit: CommitHook

    async def get(self, uid: int) -> Group | None: ...
    async def count(self, where: filters.Filter) -> int: ...
    async def select(self, selection: Selection) -> list[Group]: ...
    async def named(self, name: str) -> tuple[int, str] | None:
        """The group whose name is ``name`` as a person reads it: (uid, its stored name)."""

    async def members(self, uid: int, page: Page) -> list[int] | None:
        """A page of a group's customer uids; None when there is no such group."""

    async def create(self, name: str, at: str, *, actor: Actor | None = None) -> Group:
        """A new group with the next uid; ``NameTaken`` if the name is not free."""

    async def rename(
        self,
        uid: int,
        name: str,
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> Group:
        """The group renamed (``changed`` and ``version`` move only if the name differs);
        ``GroupMissing``, ``NameTaken``, ``VersionConflict``."""

    async def delete(
        self,
        uid: int,
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> None:
        """Remove a group and unassign its customers; ``GroupMissing``, ``VersionConflict``."""

    async def add(
        self,
        uid: int,
        customers: frozenset[int],
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        """Make customers members; how many were not before."""

    async def remove(
        self,
        uid: int,
        customers: frozenset[int],
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        """Take customers out; how many were members."""

    async def move(
        self,
        source: int,
        target: int,
        customers: Sequence[int] | None,
        at: str,
        *,
        actor: Actor | None = None,
        expected: int | None = None,
    ) -> int:
        """Move customers (None: all) from one group to another, all or nothing; how many left
        ``source``. ``NotMembers`` names the positions in ``customers`` not in ``source``;
        ``expected`` is the version ``source`` must have."""

    async def changes(
        self, since: int, limit: int | None, uid: int | None = None, token: str | None = None
    ) -> Changes:
        """The committed events after ``since`` (or after the horizon, if later), in position
        order, at most ``limit``, of group ``uid`` and token id ``token`` if given."""

    def feed_tick(self) -> int:
        """A number that moves on whenever events may have committed (here or, with
        PostgreSQL, in any process)."""

    async def feed_wait(self, tick: int) -> None:
        """Return once ``feed_tick()`` is no longer ``tick`` (at once, if it is not)."""

    async def ping(self) -> bool:
        """Whether the database answers now (``/health``)."""

    async def totals(self) -> tuple[int, int]:
        """How many groups and memberships there are now (``/metrics``)."""

    def together(self) -> AbstractAsyncContextManager[None]:
        """Writes inside commit together when the block ends (``WriteFailed`` if they do not)."""

    async def aclose(self) -> None: ...


def shop_path(db: Path, shop: int) -> Path:
    """The file of a shop's groups: the database file itself for shop 1 (a database made
    before shops is shop 1 as it is), ``<db>.shop-<id>.json`` beside it for the others (beside
    the file a link names, as its tokens are).

    >>> shop_path(Path("/srv/groups.json"), 1), shop_path(Path("/srv/groups.json"), 22222)
    (PosixPath('/srv/groups.json'), PosixPath('/srv/groups.json.shop-22222.json'))
    """
    if shop == 1:
        return db
    try:
        db = resolved(db)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (Python < 3.13)
        raise StoreError(f"Cannot follow the links of {db}: {exc}.") from None
    return db.with_name(f"{db.name}.shop-{shop}.json")


def open_store(db: Path | None, retention: Retention | None = None) -> Store:
    """The embedded store: a TinyDB file, or ``None`` for memory."""
    from .tiny import TinyStore  # noqa: PLC0415  (the engines import this module)

    return TinyStore.open(db, retention=retention)


async def connect(
    db: Path | str | None, *, pool_size: int = 10, retention: Retention | None = None
) -> Store:
    """The store a ``--db`` value names: a PostgreSQL URL, a file path, ``None`` for memory."""
    from .postgres import PgStore, is_url  # noqa: PLC0415  (the engines import this module)

    if is_url(db):
        return await PgStore.open(str(db), pool_size=pool_size, retention=retention)
    return open_store(None if db is None else Path(db), retention)
