"""The in-memory state's name index: prefix ranges up to the top of the code space, shared keys."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customergroup_rpc.store.state import (
    Change,
    Drop,
    Event,
    Forget,
    Join,
    Leave,
    Members,
    Put,
    State,
)
from customergroup_rpc.text import fold, successor

TOP = "\U0010ffff"


def put(state: State, uid: int, name: str) -> None:
    state.apply(Put(uid, {"name": name, "created": "x", "changed": "x"}))


def test_a_prefix_of_only_the_last_code_point_has_nosuccessor() -> None:
    assert successor(TOP) is None
    assert successor(TOP * 3) is None
    assert successor("") is None
    assert successor("a" + TOP * 2) == "b"
    assert successor("staff") == "stafg"


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


def test_the_successor_raises_the_last_character_below_the_top_of_the_code_space() -> None:
    """Any prefix, not only folded ones: upper case and the top code point included."""
    assert successor("TAX") == "TAY"
    assert successor("aX" + TOP) == "aY"


def test_a_new_state_is_empty_and_has_given_out_no_uid() -> None:
    state = State()
    assert (state.last_uid, state.get(1), list(state.items()), state.named("x")) == (
        0,
        None,
        [],
        None,
    )
    assert state.members(1) == frozenset()
    assert isinstance(state.members(1), frozenset)


def test_the_last_uid_is_the_highest_uid_ever_put() -> None:
    state = State()
    put(state, 3, "Three")
    put(state, 2, "Two")
    assert state.last_uid == 3
    state.apply(Drop(3))
    assert state.last_uid == 3  # a dropped uid is never given out again


def test_get_and_items_answer_the_stored_fields() -> None:
    state = State()
    put(state, 1, "Staff")
    put(state, 2, "Students")
    assert state.get(2) == {"name": "Students", "created": "x", "changed": "x"}
    assert [(uid, fields["name"]) for uid, fields in state.items()] == [
        (1, "Staff"),
        (2, "Students"),
    ]


def test_dropping_a_group_unassigns_its_customers() -> None:
    state = State()
    put(state, 1, "Staff")
    state.apply(Members(1, frozenset({17, 18})))
    state.apply(Drop(1))
    assert (state.get(1), state.members(1)) == (None, frozenset())


def test_an_empty_member_set_clears_a_group_s_customers() -> None:
    state = State()
    put(state, 1, "Staff")
    put(state, 2, "Students")
    state.apply(Members(1, frozenset({17})))
    state.apply(Members(2, frozenset({17, 18})))
    state.apply(Members(1, frozenset()))
    state.apply(Members(1, frozenset()))  # clearing a group without customers is no error
    assert (state.members(1), state.members(2)) == (frozenset(), frozenset({17, 18}))


def test_dropping_the_group_whose_name_sorts_last_frees_its_name() -> None:
    state = State()
    put(state, 1, "Alpha")
    put(state, 2, "Beta")
    state.apply(Drop(2))
    assert (state.named("beta"), state.prefixed(""), state.count_prefixed("b")) == (None, [1], 0)
    put(state, 1, "Zeta")
    assert (state.named("zeta"), state.named("alpha"), state.prefixed("")) == (1, None, [1])


def test_a_copy_and_its_original_change_independently() -> None:
    state = State()
    put(state, 1, "Staff")
    state.apply(Members(1, frozenset({17})))
    twin = state.copy()
    put(twin, 2, "Students")
    twin.apply(Members(1, frozenset({18})))
    state.apply(Drop(1))
    assert (twin.named("staff"), twin.prefixed("st"), twin.last_uid) == (1, [1, 2], 2)
    assert (twin.get(1), twin.members(1)) == (
        {"name": "Staff", "created": "x", "changed": "x"},
        frozenset({18}),
    )
    assert (state.named("students"), state.prefixed(""), state.last_uid) == (None, [], 1)
    assert (list(state.items()), state.members(1)) == ([], frozenset())


@pytest.mark.parametrize(
    ("change", "field"),
    [(Put(1, {"name": "Staff"}), "uid"), (Drop(1), "uid"), (Members(1, frozenset()), "customers")],
)
def test_a_change_is_an_immutable_value(change: Change, field: str) -> None:
    """The store keeps changes queued and written: nobody may alter one after it is made."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(change, field, 2)


# Counts, the feed and walks of the name index, as the store and the reads ask (issue 17).


def _state(*names: str) -> State:
    state = State()
    for uid, name in enumerate(names, 1):
        state.apply(Put(uid, {"name": name, "created": "x", "changed": "x"}))
    return state


def test_counts_absent_everyone_and_memberships_follow_joins_leaves_and_sets() -> None:
    state = _state("A", "B", "C")
    assert (state.count(1), state.everyone(1), state.memberships()) == (0, frozenset(), 0)
    assert state.absent(1, frozenset({1, 2})) == {1, 2}
    state.apply(Join(1, frozenset({1, 2, 3})))
    state.apply(Join(2, frozenset({3})))
    state.apply(Leave(1, frozenset({2})))
    state.apply(Leave(3, frozenset({2})))  # a group without customers: nothing to take
    assert (state.count(1), state.everyone(1), state.memberships()) == (2, frozenset({1, 3}), 3)
    assert state.absent(1, frozenset({1, 2})) == {2}
    state.apply(Members(2, frozenset()))
    state.apply(Join(3, frozenset()))
    assert (state.count(2), state.count(3), state.memberships()) == (0, 0, 2)
    state.apply(Members(3, frozenset({5, 4})))
    assert list(state.members(3)) == [4, 5]
    state.apply(Drop(1))
    assert (state.count(1), state.memberships()) == (0, 2)


def test_the_feed_keeps_events_from_past_its_horizon_to_its_last_position() -> None:
    state = State()
    assert (state.horizon, state.last_position, state.event(1)) == (0, 0, None)
    for position in (1, 2, 3):
        state.apply(Event(position, {"type": "created", "uid": position}))
    state.apply(Forget(1, 2))
    assert (state.horizon, state.last_position) == (2, 3)
    assert [state.event(p) for p in (1, 2, 3)] == [None, None, {"type": "created", "uid": 3}]
    state.apply(Forget(3, 3))
    assert (state.horizon, state.last_position, state.events) == (3, 3, {})


def made(uid: int, token: str | None, to: int | None = None) -> dict[str, Any]:
    """An event of group ``uid`` (moved to ``to``), made with token ``token``."""
    event: dict[str, Any] = {"type": "customersMoved" if to else "renamed", "uid": uid}
    if to:
        event["toUid"] = to
    event["token"] = None if token is None else {"id": token, "scope": "manage"}
    return event


def test_the_feed_indexes_its_events_by_group_either_side_of_a_move_and_by_token() -> None:
    state = State()
    events = [made(1, "a"), made(2, "b"), made(1, "b", to=2), made(3, None), made(2, "a")]
    for position, event in enumerate([*events, made(4, "c")], 1):
        state.apply(Event(position, event))
    assert [state.positions(uid, None) for uid in (1, 2, 3, 4, 5)] == [
        *([1, 3], [2, 3, 5], [4], [6], []),
    ]
    assert [state.positions(None, token) for token in ("a", "b", "c", "d")] == [
        *([1, 5], [2, 3], [6], []),
    ]
    # Both filters: the fewer positions (the other filter is tested on each event read).
    assert (state.positions(2, "c"), state.positions(1, "b")) == ([6], [1, 3])
    assert state.positions(None, None) is None  # no filter: every kept event
    twin = state.copy()
    state.apply(Forget(1, 3))  # retention: the lists lose their front, emptied ones go
    assert [state.positions(uid, None) for uid in (1, 2, 3, 4)] == [[], [5], [4], [6]]
    assert [state.positions(None, token) for token in ("a", "b", "c")] == [[5], [], [6]]
    assert (set(state._event_uids), set(state._event_tokens)) == ({2, 3, 4}, {"a", "c"})
    assert twin.positions(1, None) == [1, 3]  # a copy has an index of its own


@pytest.mark.parametrize("descending", [False, True])
def test_walking_the_name_index_in_steps_lists_every_name_with_the_prefix_once(
    descending: bool,
) -> None:
    state = _state("ab1", "ab2", "AB3", "ac", "b", "ab4")
    expected = sorted(((fold(g["name"]), uid) for uid, g in state.items()), reverse=descending)
    wanted = [key for key in expected if key[0].startswith("ab")]
    walked: list[tuple[str, int]] = []
    after = None
    while keys := state.name_keys("ab", descending, after, 2):
        assert len(keys) <= 2
        walked += keys
        after = keys[-1]
    assert walked == wanted
    assert state.name_keys("", descending, None, 10) == expected
    assert [uid for _, uid in state.name_keys("ab", descending, None, 1)] == [wanted[0][1]]
    assert list(state.by_name("ab", descending)) == [uid for _, uid in wanted]
    assert state.count_prefixed("ab") == 4


def test_the_holder_of_a_name_shared_by_two_groups_passes_to_the_other_when_it_goes() -> None:
    state = _state("Aaa", "Gold", "GOLD")  # written before names compared as they do now
    assert (state.holder("gold"), state.named(" gold ")) == (2, 2)
    state.apply(Drop(2))
    assert state.holder("gold") == 3
    state.apply(Put(3, {"name": "Bronze", "created": "x", "changed": "x"}))
    assert (state.holder("gold"), state.holder("bronze")) == (None, 3)


def test_trigrams_follow_renames_and_deletes() -> None:
    state = _state("Staff", "Stuff", "Others")
    assert state.name_candidates("taf") == {1}
    state.apply(Put(2, {"name": "Staffers", "created": "x", "changed": "x"}))
    assert state.name_candidates("taf") == {1, 2}
    state.apply(Drop(1))
    assert state.name_candidates("taf") == {2}
    assert state.name_candidates("ta") is None  # too short to narrow


def test_the_name_index_walk_starts_at_the_prefix_and_lists_ascending_by_default() -> None:
    state = _state("aa", "ab1", "ab2", "b")
    assert list(state.by_name("ab")) == [2, 3]
    assert [uid for _, uid in state.name_keys("ab", False, None, 10)] == [2, 3]


def test_members_read_at_start_and_a_copy_keep_every_customer() -> None:
    state = _state("A", "B")
    state.load(1, [3, 5])
    state.apply(Event(1, {"type": "created", "uid": 1}))
    twin = state.copy()
    assert list(twin.members(1)) == [3, 5]
    assert twin.members(2) == frozenset()
    assert (twin.memberships(), twin.last_uid, twin.last_position) == (2, 2, 1)
    state.apply(Join(1, frozenset({9})))
    assert list(twin.members(1)) == [3, 5]  # independent
