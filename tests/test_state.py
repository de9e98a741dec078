"""The in-memory state's name index: prefix ranges up to the top of the code space, shared keys."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from customergroup_rpc.store.state import Drop, Put, State, _successor
from customergroup_rpc.text import fold

TOP = "\U0010ffff"


def put(state: State, uid: int, name: str) -> None:
    state.apply(Put(uid, {"name": name, "created": "x", "changed": "x"}))


def test_a_prefix_of_only_the_last_code_point_has_no_successor() -> None:
    assert _successor(TOP) is None
    assert _successor(TOP * 3) is None
    assert _successor("") is None
    assert _successor("a" + TOP * 2) == "b"
    assert _successor("staff") == "stafg"


def test_a_prefix_of_the_last_code_point_finds_every_name_that_starts_with_it() -> None:
    state = State()
    for uid, name in enumerate([TOP, TOP * 2, TOP + "a", TOP * 3, "a", "\U0010fffe"], 1):
        put(state, uid, name)
    assert state.count_prefixed(TOP) == 4
    assert state.prefixed(TOP) == [1, 3, 2, 4]  # name order: "a" sorts before U+10FFFF
    assert state.count_prefixed(TOP * 2) == 2
    assert state.prefixed(TOP * 2) == [2, 4]


ALPHABET = "ab\U0010fffe" + TOP


@given(
    names=st.lists(st.text(alphabet=ALPHABET, max_size=5), unique_by=fold),
    prefix=st.one_of(st.text(alphabet=ALPHABET, max_size=4), st.sampled_from([TOP, TOP * 2])),
)
def test_prefix_search_equals_a_scan_of_every_name(names: list[str], prefix: str) -> None:
    state = State()
    for uid, name in enumerate(names, 1):
        put(state, uid, name)
    keys = [(fold(name), uid) for uid, name in enumerate(names, 1)]
    expected = sorted(key for key in keys if key[0].startswith(prefix))
    assert state.count_prefixed(prefix) == len(expected)
    assert state.prefixed(prefix) == [uid for _, uid in expected]


def test_two_groups_with_one_key_are_both_listed_and_the_name_stays_taken() -> None:
    """A database written before the fold dropped invisible characters may hold both."""
    state = State()
    put(state, 1, "Invisible")
    put(state, 2, "Invisible\u200b")
    put(state, 3, "Other")
    assert state.prefixed("invisible") == [1, 2]
    assert state.named("INVISIBLE") == 1
    state.apply(Drop(1))
    assert (state.named("invisible"), state.prefixed("")) == (2, [2, 3])
    put(state, 2, "Renamed")
    assert (state.named("invisible"), state.prefixed("")) == (None, [3, 2])


def test_a_put_that_keeps_the_name_keeps_the_index() -> None:
    state = State()
    put(state, 1, "Staff")
    put(state, 1, "Staff")
    put(state, 2, "Students")
    assert (state.prefixed("st"), state.named("staff")) == ([1, 2], 1)
    put(state, 1, "Alumni")
    assert (state.prefixed("st"), state.named("alumni")) == ([2], 1)
