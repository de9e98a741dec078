"""Versions, the change feed and its audit fields (store/feed.py), over every store."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc.errors import FeedGone, GroupMissing, PatchInvalid, VersionConflict
from customergroup_rpc.schemas import Schemas
from customergroup_rpc.service import Actor, Customergroups
from customergroup_rpc.store import Retention, Store, connect, feed
from customergroup_rpc.store.feed import BOUND

from .conftest import Clock

ALICE, BOB = Actor("a11ce000", "manage"), Actor("b0b00000", "manage")
AT = "2014-01-16T14:14:18Z"
Open = Callable[..., Any]


@pytest.fixture
async def opened(db: Path | str | None, clock: Clock) -> AsyncIterator[Open]:
    """Open the test's store (again, to see what survives), with a retention if given."""
    stores: list[Store] = []

    async def open_(retention: Retention | None = None) -> Customergroups:
        if stores:
            await stores[-1].aclose()
        stores.append(await connect(db, retention=retention))
        return Customergroups(stores[-1], Schemas.load(), clock)

    yield open_
    if stores:
        await stores[-1].aclose()


@pytest.fixture
async def groups(opened: Open) -> Customergroups:
    made: Customergroups = await opened()
    return made


async def events(groups: Customergroups, **filters: Any) -> list[dict[str, Any]]:
    return (await groups.changes(0, None, **filters)).events


def kinds(found: list[dict[str, Any]]) -> list[tuple[str, int, int]]:
    return [(e["type"], e["uid"], e["version"]) for e in found]


async def test_version_is_1_at_creation_and_moves_with_each_change_of_a_value(
    groups: Customergroups,
) -> None:
    gold = await groups.set(None, {"name": "Gold"}, actor=ALICE)
    assert gold["version"] == 1
    assert (await groups.set(1, {"name": "Gold"}))["version"] == 1  # the same name: no change
    assert (await groups.set(1, {"name": "GOLD"}))["version"] == 2
    await groups.add_customers(1, [17, 42])
    await groups.add_customers(1, [17])  # a member already: no change
    await groups.remove_customers(1, [99])  # no member: no change
    assert (await groups.get(1))["version"] == 3
    await groups.set(None, {"name": "Silver"})
    await groups.move_customers(1, 2, [17])
    assert [g["version"] for g in await groups.select(_all())] == [4, 2]
    await groups.add_customers(2, [42])
    await groups.move_customers(2, 1, [42])  # 42 is in Gold already: Gold does not change
    assert [g["version"] for g in await groups.select(_all())] == [4, 4]


async def test_every_change_is_one_event_with_what_changed_and_who(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Silver"}, actor=ALICE)
    await groups.set(1, {"name": "Gold"}, actor=BOB)
    await groups.add_customers(1, [42, 17], actor=ALICE)
    await groups.set(None, {"name": "Bronze"}, actor=ALICE)
    await groups.move_customers(1, 2, [17], actor=BOB)
    await groups.remove_customers(1, [42, 5], actor=BOB)
    await groups.delete(2, actor=ALICE)
    found = await events(groups)
    alice, bob = ALICE.fields(), BOB.fields()
    common = {"at": AT}
    assert found == [
        {"position": 1, "type": "created", "uid": 1, **common, "version": 1, "token": alice}
        | {"name": "Silver"},
        {"position": 2, "type": "renamed", "uid": 1, **common, "version": 2, "token": bob}
        | {"name": "Gold", "oldName": "Silver"},
        {"position": 3, "type": "customersAdded", "uid": 1, **common, "version": 3}
        | {"token": alice, "count": 2, "customers": [17, 42]},
        {"position": 4, "type": "created", "uid": 2, **common, "version": 1, "token": alice}
        | {"name": "Bronze"},
        {"position": 5, "type": "customersMoved", "uid": 1, **common, "version": 4, "token": bob}
        | {"toUid": 2, "toVersion": 2, "count": 1, "customers": [17]},
        {"position": 6, "type": "customersRemoved", "uid": 1, **common, "version": 5}
        | {"token": bob, "count": 1, "customers": [42]},
        {"position": 7, "type": "deleted", "uid": 2, **common, "version": 2, "token": alice}
        | {"name": "Bronze"},
    ]
    assert (await groups.changes(0, None)).last == 7


async def test_a_change_that_changes_nothing_records_nothing(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Gold"})
    await groups.set(1, {"name": "Gold"})
    await groups.set(1, {})
    await groups.add_customers(1, [])
    await groups.remove_customers(1, [17])
    await groups.set(None, {"name": "Silver"})
    await groups.move_customers(1, 2, None)  # Gold has nobody to move
    assert kinds(await events(groups)) == [("created", 1, 1), ("created", 2, 1)]


async def test_a_refused_write_records_no_event(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Gold"})
    await groups.set(None, {"name": "Silver"})
    with pytest.raises(PatchInvalid):
        await groups.set(2, {"name": "gold"})
    with pytest.raises(GroupMissing):
        await groups.add_customers(9, [1])
    assert len(await events(groups)) == 2


async def test_past_the_bound_an_event_counts_the_customers(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Gold"})
    await groups.add_customers(1, list(range(1, BOUND + 2)))
    await groups.remove_customers(1, list(range(1, BOUND + 1)))
    added, removed = (await events(groups))[1:]
    assert added["count"] == BOUND + 1
    assert "customers" not in added
    assert (removed["count"], removed["customers"]) == (BOUND, list(range(1, BOUND + 1)))
    assert BOUND == 1000  # as the README promises


def test_a_feed_keeps_100000_events_unless_told() -> None:
    assert Retention() == Retention(keep=100_000, max_age=None, slack=1000)


async def test_a_stale_version_changes_nothing_and_says_what_the_group_is_now(
    groups: Customergroups,
) -> None:
    await groups.set(None, {"name": "Gold"})
    await groups.set(None, {"name": "Silver"})
    await groups.add_customers(1, [17])
    now = await groups.get(1)
    stale: list[Callable[[], Any]] = [
        lambda: groups.set(1, {"name": "Platinum"}, expected=1),
        lambda: groups.delete(1, expected=1),
        lambda: groups.add_customers(1, [42], expected=1),
        lambda: groups.remove_customers(1, [17], expected=1),
        lambda: groups.move_customers(1, 2, [17], expected=1),
    ]
    for write in stale:
        with pytest.raises(VersionConflict) as conflict:
            await write()
        assert conflict.value.current == now
    assert await groups.get(1) == now
    assert len(await events(groups)) == 3
    assert (await groups.set(1, {"name": "Platinum"}, expected=2))["version"] == 3
    assert await groups.move_customers(1, 2, None, expected=3) == 1


async def test_of_two_renames_from_one_version_exactly_one_wins(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Gold"})
    outcomes = await asyncio.gather(
        groups.set(1, {"name": "Platinum"}, expected=1),
        groups.set(1, {"name": "Diamond"}, expected=1),
        return_exceptions=True,
    )
    [won] = [o for o in outcomes if isinstance(o, dict)]
    [lost] = [o for o in outcomes if isinstance(o, VersionConflict)]
    assert lost.current == won == await groups.get(1)
    assert kinds(await events(groups)) == [("created", 1, 1), ("renamed", 1, 2)]


async def test_changes_filter_by_group_and_by_token(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Gold"}, actor=ALICE)
    await groups.set(None, {"name": "Silver"}, actor=BOB)
    await groups.add_customers(1, [17], actor=ALICE)
    await groups.move_customers(1, 2, [17], actor=BOB)
    await groups.remove_customers(2, [17], actor=ALICE)
    gold = await events(groups, uid=1)
    assert [e["position"] for e in gold] == [1, 3, 4]  # the move is Silver's too
    assert [e["position"] for e in await events(groups, uid=2)] == [2, 4, 5]
    assert [e["position"] for e in await events(groups, token=BOB.token)] == [2, 4]
    [removal] = await events(groups, uid=2, token=ALICE.token)
    assert (removal["type"], removal["customers"], removal["token"]) == (
        "customersRemoved",
        [17],
        ALICE.fields(),
    )


async def test_changes_page_with_since_limit_and_last(groups: Customergroups) -> None:
    for name in ("A", "B", "C", "D", "E"):
        await groups.set(None, {"name": name})
    first = await groups.changes(None, 2)
    assert ([e["position"] for e in first.events], first.last) == ([1, 2], 2)
    rest = await groups.changes(first.last, 10)
    assert ([e["position"] for e in rest.events], rest.last) == ([3, 4, 5], 5)
    assert (first.cut, rest.cut) == (True, False)  # whether the limit stopped the read
    assert await groups.changes(5, 10) == type(rest)([], 5, 0)
    none = await groups.changes(2, 0)  # where to follow from now on
    assert (none.events, none.last) == ([], 5)
    only = await groups.changes(None, 1, uid=4)
    assert ([e["position"] for e in only.events], only.last) == ([4], 4)


async def test_a_position_past_the_newest_is_another_feed(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Gold"})
    with pytest.raises(FeedGone) as gone:
        await groups.changes(2, None)
    assert (gone.value.since, gone.value.last) == (2, 1)


async def test_retention_by_count_keeps_the_newest_and_refuses_older_positions(
    opened: Open,
) -> None:
    groups = await opened(Retention(keep=3))
    for name in "ABCDEFGH":
        await groups.set(None, {"name": name})
    kept = await groups.changes(0, None)
    assert [e["position"] for e in kept.events] == [6, 7, 8]
    assert (kept.horizon, kept.last) == (5, 8)
    assert [e["position"] for e in (await groups.changes(5, None)).events] == [6, 7, 8]
    with pytest.raises(FeedGone) as gone:
        await groups.changes(4, None)
    assert (gone.value.since, gone.value.horizon, gone.value.last) == (4, 5, 8)


async def test_retention_by_age_drops_events_older_than_it(opened: Open, clock: Clock) -> None:
    groups = await opened(Retention(keep=1000, max_age=timedelta(days=1)))
    await groups.set(None, {"name": "Old"})
    await groups.set(None, {"name": "Older"})
    clock.advance(2 * 86400)
    # Dropped from the oldest on, at a write; PostgreSQL checks in the write's statement.
    await groups.set(None, {"name": "New"})
    kept = await groups.changes(0, None)
    assert ([e["position"] for e in kept.events], kept.horizon) == ([3], 2)


async def test_retention_by_age_keeps_the_events_younger_than_it(
    opened: Open, clock: Clock
) -> None:
    groups = await opened(Retention(keep=1000, max_age=timedelta(days=1)))
    await groups.set(None, {"name": "Old"})
    clock.advance(2 * 86400)
    await groups.set(None, {"name": "New"})
    clock.advance(3600)
    await groups.set(None, {"name": "Newer"})  # "New" is an hour old: kept
    assert [e["position"] for e in (await groups.changes(0, None)).events] == [2, 3]


def test_a_feed_keeps_at_least_one_event_and_drops_a_hundredth_at_a_time() -> None:
    with pytest.raises(ValueError, match="at least one event"):
        Retention(keep=0)
    assert Retention(keep=1).keep == 1
    assert (Retention(keep=1000).slack, Retention(keep=150).slack) == (10, 1)
    assert Retention(keep=1000, slack=3).slack == 3


def test_an_event_concerns_its_group_and_the_one_customers_moved_to_and_names_its_token() -> None:
    who = Actor("a1", "manage")
    added = feed.members("customersAdded", 5, "x", who, version=2, customers=[1])
    moved = feed.members("customersMoved", 5, "x", None, version=3, customers=[1], to=(7, 4))
    assert (feed.concerned(added), feed.concerned(moved)) == ((5,), (5, 7))
    assert (feed.made_with(added), feed.made_with(moved)) == ("a1", None)
    assert [feed.matches(moved, uid, None) for uid in (5, 7, 4)] == [True, True, False]
    assert [feed.matches(added, 5, token) for token in ("a1", "a2")] == [True, False]


def test_events_read_back_share_their_token_and_moment() -> None:
    read = [  # each moment a string of its own, as JSON gives them
        feed.compact({"type": "created", "at": "".join(["2014-01-16T", "14:14:18Z"]), "token": who})
        for who in ({"id": "a1", "scope": "manage"}, {"id": "a1", "scope": "manage"})
    ]
    assert read[0]["token"] == {"id": "a1", "scope": "manage"}
    assert read[0]["token"] is read[1]["token"]
    assert read[0]["at"] is read[1]["at"] is sys.intern("2014-01-16T14:14:18Z")
    made = Actor("a1", "manage").fields()
    assert made is read[0]["token"]  # written and read back: one object
    assert feed.compact({"type": "created", "token": None})["token"] is None


async def test_the_feed_and_versions_outlive_a_restart(opened: Open, db: Path | str | None) -> None:
    if db is None:
        pytest.skip("memory keeps nothing")
    groups = await opened(Retention(keep=2))
    for name in "ABC":
        await groups.set(None, {"name": name})
    await groups.set(1, {"name": "Z"})
    groups = await opened(Retention(keep=2))
    assert (await groups.get(1))["version"] == 2
    assert [e["position"] for e in await events(groups)] == [3, 4]
    # Reads filtered by group find the kept events (the embedded index is built at the start).
    assert [[e["position"] for e in await events(groups, uid=u)] for u in (1, 2, 3)] == [
        *([4], [], [3]),
    ]
    await groups.delete(2)
    assert (await groups.changes(4, None)).events[0]["position"] == 5


def _all() -> Any:
    from customergroup_rpc.service import Selection  # noqa: PLC0415

    return Selection()


async def test_a_shop_without_a_feed_head_gets_one_at_its_first_write(
    postgres_url: str, clock: Clock
) -> None:
    """Shops made after the start have no head row yet: the first write makes it."""
    import asyncpg  # noqa: PLC0415  (PostgreSQL only)

    store = await connect(postgres_url)
    try:
        connection = await asyncpg.connect(postgres_url)
        await connection.execute("DELETE FROM feed_heads")
        await connection.close()
        groups = Customergroups(store, Schemas.load(), clock)
        await groups.set(None, {"name": "Gold"})
        assert kinds(await events(groups)) == [("created", 1, 1)]
    finally:
        await store.aclose()
