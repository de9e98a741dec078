"""The Customergroup rules: names, uniqueness, timestamps, uids, orderings, validation."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from customergroup_rpc import filters
from customergroup_rpc.errors import GroupMissing, PatchInvalid, VersionConflict, worded
from customergroup_rpc.schemas import Schemas
from customergroup_rpc.service import Customergroups, Page, Selection, timestamp, utc_now
from customergroup_rpc.store import connect
from customergroup_rpc.store.journal import replayed
from customergroup_rpc.store.tiny import TinyStore

from .conftest import Clock

FIELDS = {"/uid": filters.FieldType.INTEGER, "/name": filters.FieldType.STRING}


@pytest.fixture
async def groups(db: Path | str | None, clock: Clock) -> AsyncIterator[Customergroups]:
    store = await connect(db)
    yield Customergroups(store, Schemas.load(), clock)
    await store.aclose()


def names(found: list[dict[str, object]]) -> list[object]:
    return [g["name"] for g in found]


def test_a_star_import_of_the_service_gives_the_use_cases_and_their_types() -> None:
    exported: dict[str, object] = {}
    exec("from customergroup_rpc.service import *", exported)
    expected = {
        "Actor",
        "Changes",
        "Clock",
        "Customergroups",
        "Group",
        "Page",
        "Selection",
        "timestamp",
        "utc_now",
    }
    assert expected <= exported.keys()


async def test_create_trims_the_name(groups: Customergroups) -> None:
    assert (await groups.set(None, {"name": "  Staff \t"}))["name"] == "Staff"


async def test_create_sets_created_and_changed_to_now(groups: Customergroups) -> None:
    group = await groups.set(None, {"name": "Staff"})
    assert group == {
        "name": "Staff",
        "created": "2014-01-16T14:14:18Z",
        "changed": "2014-01-16T14:14:18Z",
        "customerCount": 0,
        "uid": 1,
        "version": 1,
    }


@pytest.mark.parametrize("taken", ["staff", " STAFF ", "Ｓｔａｆｆ", "Staff"])
async def test_create_duplicate_name_points_at_name(groups: Customergroups, taken: str) -> None:
    await groups.set(None, {"name": "Staff"})
    with pytest.raises(PatchInvalid) as caught:
        await groups.set(None, {"name": taken})
    assert [p["pointer"] for p in caught.value.problems] == ["/name"]
    assert "customer group 1" in str(caught.value.problems[0]["message"])


async def test_inner_whitespace_does_not_make_a_new_name(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Staff  Room"})
    assert (await groups.validate(None, {"name": "staff room"}))[0]["pointer"] == "/name"


async def test_renaming_a_group_to_its_own_name_in_other_case_is_allowed(
    groups: Customergroups, clock: Clock
) -> None:
    await groups.set(None, {"name": "staff"})
    clock.advance(5)
    group = await groups.set(1, {"name": "Staff"})
    assert (group["name"], group["changed"]) == ("Staff", "2014-01-16T14:14:23Z")


async def test_set_without_a_change_keeps_changed(groups: Customergroups, clock: Clock) -> None:
    await groups.set(None, {"name": "Staff"})
    clock.advance(60)
    assert (await groups.set(1, {"name": " Staff "}))["changed"] == "2014-01-16T14:14:18Z"
    assert (await groups.set(1, {}))["changed"] == "2014-01-16T14:14:18Z"


@pytest.mark.parametrize(
    ("patch", "pointers"),
    [
        ({}, ["/name"]),
        ({"name": ""}, ["/name"]),
        ({"name": "   "}, ["/name"]),
        ({"name": "x" * 256}, ["/name"]),
        ({"name": "line\nbreak"}, ["/name"]),
        ({"name": 5}, ["/name"]),
        ({"name": None}, ["/name"]),
        ({"name": "A", "uid": 3, "created": "x", "colour": "red"}, ["/colour", "/created", "/uid"]),
        ({"uid": 3, "name": 7}, ["/name", "/uid"]),
    ],
)
async def test_create_reports_every_problem_at_its_pointer(
    groups: Customergroups, patch: dict[str, object], pointers: list[str]
) -> None:
    problems = worded(await groups.validate(None, patch))
    assert sorted(p["pointer"] for p in problems) == pointers
    assert all(p["message"].endswith(".") for p in problems)
    with pytest.raises(PatchInvalid):
        await groups.set(None, patch)
    assert await groups.count(filters.MATCH_ALL) == 0


async def test_name_of_255_characters_is_accepted(groups: Customergroups) -> None:
    assert await groups.validate(None, {"name": "x" * 255}) == []


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("\tStaff\n", "Staff"),
        (" " + "x" * 255 + "  ", "x" * 255),
        ("\u2028\u3000Staff\u00a0\u0085", "Staff"),
        ("\u200bStaff", "\u200bStaff"),  # kept as sent: only the comparison drops it
        ("👩\u200d💻 Devs\ufe0f", "👩\u200d💻 Devs\ufe0f"),
    ],
)
async def test_whitespace_around_a_name_is_trimmed_and_the_rest_kept(
    groups: Customergroups, sent: str, stored: str
) -> None:
    assert await groups.validate(None, {"name": sent}) == []
    assert (await groups.set(None, {"name": sent}))["name"] == stored


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("\u200b", "at least one visible character"),
        (" \u200b\u3164 ", "at least one visible character"),
        ("\u2800\ufeff", "at least one visible character"),
        ("\U000e0041\ufe0f", "at least one visible character"),
        ("\u202eInvisible", "bidirectional controls"),
        ("Staff\u200e", "bidirectional controls"),
        ("\u2066Staff\u2069", "bidirectional controls"),
        ("\u061cStaff", "bidirectional controls"),
        ("\x1cStaff", "control characters"),  # Python's strip() would have trimmed it
        ("Staff\u2028Room", "control characters"),
        ("x" * 256, "at most 255 characters long once the whitespace around it is trimmed"),
        (" " + "x" * 254 + " \u200b ", "at most 255 characters"),
    ],
)
async def test_names_a_person_cannot_read_are_refused_with_the_reason(
    groups: Customergroups, name: str, message: str
) -> None:
    problems = worded(await groups.validate(None, {"name": name}))
    assert [p["pointer"] for p in problems] == ["/name"]
    assert message in str(problems[0]["message"])
    with pytest.raises(PatchInvalid):
        await groups.set(None, {"name": name})


@pytest.mark.parametrize(
    "lookalike",
    [
        "Invisible\u200b",
        "\u200bInvisible",
        "Invis\u00adible",
        "Invisible\ufeff",
        "Invisible\u2060",
        "Invisible\u3164",
        "Invis\u200dible",
        "Invis\u200cible",
        "Invisible\ufe0e",
        "Invisible\U000e0001",
        "INVISIBLE\u2800",
    ],
)
async def test_a_name_with_invisible_characters_is_taken_by_the_name_without(
    groups: Customergroups, lookalike: str
) -> None:
    await groups.set(None, {"name": "Invisible"})
    problems = worded(await groups.validate(None, {"name": lookalike}))
    assert problems == [
        {"pointer": "/name", "message": "The name is taken: customer group 1 is called Invisible."}
    ]
    await groups.set(None, {"name": "Other\u200b"})
    assert str((await groups.validate(None, {"name": "other"}))[0]["message"]).startswith(
        "The name is taken"
    )


async def test_validate_matches_set_and_saves_nothing(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Staff"})
    assert await groups.validate(1, {"name": "Renamed"}) == []
    assert (await groups.get(1))["name"] == "Staff"


async def test_existing_group_needs_no_name_in_patch(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Staff"})
    assert await groups.validate(1, {}) == []


async def test_unknown_uid_is_object_not_found(groups: Customergroups) -> None:
    calls = (groups.get(7), groups.validate(7, {}), groups.schema(7))
    for call in (*calls, groups.set(7, {"name": "A"}), groups.delete(7)):
        with pytest.raises(GroupMissing) as caught:
            await call
        assert (caught.value.uid, caught.value.param) == (7, "uid")


async def test_uids_are_never_reused_after_delete(groups: Customergroups) -> None:
    for name in ("A", "B", "C"):
        await groups.set(None, {"name": name})
    await groups.delete(3)
    assert (await groups.set(None, {"name": "D"}))["uid"] == 4


async def test_deleted_name_can_be_used_again(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Staff"})
    await groups.delete(1)
    assert (await groups.set(None, {"name": "staff"}))["uid"] == 2


async def test_schema_requires_name_only_for_new_groups(groups: Customergroups) -> None:
    await groups.set(None, {"name": "Staff"})
    assert (await groups.schema(None))["required"] == ["name"]
    assert "required" not in await groups.schema(1)


async def make(groups: Customergroups, clock: Clock, *names_: str) -> None:
    for name in names_:
        await groups.set(None, {"name": name})
        clock.advance(1)


async def test_list_orders_by_name_case_insensitively_with_uid_tiebreak(
    groups: Customergroups, clock: Clock
) -> None:
    await make(groups, clock, "beta", "Alpha", "gamma")
    assert names(await groups.select(Selection(sort="name"))) == ["Alpha", "beta", "gamma"]
    assert names(await groups.select(Selection(sort="name", descending=True))) == [
        "gamma",
        "beta",
        "Alpha",
    ]


async def test_list_created_ties_break_by_uid(groups: Customergroups) -> None:
    for name in ("c", "a", "b"):
        await groups.set(None, {"name": name})
    assert [g["uid"] for g in await groups.select(Selection(sort="created"))] == [1, 2, 3]
    assert [g["uid"] for g in await groups.select(Selection(sort="created", descending=True))] == [
        3,
        2,
        1,
    ]


async def test_changed_ordering_follows_renames(groups: Customergroups, clock: Clock) -> None:
    await make(groups, clock, "a", "b")
    await groups.set(1, {"name": "a2"})
    assert names(await groups.select(Selection(sort="changed"))) == ["b", "a2"]


async def test_pages_neither_overlap_nor_skip(groups: Customergroups, clock: Clock) -> None:
    await make(groups, clock, *(f"g{i:02}" for i in range(25)))
    pages = [
        names(await groups.select(Selection(sort="name", limit=10, offset=o)))
        for o in range(0, 30, 10)
    ]
    assert [len(p) for p in pages] == [10, 10, 5]
    assert [name for page in pages for name in page] == [f"g{i:02}" for i in range(25)]


async def test_limit_zero_and_offset_past_the_end_are_empty(
    groups: Customergroups, clock: Clock
) -> None:
    await make(groups, clock, "a", "b")
    assert await groups.select(Selection(limit=0)) == []
    assert await groups.select(Selection(offset=5)) == []


async def test_count_and_list_use_the_same_filter(groups: Customergroups, clock: Clock) -> None:
    await make(groups, clock, "Staff", "Students", "staff room")
    where = filters.parse({"/name": {"startsWith": "STAFF"}}, FIELDS, "/0")
    assert await groups.count(where) == 2
    assert names(await groups.select(Selection(where=where))) == ["Staff", "staff room"]


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ({"/name": {"startsWith": "ＳＴＡＦＦ"}}, ["Staff", "staff room", "Staffing"]),
        ({"/name": {"startsWith": "staff", "endsWith": "ROOM"}}, ["staff room"]),
        ({"/name": {"startsWith": "staff"}, "/uid": {"min": 3}}, ["staff room", "Staffing"]),
        ({"/name": {"startsWith": "zz"}}, []),
        ({"/name": {"startsWith": ""}}, ["Staff", "Students", "staff room", "Staffing"]),
    ],
)
async def test_prefix_filters_use_the_name_index_and_still_apply_the_rest(
    groups: Customergroups, clock: Clock, where: dict[str, object], expected: list[str]
) -> None:
    await make(groups, clock, "Staff", "Students", "staff room", "Staffing")
    fields = {"/uid": filters.FieldType.INTEGER, "/name": filters.FieldType.STRING}
    chosen = filters.parse(where, fields, "/1/filters")
    assert names(await groups.select(Selection(where=chosen))) == expected
    assert await groups.count(chosen) == len(expected)
    by_name = await groups.select(Selection(where=chosen, sort="name", descending=True))
    assert names(by_name) == sorted(expected, key=str.casefold, reverse=True)


@pytest.mark.parametrize("prefix", ["group 1", "group", "group 01", "x"])
@pytest.mark.parametrize("descending", [False, True])
async def test_uid_pages_agree_whichever_plan_the_prefix_gets(
    groups: Customergroups, clock: Clock, prefix: str, descending: bool
) -> None:
    """Few matches go through the name index, many through the uid order: same pages."""
    await make(groups, clock, *(f"Group {i:02}" for i in range(1, 41)))
    fields = {"/uid": filters.FieldType.INTEGER, "/name": filters.FieldType.STRING}
    only_prefix = filters.parse({"/name": {"startsWith": prefix}}, fields, "")
    with_more = filters.parse({"/name": {"startsWith": prefix, "endsWith": "1"}}, fields, "")
    all_names = [f"Group {i:02}" for i in range(1, 41)]  # uid i is "Group i"
    for where, ends in ((only_prefix, ""), (with_more, "1")):
        expected = [n for n in all_names if n.lower().startswith(prefix) and n.endswith(ends)]
        if descending:
            expected.reverse()
        assert names(await groups.select(Selection(where=where, descending=descending))) == expected
        pages = [
            names(
                await groups.select(
                    Selection(where=where, descending=descending, offset=o, limit=3)
                )
            )
            for o in range(0, len(expected) + 3, 3)
        ]
        assert [name for page in pages for name in page] == expected
        assert await groups.count(where) == len(expected)


async def test_count_and_lists_agree_on_a_prefix_of_the_last_code_point(
    groups: Customergroups, clock: Clock
) -> None:
    top = "\U0010ffff"
    await make(groups, clock, top, top * 2, top + "a", top * 3, "a", "\U0010fffe")
    where = filters.parse({"/name": {"startsWith": top}}, FIELDS, "/0")
    by_uid = names(await groups.select(Selection(where=where)))
    by_name = names(await groups.select(Selection(where=where, sort="name")))
    assert by_uid == [top, top * 2, top + "a", top * 3]
    assert by_name == [top, top + "a", top * 2, top * 3]
    assert await groups.count(where) == 4
    descending = await groups.select(Selection(where=where, sort="name", descending=True))
    assert names(descending) == by_name[::-1]


# Emptying a group's customers (issue 17): on disk, after a reopen, and in what clients see.


async def reopened(store: TinyStore, clock: Clock) -> tuple[TinyStore, Customergroups]:
    """The service over the file of ``store`` opened afresh, after closing ``store``."""
    await store.aclose()
    assert store.path is not None
    again = TinyStore.open(store.path)
    return again, Customergroups(again, Schemas.load(), clock)


def stored_members(path: Path) -> object:
    """The members table on disk: the database file with its journal replayed."""
    return replayed(path)["members"]


async def test_removing_every_customer_empties_the_group_on_disk_and_after_a_reopen(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "groups.db.json"
    store = TinyStore.open(path)
    groups = Customergroups(store, Schemas.load(), clock)
    await groups.set(None, {"name": "Staff"})
    await groups.add_customers(1, [1, 2, 3])
    clock.advance(10)
    assert await groups.remove_customers(1, [3, 2, 1, 99]) == 3
    emptied = await groups.get(1)
    assert (emptied["customerCount"], emptied["changed"]) == (0, "2014-01-16T14:14:28Z")
    assert await groups.list_customers(1, Page()) == []
    assert stored_members(path) == {}
    store, again = await reopened(store, clock)
    assert (await again.get(1))["customerCount"] == 0
    assert await again.list_customers(1, Page()) == []
    await again.add_customers(1, [4])  # an emptied group takes customers again
    assert await again.list_customers(1, Page()) == [4]
    await store.aclose()


async def test_moving_every_customer_empties_the_source_on_disk_and_after_a_reopen(
    tmp_path: Path, clock: Clock
) -> None:
    path = tmp_path / "groups.db.json"
    store = TinyStore.open(path)
    groups = Customergroups(store, Schemas.load(), clock)
    for name in ("Staff", "Students"):
        await groups.set(None, {"name": name})
    await groups.add_customers(1, [1, 2, 3])
    await groups.add_customers(2, [3, 4])
    assert await groups.move_customers(1, 2, None) == 3
    assert [g["customerCount"] for g in await groups.select(Selection())] == [0, 4]
    assert stored_members(path) == {"2": {"customers": [1, 2, 3, 4]}}
    store, again = await reopened(store, clock)
    assert [g["customerCount"] for g in await again.select(Selection())] == [0, 4]
    assert await again.list_customers(1, Page()) == []
    assert await again.list_customers(2, Page()) == [1, 2, 3, 4]
    await store.aclose()


# The clock, problems reported together, a name taken meanwhile (issue 17).


def test_now_is_the_current_moment_in_utc() -> None:
    before = datetime.now(UTC)
    now = utc_now()
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= datetime.now(UTC)


def test_a_timestamp_is_in_utc_whatever_the_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TZ", "<+0530>-05:30")  # a local zone of UTC+05:30, without tzdata
    time.tzset()
    try:
        moment = datetime(2014, 1, 16, 15, 14, 18, 999, tzinfo=timezone(timedelta(hours=1)))
        stamped = timestamp(moment)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert stamped == "2014-01-16T14:14:18Z"


async def test_an_unknown_key_and_a_taken_name_are_reported_together(
    groups: Customergroups,
) -> None:
    await groups.set(None, {"name": "Staff"})
    problems = await groups.validate(None, {"name": "STAFF", "colour": "red"})
    assert [p["pointer"] for p in problems] == ["/colour", "/name"]
    assert "customer group 1" in str(problems[1]["message"])
    assert "Staff" in str(problems[1]["message"])


async def test_a_name_the_schema_refuses_is_not_also_called_taken(
    groups: Customergroups,
) -> None:
    await groups.set(None, {"name": "Staff"})
    too_long = "Staff" + " " * 1100  # over the 1024 characters a name may be sent with
    [problem] = await groups.validate(None, {"name": too_long})
    assert problem["pointer"] == "/name"
    assert "customer group 1" not in str(problem["message"])


async def test_a_name_another_write_took_after_the_check_is_refused_at_name(
    db: Path | str | None, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await connect(db)
    try:
        groups = Customergroups(store, Schemas.load(), clock)
        await groups.set(None, {"name": "Staff"})
        await groups.set(None, {"name": "Other"})

        async def looked_too_early(name: str) -> None:
            return None  # as if the check ran before another write took the name

        monkeypatch.setattr(store, "named", looked_too_early)
        for uid in (None, 2):
            with pytest.raises(PatchInvalid) as caught:
                await groups.set(uid, {"name": "staff"})
            [problem] = caught.value.problems
            assert problem["pointer"] == "/name"
            assert "customer group 1" in str(problem["message"])
            assert "Staff" in str(problem["message"])
        assert [g["name"] for g in await groups.select(Selection())] == ["Staff", "Other"]
    finally:
        await store.aclose()


@pytest.mark.parametrize("uid", [2**63, 2**64, -(2**63) - 1, 10**40])
async def test_a_uid_beyond_what_any_store_holds_is_object_not_found(
    groups: Customergroups, uid: int
) -> None:
    # PostgreSQL's bigint cannot take it: the query failed, and the client got -32603.
    await groups.set(None, {"name": "A"})
    calls = (groups.get(uid), groups.validate(uid, {}), groups.schema(uid))
    members = (groups.add_customers(uid, [1]), groups.remove_customers(uid, [1]))
    for call in (*calls, groups.set(uid, {"name": "B"}), groups.delete(uid), *members):
        with pytest.raises(GroupMissing) as caught:
            await call
        assert (caught.value.uid, caught.value.param) == (uid, "uid")
    with pytest.raises(GroupMissing):
        await groups.list_customers(uid, Page())
    for source, target, param in ((uid, 1, "fromUid"), (1, uid, "toUid")):
        with pytest.raises(GroupMissing) as caught:
            await groups.move_customers(source, target, None)
        assert (caught.value.uid, caught.value.param) == (uid, param)


@pytest.mark.parametrize(
    "filters", [{"uid": 2**64}, {"uid": -(10**40)}, {"token": "a\x00b"}, {"token": "\ud800"}]
)
async def test_changes_filtered_by_what_no_event_can_hold_answers_none(
    groups: Customergroups, filters: dict[str, object]
) -> None:
    await groups.set(None, {"name": "A"})
    found = await groups.changes(0, None, **filters)  # type: ignore[arg-type]
    assert (found.events, found.last) == ([], 1)


async def test_an_update_that_changes_nothing_still_refuses_a_stale_version(
    groups: Customergroups,
) -> None:
    await groups.set(None, {"name": "Staff"})
    await groups.set(1, {"name": "Staff 2"})
    with pytest.raises(VersionConflict):
        await groups.set(1, {}, expected=1)
    assert (await groups.set(1, {}, expected=2))["version"] == 2
    assert (await groups.set(None, {"name": "New"}, expected=7))["version"] == 1


async def test_waiting_for_the_feed_ends_at_the_next_write_not_before(
    groups: Customergroups,
) -> None:
    waiting = asyncio.ensure_future(groups.feed_wait(groups.feed_tick()))
    for _ in range(5):
        await asyncio.sleep(0)
    assert not waiting.done()
    await groups.set(None, {"name": "Staff"})
    await asyncio.wait_for(waiting, 30)  # a failure, never a hang
