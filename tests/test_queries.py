"""Reads over a State: the indexes answer exactly what the filter's Python predicate does."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customergroup_rpc import filters
from customergroup_rpc.store import Selection, queries
from customergroup_rpc.store.feed import Changes
from customergroup_rpc.store.queries import count, select
from customergroup_rpc.store.state import Drop, Event, Forget, Join, Put, State
from customergroup_rpc.text import fold

FIELDS = {
    "/name": filters.FieldType.STRING,
    "/uid": filters.FieldType.INTEGER,
    "/customers": filters.FieldType.UID_SET,
}
# Few letters, so that texts are often inside names; case, width and invisibles fold away.
LETTERS = ["a", "b", "A", "ｂ", " ", "\u200b", "é", "e\u0301"]
text = st.lists(st.sampled_from(LETTERS), max_size=7).map("".join)
names = st.lists(text.filter(lambda t: fold(t) != ""), max_size=25, unique_by=fold)
TEXT_OPS = ["contains", "endsWith", "startsWith"]


@st.composite
def piece(draw: st.DrawFn, listed: list[str]) -> str:
    """Any text, or a piece of one of the names (so that it is often found)."""
    if not listed or draw(st.booleans()):
        return draw(text)
    name = draw(st.sampled_from(listed))
    start = draw(st.integers(0, len(name)))
    return name[start : draw(st.integers(start, len(name)))]


@st.composite
def data_and_filter(draw: st.DrawFn) -> tuple[list[str], dict[str, Any]]:
    listed = draw(names)
    raw: dict[str, Any] = {}
    ops = draw(st.lists(st.sampled_from(TEXT_OPS), max_size=2))
    terms: dict[str, Any] = {op: draw(piece(listed)) for op in ops}
    if draw(st.booleans()):
        terms["not"] = {"contains": draw(piece(listed))}
    if terms:
        raw["/name"] = terms
    if draw(st.booleans()):
        raw["/uid"] = {"min": draw(st.integers(0, 20))}
    if draw(st.booleans()):
        raw["/customers"] = {"containsAny": draw(st.lists(st.integers(1, 5), max_size=2))}
    return listed, raw


def state_of(listed: list[str]) -> State:
    state = State()
    for uid, name in enumerate(listed, start=1):
        state.apply(Put(uid, {"name": name, "created": f"c{uid % 3}", "changed": "x"}))
        state.apply(Join(uid, frozenset({uid % 5 + 1})))
    return state


def expected(state: State, raw: dict[str, Any], sort: str, descending: bool) -> list[int]:
    test = filters.compile_filter(filters.parse(raw, FIELDS, ""))
    found = []
    for uid, fields in state.items():
        record = {**fields, "uid": uid, "customers": frozenset({uid % 5 + 1})}
        if test(record):
            found.append(uid)
    keys = {
        "uid": lambda u: (u,),
        "name": lambda u: (fold(state.groups[u]["name"]), u),
        "created": lambda u: (state.groups[u]["created"], u),
    }
    return sorted(found, key=keys[sort], reverse=descending)


@settings(max_examples=300)
@given(
    data_and_filter(),
    st.sampled_from(["uid", "name", "created"]),
    st.booleans(),
    st.integers(0, 4),
    st.one_of(st.none(), st.integers(1, 5)),
)
def test_indexes_select_and_count_exactly_what_the_predicate_does(
    case: tuple[list[str], dict[str, Any]],
    sort: str,
    descending: bool,
    offset: int,
    limit: int | None,
) -> None:
    listed, raw = case
    state = state_of(listed)
    where = filters.parse(raw, FIELDS, "")
    every = expected(state, raw, sort, descending)
    assert asyncio.run(count(state, where)) == len(every)
    chosen = Selection(where, limit, offset, sort, descending)
    found = asyncio.run(select(state, chosen))
    end = None if limit is None else offset + limit
    assert [group["uid"] for group in found] == every[offset:end]


def test_a_long_scan_in_name_order_walks_every_chunk() -> None:
    state = state_of([f"g{n:05d} {'x' if n % 3 else 'y'}" for n in range(5_000)])
    where = filters.parse({"/name": {"endsWith": "y"}, "/uid": {"min": 2}}, FIELDS, "")
    found = asyncio.run(select(state, Selection(where, sort="name", descending=True)))
    assert [g["uid"] for g in found] == expected(
        state, {"/name": {"endsWith": "y"}, "/uid": {"min": 2}}, "name", True
    )


def test_a_group_deleted_while_a_scan_hands_the_loop_back_is_left_out(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A scan yields between chunks; a delete committed meanwhile must not break the sort
    # (the soak found list sorted by changed answering -32603: a KeyError on the deleted uid).
    monkeypatch.setattr(queries, "CHUNK", 2)
    state = state_of([f"Group {i}" for i in range(1, 8)])
    where = filters.parse({"/uid": {"min": 1}}, FIELDS, "")

    async def scan_during_a_delete() -> list[int]:
        scan = asyncio.create_task(select(state, Selection(where=where, sort="created")))
        await asyncio.sleep(0)  # the scan tests its first chunk, then hands the loop back
        state.apply(Drop(1))
        return [group["uid"] for group in await scan]

    assert asyncio.run(scan_during_a_delete()) == [3, 6, 4, 7, 2, 5]


def test_events_dropped_while_a_read_of_the_feed_hands_the_loop_back_are_never_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A read from the oldest kept (since 0) walks the feed chunk by chunk; when retention drops
    # the events after those it read meanwhile, it answered them with ``last`` = the newest
    # position: a client following on from there never learned of the events still kept.
    monkeypatch.setattr(queries, "CHUNK", 2)
    state = State()
    for position in range(1, 7):
        state.apply(Event(position, {"type": "created", "uid": position}))

    async def read_during_a_drop() -> Changes:
        read = asyncio.create_task(queries.changes(state, 0, None, None, None))
        await asyncio.sleep(0)  # the read takes its first chunk, then hands the loop back
        for position in range(7, 9):
            state.apply(Event(position, {"type": "created", "uid": position}))
        state.apply(Forget(1, 4))
        return await read

    found = asyncio.run(read_during_a_drop())
    assert [event["position"] for event in found.events] == [1, 2]
    assert found.last == 2  # a read from there is told to resync: 3 and 4 are gone
    assert found.horizon > found.last
