"""Fuzzing every method through the real HTTP app with hypothesis: random and hostile input.

Every example starts the app afresh on the same seeded database file, so examples do not depend
on each other and a failure shrinks to a minimal request. ``make test`` runs the "default"
hypothesis profile (a few dozen examples per test), ``make fuzz`` the "fuzz" profile (many more);
both are registered in ``tests/conftest.py``.

Every reply is held to the contract (``harness/contract.py``: status, envelope, ids, documented
errors with pointers, verdicts on bad params, results valid and shaped by their query), and
besides: nothing leaks (no traceback, source path, file name or token in a response), and a call
that fails, and any read, changes nothing (the database file is byte-identical and the data
reads as before). Across calls: ``validate`` finds exactly what ``set`` reports; ``count``
agrees with ``list``, every ordering lists the same groups, and pages never overlap or skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import event, given, note
from hypothesis import strategies as st

from customergroup_rpc.app import TOKENS, Config, create_app
from customergroup_rpc.schemas import Method, Param
from harness import contract
from harness.client import Reply
from harness.methods import MAX_UID, METHODS, PROPERTIES, UID_PARAMS

from .conftest import ENDPOINT, MANAGE, VIEW, Clock

T = TypeVar("T")
Client = TestClient[Any, Any]
ENDPOINTS = (ENDPOINT, ENDPOINT.rstrip("/"))
SMALL_BODY = 64 * 1024  # max_body of the app that takes raw bodies, so some are too large

# The seeded data every example starts from. Enough groups that a selective name prefix goes
# through the name index and a broad one walks uids; uid 4 is deleted.
SEED = (
    ("Staff", (17, 42)),
    ("Students", (3, 17)),
    ("Teachers", ()),
    ("Temporary", (5,)),
    ("Ünïcødé ✓ Ｇroup", (1, 2, 3, 4, 5)),
    ("Staffing agency", (42,)),
    ("Alumni", ()),
    ("straße", (7,)),
    ("İstanbul office", ()),
    ("ﬀ friends", ()),
    ("Ｗｉｄｅ  name", ()),
    ("café", (8, 9)),
    ("😀 emoji", (17,)),
    ("\U0010ffff edge", ()),
    ("a" * 255, ()),
    *((f"Group {n}", (n,) if n % 3 else ()) for n in range(1, 13)),
    ("Zz top", (MAX_UID,)),
)
DELETED = 4
UIDS = tuple(uid for uid in range(1, len(SEED) + 1) if uid != DELETED)
NEXT = len(SEED) + 1
NAMES = tuple(name for name, _ in SEED)


# --- JSON text with what json.dumps never writes: NaN, 1e400, duplicate keys, deep nesting ---


@dataclass(frozen=True)
class Raw:
    """JSON text written as it is."""

    text: str


@dataclass(frozen=True)
class Pairs:
    """An object written pair by pair, so a key may come twice (the last one counts)."""

    items: tuple[tuple[str, Any], ...]


@dataclass(frozen=True)
class Auth:
    """How a request carries its token: ``query`` (``?auth=``), ``bearer`` or ``none``."""

    how: str
    token: str = ""

    @property
    def scope(self) -> str | None:
        if self.how == "none":
            return None
        return {MANAGE: "manage", VIEW: "view"}.get(self.token)


def emit(value: Any, ascii_only: bool) -> str:
    """JSON text of a value made of JSON values, ``Raw`` and ``Pairs``."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, list):
        return "[" + ",".join(emit(item, ascii_only) for item in value) + "]"
    if isinstance(value, Pairs | dict):
        items = value.items if isinstance(value, Pairs) else tuple(value.items())
        pairs = (
            json.dumps(k, ensure_ascii=ascii_only) + ":" + emit(v, ascii_only) for k, v in items
        )
        return "{" + ",".join(pairs) + "}"
    return json.dumps(value, ensure_ascii=ascii_only, allow_nan=False)


def encode(value: Any, ascii_only: bool) -> bytes:
    # Lone surrogates written unescaped make the body invalid UTF-8: a parse error, by design.
    return emit(value, ascii_only).encode("utf-8", "surrogatepass")


def decode(body: bytes) -> contract.Sent:
    """What a body is by the JSON standard (NaN and Infinity are not JSON)."""
    # Deep enough for every body generated here, so no verdict depends on this test's stack.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 50_000))
    try:
        text = body.decode("utf-8")
        doc = json.loads(text, parse_constant=contract.not_json)
        every = json.loads(text, object_pairs_hook=list)  # duplicate keys' values too
    except ValueError:
        return contract.Sent(ok=False)
    finally:
        sys.setrecursionlimit(limit)
    # Overflowing numbers (1e400) and nesting deeper than a parser's stack may be parse errors.
    deepest, infinite, stack = 0, False, [(every, 1)]
    while stack:
        value, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(value, float) and not math.isfinite(value):
            infinite = True
        elif isinstance(value, tuple):  # a key and its value (object_pairs_hook)
            stack.append((value[1], depth))
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value]
    return contract.Sent(ok=True, doc=doc, parse_error_allowed=infinite or deepest > 100)


# --- strategies: well-formed values mixed with hostile ones ---


def mostly(
    good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any], one_in: int = 5
) -> st.SearchStrategy[Any]:
    """``good`` usually, ``bad`` one time in ``one_in``; shrinks towards ``good``."""
    return st.integers(0, one_in - 1).flatmap(lambda i: bad if i == one_in - 1 else good)


ODD_STRINGS = [
    *["", " ", "\t", "\n", "\u0000", "\u001f", "\u007f", "\u0085", "\u009f", "\u00a0"],
    *["\u2028", "\u3000", "\ufeff", "\ufffd", "\U0010ffff", "\ud800", "\udfff", "a\udc00b"],
    *["\ud83d\ude00", "😀", "ß", "ﬀ", "İ", "ǅ", "①", "﷽", "Ｓｔａｆｆ", "ｓtaff", " STAFF "],
    *["staff\u3000", "Staff\n", "Sta\nff", "Staff\u0000", "~", "~0", "~1", "~01", "/", "//"],
    *["/name", "a/b~c", "%2F", "\\", '"', "null", "true", "NaN", "0", "-1", "1\n", " 1", "1 "],
    *["+1", "1a", "1.0", "1e3", "0001", "١٢٣", "１", "9" * 30, "9" * 31, "a" * 255, "a" * 256],
    *[" " + "b" * 255 + " ", "é" * 300, "x" * 5000],
]
odd_text = st.one_of(
    st.sampled_from(ODD_STRINGS),
    st.text(st.characters(exclude_categories=()), max_size=12),  # surrogates and controls too
    st.text(max_size=40),
)
keys = st.one_of(
    st.sampled_from(
        [
            *[*PROPERTIES, "NAME", " name", "customers", "filters", "limit", "offset", "sort"],
            *["descending", "query", "patch", "selection", "fromUid", "toUid", "startsWith"],
            *["not", "", "~", "~0", "~1", "/", "/name", "a/b", "a~b", "~1name"],
        ]
    ),
    odd_text,
)
# Survivable oddities: the service must parse them and answer properly.
ODD_LITERALS = st.sampled_from(
    [
        *['"\\ud800"', '"\\udfff\\ud800x"', '"\\ud83d\\ude00"', '"\\u0000"', '{"a":1,"a":2}'],
        *['{"name":"A","name":"Staff"}', "1" + "0" * 400, "-" + "9" * 400, "1E2", "-0", "-0.0"],
        *["1.0", "1e-400", "[" * 34 + "]" * 34],
    ]
).map(Raw)
# Killers: not JSON by the standard, or too much for any parser; a parse error at most.
PARSE_KILLERS = st.sampled_from(
    [
        *["NaN", "Infinity", "-Infinity", "1e400", "-1e400", "9" * 5000, "[" * 5000 + "]" * 5000],
        '{"a":' * 3000 + "1" + "}" * 3000,
    ]
).map(Raw)
deep_nesting = st.integers(2, 1200).flatmap(
    lambda n: st.sampled_from([Raw("[" * n + "]" * n), Raw('{"a":' * n + "null" + "}" * n)])
)
numbers = st.one_of(
    st.integers(-3, 10),
    st.integers(),
    st.sampled_from(
        [2**31, MAX_UID, MAX_UID + 1, 2**63, 2**64, -(2**63) - 1, 10**30, 10**400, -(10**400)]
    ),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 2.0, 2.5, 1e15, 1e300, 5e-324, -1.0]),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, odd_text, mostly(ODD_LITERALS, deep_nesting))


def _with_duplicate(pairs: list[tuple[str, Any]], again: Any) -> Pairs:
    return Pairs((*pairs, (pairs[0][0], again)) if pairs else ())


junk = st.recursive(
    mostly(scalars, PARSE_KILLERS, one_in=40),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(keys, inner, max_size=4),
        st.builds(_with_duplicate, st.lists(st.tuples(keys, inner), max_size=3), inner),
    ),
    max_leaves=8,
)

uid_values = mostly(
    st.sampled_from([*UIDS, *(str(uid) for uid in UIDS)]),
    st.sampled_from(
        [
            *[DELETED, NEXT, 0, 999, "4", "0005", "0", -1, 1.0, 2.5, 10**400, MAX_UID + 1],
            *["1\n", " 1", "1 ", "1a", "", "-1", "+1", "١", "１", "1.0", "1e3"],
            *["9" * 30, "9" * 31, True, False, [1], {"uid": 1}],
        ]
    ),
    one_in=3,
)
names = mostly(
    st.sampled_from([*NAMES, "staff", " STAFF ", "Ｓｔａｆｆ", "New group", "students ", "Alumni"]),
    st.one_of(st.text(min_size=1, max_size=30), odd_text),
    one_in=2,
)
known = st.sampled_from(PROPERTIES)
unknown = st.sampled_from(["customers", "Name", "nope", "", "~1", "a/b"])
queries = mostly(
    st.one_of(
        st.sampled_from([True, None, {}, []]),
        known,
        st.lists(known, max_size=6),
        st.dictionaries(known, st.booleans(), max_size=6),
    ),
    st.one_of(
        st.just(False),
        st.lists(mostly(known, unknown), max_size=6),
        st.dictionaries(mostly(known, unknown), st.booleans(), max_size=6),
        st.dictionaries(known, st.sampled_from([None, 1, "x", {}, {"en": True}, ["uid"]])),
    ),
    one_in=4,
)
patches = mostly(
    mostly(st.fixed_dictionaries({"name": names}), st.just({})),
    st.one_of(
        st.fixed_dictionaries(
            {},
            optional={
                "name": mostly(names, junk),
                "uid": st.sampled_from([1, 7, None]),
                "created": st.just("2014-01-16T14:14:18Z"),
                "changed": st.just("x"),
                "customerCount": st.just(0),
                "customers": st.just([17]),
            },
        ),
        st.dictionaries(keys, junk, max_size=3),
        st.builds(_with_duplicate, st.lists(st.tuples(st.just("name"), names), max_size=2), names),
    ),
    one_in=3,
)

# Filters whose every operand fits its field, with odd values: huge numbers, far dates, odd text.
integers = st.one_of(st.integers(-2, 8), st.integers(), st.sampled_from([10**30, 10**400, 5.0]))
offsets = st.sampled_from(["Z", "z", "+00:00", "+01:00", "-05:30", "+23:59", "-23:59", ""])
date_values = st.one_of(
    st.sampled_from(["2014-01-16T14:14:18Z", "2014-01-16", "2013-01-14T16:04:34+01:00"]),
    st.dates().map(str),
    st.builds(lambda moment, zone: moment.isoformat() + (zone or "Z"), st.datetimes(), offsets),
)
customer_uids = mostly(st.integers(1, 60), st.sampled_from([17, 42, MAX_UID, 1.0]))


def fitting(values: st.SearchStrategy[Any], ops: list[str]) -> st.SearchStrategy[Any]:
    """Conditions on one field: bare values, operators with fitting operands, in, not."""
    leaf = st.one_of(
        values,
        st.dictionaries(st.sampled_from(ops), values, min_size=1, max_size=2),
        st.fixed_dictionaries({"in": st.lists(st.one_of(values, st.none()), max_size=3)}),
    )
    return st.recursive(leaf, lambda inner: st.fixed_dictionaries({"not": inner}), max_leaves=3)


FIELDS = {
    "/uid": fitting(integers, ["equals", "min", "max"]),
    "/customerCount": fitting(integers, ["equals", "min", "max"]),
    "/name": fitting(names, ["equals", "startsWith", "endsWith", "contains"]),
    "/created": fitting(date_values, ["equals", "min", "max"]),
    "/changed": fitting(date_values, ["min", "max"]),
    "/customers": st.one_of(
        customer_uids,
        st.dictionaries(
            st.sampled_from(["containsAny", "containsAll"]),
            st.lists(customer_uids, max_size=3),
            min_size=1,
        ),
    ),
}
fitting_filters = st.lists(st.sampled_from(sorted(FIELDS)), unique=True, max_size=3).flatmap(
    lambda fields: st.fixed_dictionaries({field: FIELDS[field] for field in fields})
)
OPERATORS = ["equals", "in", "not", "startsWith", "endsWith", "contains", "min", "max"]
operands = st.one_of(
    names,
    numbers,
    date_values,
    st.sampled_from(["2014-13-01", "2014-02-30", "2014-01-16T14:14:18", "0000-01-01", "x"]),
    st.sampled_from(["2014-01-16T14:14:18.1234567Z", "2014-01-16T14:14:18+24:00"]),
    st.lists(st.one_of(st.integers(-1, 60), names, date_values), max_size=4),
    st.none(),
    st.booleans(),
)
misfits = st.recursive(
    operands,
    lambda inner: st.dictionaries(
        st.sampled_from([*OPERATORS, "containsAny", "containsAll", "startswith", "eq", ""]),
        inner,
        max_size=2,
    ),
    max_leaves=4,
)
bad_pointers = st.sampled_from(["name", "/nope", "/na~1me", "~1name", "/name/", "/Name", "", "/"])
filters = mostly(
    st.one_of(fitting_filters, st.just({}), st.none()),
    st.dictionaries(
        mostly(st.sampled_from(list(FIELDS)), bad_pointers | odd_text), misfits, max_size=3
    ),
    one_in=3,
)
counts = mostly(
    st.integers(0, 10),
    st.one_of(
        st.integers(min_value=0),
        st.sampled_from([-1, 1.0, 2.5, MAX_UID, 2**63, 10**30, 10**400, "3", None, True]),
    ),
    one_in=3,
)
ORDERINGS = METHODS["Customergroup.list"].params[1].schema["properties"]["sort"]["enum"]
SELECTION_KEYS = {
    "filters": filters,
    "limit": counts,
    "offset": counts,
    "sort": mostly(st.sampled_from(ORDERINGS), st.sampled_from(["Name", "", None, "uid ", "-uid"])),
    "descending": mostly(st.booleans(), st.sampled_from([None, 0, 1, "true", []])),
}


def selections(schema: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Selections with the keys ``schema`` has (odd values), true, null or {}; now and then
    false, junk, or a key of list's selection ``schema`` lacks (listCustomers: sort, filters)."""
    own = {key: values for key, values in SELECTION_KEYS.items() if key in schema["properties"]}
    alien = [st.fixed_dictionaries({k: v}) for k, v in SELECTION_KEYS.items() if k not in own]
    return mostly(
        mostly(
            st.fixed_dictionaries({}, optional=own), st.sampled_from([True, None, {}]), one_in=4
        ),
        st.one_of(st.just(False), *alien, st.dictionaries(keys, junk, max_size=2)),
        one_in=6,
    )


BAD_CUSTOMERS = [0, -1, MAX_UID + 1, 10**400, 1.5, "3", True, None, [1], {}]
customer_lists = mostly(
    st.lists(customer_uids, max_size=8),
    st.one_of(
        st.lists(mostly(customer_uids, st.sampled_from(BAD_CUSTOMERS)), min_size=1, max_size=6),
        st.just(list(range(1, 10_002))),
    ),
)


# changes(since, limit, uid, token) and every write's ifVersion; uid is a uid param.
FEED_PARAMS: dict[str, st.SearchStrategy[Any]] = {
    "since": mostly(st.integers(0, 8), st.none(), one_in=3),
    "limit": mostly(st.integers(0, 20), st.none(), one_in=3),
    "token": mostly(st.sampled_from(["env-1a2b3c4d", "1a2b3c4d"]), st.none(), one_in=3),
    "ifVersion": mostly(st.integers(1, 4), st.none(), one_in=3),
}


def value_for(param: Param, hostile: bool = True) -> st.SearchStrategy[Any]:
    """Well-formed values of one parameter, now and then (if hostile) junk."""
    nullable = "null" in param.schema.get("type", [])
    if param.name in UID_PARAMS:
        good = mostly(uid_values, st.none(), one_in=3) if nullable else uid_values
    elif param.name == "customers":
        good = mostly(customer_lists, st.none(), one_in=3) if nullable else customer_lists
    elif param.name == "selection":
        good = selections(param.schema)
    elif param.name in FEED_PARAMS:
        good = FEED_PARAMS[param.name]
    else:
        good = {"query": queries, "patch": patches, "filters": filters}[param.name]
    return mostly(good, junk) if hostile else good


@st.composite
def params_for(draw: st.DrawFn, method: Method, hostile: bool = True) -> Any:
    """Params by position or by name (some left out, some extra), left out, or not a container.

    Not hostile: every required param and most optional ones, by position or by name.
    """
    spec, required = method.params, method.least
    if not hostile:
        if draw(st.booleans()):
            count = draw(mostly(st.just(len(spec)), st.integers(required, len(spec)), one_in=3))
            return [draw(value_for(p, hostile=False)) for p in spec[:count]]
        return {
            p.name: draw(value_for(p, hostile=False))
            for p in spec
            if p.required or draw(mostly(st.just(True), st.just(False), one_in=3))
        }
    form = draw(st.sampled_from(["position", "position", "name", "name", "absent", "other"]))
    if form == "absent":
        return None
    if form == "other":
        return draw(mostly(scalars, st.just(Raw('"params"'))))
    if form == "position":
        count = draw(mostly(st.integers(required, len(spec)), st.integers(0, len(spec) + 1)))
        values = [draw(value_for(p)) for p in spec[:count]]
        return values + [draw(junk) for _ in range(count - len(spec))]
    every = [p.name for p in spec]
    chosen = draw(mostly(st.just(every), st.lists(st.sampled_from(every), unique=True)))
    by_name = {p.name: p for p in spec}
    named = {
        name: draw(value_for(by_name[name]))
        for name in chosen
        if by_name[name].required or draw(st.booleans())
    }
    if draw(mostly(st.just(False), st.just(True))):
        named[draw(keys)] = draw(junk)
    return named


ids = st.one_of(
    st.integers(-5, 1000),
    st.sampled_from(["jsonrpc", "a b", "6f1c8a52-6b8e-4f0b-9c84-3c1d8f6e2a10", None, 2.5, 0, -0.0]),
    st.sampled_from([10**30, 10**400, 1e300, "\ud800", "x" * 1000, Raw("1.0"), Raw("-0")]),
    odd_text,
)
method_names = mostly(
    st.sampled_from(sorted(METHODS)),
    st.sampled_from(
        [
            *["Customergroup.explode", "customergroup.get", "Customergroup.Get", "get", ""],
            *["Customergroup.get ", "Customergroup.", "Customergroup", "Customergroup.get\u0000"],
            *["__init__", "Customergroup.__class__"],
        ]
    )
    | odd_text,
)


@st.composite
def requests(draw: st.DrawFn, notification: bool | None = None) -> Pairs:
    """One request object: valid JSON-RPC 2.0 in its envelope, with hostile params."""
    name = draw(method_names)
    items: list[tuple[str, Any]] = [("jsonrpc", "2.0"), ("method", name)]
    params = draw(params_for(METHODS[name])) if name in METHODS else draw(mostly(junk, st.none()))
    if params is not None:
        items.append(("params", params))
    if notification is None:
        notification = draw(mostly(st.just(False), st.just(True)))
    if not notification:
        items.append(("id", draw(ids)))
    items = draw(st.permutations(items))
    if draw(mostly(st.just(False), st.just(True), one_in=10)):
        # A duplicate member before the real one: the last one counts.
        key = draw(st.sampled_from(["jsonrpc", "method", "params", "id"]))
        items.insert(0, (key, draw(junk)))
    return Pairs(tuple(items))


def member(**wrong: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A request to count with an id or none, but for the ``wrong`` members."""
    good = {"jsonrpc": st.just("2.0"), "method": st.just("Customergroup.count")}
    optional = {} if "id" in wrong else {"id": ids}
    return st.fixed_dictionaries({**good, **wrong}, optional=optional)


INVALID_MEMBERS = st.one_of(
    scalars,
    st.just([]),
    st.just({}),
    st.lists(st.integers(), min_size=1, max_size=2),
    member(jsonrpc=st.sampled_from(["1.0", "2", 2.0, None])),
    member(method=st.one_of(numbers, st.none(), st.just(["x"]), st.just({"x": 1}))),
    member(method=st.just("Customergroup.get"), params=st.one_of(numbers, odd_text, st.booleans())),
    member(id=st.one_of(st.booleans(), st.just([1]), st.just({"id": 1}))),
)
# Mostly the manage token as ?auth=; else either way, the view token, none, wrong or upper-cased.
auths = mostly(
    st.just(Auth("query", MANAGE)),
    st.builds(
        Auth,
        st.sampled_from(["bearer", "query", "none"]),
        st.sampled_from([MANAGE, VIEW, "", "wrong", MANAGE.upper()]),
    ),
    one_in=3,
)


# --- the app, started afresh for every example ---


class Service:
    """An app on a database file; each ``run`` restarts it on the same seeded file."""

    def __init__(self, folder: Path, max_body: int) -> None:
        self.folder, self.db, self.max_body = folder, folder / "groups.db.json", max_body
        self.loop = asyncio.new_event_loop()
        self.seed = b""
        self.run(self._seed)
        self.seed = self.db.read_bytes()
        self.snapshot = self.run(snapshot)

    def run(self, body: Callable[[Client], Awaitable[T]]) -> T:
        if self.seed:
            self.db.write_bytes(self.seed)
        return self.loop.run_until_complete(self._session(body))

    async def _session(self, body: Callable[[Client], Awaitable[T]]) -> T:
        config = Config(db=self.db, admin_token=MANAGE, clock=Clock(), max_body=self.max_body)
        client: Client = TestClient(TestServer(create_app(config)))
        await client.start_server()
        try:
            return await body(client)
        finally:
            await client.close()

    async def _seed(self, client: Client) -> None:
        client.app[TOKENS].create("view", VIEW)
        made = [("create", [{"name": name}]) for name, _ in SEED]
        filled = [("addCustomers", [uid, list(c)]) for uid, (_, c) in enumerate(SEED, start=1)]
        answers = await post(client, batch(*made, *filled, ("delete", [DELETED])))
        assert all("result" in answer for answer in answers), answers

    def close(self) -> None:
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


def batch(*calls: tuple[str, Any]) -> list[dict[str, Any]]:
    """Requests to ``Customergroup.<method>`` with ``params``, ids 0, 1, 2, ..."""
    return [
        {"jsonrpc": "2.0", "method": f"Customergroup.{method}", "params": params, "id": i}
        for i, (method, params) in enumerate(calls)
    ]


async def post(client: Client, calls: list[dict[str, Any]]) -> Any:
    """The decoded answers to a batch sent with the manage token."""
    response = await client.post(ENDPOINT, json=calls, params={"auth": MANAGE})
    return await response.json()


# Everything a reader sees: every group whole, every group's customers.
SNAPSHOT = batch(("list", []), *(("listCustomers", [uid]) for uid in range(1, len(SEED) + 2)))


async def snapshot(client: Client) -> Any:
    return await post(client, SNAPSHOT)


@pytest.fixture
def service(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Service]:
    """The app on the seeded file; its max_body 1 MiB unless the test parametrizes it."""
    service = Service(tmp_path, getattr(request, "param", 1024 * 1024))
    try:
        yield service
    finally:
        service.close()


def exchange(service: Service, body: bytes, auth: Auth, path: str = ENDPOINT) -> Any:
    """Post a body and hold the reply to the contract; nothing may change if nothing wrote.

    Returns the decoded answer (None unless HTTP 200).
    """
    note(f"body ({len(body)} bytes): {body[:3000]!r}")

    async def session(client: Client) -> Any:
        headers = {"Authorization": f"Bearer {auth.token}"} if auth.how == "bearer" else {}
        query = {"auth": auth.token} if auth.how == "query" else {}
        response = await client.post(path, data=body, params=query, headers=headers)
        reply = Reply(response.status, response.content_type, await response.read())
        note(f"reply: {reply.status} {reply.body[:3000]!r}")
        no_leaks(service, body, reply.body)
        checked = contract.check_reply(
            decode(body), reply, auth.scope, size=len(body), max_body=service.max_body
        )
        for member, answer in checked.pairs:  # statistics, for known methods only
            method = member.get("method") if isinstance(member, dict) else None
            if isinstance(method, str) and method in METHODS:
                event(f"{method.split('.')[-1]}: {contract.code_of(answer) or 'result'}")
        if not checked.writes:
            assert service.db.read_bytes() == service.seed, "nothing was to change, the file did"
            assert await snapshot(client) == service.snapshot, "nothing was to change, data did"
        return reply.json() if reply.status == 200 else None

    return service.run(session)


def no_leaks(service: Service, body: bytes, answer: bytes) -> None:
    """No traceback, source path, file name or token, unless the request itself sent it."""
    sent = body.decode("utf-8", "replace")
    with contextlib.suppress(ValueError, RecursionError):
        sent += json.dumps(json.loads(body, parse_constant=contract.not_json), ensure_ascii=False)
    text = answer.decode("utf-8", "replace")
    for secret in ("Traceback", "/work/", ".py", str(service.folder), MANAGE, VIEW):
        if secret not in sent:
            assert secret not in text, f"the response leaks {secret!r}"


# --- the properties ---


@given(
    request=requests(),
    auth=auths,
    ascii_only=st.booleans(),
    path=st.sampled_from(ENDPOINTS),
)
def test_any_request_to_any_method(
    service: Service, request: Pairs, auth: Auth, ascii_only: bool, path: str
) -> None:
    """One request: every method, positional or by name, well-formed and hostile params."""
    exchange(service, encode(request, ascii_only), auth, path)


@pytest.mark.parametrize("name", sorted(METHODS))
@given(data=st.data())
def test_well_formed_calls(service: Service, name: str, data: st.DataObject) -> None:
    """Each method with params of the right kinds (odd values): results valid, errors documented."""
    params = data.draw(params_for(METHODS[name], hostile=False), label="params")
    request = {"jsonrpc": "2.0", "method": name, "params": params, "id": 1}
    exchange(service, encode(request, ascii_only=True), Auth("query", MANAGE))


@st.composite
def batch_members(draw: st.DrawFn) -> Any:
    """A call, a notification or an invalid member (one_of would weigh each invalid kind)."""
    kind = draw(st.sampled_from(["call", "call", "notification", "invalid"]))
    if kind == "invalid":
        return draw(INVALID_MEMBERS)
    return draw(requests(notification=kind == "notification"))


@given(
    members=st.lists(batch_members(), max_size=8),
    auth=auths,
)
def test_random_batches(service: Service, members: list[Any], auth: Auth) -> None:
    """Batches of 0 to 8 valid calls, notifications and invalid members."""
    exchange(service, encode(members, ascii_only=True), auth)


MUTATIONS = ("as is", "truncate", "insert", "delete", "bom", "garbage", "pad", "bytes", "wrap")


@st.composite
def raw_bodies(draw: st.DrawFn) -> bytes:
    """A request or batch, then maybe mangled byte-wise: cut, spliced, padded past max_body."""
    value = draw(st.one_of(requests(), st.lists(requests(), max_size=3), INVALID_MEMBERS))
    body = encode(value, draw(st.booleans()))
    how = draw(st.sampled_from(MUTATIONS))
    at = draw(st.integers(0, len(body)))
    if how == "truncate":
        body = body[:at]
    elif how == "insert":
        body = body[:at] + draw(st.binary(min_size=1, max_size=8)) + body[at:]
    elif how == "delete":
        body = body[:at] + body[at + draw(st.integers(1, 8)) :]
    elif how == "bom":
        body = b"\xef\xbb\xbf" + body
    elif how == "garbage":
        body += draw(st.sampled_from([b" x", b"}", b"]", b",", b"\x00", b" {}", b"\n\n"]))
    elif how == "pad":
        size = draw(st.sampled_from([SMALL_BODY - len(body), SMALL_BODY - len(body) + 1, 70_000]))
        body += b" " * max(size, 0)
    elif how == "bytes":
        body = draw(st.binary(max_size=64))
    elif how == "wrap":
        depth = draw(st.integers(1, 3000))
        body = b"[" * depth + body + b"]" * depth
    return body


@pytest.mark.parametrize("service", [SMALL_BODY], indirect=True)
@given(body=raw_bodies(), auth=auths)
def test_raw_bodies(service: Service, body: bytes, auth: Auth) -> None:
    """Bodies cut, spliced, wrapped in deep arrays, invalid UTF-8, or over max_body."""
    exchange(service, body, auth)


@given(
    uid=mostly(st.one_of(st.none(), st.sampled_from([*UIDS, DELETED, "2"])), uid_values),
    patch=mostly(patches, junk),
    by_name=st.booleans(),
)
def test_validate_agrees_with_set(service: Service, uid: Any, patch: Any, by_name: bool) -> None:
    """validate finds exactly the problems set reports, and nothing when set succeeds."""
    params: Any = {"uid": uid, "patch": patch} if by_name else [uid, patch]
    calls = batch(("validate", params), ("set", params))
    answers = exchange(service, encode(calls, ascii_only=True), Auth("query", MANAGE))
    if not isinstance(answers, list):
        return  # a patch that is not JSON (NaN, 1e400): one parse error, checked already
    checked, applied = answers
    if "error" in checked:
        assert applied.get("error") == checked["error"], (checked, applied)
    elif checked["result"]:
        assert applied.get("error") == {
            "code": -32602,
            "message": "Invalid params",
            "data": checked["result"],
        }, (checked, applied)
    else:
        assert "result" in applied, f"validate found nothing wrong, set said {applied}"


@given(
    order=st.fixed_dictionaries(
        {
            "filters": mostly(fitting_filters, filters, one_in=4),
            "sort": st.sampled_from(ORDERINGS),
            "descending": st.booleans(),
        }
    ),
    size=st.integers(1, 10),
    auth=st.sampled_from([Auth("query", MANAGE), Auth("bearer", VIEW)]),
)
def test_count_list_and_pages_agree(
    service: Service, order: dict[str, Any], size: int, auth: Auth
) -> None:
    """count agrees with list, every ordering lists the same groups, pages never overlap or skip.

    The name index and the walk over uids answer the same filter (count, list by uid, by name).
    """
    where, sort, descending = order["filters"], order["sort"], order["descending"]
    pages = range(0, len(SEED) + size, size)
    calls = batch(
        ("count", [where]),
        ("list", [True, order]),
        ("list", [["uid"], {"filters": where}]),
        ("list", [["uid"], {"filters": where, "sort": "name"}]),
        *(("list", [["uid"], {**order, "limit": size, "offset": at}]) for at in pages),
    )
    answers = exchange(service, encode(calls, ascii_only=True), auth)
    if not isinstance(answers, list):
        return  # a filter that is not JSON (1e400): one parse error, checked already
    counted, *listed = answers
    if "error" in counted:
        # The same problems, at the filter's place in each call: /0/... for count, /1/filters/...
        wanted = sorted("/1/filters" + p["pointer"][2:] for p in counted["error"]["data"])
        for answer in listed:
            assert answer["error"]["code"] == counted["error"]["code"], (counted, answer)
            assert sorted(p["pointer"] for p in answer["error"]["data"]) == wanted, answer
        return
    assert all("result" in answer for answer in listed), listed
    whole, by_uid, by_name, *paged = [answer["result"] for answer in listed]
    uids = [group["uid"] for group in whole]
    assert len(whole) == counted["result"], "count and list disagree"
    assert [g["uid"] for g in by_uid] == sorted(uids), "list by uid differs"
    assert sorted(g["uid"] for g in by_name) == sorted(uids), "list by name differs"
    if sort != "name":  # names order as uniqueness compares them: not re-implemented here
        keys = [(group[sort], group["uid"]) for group in whole]
        assert keys == sorted(keys, reverse=descending), "not in order, ties by uid"
    assert all(len(page) <= size for page in paged)
    assert [g["uid"] for page in paged for g in page] == uids, "pages overlap or skip"
