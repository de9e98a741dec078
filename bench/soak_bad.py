"""The calls a soak client gets wrong on purpose, and the documented error each must get.

``BAD_PARAMS`` are params wrong whatever the data (the pointer a -32602 names, positional);
``INVALID_PATCHES`` patches the object schema refuses; ``bad_call`` makes a body wrong as a
whole (``Raw``: parse error, invalid request, empty or long batch, unknown method, a lone
notification, a body over 1 MiB) or a call without the right token.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

from soak_model import CUSTOMERS, Call, Owned

from harness.methods import INVALID_PARAMS, NOT_FOUND

MAX_BODY = 1024 * 1024  # the service's default --max-body
PARAMS, EITHER, GONE = (INVALID_PARAMS,), (INVALID_PARAMS, NOT_FOUND), (NOT_FOUND,)
QUERIES: tuple[Any, ...] = (
    None,
    True,
    {},
    "name",
    ["uid", "name"],
    ["name", "customerCount", "uid"],
)
QUERIES += ({"uid": True, "name": True, "changed": True},)
QUERIES += ({"name": True, "customerCount": True, "created": False},)
OWN, ANY = "<own>", "<any>"  # in BAD_PARAMS: the uid of an own group, any uid
# Params that are wrong whatever the data: the codes they get, and where a -32602 points.
BAD_PARAMS: tuple[tuple[str, list[Any], tuple[int, ...], str | None], ...] = (
    ("count", [{"/name": {"startsWith": 5}}], PARAMS, "/0/~1name/startsWith"),
    ("count", [{"/created": {"min": "yesterday"}}], PARAMS, "/0/~1created/min"),
    *(("get", [uid], PARAMS, "/0") for uid in ("abc", 1.5, "12a", True, [1])),
    *(("get", [ANY, q], EITHER, None) for q in (["nope"], {"name": {"en": True}}, {"name": None})),
    ("getSchema", [[1]], PARAMS, "/0"),
    ("list", [["uid"], {"bogus": 1}], PARAMS, "/1/bogus"),
    ("list", [["uid"], {"limit": -1}], PARAMS, "/1/limit"),
    ("list", [["uid"], {"sort": "size"}], PARAMS, "/1/sort"),
    ("list", [["uid"], {"filters": {"/nope": 1}}], PARAMS, "/1/filters/~1nope"),
    (
        "list",
        [["uid"], {"filters": {"/name": {"startsWith": 5}}}],
        PARAMS,
        "/1/filters/~1name/startsWith",
    ),
    ("listCustomers", [ANY, {"sort": "uid"}], EITHER, None),
    ("validate", [None, "not a patch"], PARAMS, "/1"),
    *(("addCustomers", [OWN, [1, 2, bad]], EITHER, "/1/2") for bad in (0, -4, "7", 2.5, None)),
    *(("addCustomers", [ANY, [1, 2, bad]], EITHER, "/1/2") for bad in (0, -4, "7", 2.5, None)),
    ("removeCustomers", [OWN, ["x"]], PARAMS, "/1/0"),
    ("moveCustomers", [OWN, OWN, None], PARAMS, "/1"),
    ("moveCustomers", [OWN, ANY, [CUSTOMERS + 7]], EITHER, None),
)
# Patches that fail validation, and where (FRESH: a name nobody has, so the name is not why).
FRESH = "<fresh>"
INVALID_PATCHES: tuple[tuple[dict[str, Any], str], ...] = (
    *(({"name": name}, "/name") for name in ("", "   ", "x" * 256, "bell\x07", 5)),
    ({"name": FRESH, "uid": 3}, "/uid"),
    ({"name": FRESH, "created": "2020-01-01T00:00:00Z", "colour": "red"}, "/colour"),
)


@dataclass
class Raw:
    """A body that is wrong as a whole: one error with ``code`` (None: HTTP 204, no body)."""

    label: str
    body: bytes
    code: int | None
    json: bool = True  # whether the body is JSON
    alone: bool = False  # sent on a connection of its own (the 413)


def bad_params(m: Owned) -> Call | None:
    """Params that are wrong whatever the data (``BAD_PARAMS``)."""
    method, params, fails, at = m.rng.choice(BAD_PARAMS)
    uid, other = m.own(), m.any_uid()
    if OWN in params and uid is None:
        return None
    sent = [uid if p == OWN else other if p == ANY else p for p in params]
    return Call(method, sent, fails=fails, at=(at,) if at else ())


def invalid_patch(m: Owned, new: bool) -> tuple[dict[str, Any], tuple[str]]:
    """A patch that fails validation, and where."""
    if new and m.rng.random() < 0.15:
        return {}, ("/name",)  # name is required
    patch, at = m.rng.choice(INVALID_PATCHES)
    fresh = f"{m.prefix}x{next(m.counter)}"
    return {k: fresh if v == FRESH else v for k, v in patch.items()}, (at,)


def bad_call(m: Owned, view_token: str | None) -> Call | Raw | None:
    """A call wrong as a whole, or without the right token: its documented error; None at times."""
    kind, uid = next(m.registry.bad_kinds) % 12, m.own()
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
        new = [{"name": m.fresh_name()}]
        return Call("create", new, fails=(1004,), token=None)
    if kind == 6:
        wrong = "cgr_not_a_token_" + secrets.token_hex(4)
        return Call("delete", [m.any_uid()], fails=(1004,), token=wrong)
    if kind in (7, 8) and view_token is not None:  # reads pass, writes are refused
        if uid is None:
            return Call("count", [], token=view_token)
        if kind == 7:
            return Call("addCustomers", [uid, [1, 2, 3]], fails=(1006,), token=view_token)
        query = m.rng.choice(QUERIES)
        return Call("get", [uid, query], partial(m.group, uid), token=view_token)
    if kind == 9:
        notification = {"jsonrpc": "2.0", "method": "Customergroup.count", "params": [{}]}
        return Raw("notification", json.dumps(notification).encode(), None)
    if kind == 10 and m.rng.random() < 0.2:
        params = [{"name": m.fresh_name()}, ["uid"], "x" * MAX_BODY]
        big = {**count, "method": "Customergroup.create", "params": params}
        return Raw("bad:413", json.dumps(big).encode(), -32600, alone=True)
    return None  # the caller counts instead
