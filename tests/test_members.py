"""Members (SPEC 10): adding, removing, listing and moving customers; customerCount."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from customergroup_rpc import filters
from customergroup_rpc.errors import (
    DomainError,
    GroupMissing,
    InvalidParams,
    NotMembers,
    SameGroup,
    VersionConflict,
    Worded,
    worded,
    words,
)
from customergroup_rpc.schemas import Schemas
from customergroup_rpc.service import Customergroups, Page, Selection
from customergroup_rpc.store import connect, open_store

from .conftest import Clock

MOVE = {"fromUid": "/0", "toUid": "/1", "customers": "/2"}.__getitem__  # positional pointers


def problems_of(error: DomainError) -> list[Worded]:
    """The problems a moveCustomers call by position is answered with (in English)."""
    answered = error.rpc(MOVE)
    assert isinstance(answered, InvalidParams)
    return worded(answered.problems)


@pytest.fixture
async def groups(db: Path | str | None, clock: Clock) -> AsyncIterator[Customergroups]:
    store = await connect(db)
    service = Customergroups(store, Schemas.load(), clock)
    for name in ("Staff", "Students", "Teachers"):
        await service.set(None, {"name": name})
    yield service
    await store.aclose()


async def test_add_counts_only_new_members_and_repeats_once(groups: Customergroups) -> None:
    assert await groups.add_customers(1, [17, 42, 17]) == 2
    assert await groups.add_customers(1, [42, 99]) == 1
    assert await groups.list_customers(1, Page()) == [17, 42, 99]


async def test_remove_counts_only_members(groups: Customergroups) -> None:
    await groups.add_customers(1, [17, 42])
    assert await groups.remove_customers(1, [42, 42, 1000]) == 1
    assert await groups.list_customers(1, Page()) == [17]


async def test_customer_count_is_derived_from_members(groups: Customergroups) -> None:
    assert (await groups.get(1))["customerCount"] == 0
    await groups.add_customers(1, list(range(1, 11)))
    await groups.remove_customers(1, [1, 2])
    assert (await groups.get(1))["customerCount"] == 8


async def test_a_customer_may_be_in_several_groups(groups: Customergroups) -> None:
    await groups.add_customers(1, [17])
    await groups.add_customers(2, [17])
    where = filters.parse({"/customers": 17}, {"/customers": filters.FieldType.UID_SET}, "/0")
    assert [g["uid"] for g in await groups.select(Selection(where=where))] == [1, 2]


async def test_list_customers_pages_and_descends(groups: Customergroups) -> None:
    await groups.add_customers(1, [5, 3, 9, 1])
    assert await groups.list_customers(1, Page(limit=2, offset=1)) == [3, 5]
    assert await groups.list_customers(1, Page(descending=True, limit=3)) == [9, 5, 3]
    assert await groups.list_customers(2, Page()) == []


async def test_membership_changes_move_changed_and_no_ops_do_not(
    groups: Customergroups, clock: Clock
) -> None:
    clock.advance(10)
    await groups.add_customers(1, [17])
    assert (await groups.get(1))["changed"] == "2014-01-16T14:14:28Z"
    clock.advance(10)
    assert await groups.add_customers(1, [17]) == 0
    assert await groups.remove_customers(1, [99]) == 0
    assert (await groups.get(1))["changed"] == "2014-01-16T14:14:28Z"


async def test_move_all_customers(groups: Customergroups) -> None:
    await groups.add_customers(1, [1, 2, 3])
    await groups.add_customers(2, [3, 4])
    assert await groups.move_customers(1, 2, None) == 3
    assert await groups.list_customers(1, Page()) == []
    assert await groups.list_customers(2, Page()) == [1, 2, 3, 4]


async def test_move_some_customers(groups: Customergroups) -> None:
    await groups.add_customers(1, [1, 2, 3])
    assert await groups.move_customers(1, 3, [2, 3, 3]) == 2
    assert await groups.list_customers(1, Page()) == [1]
    assert await groups.list_customers(3, Page()) == [2, 3]


async def test_move_is_all_or_nothing(groups: Customergroups) -> None:
    await groups.add_customers(1, [1, 2])
    with pytest.raises(NotMembers) as caught:
        await groups.move_customers(1, 2, [1, 5, 2, 6])
    problems = problems_of(caught.value)
    assert [p["pointer"] for p in problems] == ["/2/1", "/2/3"]
    assert problems[0]["message"] == "Customer 5 is not in customer group 1."
    assert await groups.list_customers(1, Page()) == [1, 2]
    assert await groups.list_customers(2, Page()) == []


async def test_move_to_the_same_group_is_refused(groups: Customergroups) -> None:
    with pytest.raises(SameGroup) as caught:
        await groups.move_customers(1, 1, None)
    assert problems_of(caught.value)[0]["pointer"] == "/1"


@pytest.mark.parametrize(
    ("source", "target", "pointer"), [(7, 1, "/0"), (1, 7, "/1"), (7, 7, "/0"), (7, 8, "/0")]
)
async def test_move_with_a_missing_group_points_at_it(
    groups: Customergroups, source: int, target: int, pointer: str
) -> None:
    with pytest.raises(GroupMissing) as caught:
        await groups.move_customers(source, target, None)
    error = caught.value.rpc(MOVE)
    assert words(error.data) == [{"pointer": pointer, "message": "No customer group with uid 7"}]


async def test_move_with_both_groups_missing_names_the_source_in_every_store(
    groups: Customergroups,
) -> None:
    # PostgreSQL locks the two groups in uid order; the answer must not follow that order.
    with pytest.raises(GroupMissing) as caught:
        await groups.move_customers(9, 8, None)
    error = caught.value.rpc(MOVE)
    assert words(error.data) == [{"pointer": "/0", "message": "No customer group with uid 9"}]


async def test_move_with_a_stale_source_and_a_missing_target_is_a_conflict(
    groups: Customergroups,
) -> None:
    # The source is checked first (its version, then the target), whichever uid is smaller.
    await groups.delete(1)
    await groups.add_customers(3, [17])
    with pytest.raises(VersionConflict) as caught:
        await groups.move_customers(3, 1, None, expected=1)
    assert caught.value.current["uid"] == 3
    assert await groups.list_customers(3, Page()) == [17]


async def test_members_of_a_missing_group_are_not_found_naming_its_uid(
    groups: Customergroups,
) -> None:
    calls = (groups.add_customers(9, [1]), groups.remove_customers(9, [1]))
    for call in (*calls, groups.list_customers(9, Page())):
        with pytest.raises(GroupMissing) as caught:
            await call
        assert (caught.value.uid, caught.value.param) == (9, "uid")


async def test_delete_unassigns_members_but_keeps_their_other_groups(
    groups: Customergroups,
) -> None:
    await groups.add_customers(1, [17, 42])
    await groups.add_customers(2, [17])
    await groups.delete(1)
    assert (await groups.get(2))["customerCount"] == 1
    assert await groups.list_customers(2, Page()) == [17]


async def test_sort_by_customer_count_breaks_ties_by_uid(groups: Customergroups) -> None:
    await groups.add_customers(2, [1, 2])
    await groups.add_customers(3, [1, 2])
    by_count = await groups.select(Selection(sort="customerCount"))
    assert [(g["uid"], g["customerCount"]) for g in by_count] == [(1, 0), (2, 2), (3, 2)]
    down = await groups.select(Selection(sort="customerCount", descending=True))
    assert [g["uid"] for g in down] == [3, 2, 1]


async def test_customer_count_is_read_only(groups: Customergroups) -> None:
    assert (await groups.validate(1, {"customerCount": 5}))[0]["pointer"] == "/customerCount"


async def test_memberships_survive_a_reopen(tmp_path: Path, clock: Clock) -> None:
    path = tmp_path / "db.json"
    store = open_store(path)
    service = Customergroups(store, Schemas.load(), clock)
    await service.set(None, {"name": "A"})
    await service.set(None, {"name": "B"})
    await service.add_customers(1, [3, 1, 2])
    await service.move_customers(1, 2, [3])
    await store.aclose()
    again = open_store(path)
    assert [await again.members(uid, Page()) for uid in (1, 2)] == [[1, 2], [3]]
    await again.aclose()
