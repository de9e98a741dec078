"""The calls a soak client gets wrong on purpose, and the documented error each must get.

``BAD_PARAMS`` are calls that fail whatever the data: params the contract refuses (the pointer
a -32602 names, positional) and calls on a group the client deleted (9003: a uid is never
handed out again); ``INVALID_PATCHES`` patches the object schema refuses; ``bad_call`` makes a
body wrong as a whole (``Raw``: parse error, empty or long batch, a lone notification, a body
over 1 MiB), an invalid request or unknown method, or a call without the right token.
"""

from __future__ import annotations

import json
import random
import secrets
from dataclasses import dataclass
from functools import partial
from typing import Any

from soak_model import CUSTOMERS, Call, Owned

from harness.methods import INVALID_PARAMS, NOT_FOUND

MAX_BODY = 1024 * 1024  # the service's default --max-body
PARAMS, EITHER, GONE = (INVALID_PARAMS,), (INVALID_PARAMS, NOT_FOUND), (NOT_FOUND,)
QUERIES: tuple[Any, ...] = (None, True, {}, "name", ["uid", "name"])
QUERIES += (["name", "customerCount", "uid"], {"uid": True, "name": True, "changed": True})
QUERIES += ({"name": True, "customerCount": True, "created": False},)
OWN, ANY, DELETED = "<own>", "<any>", "<deleted>"  # in BAD_PARAMS: a uid of such a group
PLACES = (OWN, ANY, DELETED)
# Calls that fail whatever the data: the codes they get, and where a -32602 points.
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
    *(("get", [DELETED, *query], GONE, None) for query in ([], [None], ["name"])),
    *((method, [DELETED], GONE, None) for method in ("getSchema", "listCustomers", "delete")),
    *((method, [DELETED, {"name": "x"}], GONE, None) for method in ("set", "validate")),
    ("addCustomers", [DELETED, [1]], GONE, None),
)
# Patches that fail validation, and where (FRESH: a name nobody has, so the name is not why).
FRESH = "<fresh>"
INVALID_PATCHES: tuple[tuple[dict[str, Any], str], ...] = (
    *(({"name": name}, "/name") for name in ("", "   ", "x" * 256, "bell\x07", 5)),
    ({"name": FRESH, "uid": 3}, "/uid"),
    ({"name": FRESH, "created": "2020-01-01T00:00:00Z", "colour": "red"}, "/colour"),
)
# Requests invalid as such (-32600), or of no method (-32601): alone, or members of a batch.
INVALID = ({"jsonrpc": "2.0", "params": []}, {"jsonrpc": "1.0", "method": "Customergroup.count"})
UNKNOWN = {"jsonrpc": "2.0", "method": "Customergroup.explode", "params": []}
WRONG_TOKEN = "cgr_not_a_token_" + secrets.token_hex(4)


@dataclass
class Raw:
    """A body that is wrong as a whole: one error with ``code`` (None: HTTP 204, no body)."""

    label: str
    body: bytes
    code: int | None
    json: bool = True  # whether the body is JSON
    alone: bool = False  # sent on a connection of its own (the 413)


COUNT = {"jsonrpc": "2.0", "method": "Customergroup.count", "params": [{}]}
RAW = (
    Raw("bad:parse", b'{"jsonrpc": "2.0", "method": ', -32700, json=False),
    Raw("bad:empty-batch", b"[]", -32600),
    Raw("bad:big-batch", json.dumps([{**COUNT, "id": i} for i in range(101)]).encode(), -32600),
    Raw("notification", json.dumps(COUNT).encode(), None),
    Raw("bad:413", json.dumps({**COUNT, "params": ["x" * MAX_BODY]}).encode(), -32600, alone=True),
)


def invalid(rng: random.Random) -> list[Call]:
    """An invalid request (-32600) and one of an unknown method (-32601)."""
    return [
        Call("bad:invalid", raw=rng.choice(INVALID), fails=(-32600,)),
        Call("bad:method", raw=UNKNOWN, fails=(-32601,)),
    ]


def bad_params(m: Owned) -> Call | None:
    """A call that fails whatever the data (``BAD_PARAMS``); None without the group it needs."""
    method, params, fails, at = m.rng.choice(BAD_PARAMS)
    picks = {OWN: m.own(), ANY: m.any_uid(), DELETED: m.gone()}
    if any(picks[p] is None for p in params if p in PLACES):
        return None
    sent = [picks[p] if p in PLACES else p for p in params]
    return Call(method, sent, fails=fails, at=(at,) if at else ())


def bad_patch(m: Owned, new: bool) -> tuple[dict[str, Any], tuple[str]]:
    """A patch that fails validation, and where."""
    if new and m.rng.random() < 0.15:
        return {}, ("/name",)  # name is required
    patch, at = m.rng.choice(INVALID_PATCHES)
    fresh = f"{m.prefix}x{next(m.counter)}"
    return {k: fresh if v == FRESH else v for k, v in patch.items()}, (at,)


def bad_call(m: Owned, view_token: str | None) -> Call | Raw:
    """A body wrong as a whole, or a call without the right token, and its documented error.

    The kinds are taken in turn across all clients (``Registry.bad_kinds``), so that a short
    soak meets every one.
    """
    uid = m.own()
    viewer: tuple[Call, ...] = ()
    if view_token is not None:  # reads pass, writes are refused
        read, query = Call("count", [], token=view_token), m.rng.choice(QUERIES)
        if uid is not None:
            read = Call("get", [uid, query], partial(m.group, uid), token=view_token)
        write = Call("addCustomers", [m.any_uid(), [1, 2]], fails=(1006,), token=view_token)
        viewer = (read, write)
    kinds: tuple[Call | Raw, ...] = (
        *RAW,
        *invalid(m.rng),
        Call("create", [{"name": m.fresh_name()}], fails=(1004,), token=None),
        Call("delete", [m.any_uid()], fails=(1004,), token=WRONG_TOKEN),
        *viewer,
    )
    return kinds[next(m.registry.bad_kinds) % len(kinds)]
