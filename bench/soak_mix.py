"""What a soak client sends: a weighted mix of every method, batches and bad calls.

Each ``op_*`` makes one step from the client's model (``soak_model.Owned``): a ``Call`` with its
prediction, a ``Batch`` of them, or a ``Raw`` body that must get one documented error. A step
that is not possible now (no own group yet, say) is None, and a create is made instead.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from soak_model import CUSTOMERS, Call, Owned, other_spelling, styled

from harness.client import NO_PARAMS
from harness.contract import INVALID_PARAMS, NOT_FOUND

MAX_OWNED = 14  # a client deletes instead of creating when it owns this many groups
SHARED_NAMES = 6  # names every client races to create
MAX_BODY = 1024 * 1024  # the service's default --max-body
PARAMS, EITHER, GONE = (INVALID_PARAMS,), (INVALID_PARAMS, NOT_FOUND), (NOT_FOUND,)
QUERIES: tuple[Any, ...] = (
    None,
    True,
    {},
    "name",
    ["uid", "name"],
    ["name", "customerCount", "uid"],
    {"uid": True, "name": True, "changed": True},
    {"name": True, "customerCount": True, "created": False},
)
SORTS = ("uid", "name", "created", "changed", "customerCount")
BAD_SELECTIONS = (
    ({"bogus": 1}, "/1/bogus"),
    ({"limit": -1}, "/1/limit"),
    ({"sort": "size"}, "/1/sort"),
    ({"filters": {"/nope": 1}}, "/1/filters/~1nope"),
    ({"filters": {"/name": {"startsWith": 5}}}, "/1/filters/~1name/startsWith"),
)


@dataclass
class Batch:
    """Calls in one batch, answered in order; ``notify`` mixed in as notifications."""

    calls: list[Call]
    notify: list[Call] = field(default_factory=list)


@dataclass
class Raw:
    """A body that is wrong as a whole: one error with ``code`` (None: HTTP 204, no body)."""

    label: str
    body: bytes
    code: int | None
    json: bool = True  # whether the body is JSON
    alone: bool = False  # sent on a connection of its own (the 413)


Step = Call | Batch | Raw | None


class Mix:
    """The steps of one client, drawn by weight from ``op_*``."""

    def __init__(self, model: Owned, run: str, view_token: str | None) -> None:
        self.m, self.rng, self.run, self.view_token = model, model.rng, run, view_token
        weights: dict[str, int] = {
            "count": 6,
            "get": 10,
            "get_schema": 3,
            "list": 8,
            "create": 9,
            "set": 11,
        }
        weights |= {"validate": 5, "delete": 4, "add": 9, "remove": 5, "list_customers": 7}
        weights |= {"move": 5, "batch": 5, "bad": 4}
        self.ops = [getattr(self, f"op_{name}") for name in weights]
        self.weights = list(weights.values())

    def step(self) -> Step:
        return self.rng.choices(self.ops, self.weights)[0]() or self.op_create()

    # -- reads ----------------------------------------------------------------------------

    def op_count(self) -> Call:
        m, rng, kind = self.m, self.rng, self.rng.randrange(8)
        if kind == 0:
            return Call("count")
        if kind == 1:
            return Call("count", [rng.choice((None, {}))])
        if kind == 2:
            mine = {"/name": {"startsWith": styled(rng, m.prefix)}}
            return Call("count", [mine], m.at_least_own)
        if kind == 3:
            some = sorted({m.any_uid() for _ in range(5)})
            return Call("count", [{"/uid": {"in": some}}], m.at_most(len(some)))
        if kind == 4:
            return Call(
                "count", [{"/customerCount": {"min": rng.randint(0, 5)}, "/name": {"not": "x"}}]
            )
        if kind == 5:
            return Call("count", [{"/customers": {"containsAny": m.customers(4)}}])
        if kind == 6:
            return Call(
                "count", [{"/name": {"startsWith": 5}}], fails=PARAMS, at=("/0/~1name/startsWith",)
            )
        return Call("count", [{"/created": {"min": "yes"}}], fails=PARAMS, at=("/0/~1created/min",))

    def op_get(self) -> Call:
        m, rng = self.m, self.rng
        query = rng.choice(QUERIES)
        tail: list[Any] = [] if query is None and rng.random() < 0.5 else [query]
        pick, uid, gone = rng.random(), m.own(), m.gone()
        if pick < 0.5 and uid is not None:
            return Call("get", [str(uid) if rng.random() < 0.2 else uid, *tail], m.group(uid))
        if pick < 0.65 and gone is not None:
            return Call("get", [gone, *tail], fails=GONE)
        if pick < 0.75:
            bad = rng.choice((["nope"], {"name": {"en": True}}, {"name": None}))
            return Call("get", [m.any_uid(), bad], fails=EITHER)
        if pick < 0.8:
            bad_uid = rng.choice(("abc", 1.5, "12a", True, [1]))
            return Call("get", [bad_uid], fails=PARAMS, at=("/0",))
        other = m.any_uid()
        return Call("get", [other, *tail], m.same_uid(other), fails=GONE)

    def op_get_schema(self) -> Call:
        pick, uid, gone = self.rng.random(), self.m.own(), self.m.gone()
        if pick < 0.4:
            return Call("getSchema", self.rng.choice((NO_PARAMS, [], [None])))
        if pick < 0.75 and uid is not None:
            return Call("getSchema", [uid])
        if pick < 0.9 and gone is not None:
            return Call("getSchema", [gone], fails=GONE)
        return Call("getSchema", [[1]], fails=PARAMS, at=("/0",))

    def op_list(self) -> Call:
        m, rng = self.m, self.rng
        if rng.random() < 0.1:
            bad, pointer = rng.choice(BAD_SELECTIONS)
            return Call("list", [["uid"], bad], fails=PARAMS, at=(pointer,))
        sort = rng.choice(SORTS)
        query = sorted({"uid", sort, "name", "customerCount"})
        selection: dict[str, Any] = {"sort": sort, "descending": rng.random() < 0.3}
        kind, mine = rng.randrange(5), False
        if kind == 0:
            selection["filters"], mine = {"/name": {"startsWith": styled(rng, m.prefix)}}, True
        elif kind == 1:
            selection["filters"] = {"/customerCount": {"min": 1}}
        elif kind == 2:
            selection["filters"] = {"/customers": {"containsAll": m.customers(2)}}
        elif kind == 3:
            selection["filters"] = {"/created": {"min": "2000-01-01"}, "/name": {"contains": "o"}}
        if not mine or rng.random() < 0.3:
            selection["limit"] = rng.randint(0, 40)
            selection["offset"] = rng.choice((0, 0, rng.randint(0, 30)))
            mine = False
        return Call("list", [query, selection], m.listed(selection, mine))

    def op_list_customers(self) -> Call:
        m, rng = self.m, self.rng
        uid, gone, pick = m.own(), m.gone(), rng.random()
        selection: Any = rng.choice(
            (
                NO_PARAMS,
                None,
                {},
                {"limit": rng.randint(0, 30)},
                {"offset": rng.randint(0, 10), "descending": True},
                {"limit": rng.randint(1, 20), "offset": rng.randint(0, 20), "descending": False},
            )
        )
        tail: list[Any] = [] if selection is NO_PARAMS else [selection]
        if pick < 0.6 and uid is not None:
            return Call("listCustomers", [uid, *tail], m.customers_of(uid, selection))
        if pick < 0.7 and gone is not None:
            return Call("listCustomers", [gone], fails=GONE)
        if pick < 0.8:
            return Call("listCustomers", [m.any_uid(), {"sort": "uid"}], fails=EITHER)
        return Call("listCustomers", [m.any_uid(), *tail], lambda _: None, fails=GONE)

    # -- writes ---------------------------------------------------------------------------

    def create_fresh(self, method: str | None = None) -> Call:
        name = self.m.fresh_name()
        query = self.rng.choice((NO_PARAMS, None, ["uid", "name"], {"uid": True, "name": True}))
        method = method or self.rng.choice(("create", "create", "set"))
        head: list[Any] = [{"name": name}] if method == "create" else [None, {"name": name}]
        params = head if query is NO_PARAMS else [*head, query]
        return Call(method, params, self.m.created(name), creates=True)

    def racy_create(self, name: str) -> Call:
        """A create that may win or lose a race for a name: either is fine, if it says so."""
        return Call(
            "create", [{"name": name}], self.m.created(name), PARAMS, ("/name",), creates=True
        )

    def op_create(self) -> Call:
        m, rng = self.m, self.rng
        deleting = self.op_delete() if len(m.live) >= MAX_OWNED else None
        pick, uid = rng.random(), m.own()
        if deleting is not None:
            return deleting
        if pick < 0.6 or uid is None:
            return self.create_fresh()
        if pick < 0.7:
            taken = styled(rng, m.live[uid])
            return Call("create", [{"name": taken}], fails=PARAMS, at=("/name",), creates=True)
        if pick < 0.8:
            return self.racy_create(
                styled(rng, f"Soak {self.run} shared {rng.randrange(SHARED_NAMES)}")
            )
        theirs = m.registry.some(rng, names=True)
        if pick < 0.88 and theirs is not None:
            return self.racy_create(styled(rng, theirs))
        patch, pointers = self.invalid_patch(new=True)
        return Call("create", [patch], fails=PARAMS, at=pointers, creates=True)

    def invalid_patch(self, new: bool) -> tuple[dict[str, Any], tuple[str, ...]]:
        """A patch that fails validation and the pointers it must fail at."""
        fresh = f"{self.m.prefix}x{next(self.m.counter)}"
        if new and self.rng.random() < 0.15:
            return {}, ("/name",)  # name is required
        return self.rng.choice(
            (
                ({"name": ""}, ("/name",)),
                ({"name": "   "}, ("/name",)),
                ({"name": "x" * 256}, ("/name",)),
                ({"name": "bell\x07"}, ("/name",)),
                ({"name": 5}, ("/name",)),
                ({"name": fresh, "uid": 3}, ("/uid",)),
                ({"name": fresh, "created": "2020-01-01T00:00:00Z", "colour": "red"}, ("/colour",)),
            )
        )

    def op_set(self) -> Call | None:
        m, rng = self.m, self.rng
        uid, pick = m.own(), rng.random()
        if uid is None:
            return None
        query = rng.choice((NO_PARAMS, ["uid", "name"], "name", None))
        tail: list[Any] = [] if query is NO_PARAMS else [query]
        if pick < 0.35:
            name = m.fresh_name()
        elif pick < 0.6:
            name = other_spelling(rng, m.live[uid])  # case-only, width-only or spaces
        elif pick < 0.65:
            name = m.live[uid]  # no change
        elif pick < 0.77:
            other = m.own(exclude=uid)
            if other is None:
                return None
            taken = styled(rng, m.live[other])
            return Call(
                "set", [uid, {"name": taken}, *tail], fails=PARAMS, at=("/name",), touches=(uid,)
            )
        elif pick < 0.85:
            theirs = m.registry.some(rng, names=True)
            if theirs is None:
                return None
            theirs = styled(rng, theirs)
            then = m.renamed(uid, theirs)
            return Call("set", [uid, {"name": theirs}, *tail], then, PARAMS, ("/name",), (uid,))
        elif pick < 0.92:
            other = m.any_uid()
            patch, pointers = self.invalid_patch(new=False)
            touches = (other,) if other in m.live else ()
            return Call("set", [other, patch], fails=EITHER, at=pointers, touches=touches)
        else:
            gone = m.gone()
            return (
                None if gone is None else Call("set", [gone, {"name": m.fresh_name()}], fails=GONE)
            )
        return Call("set", [uid, {"name": name}, *tail], m.renamed(uid, name), touches=(uid,))

    def op_validate(self) -> Call:
        m, rng = self.m, self.rng
        uid, pick = m.own(), rng.random()
        other, gone = m.own(exclude=uid), m.gone()
        if pick < 0.3:
            target = uid if rng.random() < 0.5 else None
            return Call("validate", [target, {"name": m.fresh_name()}], m.problems_at(()))
        if pick < 0.55 and uid is not None and other is not None:
            taken = styled(rng, m.live[other])
            return Call(
                "validate", [rng.choice((uid, None)), {"name": taken}], m.problems_at(("/name",))
            )
        if pick < 0.65 and uid is not None:
            spelling = other_spelling(rng, m.live[uid])
            return Call("validate", [uid, {"name": spelling}], m.problems_at(()))
        if pick < 0.85:
            patch, pointers = self.invalid_patch(new=False)
            return Call("validate", [uid, patch], m.problems_at(pointers))
        if pick < 0.92 and gone is not None:
            return Call("validate", [gone, {"name": "x"}], fails=GONE)
        return Call("validate", [None, "not a patch"], fails=PARAMS, at=("/1",))

    def op_delete(self) -> Call | None:
        uid, gone = self.m.own(), self.m.gone()
        if uid is not None and (len(self.m.live) > 3 or self.rng.random() < 0.3):
            return Call("delete", [uid], self.m.removed_group(uid), touches=(uid,))
        return None if gone is None else Call("delete", [gone], fails=GONE)

    def op_add(self) -> Call | None:
        m, rng = self.m, self.rng
        uid, pick, gone = m.own(), rng.random(), m.gone()
        if uid is None:
            return None
        if pick < 0.8:
            customers = m.customers(40 if rng.random() < 0.1 else 12)
            return Call("addCustomers", [uid, customers], m.added(uid, customers), touches=(uid,))
        if pick < 0.92:
            bad = [1, 2, rng.choice((0, -4, "7", 2.5, None))]
            where = m.any_uid() if rng.random() < 0.5 else uid
            return Call("addCustomers", [where, bad], fails=EITHER, at=("/1/2",))
        return None if gone is None else Call("addCustomers", [gone, [1]], fails=GONE)

    def op_remove(self) -> Call | None:
        m, rng, uid = self.m, self.rng, self.m.own()
        if uid is None:
            return None
        if rng.random() < 0.9:
            members = sorted(m.members[uid])
            customers = rng.sample(members, min(len(members), rng.randint(0, 6))) + m.customers(3)
            return Call(
                "removeCustomers", [uid, customers], m.removed(uid, customers), touches=(uid,)
            )
        return Call("removeCustomers", [uid, ["x"]], fails=PARAMS, at=("/1/0",))

    def op_move(self) -> Call | None:
        m, rng = self.m, self.rng
        source = m.own()
        target = m.own(exclude=source)
        if source is None or target is None:
            return None
        pick, members, both = rng.random(), sorted(m.members[source]), (source, target)
        if pick < 0.35:
            return Call("moveCustomers", [*both, None], m.moved(*both, None), touches=both)
        if pick < 0.75:
            some = rng.sample(members, min(len(members), rng.randint(0, 5)))
            return Call("moveCustomers", [*both, some], m.moved(*both, some), touches=both)
        if pick < 0.9:  # customers not in the source group: refused at the first of them
            strangers = [*members[:2], CUSTOMERS + 1, CUSTOMERS + 2]
            at = f"/2/{len(members[:2])}"
            return Call("moveCustomers", [*both, strangers], fails=PARAMS, at=(at,))
        if pick < 0.95:
            return Call("moveCustomers", [source, source, None], fails=PARAMS, at=("/1",))
        return Call("moveCustomers", [source, m.any_uid(), [CUSTOMERS + 7]], fails=EITHER)

    # -- batches and bad calls --------------------------------------------------------------

    def op_batch(self) -> Batch:
        """Reads and the owner's writes whose answers are predicted in order, and bad members."""
        rng = self.rng
        calls = [self.batch_member(rng.randrange(7)) for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.3:
            invalid = Call(
                "", raw={"jsonrpc": "2.0", "params": []}, fails=(-32600,), tag="bad:invalid"
            )
            calls.insert(rng.randrange(len(calls) + 1), invalid)
        if rng.random() < 0.3:
            unknown = {"jsonrpc": "2.0", "method": "Customergroup.explode", "params": []}
            calls.insert(
                rng.randrange(len(calls) + 1),
                Call("", raw=unknown, fails=(-32601,), tag="bad:method"),
            )
        return Batch(calls, [Call("count", [{}])] if rng.random() < 0.3 else [])

    def batch_member(self, kind: int) -> Call:
        """A call whose answer the owner's model predicts, whatever came before it."""
        m, uid = self.m, self.m.own()
        if kind == 0 or uid is None:
            return self.create_fresh(method="create")
        if kind == 1:
            customers = m.customers()
            return Call("addCustomers", [uid, customers], m.added(uid, customers), touches=(uid,))
        if kind == 2:
            name = m.fresh_name()
            return Call("set", [uid, {"name": name}], m.renamed(uid, name), touches=(uid,))
        if kind == 3:
            return Call("get", [uid], m.group(uid))
        if kind == 4:
            return Call("listCustomers", [uid], m.customers_of(uid, None))
        return Call("count", [{}]) if kind == 5 else self.op_list()

    def op_bad(self) -> Step:
        """A call that is wrong as a whole: its documented error, and nothing changes."""
        kind, uid = self.rng.randrange(12), self.m.own()
        count = {"jsonrpc": "2.0", "method": "Customergroup.count", "id": 1}
        if kind == 0:
            return Raw("bad:parse", b'{"jsonrpc": "2.0", "method": ', -32700, json=False)
        if kind == 1:
            return Raw("bad:invalid", json.dumps({**count, "jsonrpc": "1.0"}).encode(), -32600)
        if kind == 2:
            return Raw("bad:empty-batch", b"[]", -32600)
        if kind == 3:
            many = [{**count, "id": i} for i in range(101)]
            return Raw("bad:big-batch", json.dumps(many).encode(), -32600)
        if kind == 4:
            unknown = {**count, "method": "Customergroup.explode", "params": []}
            return Raw("bad:method", json.dumps(unknown).encode(), -32601)
        if kind == 5:
            return Call(
                "create", [{"name": self.m.fresh_name()}], fails=(1004,), creates=True, token=None
            )
        if kind == 6:
            wrong = "cgr_not_a_token_" + secrets.token_hex(4)
            return Call("delete", [self.m.any_uid()], fails=(1004,), token=wrong)
        if kind == 7 and self.view_token is not None and uid is not None:
            return Call("addCustomers", [uid, [1, 2, 3]], fails=(1006,), token=self.view_token)
        if kind == 8 and self.view_token is not None:
            query = self.rng.choice(QUERIES)
            if uid is None:
                return Call("count", [], token=self.view_token)
            return Call("get", [uid, query], self.m.group(uid), token=self.view_token)
        if kind == 9:
            notification = {"jsonrpc": "2.0", "method": "Customergroup.count", "params": [{}]}
            return Raw("notification", json.dumps(notification).encode(), None)
        if kind == 10 and self.rng.random() < 0.2:
            name = self.m.fresh_name()
            big = {
                **count,
                "method": "Customergroup.create",
                "params": [{"name": name}, ["uid"], "x" * MAX_BODY],
            }
            return Raw("bad:413", json.dumps(big).encode(), -32600, alone=True)
        return self.op_count()
