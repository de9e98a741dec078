"""What a soak client sends: a weighted mix of every method, batches and bad calls.

Each ``op_*`` makes one step from the client's model (``soak_model.Owned``): a ``Call`` with its
prediction, a ``Batch`` of them, or a ``Raw`` body that must get one documented error (the calls
wrong on purpose are in soak_bad.py). A step that is not possible now (no own group yet, say)
is None, and a create is made instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any

from soak_bad import EITHER, GONE, PARAMS, QUERIES, Raw, bad_call, bad_params, bad_patch, invalid
from soak_model import CUSTOMERS, Call, Owned, other_spelling, styled

from harness.client import NO_PARAMS

MAX_OWNED = 14  # a client deletes instead of creating when it owns this many groups
SHARED_NAMES = 6  # names every client races to create
WEIGHTS = {"count": 5, "get": 9, "get_schema": 3, "list": 7, "list_customers": 6, "create": 9}
WEIGHTS |= {"set": 11, "validate": 5, "delete": 4, "add": 8, "remove": 5, "move": 4}
WEIGHTS |= {"batch": 5, "bad": 4, "bad_params": 14, "changes": 3}
SORTS = ("uid", "name", "created", "changed", "customerCount")


@dataclass
class Batch:
    """Calls in one batch, answered in order; ``notify`` mixed in as notifications."""

    calls: list[Call]
    notify: list[Call] = field(default_factory=list)


Step = Call | Batch | Raw | None


class Mix:
    """The steps of one client, drawn by weight from ``op_*``."""

    def __init__(self, model: Owned, run: str, view_token: str | None) -> None:
        self.m, self.rng, self.run, self.view_token = model, model.rng, run, view_token
        self.ops = [getattr(self, f"op_{name}") for name in WEIGHTS]

    def step(self) -> Step:
        return self.rng.choices(self.ops, list(WEIGHTS.values()))[0]() or self.op_create()

    # -- reads ----------------------------------------------------------------------------

    def op_count(self) -> Call:
        m, rng, kind = self.m, self.rng, self.rng.randrange(4)
        if kind == 0:
            return Call("count", [{"/name": {"startsWith": styled(rng, m.prefix)}}], m.at_least_own)
        if kind == 1:
            some = sorted({m.any_uid() for _ in range(5)})
            return Call("count", [{"/uid": {"in": some}}], partial(m.at_most, len(some)))
        counts = {"/customerCount": {"min": rng.randint(0, 5)}, "/name": {"not": "x"}}
        customers = {"/customers": {"containsAny": m.customers(4)}}
        return Call("count", rng.choice((NO_PARAMS, [None], [{}], [counts], [customers])))

    def op_get(self) -> Call:
        m, rng, uid, other = self.m, self.rng, self.m.own(), self.m.any_uid()
        query = rng.choice(QUERIES)
        tail: list[Any] = [] if query is None and rng.random() < 0.5 else [query]
        if uid is not None and rng.random() < 0.75:
            sent = str(uid) if rng.random() < 0.2 else uid
            return Call("get", [sent, *tail], partial(m.group, uid))
        return Call("get", [other, *tail], partial(m.same_uid, other), GONE)

    def op_get_schema(self) -> Call:
        uid = self.m.own()
        if uid is None or self.rng.random() < 0.5:
            return Call("getSchema", self.rng.choice((NO_PARAMS, [], [None])))
        return Call("getSchema", [uid])

    def op_list(self) -> Call:
        m, rng = self.m, self.rng
        sort = rng.choice(SORTS)
        query = sorted({"uid", sort, "name", "customerCount"})
        selection: dict[str, Any] = {"sort": sort, "descending": rng.random() < 0.3}
        mine = {"/name": {"startsWith": styled(rng, m.prefix)}}
        some: dict[str, Any] = {"/created": {"min": "2000-01-01"}, "/name": {"contains": "o"}}
        counted, customers = {"/customerCount": {"min": 1}}, {"containsAll": m.customers(2)}
        chosen = rng.choice((mine, counted, {"/customers": customers}, some, {}))
        if chosen:
            selection["filters"] = chosen
        if chosen is not mine or rng.random() < 0.3:
            selection["limit"] = rng.randint(0, 40)
            selection["offset"] = rng.choice((0, 0, rng.randint(0, 30)))
        complete = chosen is mine and "limit" not in selection  # all own groups with the prefix
        return Call("list", [query, selection], partial(m.listed, selection, complete))

    def op_list_customers(self) -> Call:
        m, rng, uid = self.m, self.rng, self.m.own()
        limit, offset = rng.randint(0, 30), rng.randint(0, 20)
        selections: tuple[Any, ...] = (NO_PARAMS, None, {}, {"limit": limit})
        selections += ({"offset": offset // 2, "descending": True},)
        selections += ({"limit": limit or 1, "offset": offset, "descending": False},)
        selection = rng.choice(selections)
        tail: list[Any] = [] if selection is NO_PARAMS else [selection]
        if uid is not None and rng.random() < 0.8:
            return Call("listCustomers", [uid, *tail], partial(m.customers_of, uid, selection))
        return Call("listCustomers", [m.any_uid(), *tail], lambda _: None, GONE)

    def op_changes(self) -> Call:
        """The feed: of an own group (every event names it), or a page of everyone's."""
        m, rng, uid = self.m, self.rng, self.m.own()
        if uid is not None and rng.random() < 0.5:
            limit = rng.choice((None, 5))
            return Call("changes", [None, limit, uid], partial(m.events_of, uid, limit))
        return Call("changes", rng.choice(([None, 20], [0, 0], [None, 1])))

    # -- writes ---------------------------------------------------------------------------

    def create_fresh(self, method: str | None = None) -> Call:
        name = self.m.fresh_name()
        query = self.rng.choice((NO_PARAMS, None, ["uid", "name"], {"uid": True, "name": True}))
        method = method or self.rng.choice(("create", "create", "set"))
        head: list[Any] = [{"name": name}] if method == "create" else [None, {"name": name}]
        params = head if query is NO_PARAMS else [*head, query]
        return Call(method, params, partial(self.m.created, name))

    def op_create(self) -> Call:
        m, rng = self.m, self.rng
        deleting = self.op_delete() if len(m.live) >= MAX_OWNED else None
        pick, uid, theirs = rng.random(), m.own(), m.registry.some(rng, names=True)
        shared = f"Soak {self.run} shared {rng.randrange(SHARED_NAMES)}"
        if deleting is not None:
            return deleting
        if pick < 0.6 or uid is None:
            return self.create_fresh()
        if pick < 0.7:  # an own name, spelled another way
            patch = {"name": styled(rng, m.live[uid])}
            return Call("create", [patch], fails=PARAMS, at=("/name",))
        if pick < 0.88 and (pick < 0.8 or theirs is not None):  # a race: either outcome is fine
            name = styled(rng, shared if pick < 0.8 else theirs)
            then = partial(m.created, name)
            return Call("create", [{"name": name}], then, PARAMS, ("/name",))
        patch, at = bad_patch(self.m, new=True)
        return Call("create", [patch], fails=PARAMS, at=at)

    def op_set(self) -> Call | None:
        m, rng = self.m, self.rng
        uid, pick, other = m.own(), rng.random(), m.any_uid()
        theirs = m.registry.some(rng, names=True)
        if uid is None:
            return None
        query = rng.choice((NO_PARAMS, ["uid", "name"], "name", None))
        tail: list[Any] = [] if query is NO_PARAMS else [query]
        mine, name = m.own(exclude=uid), m.fresh_name()
        if pick < 0.25:
            name = other_spelling(rng, m.live[uid])  # case-only, width-only or spaces
        elif pick < 0.3:
            name = m.live[uid]  # no change
        elif pick < 0.42 and mine is not None:  # another own group's name: refused
            taken = {"name": styled(rng, m.live[mine])}
            return Call("set", [uid, taken, *tail], fails=PARAMS, at=("/name",))
        elif pick < 0.5 and theirs is not None:  # another client's name: a race
            name = styled(rng, theirs)
            then = partial(m.renamed, uid, name)
            return Call("set", [uid, {"name": name}, *tail], then, PARAMS, ("/name",))
        elif pick < 0.6:
            patch, at = bad_patch(self.m, new=False)
            return Call("set", [other, patch], fails=EITHER, at=at)
        return Call("set", [uid, {"name": name}, *tail], partial(m.renamed, uid, name))

    def op_validate(self) -> Call:
        m, rng = self.m, self.rng
        uid, pick = m.own(), rng.random()
        other = m.own(exclude=uid)
        if pick < 0.3 or uid is None:
            target = uid if rng.random() < 0.5 else None
            return Call("validate", [target, {"name": m.fresh_name()}], partial(m.problems_at, ()))
        if pick < 0.55 and other is not None:  # another own group's name
            taken = {"name": styled(rng, m.live[other])}
            return Call(
                "validate", [rng.choice((uid, None)), taken], partial(m.problems_at, ("/name",))
            )
        if pick < 0.65:  # its own name, spelled another way
            spelling = {"name": other_spelling(rng, m.live[uid])}
            return Call("validate", [uid, spelling], partial(m.problems_at, ()))
        patch, at = bad_patch(self.m, new=False)
        return Call("validate", [rng.choice((uid, None)), patch], partial(m.problems_at, at))

    def op_delete(self) -> Call | None:
        uid = self.m.own()
        if uid is None or (len(self.m.live) <= 3 and self.rng.random() >= 0.3):
            return None
        return Call("delete", [uid], partial(self.m.deleted_group, uid))

    def op_add(self) -> Call | None:
        m, rng, uid = self.m, self.rng, self.m.own()
        if uid is None:
            return None
        customers = m.customers(40 if rng.random() < 0.1 else 12)
        return Call("addCustomers", [uid, customers], partial(m.added, uid, customers))

    def op_remove(self) -> Call | None:
        m, rng, uid = self.m, self.rng, self.m.own()
        if uid is None:
            return None
        members = sorted(m.members[uid])
        customers = rng.sample(members, min(len(members), rng.randint(0, 6))) + m.customers(3)
        return Call("removeCustomers", [uid, customers], partial(m.removed, uid, customers))

    def op_move(self) -> Call | None:
        m, rng = self.m, self.rng
        source = m.own()
        target = m.own(exclude=source)
        if source is None or target is None:
            return None
        pick, members, both = rng.random(), sorted(m.members[source]), (source, target)
        if pick < 0.45:
            return Call("moveCustomers", [*both, None], partial(m.moved, *both, None))
        if pick < 0.9:
            some = rng.sample(members, min(len(members), rng.randint(0, 5)))
            return Call("moveCustomers", [*both, some], partial(m.moved, *both, some))
        strangers = [*members[:2], CUSTOMERS + 1, CUSTOMERS + 2]  # refused at the first stranger
        at = f"/2/{len(members[:2])}"
        return Call("moveCustomers", [*both, strangers], fails=PARAMS, at=(at,))

    # -- batches and bad calls --------------------------------------------------------------

    def op_batch(self) -> Batch:
        """Reads and the owner's writes whose answers are predicted in order, and bad members."""
        rng = self.rng
        calls = [self.batch_member() for _ in range(rng.randint(1, 8))]
        for bad in invalid(rng):
            if rng.random() < 0.3:
                calls.insert(rng.randrange(len(calls) + 1), bad)
        return Batch(calls, [Call("count", [{}])] if rng.random() < 0.3 else [])

    def batch_member(self) -> Call:
        """A call whose answer the model predicts whatever came before it in the batch: no
        delete, no name taken from another group (their predictions are made when sent)."""
        m, uid = self.m, self.m.own()
        if uid is not None and self.rng.random() < 0.15:
            name = m.fresh_name()
            return Call("set", [uid, {"name": name}], partial(m.renamed, uid, name))
        create = partial(self.create_fresh, "create")
        reads = (self.op_get, self.op_list_customers, self.op_count, self.op_list)
        ops = (create, self.op_add, *reads)
        return self.rng.choice(ops)() or create()

    def op_bad(self) -> Step:
        """A body wrong as a whole, or a call without the right token (soak_bad.bad_call)."""
        return bad_call(self.m, self.view_token)

    def op_bad_params(self) -> Call | None:
        return bad_params(self.m)
