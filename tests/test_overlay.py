"""The working layers answer as the committed state would with their changes applied."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from customergroup_rpc.store.overlay import Layer, View
from customergroup_rpc.store.state import Change, Drop, Join, Leave, Members, Put, State

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
