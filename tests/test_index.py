"""The embedded store's indexes against plain Python: sets and substring tests."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from customergroup_rpc.store import index
from customergroup_rpc.store.index import SortedInts, Trigrams

numbers = st.lists(st.integers(0, 300), max_size=80)
step = st.one_of(
    st.tuples(st.just("add"), numbers),
    st.tuples(st.just("remove"), numbers),
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
                assert isinstance(argument, list)
                members.update(argument)
                model |= set(argument)
            elif kind == "remove":
                assert isinstance(argument, list)
                members.discard_all(argument)
                model -= set(argument)
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
