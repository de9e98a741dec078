"""Soak the service: many clients doing every method over loopback for a bounded time, then check.

Usage:
    .venv/bin/python bench/soak.py [--clients 32] [--seconds 30] [--seed N] [--json PATH]
        [--url URL --token TOKEN [--view-token TOKEN] | --db PATH] [--keep]

By default it starts its own server (``sys.executable -m customergroup_rpc serve`` on 127.0.0.1
and a free port, a database in a temporary folder, ``CUSTOMERGROUP_RPC_ADMIN_TOKEN`` set to a
fresh secret, a ``view`` token made with ``token create``) and stops it by its PID at the end;
``--db PATH`` uses that database file instead of a temporary one. ``--url`` and ``--token``
target a server that is already running (``--view-token`` adds the scope checks).

Each client is a thread with its own keep-alive ``http.client`` connection. Until the deadline
it picks calls from a weighted mix of all twelve methods (``count``, ``create``, ``get``,
``getSchema``, ``list`` with filters, orderings and pages, ``set`` with renames, case-only and
width-only renames and name collisions, ``validate``, ``delete``, ``addCustomers``,
``removeCustomers``, ``listCustomers``, ``moveCustomers``), by position and by name, plus
batches, a notification, and deliberately bad calls (parse errors, invalid requests, empty and
oversized batches, unknown methods, missing, unknown and under-scoped tokens, invalid params,
a body over the size limit), each of which must get its documented error.

Every client owns the groups it created: only the owner renames, deletes or changes the members
of a group, so the last acknowledged value of each is known. Reads, and writes that must fail,
touch any group. Calls whose answer is known in advance (the owner's reads, member counts, name
collisions with the owner's other groups, invalid params) are checked as they are answered.
Names of different clients do not meet, except on purpose: racing creates of shared names, and
renames to another client's name, whose outcome is recorded either way.

Afterwards it checks, with the clients stopped:

- ``count({})`` equals the length of ``list()``; no two names fold to one key (NFKC,
  case-folded, whitespace collapsed and trimmed: ``customergroup_rpc.text.fold``);
- every owned group has its last acknowledged name, every deleted one answers 9003, and the
  members of owned groups are the acknowledged ones; ``customerCount`` equals the length of
  ``listCustomers`` for every group;
- uids of creates are unique, strictly increasing per client and in real time (a create
  answered before another was sent has the smaller uid), and a deleted uid never comes back;
- no ``-32603``, no HTTP 5xx, every request answered, every answer as predicted;
- with its own server: it stops cleanly on SIGTERM, its log has no traceback, and the database
  file parses and holds exactly the final groups and members.

Prints requests, requests/s, errors by code and p50/p99 latency per method, then the invariants;
``--json PATH`` also writes the summary as JSON (``-`` for standard output). Exits 1 when an
invariant broke, 2 when the server could not be started.
"""

from __future__ import annotations

import argparse
import collections
import http.client
import itertools
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from customergroup_rpc.text import fold

ENDPOINT = "/backend/jsonrpc/v1/"
PREFIX = "Customergroup."
METHODS = (
    "count",
    "create",
    "get",
    "getSchema",
    "list",
    "set",
    "validate",
    "delete",
    "addCustomers",
    "removeCustomers",
    "listCustomers",
    "moveCustomers",
)
INTERNAL, INVALID_REQUEST, PARSE, NO_METHOD, INVALID_PARAMS = -32603, -32600, -32700, -32601, -32602
BAD_TOKEN, FORBIDDEN, NOT_FOUND = 1004, 1006, 9003
MAX_BODY = 1024 * 1024  # the service's default --max-body
MAX_BATCH = 100  # the service's default --max-batch
CUSTOMERS = 400  # customer uids drawn from 1..CUSTOMERS
MAX_OWNED = 14  # a client deletes instead of creating when it owns this many groups
SHARED_NAMES = 6  # names every client races to create
MAX_OPS = 10_000_000  # per client, besides the deadline
REQUEST_TIMEOUT = 30.0
START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
KEEP_PROBLEMS = 25  # problems kept with their text, per client
SUFFIXES = ("", "", "", " Straße", " Ærøskøbing", " ǅemal", " İzmir", " ﬁle", " Ωmega", " 東京")
FULLWIDTH = {
    ord(c): chr(ord(c) + 0xFEE0)
    for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789:"
}
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
MISSING: Any = object()
TOKEN_CREATE = (sys.executable, "-m", "customergroup_rpc", "token", "create")

Answer = dict[str, Any]


class Stop(Exception):
    """SIGTERM: stop like Ctrl-C does."""


# -- names ------------------------------------------------------------------------------------


def styled(rng: random.Random, name: str) -> str:
    """A spelling of ``name`` that folds to the same key: case, width, spaces, or as it is."""
    kind = rng.randrange(8)
    if kind == 0:
        spelling = name.upper()
    elif kind == 1:
        spelling = name.lower()
    elif kind == 2:
        spelling = name.swapcase()
    elif kind == 3:
        spelling = "".join(c.translate(FULLWIDTH) if rng.random() < 0.5 else c for c in name)
    elif kind == 4:
        spelling = name.replace(" ", rng.choice(("  ", "\u00a0", " \u3000 ")))
    elif kind == 5:
        spelling = f"{' ' * rng.randrange(1, 3)}{name}{' ' * rng.randrange(3)}"
    else:
        spelling = name
    return spelling if fold(spelling) == fold(name) else name


def other_spelling(rng: random.Random, name: str) -> str:
    """A different string with the same key, when one of a few tries finds it."""
    for _ in range(8):
        spelling = styled(rng, name).strip()
        if spelling != name:
            return spelling
    return name


# -- statistics -------------------------------------------------------------------------------


@dataclass
class Stats:
    """What one client saw; merged at the end."""

    requests: int = 0
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    ok: collections.Counter[str] = field(default_factory=collections.Counter)
    errors: dict[str, collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    latency: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    http: collections.Counter[int] = field(default_factory=collections.Counter)
    unanswered: int = 0
    problems: int = 0
    problem_texts: list[str] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        self.requests += other.requests
        self.calls.update(other.calls)
        self.ok.update(other.ok)
        for label, codes in other.errors.items():
            self.errors[label].update(codes)
        for label, times in other.latency.items():
            self.latency[label].extend(times)
        self.http.update(other.http)
        self.unanswered += other.unanswered
        self.problems += other.problems
        self.problem_texts.extend(other.problem_texts)


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of unsorted values (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


# -- the target -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    host: str
    port: int
    path: str
    token: str
    view_token: str | None

    def connection(self, timeout: float = REQUEST_TIMEOUT) -> http.client.HTTPConnection:
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)


def exchange(
    connection: http.client.HTTPConnection,
    target: Target,
    body: bytes,
    token: str | None,
    bearer: bool = False,
) -> tuple[int, bytes]:
    """POST a body; the HTTP status and the raw answer. Raises on a transport failure."""
    path, headers = target.path, {"Content-Type": "application/json"}
    if token is not None and bearer:
        headers["Authorization"] = f"Bearer {token}"
    elif token is not None:
        path = f"{target.path}?auth={token}"
    connection.request("POST", path, body=body, headers=headers)
    response = connection.getresponse()
    return response.status, response.read()


class Registry:
    """Uids and names every client has seen created, for reads and collisions across clients."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.uids: list[int] = []
        self.names: collections.deque[str] = collections.deque(maxlen=256)

    def add(self, uid: int | None, name: str | None) -> None:
        with self._lock:
            if uid is not None:
                self.uids.append(uid)
            if name is not None:
                self.names.append(name)

    def some_uid(self, rng: random.Random) -> int | None:
        with self._lock:
            return rng.choice(self.uids) if self.uids else None

    def some_name(self, rng: random.Random) -> str | None:
        with self._lock:
            return rng.choice(self.names) if self.names else None


# -- calls ------------------------------------------------------------------------------------


@dataclass
class Op:
    """One call: its label (a method, or what kind of bad call), params, and its check.

    ``check`` runs with the answer, in request order, after the checks of the calls before it,
    so the owner's model is up to date when a check predicts. ``touches`` are owned groups
    whose state is unknown if no answer comes. ``raw`` is sent instead of a well-formed request
    (its ``id`` set by the sender).
    """

    label: str
    params: Any
    check: Callable[[Answer], object]
    touches: tuple[int, ...] = ()
    creates: bool = False
    raw: dict[str, Any] | None = None
    by_name: Sequence[str] | None = None  # parameter names: send params as an object

    def request(self, id_: Any) -> dict[str, Any]:
        if self.raw is not None:
            return {**self.raw, "id": id_}
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": PREFIX + self.label, "id": id_}
        if self.params is not MISSING:
            if self.by_name is not None:
                request["params"] = dict(zip(self.by_name, self.params, strict=False))
            else:
                request["params"] = self.params
        return request


PARAM_NAMES: dict[str, tuple[str, ...]] = {
    "count": ("filters",),
    "create": ("patch", "query"),
    "get": ("uid", "query"),
    "getSchema": ("uid",),
    "list": ("query", "selection"),
    "set": ("uid", "patch", "query"),
    "validate": ("uid", "patch"),
    "delete": ("uid",),
    "addCustomers": ("uid", "customers"),
    "removeCustomers": ("uid", "customers"),
    "listCustomers": ("uid", "selection"),
    "moveCustomers": ("fromUid", "toUid", "customers"),
}


class Client:
    """One soak client: a thread, a connection, its own groups and what it expects of them."""

    def __init__(
        self,
        *,
        cid: int,
        target: Target,
        run: str,
        deadline: float,
        seed: int,
        registry: Registry,
        stopping: threading.Event,
    ) -> None:
        self.cid, self.target, self.run_id = cid, target, run
        self.deadline, self.registry, self.stopping = deadline, registry, stopping
        self.rng = random.Random(seed)
        self.stats = Stats()
        self.prefix = f"Soak {run} c{cid}:"
        self.counter = itertools.count(1)
        self.ids = itertools.count(1)
        self.connection: http.client.HTTPConnection | None = None
        # The model: owned groups' last acknowledged names and members.
        self.live: dict[int, str] = {}
        self.members: dict[int, set[int]] = {}
        self.deleted: set[int] = set()
        self.uncertain: set[int] = set()
        self.unknown_creates = 0
        self.creates: list[tuple[int, float, float]] = []  # uid, sent, answered
        self.sent = self.answered = 0.0
        self.error: str | None = None
        self.current: Op | None = None  # the call being checked
        mix: list[tuple[Callable[[], Op | list[Op] | None], int]] = [
            (self.op_count, 6),
            (self.op_get, 10),
            (self.op_get_schema, 3),
            (self.op_list, 8),
            (self.op_create, 9),
            (self.op_set, 11),
            (self.op_validate, 5),
            (self.op_delete, 4),
            (self.op_add, 9),
            (self.op_remove, 5),
            (self.op_list_customers, 7),
            (self.op_move, 5),
            (self.op_batch, 5),
            (self.op_bad, 4),
        ]
        self.mix = [op for op, _ in mix]
        self.weights = [weight for _, weight in mix]

    # -- bookkeeping ----------------------------------------------------------------------------

    def problem(self, text: str) -> None:
        self.stats.problems += 1
        if len(self.stats.problem_texts) < KEEP_PROBLEMS:
            self.stats.problem_texts.append(f"client {self.cid}: {text}")

    def result(self, answer: Answer, what: str) -> Any:
        """The result of a call that must succeed; MISSING (and a problem) otherwise."""
        if "result" not in answer:
            self.problem(f"{what}: expected a result, got {short(answer)}")
            return MISSING
        return answer["result"]

    def expect_error(self, answer: Answer, codes: Sequence[int], what: str) -> bool:
        """True when the answer is an error with one of ``codes`` (and a problem otherwise)."""
        error = answer.get("error")
        code = error.get("code") if isinstance(error, dict) else None
        if code not in codes:
            self.problem(f"{what}: expected error {list(codes)}, got {short(answer)}")
            return False
        assert isinstance(error, dict)
        if code in (INVALID_PARAMS, NOT_FOUND):
            data = error.get("data")
            if not (
                isinstance(data, list)
                and data
                and all(isinstance(p, dict) and {"pointer", "message"} <= p.keys() for p in data)
            ):
                self.problem(f"{what}: error {code} without pointers: {short(answer)}")
        return True

    def expect_pointer(self, answer: Answer, pointer: str, what: str) -> None:
        pointer = self.in_params(pointer)
        if self.expect_error(answer, (INVALID_PARAMS,), what):
            pointers = [p.get("pointer") for p in answer["error"].get("data", [])]
            if pointer not in pointers:
                self.problem(f"{what}: expected a problem at {pointer}, got {short(answer)}")

    def acknowledge_create(self, answer: Answer, name: str, what: str) -> None:
        group = self.result(answer, what)
        if group is MISSING:
            return
        uid = group.get("uid") if isinstance(group, dict) else None
        if not isinstance(uid, int) or isinstance(uid, bool):
            self.problem(f"{what}: no integer uid in {short(answer)}")
            return
        if group.get("name") != name.strip():
            self.problem(f"{what}: sent name {name!r}, stored {group.get('name')!r}")
        if self.creates and uid <= self.creates[-1][0]:
            self.problem(f"{what}: uid {uid} after this client's uid {self.creates[-1][0]}")
        self.creates.append((uid, self.sent, self.answered))
        self.live[uid] = group.get("name", name.strip())
        self.members[uid] = set()
        self.registry.add(uid, self.live[uid])

    def acknowledge_rename(self, answer: Answer, uid: int, name: str, what: str) -> None:
        group = self.result(answer, what)
        if group is MISSING:
            return
        stored = group.get("name") if isinstance(group, dict) else None
        if stored != name.strip():
            self.problem(f"{what}: sent name {name!r}, stored {stored!r}")
        if isinstance(group, dict) and "uid" in group and group["uid"] != uid:
            self.problem(f"{what}: set({uid}) answered uid {group['uid']}")
        self.live[uid] = name.strip()
        self.registry.add(None, name.strip())

    def check_group(self, group: Any, uid: int, query: Any, what: str) -> None:
        """A group as an owner's read must see it (only the keys the query selected)."""
        if not isinstance(group, dict):
            self.problem(f"{what}: not an object: {group!r}")
            return
        expected = {"name": self.live[uid], "uid": uid, "customerCount": len(self.members[uid])}
        for key, value in expected.items():
            if key in group and group[key] != value:
                self.problem(f"{what}: group {uid} {key} is {group[key]!r}, acknowledged {value!r}")
        wanted = selected_keys(query)
        if wanted is not None and set(group) != wanted:
            self.problem(f"{what}: query {query!r} answered keys {sorted(group)}")

    def in_params(self, pointer: str) -> str:
        """A pointer into positional params (``/1/sort``) as the call sent them (by name)."""
        names = self.current.by_name if self.current is not None else None
        head, _, rest = pointer[1:].partition("/")
        if names is None or not head.isdigit():
            return pointer
        return "/" + "/".join(part for part in (names[int(head)], rest) if part)

    def fresh_name(self) -> str:
        suffix = self.rng.choice(SUFFIXES)
        return styled(self.rng, f"{self.prefix}n{next(self.counter)}{suffix}")

    def own(self, exclude: int | None = None) -> int | None:
        """A live owned group whose state is known."""
        choices = [uid for uid in self.live if uid != exclude and uid not in self.uncertain]
        return self.rng.choice(choices) if choices else None

    def any_uid(self) -> int:
        """Some uid: another client's, an own deleted one, or one nobody has."""
        pick = self.rng.random()
        if pick < 0.1 and self.deleted:
            return self.rng.choice(sorted(self.deleted))
        if pick < 0.15:
            return 10**9 + self.rng.randrange(1000)
        return self.registry.some_uid(self.rng) or 1

    def customers(self, most: int = 12) -> list[int]:
        picked = [self.rng.randint(1, CUSTOMERS) for _ in range(self.rng.randint(0, most))]
        if picked and self.rng.random() < 0.3:
            picked.append(picked[0])  # a repeated uid counts once
        return picked

    def maybe_by_name(self, op: Op) -> Op:
        if op.raw is None and op.params is not MISSING and self.rng.random() < 0.2:
            op.by_name = PARAM_NAMES[op.label]
        return op

    # -- transport ------------------------------------------------------------------------------

    def post(self, body: bytes, label: str, *, token: str | None, bearer: bool = False) -> Any:
        """Send a body; the HTTP status and decoded JSON (None if empty), or MISSING if lost."""
        if self.connection is None:
            self.connection = self.target.connection()
        self.stats.requests += 1
        self.sent = time.monotonic()
        started = time.perf_counter()
        try:
            status, data = exchange(self.connection, self.target, body, token, bearer)
        except (OSError, http.client.HTTPException) as error:
            self.connection.close()
            self.connection = None
            self.stats.unanswered += 1
            self.problem(f"{label}: no answer ({error!r})")
            return MISSING
        self.answered = time.monotonic()
        self.stats.latency[label].append((time.perf_counter() - started) * 1000)
        self.stats.http[status] += 1
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            self.problem(f"{label}: HTTP {status} with a body that is not JSON: {data[:200]!r}")
            return MISSING
        return status, decoded

    def account(self, label: str, answer: Any) -> None:
        self.stats.calls[label] += 1
        if isinstance(answer, dict) and "result" in answer:
            self.stats.ok[label] += 1
        elif isinstance(answer, dict) and isinstance(answer.get("error"), dict):
            self.stats.errors[label][answer["error"].get("code")] += 1
        else:
            self.problem(f"{label}: neither result nor error: {short(answer)}")

    def next_id(self) -> Any:
        n = next(self.ids)
        return f"c{self.cid} call {n}" if self.rng.random() < 0.2 else n

    def lost(self, ops: Sequence[Op]) -> None:
        for op in ops:
            self.uncertain.update(op.touches)
            self.unknown_creates += op.creates

    def call(self, op: Op, token: Any = MISSING) -> None:
        """One request; ``token`` None sends none, MISSING the manage token."""
        id_ = self.next_id()
        body = json.dumps(op.request(id_)).encode()
        bearer = self.rng.random() < 0.2
        token = self.target.token if token is MISSING else token
        reply = self.post(body, op.label, token=token, bearer=bearer)
        if reply is MISSING:
            self.lost([op])
            return
        status, answer = reply
        if status != 200 or not isinstance(answer, dict):
            self.problem(f"{op.label}: HTTP {status} {short(answer)}")
            self.lost([op])
            return
        if answer.get("jsonrpc") != "2.0" or not same_id(answer.get("id"), id_):
            self.problem(f"{op.label}: id {id_!r} answered as {short(answer)}")
        self.account(op.label, answer)
        self.current = op
        op.check(answer)
        self.current = None

    def batch(self, ops: Sequence[Op], notify: Sequence[Op] = ()) -> None:
        """One batch: ``ops`` answered in order, ``notify`` as notifications, mixed in."""
        members: list[tuple[Op, Any]] = [(op, self.next_id()) for op in ops]
        requests = [op.request(id_) for op, id_ in members]
        for op in notify:
            request = op.request(None)
            del request["id"]
            requests.insert(self.rng.randrange(len(requests) + 1), request)
        reply = self.post(json.dumps(requests).encode(), "batch", token=self.target.token)
        if reply is MISSING:
            self.lost(ops)
            return
        status, answers = reply
        if status != 200 or not isinstance(answers, list) or len(answers) != len(members):
            self.problem(f"batch of {len(members)}: HTTP {status} {short(answers)}")
            self.lost(ops)
            return
        for (_, id_), answer in zip(members, answers, strict=True):
            if not isinstance(answer, dict) or not same_id(answer.get("id"), id_):
                self.problem(f"batch: member {id_!r} answered out of order: {short(answer)}")
                self.lost(ops)
                return
        self.stats.calls["batch"] += 1
        self.stats.ok["batch"] += 1
        for (op, _), answer in zip(members, answers, strict=True):
            self.account(op.label, answer)
            op.check(answer)

    # -- the loop -------------------------------------------------------------------------------

    def run(self) -> None:
        try:
            for _ in range(MAX_OPS):
                if self.stopping.is_set() or time.monotonic() >= self.deadline:
                    break
                made = self.rng.choices(self.mix, self.weights)[0]()
                if made is None:  # not possible now (no own group, say): create one
                    made = self.op_create()
                if isinstance(made, list):
                    for op in made:
                        self.call(op)
                else:
                    self.call(self.maybe_by_name(made))
        except Exception as error:  # a bug in the soak itself: report it, do not hide it
            self.error = f"client {self.cid} stopped: {error!r}"
            raise
        finally:
            if self.connection is not None:
                self.connection.close()

    # -- reads ----------------------------------------------------------------------------------

    def op_count(self) -> Op:
        rng = self.rng
        kind = rng.randrange(8)
        if kind == 0:
            return Op("count", MISSING, lambda a: self.check_count(a, None))
        if kind == 1:
            return Op("count", [rng.choice((None, {}))], lambda a: self.check_count(a, None))
        if kind == 2:
            mine = [{"/name": {"startsWith": styled(rng, self.prefix)}}]
            return Op("count", mine, lambda a: self.check_count(a, -1, at_least=True))
        if kind == 3:
            some = sorted({self.any_uid() for _ in range(5)})
            return Op("count", [{"/uid": {"in": some}}], lambda a: self.check_count(a, len(some)))
        if kind == 4:
            filters: dict[str, Any] = {"/customerCount": {"min": rng.randint(0, 5)}}
            filters["/name"] = {"not": "x"}
            return Op("count", [filters], lambda a: self.check_count(a, None))
        if kind == 5:
            filters = {"/customers": {"containsAny": self.customers(4)}}
            return Op("count", [filters], lambda a: self.check_count(a, None))
        if kind == 6:
            bad = [{"/name": {"startsWith": 5}}]
            return Op(
                "count", bad, lambda a: self.expect_pointer(a, "/0/~1name/startsWith", "count")
            )
        malformed = [{"/created": {"min": "yesterday"}}]
        return Op("count", malformed, lambda a: self.expect_pointer(a, "/0/~1created/min", "count"))

    def check_count(self, answer: Answer, expected: int | None, at_least: bool = False) -> None:
        value = self.result(answer, "count")
        if value is MISSING:
            return
        if not isinstance(value, int) or value < 0:
            self.problem(f"count: {value!r} is not a count")
        elif at_least and value < len(self.own_matching()):
            self.problem(f"count of own prefix {value} < {len(self.own_matching())} owned")
        elif expected is not None and not at_least and value > expected:
            self.problem(f"count of {expected} uids answered {value}")

    def op_get(self) -> Op | None:
        rng = self.rng
        query = rng.choice(QUERIES)
        params: list[Any] = [] if query is None and rng.random() < 0.5 else [query]
        pick = rng.random()
        uid = self.own()
        if pick < 0.5 and uid is not None:
            sent: Any = str(uid) if rng.random() < 0.2 else uid
            what = f"get({uid}) of an own group"
            return Op(
                "get",
                [sent, *params],
                lambda a: self.check_own_read(a, uid, query, what),
            )
        if pick < 0.65 and self.deleted:
            gone = rng.choice(sorted(self.deleted))
            return Op("get", [gone, *params], lambda a: self.expect_gone(a, gone, "get"))
        if pick < 0.75:
            bad_query = rng.choice((["nope"], {"name": {"en": True}}, {"name": None}))
            return Op(
                "get",
                [self.any_uid(), bad_query],
                lambda a: self.expect_error(a, (INVALID_PARAMS, NOT_FOUND), "get, bad query"),
            )
        if pick < 0.8:
            bad_uid = rng.choice(("abc", 1.5, "12a", True, [1]))
            return Op("get", [bad_uid], lambda a: self.expect_pointer(a, "/0", "get, bad uid"))
        other = self.any_uid()
        return Op("get", [other, *params], lambda a: self.check_any_group(a, other, query, "get"))

    def check_own_read(self, answer: Answer, uid: int, query: Any, what: str) -> None:
        group = self.result(answer, what)
        if group is not MISSING:
            self.check_group(group, uid, query, what)

    def expect_gone(self, answer: Answer, uid: int, what: str) -> None:
        self.expect_error(answer, (NOT_FOUND,), f"{what}({uid}) of an own deleted group")

    def check_any_group(self, answer: Answer, uid: int, query: Any, what: str) -> None:
        if "error" in answer:
            self.expect_error(answer, (NOT_FOUND,), f"{what}({uid})")
            return
        group = answer["result"]
        wanted = selected_keys(query)
        if not isinstance(group, dict) or (wanted is not None and set(group) != wanted):
            self.problem(f"{what}({uid}) with query {query!r}: {short(answer)}")
        elif "uid" in group and group["uid"] != uid:
            self.problem(f"{what}({uid}) answered uid {group['uid']}")

    def op_get_schema(self) -> Op:
        rng = self.rng
        pick = rng.random()
        if pick < 0.4:
            params: Any = rng.choice((MISSING, [], [None]))
            return Op("getSchema", params, lambda a: self.check_schema(a, new=True))
        uid = self.own()
        if pick < 0.75 and uid is not None:
            return Op("getSchema", [uid], lambda a: self.check_schema(a, new=False))
        if pick < 0.9 and self.deleted:
            gone = rng.choice(sorted(self.deleted))
            return Op("getSchema", [gone], lambda a: self.expect_gone(a, gone, "getSchema"))
        return Op("getSchema", [[1]], lambda a: self.expect_pointer(a, "/0", "getSchema([[1]])"))

    def check_schema(self, answer: Answer, new: bool) -> None:
        schema = self.result(answer, "getSchema")
        if schema is MISSING:
            return
        if not isinstance(schema, dict) or "name" not in schema.get("properties", {}):
            self.problem(f"getSchema: not a schema of groups: {short(answer)}")
        elif new and "name" not in schema.get("required", []):
            self.problem("getSchema(null): name is not required")

    def op_list(self) -> Op:
        rng = self.rng
        if rng.random() < 0.1:
            bad, pointer = rng.choice(
                (
                    ({"bogus": 1}, "/1/bogus"),
                    ({"limit": -1}, "/1/limit"),
                    ({"sort": "size"}, "/1/sort"),
                    ({"filters": {"/nope": 1}}, "/1/filters/~1nope"),
                    ({"filters": {"/name": {"startsWith": 5}}}, "/1/filters/~1name/startsWith"),
                )
            )
            return Op("list", [["uid"], bad], lambda a: self.expect_pointer(a, pointer, "list"))
        sort = rng.choice(SORTS)
        query = sorted({"uid", sort, "name", "customerCount"})
        selection: dict[str, Any] = {"sort": sort, "descending": rng.random() < 0.3}
        mine = False
        kind = rng.randrange(5)
        if kind == 0:
            selection["filters"] = {"/name": {"startsWith": styled(rng, self.prefix)}}
            mine = True
        elif kind == 1:
            selection["filters"] = {"/customerCount": {"min": 1}}
        elif kind == 2:
            selection["filters"] = {"/customers": {"containsAll": self.customers(2)}}
        elif kind == 3:
            selection["filters"] = {"/created": {"min": "2000-01-01"}, "/name": {"contains": "o"}}
        if not mine or rng.random() < 0.3:
            selection["limit"] = rng.randint(0, 40)
            selection["offset"] = rng.choice((0, 0, rng.randint(0, 30)))
            mine = False
        return Op("list", [query, selection], lambda a: self.check_list(a, selection, mine))

    def own_matching(self) -> set[int]:
        key = fold(self.prefix)
        return {
            uid
            for uid, name in self.live.items()
            if fold(name).startswith(key) and uid not in self.uncertain
        }

    def check_list(self, answer: Answer, selection: dict[str, Any], mine: bool) -> None:
        groups = self.result(answer, f"list({selection})")
        if groups is MISSING:
            return
        if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
            self.problem(f"list: not a list of groups: {short(answer)}")
            return
        if "limit" in selection and len(groups) > selection["limit"]:
            self.problem(f"list: {len(groups)} groups over limit {selection['limit']}")
        sort = selection["sort"]
        keys = [(fold(g["name"]) if sort == "name" else g[sort], g["uid"]) for g in groups]
        ordered = sorted(keys, reverse=selection["descending"])
        if keys != ordered or len(set(keys)) != len(keys):
            self.problem(f"list: not ordered by {sort} (descending {selection['descending']})")
        filters = selection.get("filters", {})
        if "/customerCount" in filters and any(g["customerCount"] < 1 for g in groups):
            self.problem("list: a group with customerCount < 1 matched min 1")
        for group in groups:
            uid = group["uid"]
            if (uid in self.live and uid not in self.uncertain) and (
                group["name"] != self.live[uid]
                or ("customerCount" in group and group["customerCount"] != len(self.members[uid]))
            ):
                self.problem(f"list: own group {group}, acknowledged {self.live[uid]!r}")
            if uid in self.deleted:
                self.problem(f"list: own deleted group {uid} listed")
        if mine:  # every own group with the prefix, none without
            expected = self.own_matching()
            listed = {g["uid"] for g in groups} & (self.live.keys() - self.uncertain)
            if listed != expected:
                self.problem(
                    f"list of own prefix: missing {sorted(expected - listed)}, "
                    f"extra {sorted(listed - expected)}"
                )

    def op_list_customers(self) -> Op:
        rng = self.rng
        uid = self.own()
        pick = rng.random()
        selection: Any = rng.choice(
            (
                MISSING,
                None,
                {},
                {"limit": rng.randint(0, 30)},
                {"offset": rng.randint(0, 10), "descending": True},
                {"limit": rng.randint(1, 20), "offset": rng.randint(0, 20), "descending": False},
            )
        )
        params: list[Any] = [] if selection is MISSING else [selection]
        if pick < 0.6 and uid is not None:
            return Op(
                "listCustomers",
                [uid, *params],
                lambda a: self.check_own_customers(a, uid, selection),
            )
        if pick < 0.7 and self.deleted:
            gone = rng.choice(sorted(self.deleted))
            return Op("listCustomers", [gone], lambda a: self.expect_gone(a, gone, "listCustomers"))
        if pick < 0.8:
            return Op(
                "listCustomers",
                [self.any_uid(), {"sort": "uid"}],
                lambda a: self.expect_error(a, (INVALID_PARAMS, NOT_FOUND), "listCustomers sort"),
            )
        other = self.any_uid()
        return Op(
            "listCustomers",
            [other, *params],
            lambda a: self.check_customers(a, other, selection),
        )

    def check_own_customers(self, answer: Answer, uid: int, selection: Any) -> None:
        listed = self.result(answer, f"listCustomers({uid})")
        if listed is MISSING:
            return
        selection = selection if isinstance(selection, dict) else {}
        ordered = sorted(self.members[uid], reverse=bool(selection.get("descending")))
        offset, limit = selection.get("offset", 0), selection.get("limit")
        expected = ordered[offset : None if limit is None else offset + limit]
        if listed != expected:
            self.problem(
                f"listCustomers({uid}, {selection}) = {short(listed)}, acknowledged {expected}"
            )

    def check_customers(self, answer: Answer, uid: int, selection: Any) -> None:
        if "error" in answer:
            self.expect_error(answer, (NOT_FOUND,), f"listCustomers({uid})")
            return
        listed = answer["result"]
        selection = selection if isinstance(selection, dict) else {}
        descending = bool(selection.get("descending"))
        if not isinstance(listed, list) or listed != sorted(set(listed), reverse=descending):
            self.problem(f"listCustomers({uid}, {selection}): not in order: {short(listed)}")
        elif "limit" in selection and len(listed) > selection["limit"]:
            self.problem(f"listCustomers({uid}, {selection}): {len(listed)} over the limit")

    # -- writes ---------------------------------------------------------------------------------

    def create_fresh(self, method: str | None = None) -> Op:
        name = self.fresh_name()
        query = self.rng.choice((MISSING, None, ["uid", "name"], {"uid": True, "name": True}))
        method = method or self.rng.choice(("create", "create", "set"))
        what = f"{method} of fresh name {name!r}"
        head: list[Any] = [{"name": name}] if method == "create" else [None, {"name": name}]
        params = head if query is MISSING else [*head, query]
        return Op(method, params, lambda a: self.acknowledge_create(a, name, what), creates=True)

    def op_create(self) -> Op:
        rng = self.rng
        if len(self.live) >= MAX_OWNED:
            deleting = self.op_delete()
            if deleting is not None:
                return deleting
        pick = rng.random()
        uid = self.own()
        if pick < 0.6 or uid is None:
            return self.create_fresh()
        if pick < 0.7:
            taken = styled(rng, self.live[uid])
            return Op(
                "create",
                [{"name": taken}],
                lambda a: self.refused_create(a, f"create of own name {taken!r}", ["/name"]),
            )
        if pick < 0.8:
            shared = styled(rng, f"Soak {self.run_id} shared {rng.randrange(SHARED_NAMES)}")
            return Op(
                "create", [{"name": shared}], lambda a: self.racy_create(a, shared), creates=True
            )
        if pick < 0.88:
            theirs = self.registry.some_name(rng)
            if theirs is not None:
                theirs = styled(rng, theirs)
                return Op(
                    "create",
                    [{"name": theirs}],
                    lambda a: self.racy_create(a, theirs),
                    creates=True,
                )
        patch, pointers = self.invalid_patch(new=True)
        return Op(
            "create", [patch], lambda a: self.refused_create(a, f"create({patch!r})", pointers)
        )

    def racy_create(self, answer: Answer, name: str) -> None:
        """A create that may win or lose a race for a name: either way is fine, if it says so."""
        if "result" in answer:
            self.acknowledge_create(answer, name, f"create of contested {name!r}")
        else:
            self.expect_pointer(answer, "/name", f"create of contested {name!r}")

    def invalid_patch(self, new: bool) -> tuple[dict[str, Any], list[str]]:
        """A patch that fails validation and the pointers it must fail at."""
        fresh = f"{self.prefix}x{next(self.counter)}"
        patch, pointers = self.rng.choice(
            (
                ({"name": ""}, ["/name"]),
                ({"name": "   "}, ["/name"]),
                ({"name": "x" * 256}, ["/name"]),
                ({"name": "bell\x07"}, ["/name"]),
                ({"name": 5}, ["/name"]),
                ({"name": fresh, "uid": 3}, ["/uid"]),
                ({"name": fresh, "created": "2020-01-01T00:00:00Z", "colour": "red"}, ["/colour"]),
            )
        )
        if new and self.rng.random() < 0.15:
            return {}, ["/name"]  # name is required
        return patch, pointers

    def expect_pointers(self, answer: Answer, pointers: Sequence[str], what: str) -> None:
        if not pointers:
            self.expect_error(answer, (INVALID_PARAMS,), what)
        for pointer in pointers:
            self.expect_pointer(answer, pointer, what)

    def op_set(self) -> Op | None:
        rng = self.rng
        uid = self.own()
        if uid is None:
            return None
        pick = rng.random()
        query = rng.choice((MISSING, ["uid", "name"], "name", None))
        tail: list[Any] = [] if query is MISSING else [query]
        if pick < 0.35:
            name = self.fresh_name()
        elif pick < 0.6:
            name = other_spelling(rng, self.live[uid])  # case-only, width-only or spaces
        elif pick < 0.65:
            name = self.live[uid]  # no change
        elif pick < 0.77:
            other = self.own(exclude=uid)
            if other is None:
                return None
            taken = styled(rng, self.live[other])
            return Op(
                "set",
                [uid, {"name": taken}, *tail],
                lambda a: self.refused_set(a, uid, f"set({uid}) to own {taken!r}", ["/name"]),
            )
        elif pick < 0.85:
            theirs = self.registry.some_name(rng)
            if theirs is None:
                return None
            theirs = styled(rng, theirs)
            return Op(
                "set",
                [uid, {"name": theirs}, *tail],
                lambda a: self.racy_rename(a, uid, theirs),
                touches=(uid,),
            )
        elif pick < 0.92:
            other = self.any_uid()
            patch, pointers = self.invalid_patch(new=False)
            return Op(
                "set",
                [other, patch],
                lambda a: self.refused_set(a, other, f"set({other}, {patch!r})", pointers),
            )
        else:
            if not self.deleted:
                return None
            gone = rng.choice(sorted(self.deleted))
            return Op(
                "set",
                [gone, {"name": self.fresh_name()}],
                lambda a: self.expect_gone(a, gone, "set"),
            )
        what = f"set({uid}) to {name!r}"
        return Op(
            "set",
            [uid, {"name": name}, *tail],
            lambda a: self.acknowledge_rename(a, uid, name, what),
            touches=(uid,),
        )

    def racy_rename(self, answer: Answer, uid: int, name: str) -> None:
        if "result" in answer:
            self.acknowledge_rename(answer, uid, name, f"set({uid}) to contested {name!r}")
        else:
            self.expect_pointer(answer, "/name", f"set({uid}) to contested {name!r}")

    def refused_create(
        self, answer: Answer, what: str, pointers: Sequence[str] = (), code: int = INVALID_PARAMS
    ) -> None:
        """A create that must fail; if it was acknowledged all the same, the group is owned."""
        if "result" not in answer:
            if code == INVALID_PARAMS:
                self.expect_pointers(answer, pointers, what)
            else:
                self.expect_error(answer, (code,), what)
            return
        self.problem(f"{what}: expected an error, got {short(answer)}")
        group = answer["result"]
        uid = group.get("uid") if isinstance(group, dict) else None
        if isinstance(uid, int):
            self.creates.append((uid, self.sent, self.answered))
            self.live[uid] = group.get("name", "")
            self.members[uid] = set()
            if "name" not in group:
                self.uncertain.add(uid)

    def refused_set(self, answer: Answer, uid: int, what: str, pointers: Sequence[str]) -> None:
        """A set that must fail (or find no group); if acknowledged, an owner adopts the name."""
        if "result" not in answer:
            self.expect_invalid_or_gone(answer, pointers, what)
            return
        self.problem(f"{what}: expected an error, got {short(answer)}")
        group = answer["result"]
        if uid in self.live and isinstance(group, dict) and "name" in group:
            self.live[uid] = group["name"]
        elif uid in self.live:
            self.uncertain.add(uid)

    def expect_invalid_or_gone(self, answer: Answer, pointers: Sequence[str], what: str) -> None:
        error = answer.get("error")
        if isinstance(error, dict) and error.get("code") == NOT_FOUND:
            return
        self.expect_pointers(answer, pointers, what)

    def op_validate(self) -> Op:
        rng = self.rng
        uid = self.own()
        pick = rng.random()
        if pick < 0.3:
            name = self.fresh_name()
            target: int | None = uid if rng.random() < 0.5 else None
            return Op(
                "validate",
                [target, {"name": name}],
                lambda a: self.expect_problems(a, [], f"validate({target}, {name!r})"),
            )
        other = self.own(exclude=uid)
        if pick < 0.55 and uid is not None and other is not None:
            taken = styled(rng, self.live[other])
            target = rng.choice((uid, None))
            return Op(
                "validate",
                [target, {"name": taken}],
                lambda a: self.expect_problems(a, ["/name"], f"validate({target}, own {taken!r})"),
            )
        if pick < 0.65 and uid is not None:
            spelling = other_spelling(rng, self.live[uid])
            return Op(
                "validate",
                [uid, {"name": spelling}],
                lambda a: self.expect_problems(a, [], f"validate({uid}, own {spelling!r})"),
            )
        if pick < 0.85:
            patch, pointers = self.invalid_patch(new=False)
            return Op(
                "validate",
                [uid, patch],
                lambda a: self.expect_problems(a, pointers, f"validate({uid}, {patch!r})"),
            )
        if pick < 0.92 and self.deleted:
            gone = rng.choice(sorted(self.deleted))
            return Op(
                "validate", [gone, {"name": "x"}], lambda a: self.expect_gone(a, gone, "validate")
            )
        return Op(
            "validate",
            [None, "not a patch"],
            lambda a: self.expect_pointer(a, "/1", "validate(null, string)"),
        )

    def expect_problems(self, answer: Answer, pointers: Sequence[str], what: str) -> None:
        found = self.result(answer, what)
        if found is MISSING:
            return
        if not isinstance(found, list):
            self.problem(f"{what}: {short(found)} is not a list of problems")
            return
        at = {p.get("pointer") for p in found if isinstance(p, dict)}
        if (not pointers and found) or not set(pointers) <= at:
            self.problem(f"{what}: expected problems at {list(pointers)}, got {short(found)}")

    def op_delete(self) -> Op | None:
        rng = self.rng
        uid = self.own()
        if uid is not None and (len(self.live) > 3 or rng.random() < 0.3):
            return Op("delete", [uid], lambda a: self.acknowledge_delete(a, uid), touches=(uid,))
        if self.deleted:
            gone = rng.choice(sorted(self.deleted))
            return Op("delete", [gone], lambda a: self.expect_gone(a, gone, "delete"))
        return None

    def acknowledge_delete(self, answer: Answer, uid: int) -> None:
        done = self.result(answer, f"delete({uid})")
        if done is MISSING:
            return
        if done is not True:
            self.problem(f"delete({uid}) answered {done!r}, not true")
        del self.live[uid]
        del self.members[uid]
        self.deleted.add(uid)

    def op_add(self) -> Op | None:
        rng = self.rng
        uid = self.own()
        if uid is None:
            return None
        pick = rng.random()
        if pick < 0.8:
            customers = self.customers(40 if rng.random() < 0.1 else 12)
            return Op(
                "addCustomers",
                [uid, customers],
                lambda a: self.acknowledge_add(a, uid, customers),
                touches=(uid,),
            )
        if pick < 0.92:
            bad = [1, 2, rng.choice((0, -4, "7", 2.5, None))]
            return Op(
                "addCustomers",
                [self.any_uid() if rng.random() < 0.5 else uid, bad],
                lambda a: self.expect_invalid_or_gone(a, ["/1/2"], f"addCustomers(_, {bad})"),
            )
        if not self.deleted:
            return None
        gone = rng.choice(sorted(self.deleted))
        return Op("addCustomers", [gone, [1]], lambda a: self.expect_gone(a, gone, "addCustomers"))

    def acknowledge_add(self, answer: Answer, uid: int, customers: list[int]) -> None:
        expected = len(set(customers) - self.members[uid])
        added = self.result(answer, f"addCustomers({uid}, {customers})")
        if added is MISSING:
            return
        if added != expected:
            self.problem(f"addCustomers({uid}, {customers}) = {added!r}, expected {expected}")
        self.members[uid] |= set(customers)

    def op_remove(self) -> Op | None:
        rng = self.rng
        uid = self.own()
        if uid is None:
            return None
        if rng.random() < 0.9:
            members = sorted(self.members[uid])
            customers = rng.sample(members, min(len(members), rng.randint(0, 6)))
            customers += self.customers(3)
            return Op(
                "removeCustomers",
                [uid, customers],
                lambda a: self.acknowledge_remove(a, uid, customers),
                touches=(uid,),
            )
        bad = ["x"]
        return Op(
            "removeCustomers",
            [uid, bad],
            lambda a: self.expect_pointer(a, "/1/0", f"removeCustomers({uid}, {bad})"),
        )

    def acknowledge_remove(self, answer: Answer, uid: int, customers: list[int]) -> None:
        expected = len(set(customers) & self.members[uid])
        removed = self.result(answer, f"removeCustomers({uid}, {customers})")
        if removed is MISSING:
            return
        if removed != expected:
            self.problem(f"removeCustomers({uid}, {customers}) = {removed!r}, expected {expected}")
        self.members[uid] -= set(customers)

    def op_move(self) -> Op | None:
        rng = self.rng
        source = self.own()
        target = self.own(exclude=source)
        if source is None or target is None:
            return None
        pick = rng.random()
        members = sorted(self.members[source])
        if pick < 0.35:
            return Op(
                "moveCustomers",
                [source, target, None],
                lambda a: self.acknowledge_move(a, source, target, None),
                touches=(source, target),
            )
        if pick < 0.75:
            customers = rng.sample(members, min(len(members), rng.randint(0, 5)))
            return Op(
                "moveCustomers",
                [source, target, customers],
                lambda a: self.acknowledge_move(a, source, target, customers),
                touches=(source, target),
            )
        if pick < 0.9:
            strangers = list(range(CUSTOMERS + 1, CUSTOMERS + 3))
            customers = [*members[:2], *strangers]
            at = f"/2/{len(members[:2])}"
            return Op(
                "moveCustomers",
                [source, target, customers],
                lambda a: self.expect_pointer(a, at, f"moveCustomers with strangers {customers}"),
            )
        if pick < 0.95:
            return Op(
                "moveCustomers",
                [source, source, None],
                lambda a: self.expect_pointer(a, "/1", "moveCustomers to itself"),
            )
        return Op(
            "moveCustomers",
            [source, self.any_uid(), [CUSTOMERS + 7]],
            lambda a: self.expect_error(a, (INVALID_PARAMS, NOT_FOUND), "moveCustomers away"),
        )

    def acknowledge_move(
        self, answer: Answer, source: int, target: int, customers: list[int] | None
    ) -> None:
        moving = set(self.members[source] if customers is None else customers)
        moved = self.result(answer, f"moveCustomers({source}, {target}, {customers})")
        if moved is MISSING:
            return
        if moved != len(moving):
            self.problem(f"moveCustomers({source}, {target}, {customers}) = {moved!r}")
        self.members[source] -= moving
        self.members[target] |= moving

    # -- batches and bad calls --------------------------------------------------------------

    def op_batch(self) -> list[Op]:
        """A batch of reads and the owner's writes whose answers are predicted in order."""
        rng = self.rng
        ops = [self.batch_member(rng.randrange(7)) for _ in range(rng.randint(1, 8))]
        if rng.random() < 0.3:
            ops.insert(
                rng.randrange(len(ops) + 1),
                Op(
                    "bad:invalid",
                    MISSING,
                    lambda a: self.expect_error(a, (INVALID_REQUEST,), "batch member sans method"),
                    raw={"jsonrpc": "2.0", "params": []},
                ),
            )
        if rng.random() < 0.3:
            ops.insert(
                rng.randrange(len(ops) + 1),
                Op(
                    "bad:method",
                    MISSING,
                    lambda a: self.expect_error(a, (NO_METHOD,), "batch member, unknown method"),
                    raw={"jsonrpc": "2.0", "method": "Customergroup.explode", "params": []},
                ),
            )
        notify = [Op("count", [{}], lambda a: None)] if rng.random() < 0.3 else []
        self.batch(ops, notify)
        return []

    def batch_member(self, kind: int) -> Op:
        """A call whose answer the owner's model predicts, whatever came before it."""
        uid = self.own()
        if kind == 0 or uid is None:
            return self.create_fresh(method="create")
        if kind == 1:
            customers = self.customers()
            return Op(
                "addCustomers",
                [uid, customers],
                lambda a: self.acknowledge_add(a, uid, customers),
                touches=(uid,),
            )
        if kind == 2:
            name = self.fresh_name()
            return Op(
                "set",
                [uid, {"name": name}],
                lambda a: self.acknowledge_rename(a, uid, name, "batch set"),
                touches=(uid,),
            )
        if kind == 3:
            return Op("get", [uid], lambda a: self.check_own_read(a, uid, None, "batch get"))
        if kind == 4:
            return Op("listCustomers", [uid], lambda a: self.check_own_customers(a, uid, None))
        if kind == 5:
            return Op("count", [{}], lambda a: self.check_count(a, None))
        return self.op_list()

    def op_bad(self) -> list[Op]:
        """A call that is wrong as a whole: its documented error, and nothing changes."""
        rng = self.rng
        kind = rng.randrange(12)
        if kind == 0:
            self.raw("bad:parse", b'{"jsonrpc": "2.0", "method": ', PARSE)
        elif kind == 1:
            request = {"jsonrpc": "1.0", "method": "Customergroup.count", "id": 1}
            self.raw("bad:invalid", json.dumps(request).encode(), INVALID_REQUEST)
        elif kind == 2:
            self.raw("bad:empty-batch", b"[]", INVALID_REQUEST)
        elif kind == 3:
            many = [
                {"jsonrpc": "2.0", "method": "Customergroup.count", "id": i} for i in range(101)
            ]
            self.raw("bad:big-batch", json.dumps(many).encode(), INVALID_REQUEST)
        elif kind == 4:
            unknown = {"jsonrpc": "2.0", "method": "Customergroup.explode", "params": [], "id": 1}
            self.raw("bad:method", json.dumps(unknown).encode(), NO_METHOD)
        elif kind == 5:
            name = self.fresh_name()
            self.call(
                Op(
                    "create",
                    [{"name": name}],
                    lambda a: self.refused_create(a, "create without a token", code=BAD_TOKEN),
                ),
                token=None,
            )
        elif kind == 6:
            op = Op(
                "delete",
                [self.any_uid()],
                lambda a: self.expect_error(a, (BAD_TOKEN,), "bad token"),
            )
            self.call(op, token="cgr_not_a_token_" + secrets.token_hex(4))
        elif kind in (7, 8) and self.target.view_token is not None:
            self.view_calls(kind == 7)
        elif kind == 9:
            notification = {"jsonrpc": "2.0", "method": "Customergroup.count", "params": [{}]}
            reply = self.post(
                json.dumps(notification).encode(), "notification", token=self.target.token
            )
            self.stats.calls["notification"] += 1
            if reply is not MISSING and (reply[0] != 204 or reply[1] is not None):
                self.problem(f"notification: HTTP {reply[0]} {short(reply[1])}, not 204 and empty")
        elif kind == 10 and rng.random() < 0.2:
            self.too_large()
        else:
            return [self.op_count()]
        return []

    def view_calls(self, write: bool) -> None:
        """A view token: reads pass, writes get 1006 and change nothing."""
        token = self.target.view_token
        uid = self.own()
        if write and uid is not None:
            op = Op(
                "addCustomers",
                [uid, [1, 2, 3]],
                lambda a: self.expect_error(a, (FORBIDDEN,), "addCustomers with a view token"),
            )
        elif uid is not None:
            query = self.rng.choice(QUERIES)
            op = Op("get", [uid, query], lambda a: self.check_own_read(a, uid, query, "view get"))
        else:
            op = Op("count", [], lambda a: self.check_count(a, None))
        self.call(op, token=token)

    def raw(self, label: str, body: bytes, code: int) -> None:
        reply = self.post(body, label, token=self.target.token)
        if reply is MISSING:
            return
        status, answer = reply
        if status != 200 or not isinstance(answer, dict):
            self.problem(f"{label}: HTTP {status} {short(answer)}, expected one error object")
            return
        self.account(label, answer)
        self.expect_error(answer, (code,), label)

    def too_large(self) -> None:
        """A body over the size limit, on a connection of its own: HTTP 413, nothing processed."""
        name = self.fresh_name()
        request = {"jsonrpc": "2.0", "method": "Customergroup.create", "id": 1}
        request["params"] = [{"name": name}, ["uid"], "x" * MAX_BODY]
        connection = self.target.connection()
        self.stats.requests += 1
        started = time.perf_counter()
        try:
            status, data = exchange(
                connection, self.target, json.dumps(request).encode(), self.target.token
            )
        except (OSError, http.client.HTTPException) as error:
            self.stats.unanswered += 1
            self.problem(f"bad:413: no answer ({error!r})")
            return
        finally:
            connection.close()
        self.stats.latency["bad:413"].append((time.perf_counter() - started) * 1000)
        self.stats.http[status] += 1
        try:
            answer = json.loads(data)
        except ValueError:
            answer = None
        if status != 413 or not isinstance(answer, dict):
            self.problem(f"bad:413: HTTP {status} {data[:200]!r}, expected 413 and one error")
            return
        self.account("bad:413", answer)
        self.expect_error(answer, (INVALID_REQUEST,), "bad:413")


def same_id(answered: Any, sent: Any) -> bool:
    return type(answered) is type(sent) and answered == sent


def short(value: Any, limit: int = 300) -> str:
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


def selected_keys(query: Any) -> set[str] | None:
    """The keys a query selects (None: the whole object)."""
    if query is None or query is True or query == {}:
        return {"changed", "created", "customerCount", "name", "uid"}
    if isinstance(query, str):
        return {query}
    if isinstance(query, list):
        return set(query)
    if isinstance(query, dict):
        return {k for k, v in query.items() if v is not False}
    return None


# -- the server -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(admin_token: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMERGROUP_RPC_")}
    env["CUSTOMERGROUP_RPC_ADMIN_TOKEN"] = admin_token
    env["PYTHONUNBUFFERED"] = "1"
    return env


@dataclass
class OwnServer:
    """A ``serve`` process this script started, stopped by its PID."""

    db: Path
    log: Path
    token: str
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    exit_code: int | None = None

    def start(self) -> None:
        self.port = free_port()
        command = [sys.executable, "-m", "customergroup_rpc", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--db", str(self.db)]
        with self.log.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                env=environment(self.token),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"serve exited with {self.process.returncode}:\n{self.logged()}")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                try:
                    connection.request("GET", "/health")
                    if connection.getresponse().status == 200:
                        return
                finally:
                    connection.close()
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not answer in {START_TIMEOUT}s:\n{self.logged()}")
            time.sleep(0.05)

    def view_token(self) -> str | None:
        done = subprocess.run(
            [*TOKEN_CREATE, "--scope", "view", "--db", str(self.db)],
            env=environment(self.token),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        token = done.stdout.strip()
        return token if done.returncode == 0 and token else None

    def stop(self) -> int | None:
        """SIGTERM by PID, SIGKILL after STOP_TIMEOUT; the exit code."""
        process, self.process = self.process, None
        if process is None:
            return self.exit_code
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.exit_code = process.returncode
        return self.exit_code

    def logged(self) -> str:
        return self.log.read_text("utf-8", errors="replace") if self.log.exists() else ""


# -- the final checks -------------------------------------------------------------------------


@dataclass
class Invariant:
    name: str
    ok: bool
    detail: str


class Checker:
    """Calls of the final checks, made after every client stopped."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def batch(self, calls: Sequence[tuple[str, Any]]) -> list[Answer]:
        """Answers to calls in batches of at most MAX_BATCH, in order."""
        answers: list[Answer] = []
        for start in range(0, len(calls), MAX_BATCH):
            chunk = calls[start : start + MAX_BATCH]
            body = [
                {"jsonrpc": "2.0", "method": PREFIX + method, "params": params, "id": i}
                for i, (method, params) in enumerate(chunk)
            ]
            connection = self.target.connection()
            try:
                status, data = exchange(
                    connection, self.target, json.dumps(body).encode(), self.target.token
                )
            finally:
                connection.close()
            decoded = json.loads(data)
            if status != 200 or not isinstance(decoded, list) or len(decoded) != len(chunk):
                raise RuntimeError(f"final check batch: HTTP {status} {short(decoded)}")
            answers += decoded
        return answers

    def result(self, method: str, params: Any) -> Any:
        (answer,) = self.batch([(method, params)])
        if "result" not in answer:
            raise RuntimeError(f"final check {method}{params}: {short(answer)}")
        return answer["result"]


def listing(groups: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {group["uid"]: group for group in groups}


def final_checks(
    target: Target,
    clients: Sequence[Client],
    stats: Stats,
    before: set[int],
) -> tuple[list[Invariant], dict[int, dict[str, Any]], dict[int, list[int]]]:
    """The invariants on the quiet server; also the final groups and their members."""
    checker = Checker(target)
    groups = checker.result("list", [["uid", "name", "customerCount"]])
    final = listing(groups)
    found = list(group_invariants(checker, groups))
    found.append(owned_invariant(checker, clients, final))
    members, counts = customer_counts(checker, final)
    found.append(counts)
    found.append(members_invariant(clients, members))
    found.append(uid_invariant(clients, final, before))
    found += traffic_invariants(clients, stats)
    return found, final, members


def group_invariants(checker: Checker, groups: list[dict[str, Any]]) -> Iterator[Invariant]:
    counted = checker.result("count", [{}])
    counted_null = checker.result("count", [None])
    yield Invariant(
        "count({}) == len(list())",
        counted == len(groups) == counted_null,
        f"count {counted}, count(null) {counted_null}, list {len(groups)}",
    )
    by_key: dict[str, list[int]] = collections.defaultdict(list)
    for group in groups:
        by_key[fold(group["name"])].append(group["uid"])
    clashes = {key: uids for key, uids in by_key.items() if len(uids) > 1}
    yield Invariant(
        "no two names fold to one key", not clashes, f"{len(by_key)} keys; clashes {clashes}"
    )


def owned_invariant(
    checker: Checker, clients: Sequence[Client], final: dict[int, dict[str, Any]]
) -> Invariant:
    wrong_names: list[tuple[int, str, str]] = []
    missing: list[int] = []
    for client in clients:
        for uid, name in client.live.items():
            if uid in client.uncertain:
                continue
            if uid not in final:
                missing.append(uid)
            elif final[uid]["name"] != name:
                wrong_names.append((uid, final[uid]["name"], name))
    deleted = [uid for client in clients for uid in sorted(client.deleted)]
    answers = checker.batch([("get", [uid]) for uid in deleted])
    not_gone = [
        (uid, short(answer, 120))
        for uid, answer in zip(deleted, answers, strict=True)
        if not isinstance(answer.get("error"), dict) or answer["error"].get("code") != NOT_FOUND
    ]
    owned = sum(len(client.live) for client in clients)
    return Invariant(
        "owned groups have their last acknowledged name; deleted ones answer 9003",
        not (wrong_names or not_gone or missing),
        f"{owned} live, {len(deleted)} deleted; missing {missing[:10]}, wrong names "
        f"{wrong_names[:5]}, deleted but found {not_gone[:5]}",
    )


def customer_counts(
    checker: Checker, final: dict[int, dict[str, Any]]
) -> tuple[dict[int, list[int]], Invariant]:
    """Every group's customers, and whether ``customerCount`` agrees."""
    uids = sorted(final)
    answers = checker.batch([("listCustomers", [uid]) for uid in uids])
    members: dict[int, list[int]] = {}
    wrong: list[tuple[int, Any, Any]] = []
    for uid, answer in zip(uids, answers, strict=True):
        listed = answer.get("result")
        if not isinstance(listed, list):
            wrong.append((uid, short(answer, 120), None))
            continue
        members[uid] = listed
        if final[uid]["customerCount"] != len(listed) or listed != sorted(set(listed)):
            wrong.append((uid, final[uid]["customerCount"], len(listed)))
    memberships = sum(map(len, members.values()))
    return members, Invariant(
        "customerCount == len(listCustomers) for every group",
        not wrong,
        f"{len(uids)} groups, {memberships} memberships; wrong {wrong[:5]}",
    )


def members_invariant(clients: Sequence[Client], members: dict[int, list[int]]) -> Invariant:
    wrong: list[tuple[int, list[int], list[int]]] = []
    checked = 0
    for client in clients:
        for uid, expected in client.members.items():
            if uid in client.uncertain or uid not in members:
                continue  # a missing group is reported by the owned-groups invariant
            checked += 1
            found = set(members[uid])
            if found != expected:
                wrong.append((uid, sorted(expected - found)[:5], sorted(found - expected)[:5]))
    return Invariant(
        "members of owned groups are the acknowledged ones",
        not wrong,
        f"{checked} groups; wrong (group, missing, extra): {wrong[:5]}",
    )


def traffic_invariants(clients: Sequence[Client], stats: Stats) -> list[Invariant]:
    internal = sum(codes.get(INTERNAL, 0) for codes in stats.errors.values())
    fives = {status: n for status, n in stats.http.items() if status >= 500}
    errors = [client.error for client in clients if client.error]
    unexercised = [m for m in METHODS if not stats.ok[m]]
    return [
        Invariant("no -32603 Internal error", not internal, f"{internal} answered"),
        Invariant("no HTTP 5xx", not fives, f"statuses {dict(sorted(stats.http.items()))}"),
        Invariant(
            "every request answered",
            stats.unanswered == 0 and not errors,
            f"{stats.unanswered} unanswered of {stats.requests}; {errors}",
        ),
        Invariant(
            "every answer as predicted (owners' reads, counts, documented errors)",
            stats.problems == 0,
            f"{stats.problems} unexpected"
            + "".join(f"\n      {text}" for text in stats.problem_texts[:12]),
        ),
        Invariant(
            "every method answered with a result at least once",
            not unexercised,
            f"without a result: {unexercised}" if unexercised else f"all {len(METHODS)} methods",
        ),
    ]


def uid_invariant(
    clients: Sequence[Client], final: dict[int, dict[str, Any]], before: set[int]
) -> Invariant:
    """Unique, increasing per client and in real time, never reused after a delete."""
    creates = [create for client in clients for create in client.creates]
    problems: list[str] = []
    counts = collections.Counter(uid for uid, _, _ in creates)
    twice = sorted(uid for uid, n in counts.items() if n > 1)
    if twice:
        problems.append(f"handed out twice: {twice[:10]}")
    for client in clients:
        uids = [uid for uid, _, _ in client.creates]
        if any(b <= a for a, b in itertools.pairwise(uids)):
            problems.append(f"client {client.cid}: not strictly increasing")
    # A create answered before another was sent must have the smaller uid.
    by_answer = sorted(creates, key=lambda c: c[2])
    highest, i, late = 0, 0, 0
    for uid, sent, _ in sorted(creates, key=lambda c: c[1]):
        while i < len(by_answer) and by_answer[i][2] < sent:
            highest = max(highest, by_answer[i][0])
            i += 1
        late += uid <= highest
    if late:
        problems.append(f"{late} creates got a uid below one answered before they were sent")
    reused = sorted(before & counts.keys())
    if reused:
        problems.append(f"uids of groups that existed before: {reused[:10]}")
    deleted = {uid for client in clients for uid in client.deleted}
    back = sorted(deleted & final.keys())
    if back:
        problems.append(f"deleted uids listed again: {back[:10]}")
    unknown = sorted(final.keys() - counts.keys() - before)
    unsure = sum(client.unknown_creates for client in clients)
    if unknown and len(unknown) > unsure:
        problems.append(f"groups nobody created: {unknown[:10]}")
    return Invariant(
        "uids unique, strictly increasing, never reused",
        not problems,
        "; ".join([f"{len(creates)} creates, highest uid {max(counts, default=0)}", *problems]),
    )


def disk_invariant(
    db: Path, final: dict[int, dict[str, Any]], members: dict[int, list[int]], exit_code: int | None
) -> Invariant:
    """After a clean stop, the database file holds exactly the final state."""
    try:
        with db.open("rb") as f:
            data = json.load(f)
    except (OSError, ValueError) as error:
        return Invariant("database file holds the final state", False, f"{error!r}")
    stored = {int(uid): doc.get("name") for uid, doc in data.get("customergroups", {}).items()}
    stored_members = {
        int(uid): sorted(doc.get("customers", [])) for uid, doc in data.get("members", {}).items()
    }
    names = {uid: group["name"] for uid, group in final.items()}
    nonempty = {uid: listed for uid, listed in members.items() if listed}
    stored_nonempty = {uid: listed for uid, listed in stored_members.items() if listed}
    problems = []
    if exit_code != 0:
        problems.append(f"serve exited with {exit_code} on SIGTERM")
    if stored != names:
        problems.append(f"groups differ: {len(stored)} on disk, {len(names)} served")
    if stored_nonempty != nonempty:
        problems.append("members differ")
    memberships = sum(map(len, stored_members.values()))
    return Invariant(
        "server stops cleanly; database file parses and holds the final state",
        not problems,
        "; ".join([f"{len(stored)} groups, {memberships} memberships on disk", *problems]),
    )


# -- report -----------------------------------------------------------------------------------


def summary(
    stats: Stats, seconds: float, invariants: Sequence[Invariant], setup: dict[str, Any]
) -> dict[str, Any]:
    others = sorted({*stats.calls, *stats.latency} - {*METHODS, "batch"})
    labels = [*METHODS, "batch", *others]
    methods: dict[str, Any] = {}
    for label in labels:
        times = stats.latency.get(label, [])
        methods[label] = {
            "calls": stats.calls[label],
            "ok": stats.ok[label],
            "errors": {str(code): n for code, n in sorted(stats.errors.get(label, {}).items())},
            "requests": len(times),
            "p50_ms": round(percentile(times, 0.50), 3),
            "p99_ms": round(percentile(times, 0.99), 3),
        }
    errors: collections.Counter[int] = collections.Counter()
    for codes in stats.errors.values():
        errors.update(codes)
    return {
        **setup,
        "seconds": round(seconds, 3),
        "requests": stats.requests,
        "requests_per_second": round(stats.requests / seconds, 1) if seconds else 0.0,
        "calls": sum(stats.calls.values()),
        "http_statuses": {str(k): n for k, n in sorted(stats.http.items())},
        "errors_by_code": {str(code): n for code, n in sorted(errors.items())},
        "methods": methods,
        "invariants": [{"name": i.name, "ok": i.ok, "detail": i.detail} for i in invariants],
        "ok": all(i.ok for i in invariants),
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"soak: {report['clients']} clients, {report['seconds']:.1f} s, seed {report['seed']}, "
        f"server {report['server']}",
        f"requests {report['requests']:,} ({report['requests_per_second']:,.0f}/s), "
        f"calls {report['calls']:,} (batch members and bad calls included), "
        f"HTTP {report['http_statuses']}",
        "",
        f"| {'method':<16} | {'requests':>8} | {'calls':>7} | {'ok':>7} | {'errors by code':<36} "
        f"| {'p50 ms':>7} | {'p99 ms':>7} |",
        f"|{'-' * 18}|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|{'-' * 38}|{'-' * 8}:|{'-' * 8}:|",
    ]
    for label, row in report["methods"].items():
        codes = ", ".join(f"{code}: {n}" for code, n in row["errors"].items()) or "-"
        lines.append(
            f"| {label:<16} | {row['requests']:>8,} | {row['calls']:>7,} | {row['ok']:>7,} "
            f"| {codes:<36} | {row['p50_ms']:>7.2f} | {row['p99_ms']:>7.2f} |"
        )
    total = ", ".join(f"{code}: {n:,}" for code, n in report["errors_by_code"].items())
    lines += ["", f"errors by code: {total or 'none'}", "", "invariants:"]
    for invariant in report["invariants"]:
        mark = "ok    " if invariant["ok"] else "BROKEN"
        lines.append(f"  {mark} {invariant['name']}: {invariant['detail']}")
    lines.append("")
    lines.append("all invariants hold" if report["ok"] else "INVARIANTS BROKEN")
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long they run (30)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (a fresh one)")
    parser.add_argument("--url", help="a running server's endpoint URL, instead of starting one")
    parser.add_argument("--token", help="a manage token for --url")
    parser.add_argument("--view-token", help="a view token for --url (scope checks)")
    parser.add_argument("--db", type=Path, help="database file for the server started here")
    parser.add_argument("--json", help="also write the summary as JSON to this file (- = stdout)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.url and not args.token:
        parser.error("--url needs --token")
    if args.url and args.db:
        parser.error("--url and --db exclude each other")
    if args.clients < 1 or not 0 < args.seconds <= 3600:
        parser.error("--clients must be at least 1 and --seconds in (0, 3600]")
    return args


@contextmanager
def sigterm_stops() -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise Stop

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def target_of(url: str, token: str, view_token: str | None) -> Target:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"--url must be an http:// URL, not {url!r}")
    return Target(parts.hostname, parts.port or 80, parts.path or ENDPOINT, token, view_token)


def run_clients(
    target: Target, args: argparse.Namespace, seed: int, before: set[int]
) -> tuple[list[Client], Stats, float]:
    """Run the clients to the deadline (or Ctrl-C); them, their merged figures, the time taken."""
    run = f"{seed:08x}"[-4:] + secrets.token_hex(2)  # in every name: runs on one file do not meet
    registry = Registry()
    for uid in sorted(before):
        registry.add(uid, None)
    stopping = threading.Event()
    started = time.monotonic()
    deadline = started + args.seconds
    clients = [
        Client(
            cid=cid,
            target=target,
            run=run,
            deadline=deadline,
            seed=seed + cid,
            registry=registry,
            stopping=stopping,
        )
        for cid in range(args.clients)
    ]
    threads = [
        threading.Thread(target=client.run, name=f"soak-{client.cid}", daemon=True)
        for client in clients
    ]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.1, deadline + REQUEST_TIMEOUT + 5 - time.monotonic()))
    except (KeyboardInterrupt, Stop):
        stopping.set()
        print("soak: interrupted; stopping the clients", file=sys.stderr)
        for thread in threads:
            thread.join(REQUEST_TIMEOUT + 5)
    elapsed = time.monotonic() - started
    for client, thread in zip(clients, threads, strict=True):
        if thread.is_alive() and client.error is None:
            client.error = f"client {client.cid} still running after the deadline"
    stats = Stats()
    for client in clients:
        stats.merge(client.stats)
    return clients, stats, elapsed


def soak(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    server: OwnServer | None = None
    try:
        if args.url:
            target = target_of(args.url, args.token, args.view_token)
            where = args.url
        else:
            db = args.db.resolve() if args.db else folder / "soak.db.json"
            server = OwnServer(db, folder / "serve.log", "cgr_soak_" + secrets.token_urlsafe(24))
            try:
                server.start()
            except RuntimeError as error:
                print(f"soak: could not start the server: {error}", file=sys.stderr)
                return 2
            target = Target("127.0.0.1", server.port, ENDPOINT, server.token, server.view_token())
            where = f"own, pid {server.process.pid if server.process else '?'}, db {db}"
        before = set(listing(Checker(target).result("list", [["uid"]])))

        clients, stats, elapsed = run_clients(target, args, seed, before)
        invariants, final, members = final_checks(target, clients, stats, before)
        if server is not None:
            exit_code = server.stop()
            invariants.append(disk_invariant(server.db, final, members, exit_code))
            tracebacks = server.logged().count("Traceback")
            invariants.append(
                Invariant("no traceback in the server log", tracebacks == 0, f"{tracebacks} found")
            )
        report = summary(
            stats, elapsed, invariants, {"clients": args.clients, "seed": seed, "server": where}
        )
        print(table(report))
        if args.json == "-":
            print(json.dumps(report, indent=2, ensure_ascii=False))
        elif args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
        return 0 if report["ok"] else 1
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"soak: kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    with sigterm_stops():
        try:
            return soak(args)
        except (KeyboardInterrupt, Stop):
            print("soak: interrupted", file=sys.stderr)
            return 130


if __name__ == "__main__":
    sys.exit(main())
