"""Reads over a State: the indexes answer exactly what the filter's Python predicate does."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customergroup_rpc import filters
from customergroup_rpc.store import Group, Page, Selection, queries
from customergroup_rpc.store.feed import Changes, matches, shown
from customergroup_rpc.store.queries import count, select
from customergroup_rpc.store.state import Change, Drop, Event, Forget, Join, Leave, Put, State
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


def where(raw: dict[str, Any]) -> filters.Filter:
    return filters.parse(raw, FIELDS, "")


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


@pytest.fixture
def state(monkeypatch: pytest.MonkeyPatch) -> State:
    """Groups 1 to 7, "Group 1", ..., each with one customer; a scan tests ``CHUNK`` = 2 of
    them between two hand-backs of the event loop."""
    monkeypatch.setattr(queries, "CHUNK", 2)
    return state_of([f"Group {i}" for i in range(1, 8)])


def selected_while(
    state: State, selection: Selection, meanwhile: Callable[[], None]
) -> list[Group]:
    """``select`` (``CHUNK`` groups at a time), with ``meanwhile`` run when the scan first
    hands the event loop back, after testing its first chunk."""

    async def scan() -> list[Group]:
        scanning = asyncio.create_task(select(state, selection))
        await asyncio.sleep(0)
        meanwhile()
        return await scanning

    return asyncio.run(scan())


def test_a_group_deleted_while_a_scan_hands_the_loop_back_is_left_out(state: State) -> None:
    # A scan yields between chunks; a delete committed meanwhile must not break the sort
    # (the soak found list sorted by changed answering -32603: a KeyError on the deleted uid).
    every = Selection(where({"/uid": {"min": 1}}), sort="created")
    found = selected_while(state, every, lambda: state.apply(Drop(1)))
    assert [group["uid"] for group in found] == [3, 6, 4, 7, 2, 5]


def commit(state: State, *changes: Change) -> None:
    """Changes as the store commits them: each commit adds its event to the feed."""
    for change in changes:
        state.apply(change)
    position = state.last_position + 1
    state.apply(Event(position, {"type": "renamed", "uid": 1}))


@pytest.mark.parametrize("sort", ["uid", "customerCount"])
def test_a_group_that_stops_matching_while_a_scan_hands_the_loop_back_is_left_out(
    state: State, sort: str
) -> None:
    # The soak found list(customerCount >= 1) answering a group with no customers: matched in
    # the scan's first chunk, emptied by a commit before the page was read.
    counted = {**FIELDS, "/customerCount": filters.FieldType.INTEGER}
    where = filters.parse({"/customerCount": {"min": 1}}, counted, "")

    removal = Leave(1, frozenset({2}))  # group 1's only customer
    found = selected_while(state, Selection(where=where, sort=sort), lambda: commit(state, removal))
    assert [g["uid"] for g in found if g["customerCount"] < 1] == []
    assert sorted(g["uid"] for g in found) == [2, 3, 4, 5, 6, 7]


def test_a_group_renamed_while_a_scan_by_name_hands_the_loop_back_keeps_the_page_in_order(
    state: State,
) -> None:

    rename = Put(1, {"name": "Group 9", "created": "c1", "changed": "y"})
    found = selected_while(
        state, Selection(where({"/uid": {"min": 1}}), sort="name"), lambda: commit(state, rename)
    )
    names = [g["name"] for g in found]  # "Group 1" and "Group 2" were read before the rename
    assert names == sorted(names)


def read_while(
    state: State, meanwhile: Callable[[], None], uid: int | None = None, token: str | None = None
) -> Changes:
    """A read of the feed from its start (``CHUNK`` events at a time), with ``meanwhile`` run
    when it first hands the event loop back, after its first chunk."""

    async def read() -> Changes:
        reading = asyncio.create_task(queries.changes(state, 0, None, uid, token))
        await asyncio.sleep(0)
        meanwhile()
        return await reading

    return asyncio.run(read())


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

    def meanwhile() -> None:
        for position in range(7, 9):
            state.apply(Event(position, {"type": "created", "uid": position}))
        state.apply(Forget(1, 4))

    found = read_while(state, meanwhile)
    assert [event["position"] for event in found.events] == [1, 2]
    assert found.last == 2  # a read from there is told to resync: 3 and 4 are gone
    assert found.horizon > found.last
    assert found.cut  # not the newest: a follower reads on at once, and is told to resync


# Which index answers (issue 17): the indexes exist to spare reading every group, so the tests
# count what a read touches: full scans of the groups or folded names, and groups the filter's
# predicate tests (``_record``).


class Scanned(dict[int, Any]):
    """A state's table that counts how often it is walked whole."""

    scans = 0

    def __iter__(self) -> Any:
        self.scans += 1
        return super().__iter__()

    def values(self) -> Any:
        self.scans += 1
        return super().values()


RARE = ["Staff", "Staff room", "Head staff", "Stage"]  # uids 301 to 304, after 300 others


@pytest.fixture
def many() -> State:
    """300 groups ``g000`` to ``g299``, then the four of ``RARE``; the tables count scans."""
    state = state_of([f"g{n:03d}" for n in range(300)] + RARE)
    state.groups, state.folded = Scanned(state.groups), Scanned(state.folded)
    return state


@pytest.fixture
def tested(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The uids of the groups the filter's predicate is asked about, in order."""
    asked: list[int] = []
    real = queries._record

    def record(state: State, uid: int) -> dict[str, Any]:
        asked.append(uid)
        return real(state, uid)

    monkeypatch.setattr(queries, "_record", record)
    return asked


def scans(state: State) -> int:
    assert isinstance(state.groups, Scanned)
    assert isinstance(state.folded, Scanned)
    return state.groups.scans + state.folded.scans


def uids(state: State, selection: Selection) -> list[int]:
    return [group["uid"] for group in asyncio.run(select(state, selection))]


@pytest.mark.parametrize(
    ("condition", "counted"),
    [({"contains": "TAFF"}, 3), ({"endsWith": "staff"}, 2), ({"contains": "xyz"}, 0)],
)
def test_a_count_of_one_contains_or_endswith_of_three_letters_reads_only_its_candidates(
    many: State, tested: list[int], condition: dict[str, str], counted: int
) -> None:
    assert asyncio.run(count(many, where({"/name": condition}))) == counted
    assert (scans(many), tested) == (0, [])


def test_a_count_of_one_short_contains_tests_the_folded_names_not_the_groups(
    many: State, tested: list[int]
) -> None:
    assert asyncio.run(count(many, where({"/name": {"contains": "9"}}))) == 300 - 3 * 9 * 9
    assert tested == []


def test_a_count_or_a_list_of_one_startswith_comes_from_the_name_index_alone(
    many: State, tested: list[int]
) -> None:
    assert asyncio.run(count(many, where({"/name": {"startsWith": "g"}}))) == 300
    chosen = Selection(where({"/name": {"startsWith": "staff"}}), sort="uid", descending=True)
    assert uids(many, chosen) == [302, 301]
    assert (scans(many), tested) == (0, [])


def test_a_list_of_everything_tests_no_group(many: State, tested: list[int]) -> None:
    assert uids(many, Selection(limit=2, offset=1, sort="uid", descending=True)) == [303, 302]
    assert tested == []


@pytest.mark.parametrize("descending", [False, True])
def test_a_list_by_name_of_a_contains_of_three_letters_tests_only_its_candidates(
    many: State, tested: list[int], descending: bool
) -> None:
    chosen = Selection(where({"/name": {"contains": "taff"}}), sort="name", descending=descending)
    in_order = [303, 301, 302]  # head staff, staff, staff room
    assert uids(many, chosen) == (in_order[::-1] if descending else in_order)
    assert (scans(many), sorted(tested)) == (0, [301, 302, 303])


@pytest.mark.parametrize("descending", [False, True])
def test_a_list_by_uid_of_a_common_prefix_and_a_rare_text_tests_only_the_texts_candidates(
    many: State, tested: list[int], descending: bool
) -> None:
    raw = {"/name": {"startsWith": "g", "contains": "g12"}}
    chosen = Selection(where(raw), sort="uid", descending=descending)
    found = list(range(121, 131))  # g120 to g129
    assert uids(many, chosen) == (found[::-1] if descending else found)
    assert (scans(many), sorted(tested)) == (0, found)


def test_two_texts_of_one_name_test_only_the_groups_that_hold_both(
    many: State, tested: list[int]
) -> None:
    chosen = Selection(where({"/name": {"endsWith": "aff", "contains": "sta"}}), sort="uid")
    assert uids(many, chosen) == [301, 303]
    assert sorted(tested) == [301, 302, 303]  # "staff room" holds both texts' trigrams


@pytest.mark.parametrize("descending", [False, True])
def test_a_short_page_of_many_matches_in_created_order_is_the_same_as_sorting_them_all(
    descending: bool,
) -> None:
    state = state_of([f"g{n:03d}" for n in range(100)])
    every = expected(state, {}, "created", descending)
    chosen = Selection(filters.MATCH_ALL, 2, 3, "created", descending)
    assert uids(state, chosen) == every[3:5]


@pytest.mark.parametrize(
    ("sort", "raw"),
    [("created", {"/uid": {"min": 1}}), ("name", {"/uid": {"min": 1}}), ("uid", {})],
)
def test_a_long_scan_hands_the_loop_back_once_per_chunk_and_for_one_turn_only(
    state: State, tested: list[int], sort: str, raw: dict[str, Any]
) -> None:
    if not raw:  # a read of the feed: seven events
        for position in range(1, 8):
            state.apply(Event(position, {"type": "created", "uid": position}))

    async def turns() -> list[int]:
        if raw:
            read: asyncio.Task[Any] = asyncio.create_task(
                select(state, Selection(where(raw), sort=sort))
            )
        else:
            read = asyncio.create_task(queries.changes(state, 0, None, None, None))
        seen = []
        while not read.done():
            await asyncio.sleep(0)
            seen.append(len(tested))
        await read
        return seen

    seen = asyncio.run(turns())
    if raw:
        assert seen[:2] == [2, 4]  # two groups tested at each turn
        assert len(seen) <= 6  # four chunks of at most two: never a sleep longer than a turn
    else:
        assert len(seen) == 4  # handed back after each chunk of events but the last


def test_a_group_as_clients_see_it_carries_its_uid_and_customer_count() -> None:
    state = state_of(["Staff"])
    assert queries.group_of(state, 1) == {
        "name": "Staff",
        "created": "c1",
        "changed": "x",
        "customerCount": 1,
        "uid": 1,
        "version": 1,
    }
    assert queries.group_of(state, 2) is None


def test_a_text_of_the_name_narrows_the_candidates_whatever_clause_comes_before_it(
    many: State, tested: list[int]
) -> None:
    chosen = Selection(where({"/uid": {"min": 302}, "/name": {"contains": "taff"}}), sort="uid")
    assert uids(many, chosen) == [302, 303]
    assert (scans(many), sorted(tested)) == (0, [301, 302, 303])


def test_a_page_of_a_groups_customers_keeps_its_limit_and_its_order() -> None:
    state = State()
    state.apply(Put(1, {"name": "A", "created": "x", "changed": "x"}))
    state.apply(Join(1, frozenset(range(1, 11))))
    assert queries.members(state, 1, Page(offset=2, limit=3)) == [3, 4, 5]
    assert queries.members(state, 1, Page(offset=2, limit=3, descending=True)) == [8, 7, 6]
    assert queries.members(state, 2, Page()) == []


def feed_of(count: int, dropped: int = 0) -> State:
    """A state whose feed holds events 1 to ``count``, those up to ``dropped`` gone."""
    state = State()
    for position in range(1, count + 1):
        state.apply(Event(position, {"type": "created", "uid": position}))
    if dropped:
        state.apply(Forget(1, dropped))
    return state


def test_a_read_of_the_feed_cut_at_its_limit_says_so_with_the_horizon() -> None:
    found = asyncio.run(queries.changes(feed_of(6, dropped=1), 0, 2, None, None))
    assert [event["position"] for event in found.events] == [2, 3]
    assert (found.last, found.horizon, found.cut) == (3, 1, True)
    whole = asyncio.run(queries.changes(feed_of(6, dropped=1), 3, 5, None, None))
    assert (whole.last, whole.horizon, whole.cut) == (6, 1, False)


def test_events_dropped_up_to_where_a_read_got_lose_it_nothing_and_it_reads_on(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queries, "CHUNK", 2)
    state = feed_of(6)

    found = read_while(state, lambda: state.apply(Forget(1, 2)))  # exactly those it read
    assert [event["position"] for event in found.events] == [1, 2, 3, 4, 5, 6]
    assert (found.last, found.horizon, found.cut) == (6, 2, False)


class Counted(State):
    """A state that counts the events a read of the feed looks at."""

    looked = 0

    def event(self, position: int) -> dict[str, Any] | None:
        self.looked += 1
        return super().event(position)


def audited(count: int) -> Counted:
    """``count`` events: group ``p % 100`` made with token ``t{p % 7}``, every tenth a move of
    customers to group 99 (uids are never 0 here: ``p % 100 + 1``)."""
    state = Counted()
    for p in range(1, count + 1):
        event: dict[str, Any] = {"type": "renamed", "uid": p % 100 + 1}
        if p % 10 == 0:
            event.update(type="customersMoved", toUid=99)
        made = "rare" if p % 50 == 1 else f"t{p % 7}"  # rare: 18 kept, groups 2 and 52 only
        event["token"] = {"id": made, "scope": "manage"}
        state.apply(Event(p, event))
    return state


@pytest.mark.parametrize(
    ("since", "limit", "uid", "token"),
    [(0, None, 5, None), (0, None, 99, None), (0, None, None, "t3"), (0, None, 5, "t3"),
     (350, 4, 99, "t2"), (0, None, 1234, None), (0, 3, None, "t0"), (0, None, 99, "rare"),
     (0, None, 52, "rare")],
)  # fmt: skip
def test_a_read_of_the_feed_filtered_by_group_or_token_looks_only_at_its_events(
    since: int, limit: int | None, uid: int | None, token: str | None
) -> None:
    state = audited(1000)
    state.apply(Forget(1, 100))
    found = asyncio.run(queries.changes(state, since, limit, uid, token))
    every = [shown(p, e) for p, e in state.events.items() if p > since and matches(e, uid, token)]
    assert found.events == every[:limit]
    assert found.last == (every[limit - 1]["position"] if limit else 1000)
    indexed = state.positions(uid, token) or []
    assert state.looked <= len(indexed) < 300  # not the 900 kept events


def test_events_committed_while_a_read_walks_the_feed_are_left_to_the_next_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queries, "CHUNK", 2)
    state = feed_of(6)

    found = read_while(state, lambda: state.apply(Event(7, {"type": "created", "uid": 7})))
    assert [event["position"] for event in found.events] == [1, 2, 3, 4, 5, 6]
    assert (found.last, found.cut) == (6, False)  # the next read, from 6, gets 7


def test_events_dropped_while_a_filtered_read_hands_the_loop_back_are_never_skipped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(queries, "CHUNK", 2)
    state = audited(100)  # token t3's events: 3, 10, 17, 24, ...

    found = read_while(state, lambda: state.apply(Forget(1, 20)), token="t3")  # 17 goes unread
    assert [event["position"] for event in found.events] == [3, 10]
    assert (found.last, found.horizon, found.cut) == (10, 20, True)  # a read from 10: 9005


@pytest.mark.parametrize("descending", [False, True])
def test_a_list_by_customer_count_orders_by_the_count_then_the_uid(descending: bool) -> None:
    state = State()
    for uid, customers in enumerate([3, 1, 2, 1], start=1):
        state.apply(Put(uid, {"name": f"g{uid}", "created": "x", "changed": "x"}))
        state.apply(Join(uid, frozenset(range(1, customers + 1))))
    in_order = [2, 4, 3, 1]  # counts 1, 1, 2, 3
    chosen = Selection(sort="customerCount", descending=descending)
    assert uids(state, chosen) == (in_order[::-1] if descending else in_order)
