"""The working layers answer as the committed state would with their changes applied."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from customergroup_rpc.store.overlay import Layer, View
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

UIDS = range(1, 5)
NAMES = ["Staff", "STAFF ", "Gold", "gold", "Silver"]
customers = st.frozensets(st.integers(1, 8), max_size=5)
action = st.tuples(
    st.sampled_from(["put", "drop", "members", "join", "leave", "commit", "layer"]),
    st.sampled_from(UIDS),
    st.sampled_from(NAMES),
    customers,
)


def change(view: View, kind: str, uid: int, name: str, some: frozenset[int]) -> Change | None:
    """A change as the store would stage it on ``view`` (joins absent, leaves present)."""
    exists = view.get(uid) is not None
    if kind == "put":
        if view.named(name) not in (None, uid):  # the store checks that a name is free
            return None
        return Put(uid, {"name": name, "created": "x", "changed": "x"})
    if not exists:
        return None
    if kind == "drop":
        return Drop(uid)
    if kind == "members":
        return Members(uid, some)
    if kind == "join":
        return Join(uid, view.absent(uid, some))
    return Leave(uid, some - view.absent(uid, some))


@settings(max_examples=400)
@given(st.lists(action, max_size=30))
def test_layers_answer_as_the_state_with_their_changes(
    actions: list[tuple[str, int, str, frozenset[int]]],
) -> None:
    committed, reference = State(), State()
    layers = [Layer(committed)]
    for kind, uid, name, some in actions:
        if kind == "commit":  # the lowest layer is durable: the committed state takes it
            for done in layers[0].changes:
                committed.apply(done)
            layers = layers[1:] or [Layer(committed)]
            layers[0].below = committed
            continue
        if kind == "layer":  # the top layer goes to disk; writes stage over a new one
            layers.append(Layer(layers[-1]))
            continue
        staged = change(layers[-1], kind, uid, name, some)
        if staged is None:
            continue
        layers[-1].apply(staged)
        reference.apply(staged)
        top = layers[-1]
        for each in UIDS:
            assert top.get(each) == reference.get(each)
            assert top.count(each) == reference.count(each)
            assert top.everyone(each) == reference.everyone(each)
            assert top.absent(each, frozenset(range(1, 9))) == reference.absent(
                each, frozenset(range(1, 9))
            )
        for listed in NAMES:
            assert top.named(listed) == reference.named(listed)
        assert top.last_uid == reference.last_uid


def test_customers_leaving_in_a_layer_over_the_committed_state_are_gone_from_every_answer() -> None:
    committed = State()
    for change in (
        Put(1, {"name": "A", "created": "x", "changed": "x"}),
        Put(2, {"name": "B", "created": "x", "changed": "x"}),
        Join(1, frozenset({1, 2, 3})),
        Join(2, frozenset({7})),
    ):
        committed.apply(change)
    layer = Layer(committed)
    layer.apply(Leave(1, frozenset({2, 3})))
    assert layer.count(1) == 1
    assert layer.absent(1, frozenset({1, 2, 4})) == {2, 4}
    assert layer.everyone(1) == layer.members(1) == {1}
    assert layer.members(2) == {7}
    layer.apply(Join(1, frozenset({3})))  # one comes back
    assert (layer.count(1), layer.everyone(1)) == (2, frozenset({1, 3}))
    assert layer.absent(1, frozenset({2, 3})) == {2}
    layer.apply(Drop(2))
    assert layer.members(2) == frozenset()
    assert [uid for uid, _ in layer.items()] == [1]
    assert dict(layer.items())[1] == {"name": "A", "created": "x", "changed": "x"}
    layer.apply(Members(1, frozenset({9})))
    assert (layer.count(1), layer.everyone(1)) == (1, frozenset({9}))
    layer.apply(Join(1, frozenset({2})))  # left before the set, joins after it
    assert (layer.count(1), layer.everyone(1)) == (2, frozenset({2, 9}))


def test_groups_made_renamed_or_made_and_deleted_in_a_layer_are_listed_as_they_are_now() -> None:
    committed = State()
    committed.apply(Put(1, {"name": "A", "created": "x", "changed": "x"}))
    layer = Layer(committed)
    layer.apply(Put(1, {"name": "Z", "created": "x", "changed": "y"}))
    layer.apply(Put(2, {"name": "B", "created": "x", "changed": "x"}))
    layer.apply(Put(3, {"name": "C", "created": "x", "changed": "x"}))
    layer.apply(Drop(3))  # made and deleted in this layer
    assert list(layer.items()) == [
        (1, {"name": "Z", "created": "x", "changed": "y"}),
        (2, {"name": "B", "created": "x", "changed": "x"}),
    ]


def test_renaming_the_second_of_two_groups_of_one_name_leaves_the_name_taken() -> None:
    committed = State()  # a file written before names compared as they do now
    committed.apply(Put(1, {"name": "Gold", "created": "x", "changed": "x"}))
    committed.apply(Put(2, {"name": "GOLD", "created": "x", "changed": "x"}))
    layer = Layer(committed)
    layer.apply(Put(2, {"name": "Silver", "created": "x", "changed": "x"}))
    assert (layer.named("gold"), layer.named("silver")) == (1, 2)


def test_a_layer_answers_the_events_staged_in_it_and_below_and_forgets_up_to_its_horizon() -> None:
    committed = State()
    committed.apply(Event(1, {"type": "created", "uid": 1}))
    committed.apply(Event(2, {"type": "renamed", "uid": 1}))
    layer = Layer(committed)
    layer.apply(Event(3, {"type": "deleted", "uid": 1}))
    assert [layer.event(p) for p in (1, 2, 3, 4)] == [
        {"type": "created", "uid": 1},
        {"type": "renamed", "uid": 1},
        {"type": "deleted", "uid": 1},
        None,
    ]
    layer.apply(Forget(1, 2))
    assert layer.horizon == 2
    assert [layer.event(p) for p in (1, 2, 3)] == [None, None, {"type": "deleted", "uid": 1}]


def test_renaming_a_group_frees_its_old_name_only_if_it_held_it() -> None:
    committed = State()
    committed.apply(Put(1, {"name": "Gold", "created": "x", "changed": "x"}))
    layer = Layer(committed)
    layer.apply(Put(1, {"name": "Silver", "created": "x", "changed": "x"}))
    assert (layer.named("gold"), layer.named("silver")) == (None, 1)
    layer.apply(Put(2, {"name": "Gold", "created": "x", "changed": "x"}))
    layer.apply(Drop(1))
    assert (layer.named("gold"), layer.named("silver")) == (2, None)
