"""The embedded store's indexes against plain Python: sets and substring tests."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from customergroup_rpc.store import index
from customergroup_rpc.store.index import SortedInts, Trigrams

numbers = st.lists(st.integers(0, 300), max_size=80)
# An add or a removal of numbers, or one told only the numbers absent (present), as a
# committed Join (Leave) is: update(absent=True), discard_all(present=True).
changes = st.tuples(numbers, st.booleans())
step = st.one_of(
    st.tuples(st.just("add"), changes),
    st.tuples(st.just("remove"), changes),
    st.tuples(st.just("settle"), st.integers(0, 10)),
    st.tuples(
        st.just("page"),
        st.tuples(st.integers(0, 200), st.none() | st.integers(0, 40), st.booleans()),
    ),
)


@settings(max_examples=300)
@given(numbers, st.lists(step, max_size=25))
def test_sorted_ints_answer_as_a_sorted_set_does(
    start: list[int], steps: list[tuple[str, object]]
) -> None:
    # Small chunks, few numbers waiting: splits, empty chunks and catching up happen often.
    saved = index.LOAD, index.SYNC_AT
    index.LOAD, index.SYNC_AT = 4, 7
    try:
        members, model = SortedInts(start), set(start)
        for kind, argument in steps:
            if kind == "add":
                assert isinstance(argument, tuple)
                some, told = argument
                if told:
                    members.update(set(some) - model, absent=True)
                else:
                    members.update(some)
                model |= set(some)
            elif kind == "remove":
                assert isinstance(argument, tuple)
                some, told = argument
                if told:
                    members.discard_all(set(some) & model, present=True)
                else:
                    members.discard_all(some)
                model -= set(some)
            elif kind == "settle":
                assert isinstance(argument, int)
                waiting = members.waiting()
                assert members.settle(argument) == max(0, waiting - argument)
            else:
                assert isinstance(argument, tuple)
                offset, limit, descending = argument
                listed = sorted(model, reverse=descending)
                end = None if limit is None else offset + limit
                assert members.page(offset, limit, descending) == listed[offset:end]
            assert len(members) == len(model)
            assert members == model
        assert list(members) == sorted(model)
    finally:
        index.LOAD, index.SYNC_AT = saved


def test_a_page_deep_in_a_million_costs_no_sort() -> None:
    members = SortedInts(range(1, 1_000_001))
    members.update([0, 2_000_000])
    assert members.page(1_000_000, 20, False) == [1_000_000, 2_000_000]
    assert members.page(0, 3, True) == [2_000_000, 1_000_000, 999_999]


@given(st.lists(st.text("abc ", max_size=6), max_size=20), st.text("abc ", max_size=5))
def test_trigram_candidates_hold_every_name_that_contains_the_text(
    names: list[str], text: str
) -> None:
    grams = Trigrams()
    for uid, name in enumerate(names):
        grams.add(uid, name)
    if names:
        grams.remove(0, names[0])
    found = grams.candidates(text)
    holding = {uid for uid, name in enumerate(names) if text in name and uid != 0}
    if len(text) < 3:
        assert found is None
    else:
        assert found is not None
        assert holding <= found


# The chunks behind the pages (issue 17): their sizes are the cost the module promises, a page
# at any offset in O(n / LOAD + page), so the tests look at them.


def chunks(members: SortedInts) -> list[list[int]]:
    members.page(0, 0, False)  # brings the chunks up to date
    return members._chunks


def test_a_chunk_is_split_into_chunks_of_load_only_beyond_twice_load(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index, "LOAD", 4)
    members = SortedInts(range(0, 800, 8))  # 100 numbers in chunks of 4: [0, 8, 16, 24], ...
    members.update([33, 34, 35, 36])  # a few: into their chunk, in place
    assert chunks(members)[:3] == [
        [0, 8, 16, 24],
        [32, 33, 34, 35, 36, 40, 48, 56],
        [64, 72, 80, 88],
    ]
    members.update([37])
    assert chunks(members)[:5] == [
        [0, 8, 16, 24],
        [32, 33, 34, 35],
        [36, 37, 40, 48],
        [56],
        [64, 72, 80, 88],
    ]
    assert members._maxes[:5] == [24, 35, 48, 56, 88]
    assert list(members) == sorted({*range(0, 800, 8), 33, 34, 35, 36, 37})


def test_numbers_above_every_other_join_the_last_chunk(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "LOAD", 4)
    members = SortedInts(range(0, 200, 2))
    members.update([500])
    members.update([300])
    assert chunks(members)[-2:] == [[184, 186, 188, 190], [192, 194, 196, 198, 300, 500]]
    assert members._maxes[-2:] == [190, 500]
    members.update([199, 400])
    assert members.page(0, 4, True) == [500, 400, 300, 199]
    members.update([450])  # the last chunk beyond twice LOAD: split too
    assert chunks(members)[-3:] == [[192, 194, 196, 198], [199, 300, 400, 450], [500]]


@pytest.mark.parametrize(
    ("size", "change", "rebuilt"),
    [
        (100, 4, False),  # 4 x 16 < 104: changed in place
        (94, 6, False),  # 6 x 16 < 100 <= 6 x 17
        (90, 6, True),  # 6 x 16 == 96: one merge
        (100, 10, True),
    ],
)
def test_the_chunks_are_rebuilt_once_the_changes_are_a_sixteenth_of_the_numbers(
    monkeypatch: pytest.MonkeyPatch, size: int, change: int, rebuilt: bool
) -> None:
    monkeypatch.setattr(index, "LOAD", 4)
    members = SortedInts(range(0, 2 * size, 2))
    members.update(range(1, 2 * change, 2))  # odd numbers: into the first chunks
    sizes = [len(chunk) for chunk in chunks(members)]
    assert (sizes[:-1] == [4] * (len(sizes) - 1)) is rebuilt
    assert list(members) == sorted({*range(0, 2 * size, 2), *range(1, 2 * change, 2)})


def test_removing_many_rebuilds_the_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index, "LOAD", 4)
    members = SortedInts(range(100))
    members.discard_all(range(1, 20, 2))  # 10 x 16 >= 90
    assert [len(chunk) for chunk in chunks(members)] == [4] * 22 + [2]


def test_the_chunks_catch_up_at_once_when_enough_numbers_wait(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(index, "SYNC_AT", 4)
    members = SortedInts(range(100))
    members.update([200, 201])
    members.discard_all([5])
    assert (members._added, members._removed) == ({200, 201}, {5})  # 3 wait
    members.discard_all([6])
    assert (members._added, members._removed) == (set(), set())  # 4: caught up
    assert members._chunks[0][:6] == [0, 1, 2, 3, 4, 7]


def test_a_number_added_then_removed_before_the_chunks_catch_up_never_reaches_them() -> None:
    members = SortedInts([1, 2, 3])
    members.update([10])
    members.discard_all([10, 2])
    assert members.page(0, None, False) == [1, 3]
    assert list(members) == [1, 3]


def test_sorted_ints_compare_tell_membership_and_show_like_a_set() -> None:
    members = SortedInts([3, 1, 2])
    assert 2 in members
    assert 5 not in members
    assert members == SortedInts([1, 2, 3])
    assert members != SortedInts([1, 2])
    assert members == {1, 2, 3}
    assert members == frozenset({1, 2, 3})
    assert members != [1, 2, 3]
    assert repr(members) == "SortedInts([1, 2, 3])"


def test_a_removed_name_is_no_longer_a_candidate_and_others_keep_its_trigrams() -> None:
    grams = Trigrams()
    grams.add(1, "staff")
    grams.add(2, "staff")
    grams.add(3, "stage")
    grams.remove(1, "staff")
    assert grams.candidates("staff") == {2}
    grams.remove(2, "staff")
    grams.remove(2, "staff")  # again: nothing to remove
    assert grams.candidates("staff") == set()
    assert grams.candidates("sta") == {3}
    assert grams._postings.keys() == {"sta", "tag", "age"}


def test_candidates_are_the_groups_that_hold_every_trigram_of_the_text() -> None:
    grams = Trigrams()
    for uid, name in enumerate(["abcd", "abcz", "xbcd", "zabcdz"], start=1):
        grams.add(uid, name)
    assert grams.candidates("abcd") == {1, 4}
    assert grams.candidates("zabcd") == {4}
