"""The dispatcher: request checks, batches, the method table, errors that never leak."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from customergroup_rpc import turns
from customergroup_rpc.errors import LIMIT, Problem, Problems
from customergroup_rpc.i18n import N_, Language, render
from customergroup_rpc.rpc import PROBLEM_BYTES, READS, WRITES, Context, Dispatcher
from customergroup_rpc.schemas import Schemas
from customergroup_rpc.service import Customergroups
from customergroup_rpc.store import open_store
from customergroup_rpc.store.journal import Journal


@pytest.fixture
def rpc() -> Dispatcher:
    schemas = Schemas.load()
    return Dispatcher(Customergroups(open_store(None), schemas), schemas, max_batch=5)


async def answer(rpc: Dispatcher, body: Any, scope: str | None = "manage") -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    out = await rpc.handle(raw, Context(scope=scope))
    return None if out is None else json.loads(out)


def test_every_method_in_methods_json_has_a_handler() -> None:
    assert {*READS, *WRITES} == set(Schemas.load().methods)
    assert not READS.keys() & WRITES.keys()


def test_the_writes_are_exactly_the_methods_that_need_manage() -> None:
    # Batches commit runs of WRITES together; a read listed there would wait for the disk.
    methods = Schemas.load().methods
    assert set(WRITES) == {name for name, m in methods.items() if m.scope == "manage"}


@pytest.mark.parametrize(
    ("member", "reason"),
    [
        ("hello", "A request must be a JSON object."),
        (
            {"method": "Customergroup.count", "id": 1},
            'The "jsonrpc" member must be the string "2.0".',
        ),
        ({"jsonrpc": "2.0", "method": 5, "id": 1}, 'The "method" member must be a string.'),
        (
            {"jsonrpc": "2.0", "method": "m", "params": "x", "id": 1},
            'The "params" member must be an array or an object.',
        ),
        (
            {"jsonrpc": "2.0", "method": "m", "id": {}},
            'The "id" member must be a string, a number or null.',
        ),
        (
            {"jsonrpc": "2.0", "method": "m", "id": True},
            'The "id" member must be a string, a number or null.',
        ),
        (
            {"jsonrpc": "2.0", "method": "m", "id": 1, "auth": "x"},
            "Unknown members: auth. A request has jsonrpc, method, params, id.",
        ),
    ],
)
async def test_invalid_requests_say_why(rpc: Dispatcher, member: Any, reason: str) -> None:
    error = (await answer(rpc, member))["error"]
    assert error == {"code": -32600, "message": "Invalid Request", "data": reason}


async def test_invalid_member_echoes_a_readable_id(rpc: Dispatcher) -> None:
    assert (await answer(rpc, {"jsonrpc": "1.0", "method": "m", "id": "abc"}))["id"] == "abc"


async def test_every_member_of_a_full_batch_is_answered(rpc: Dispatcher) -> None:
    batch = [{"jsonrpc": "2.0", "method": "Customergroup.count", "id": i} for i in range(5)]
    assert [a["id"] for a in await answer(rpc, batch)] == list(range(5))


async def test_batch_members_run_in_order(rpc: Dispatcher) -> None:
    batch = [
        {"jsonrpc": "2.0", "method": "Customergroup.create", "params": [{"name": "A"}], "id": 1},
        {"jsonrpc": "2.0", "method": "Customergroup.create", "params": [{"name": "a"}], "id": 2},
        {"jsonrpc": "2.0", "method": "Customergroup.count", "id": 3},
    ]
    first, second, third = await answer(rpc, batch)
    assert first["result"]["uid"] == 1
    assert second["error"]["code"] == -32602
    assert third["result"] == 1


async def test_unauthenticated_notification_is_silent(rpc: Dispatcher) -> None:
    assert (
        await answer(rpc, {"jsonrpc": "2.0", "method": "Customergroup.count"}, scope=None) is None
    )


async def test_lone_surrogate_id_is_answered_as_valid_json(rpc: Dispatcher) -> None:
    body = b'{"jsonrpc": "2.0", "method": "Customergroup.count", "id": "\\ud800"}'
    out = await rpc.handle(body, Context(scope="view"))
    assert out is not None
    assert b'"id":"\\ud800"' in out


async def test_internal_error_has_no_data(rpc: Dispatcher, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: Any) -> Any:
        raise KeyError("/var/lib/secret")

    monkeypatch.setattr("customergroup_rpc.service.Customergroups.select", explode)
    reply = await answer(rpc, {"jsonrpc": "2.0", "method": "Customergroup.list", "id": 1})
    assert reply["error"] == {"code": -32603, "message": "Internal error"}


async def test_context_collects_method_names_for_the_log(rpc: Dispatcher) -> None:
    context = Context(scope="view")
    body = [{"jsonrpc": "2.0", "method": "Customergroup.count", "id": 1}, 7]
    await rpc.handle(json.dumps(body).encode(), context)
    assert context.methods == ["Customergroup.count", "-"]


async def test_number_too_large_for_a_double_is_a_parse_error(rpc: Dispatcher) -> None:
    body = b'{"jsonrpc": "2.0", "method": "Customergroup.count", "id": 1e400}'
    assert (await answer(rpc, body))["error"]["code"] == -32700


@pytest.mark.parametrize("selection", [{"limit": 1.0}, {"offset": 1.0, "limit": 5.0}])
async def test_integral_floats_page_like_integers(rpc: Dispatcher, selection: Any) -> None:
    for name in ("A", "B"):
        create = {"jsonrpc": "2.0", "method": "Customergroup.create", "params": [{"name": name}]}
        await answer(rpc, create)

    request = {
        "jsonrpc": "2.0",
        "method": "Customergroup.list",
        "params": ["name", selection],
        "id": 1,
    }
    assert len((await answer(rpc, request))["result"]) == 1


async def test_a_large_body_once_parsed_lets_a_small_request_go_first(rpc: Dispatcher) -> None:
    """A body of LARGE_BODY bytes or more takes a turn (turns.py) after it is parsed: a
    request that came meanwhile is answered before the large one runs."""
    padding = " " * turns.LARGE_BODY
    large = json.dumps({"jsonrpc": "2.0", "method": "Customergroup.count", "id": 1}) + padding
    finished: list[str] = []

    async def send(body: str, name: str) -> None:
        await rpc.handle(body.encode(), Context(scope="manage"))
        finished.append(name)

    small = json.dumps({"jsonrpc": "2.0", "method": "Customergroup.count", "id": 2})
    await asyncio.gather(send(large, "large"), send(small, "small"))
    assert finished == ["small", "large"]


def create(name: str, id_: int) -> dict[str, Any]:
    return {
        "jsonrpc": "2.0",
        "method": "Customergroup.create",
        "params": [{"name": name}],
        "id": id_,
    }


async def test_a_batch_of_creates_is_committed_together(tmp_path: Path) -> None:
    schemas = Schemas.load()
    store = open_store(tmp_path / "db.json")
    rpc = Dispatcher(Customergroups(store, schemas), schemas, max_batch=100)
    appends: list[bytes] = []
    real = Journal.append

    def append(journal: Journal, data: bytes) -> None:
        appends.append(data)
        real(journal, data)

    with mock.patch.object(Journal, "append", append):
        replies = await answer(rpc, [create(f"Group {i}", i) for i in range(100)])
    assert [r["result"]["uid"] for r in replies] == list(range(1, 101))
    assert len(appends) == 1
    await store.aclose()


async def test_a_read_in_a_batch_sees_the_writes_before_it(rpc: Dispatcher) -> None:
    batch = [
        create("A", 1),
        {"jsonrpc": "2.0", "method": "Customergroup.get", "params": [1, "name"], "id": 2},
        create("a", 3),
        {"jsonrpc": "2.0", "method": "Customergroup.count", "id": 4},
    ]
    first, read, duplicate, count = await answer(rpc, batch)
    assert first["result"]["name"] == "A"
    assert read["result"] == {"name": "A"}
    assert duplicate["error"]["code"] == -32602
    assert count["result"] == 1


@pytest.mark.parametrize("name", [["x"], {"a": 1}, 5, None])
async def test_a_batch_member_whose_method_is_no_string_is_invalid(
    rpc: Dispatcher, name: Any
) -> None:
    # Found by test_fuzz: a list as a method name once broke the batch's write grouping.
    batch = [create("A", 1), {"jsonrpc": "2.0", "method": name, "id": 2}]
    first, second = await answer(rpc, batch)
    assert first["result"]["name"] == "A"
    assert second["error"]["code"] == -32600


async def test_a_by_name_param_called_context_is_an_unknown_param_not_a_leak(
    rpc: Dispatcher,
) -> None:
    # The methods take the context first: a named param "context" once collided with it and
    # was answered -32603 with the TypeError's text as data.
    for method in ("Customergroup.count", "Customergroup.create", "rpc.discover"):
        member = {"jsonrpc": "2.0", "method": method, "params": {"context": 1}, "id": 1}
        error = (await answer(rpc, member))["error"]
        assert error["code"] == -32602, error
        assert "argument" not in json.dumps(error)


# Problems per request (issue 10): every shape of bad input that repeats, each element one
# problem; an answer lists at most LIMIT of them in at most 4 times the request's size (or
# PROBLEM_BYTES), then one saying how many more.
AMPLIFIERS: dict[str, tuple[str, Callable[[int], Any]]] = {
    "containsAny of zeros": (
        "Customergroup.count",
        lambda n: [{"/customers": {"containsAny": [0] * n}}],
    ),
    "in of strings for a number": ("Customergroup.count", lambda n: [{"/uid": {"in": ["x"] * n}}]),
    "in inside a list selection": (
        "Customergroup.list",
        lambda n: [None, {"filters": {"/uid": {"in": [True] * n}}}],
    ),
    "unknown filter pointers": ("Customergroup.count", lambda n: [{f"/{i}": 1 for i in range(n)}]),
    "unknown conditions": (
        "Customergroup.count",
        lambda n: [{"/uid": {str(i): 1 for i in range(n)}}],
    ),
    "query array of numbers": ("Customergroup.get", lambda n: [1, [0] * n]),
    "query array of unknown names": ("Customergroup.get", lambda n: [1, ["x"] * n]),
    "query object of unknown keys": (
        "Customergroup.get",
        lambda n: [1, {str(i): 1 for i in range(n)}],
    ),
    "patch of unknown keys": ("Customergroup.set", lambda n: [1, {str(i): 1 for i in range(n)}]),
    "customers that are no uids": ("Customergroup.addCustomers", lambda n: [1, [0] * n]),
    "customers not in the group": (
        "Customergroup.moveCustomers",
        lambda n: [1, 2, list(range(1, n + 1))],
    ),
    "unknown named params": ("Customergroup.count", lambda n: {str(i): 1 for i in range(n)}),
}


@pytest.fixture
async def two_groups() -> Dispatcher:
    schemas = Schemas.load()
    rpc = Dispatcher(Customergroups(open_store(None), schemas), schemas, max_batch=100)
    await answer(rpc, [create("A", 1), create("B", 2)])
    return rpc


async def sizes(rpc: Dispatcher, body: Any, language: str = "en") -> tuple[int, int, Any]:
    raw = json.dumps(body).encode()
    out = await rpc.handle(raw, Context(scope="manage", language=Language(language)))
    assert out is not None
    return len(raw), len(out), json.loads(out)


@pytest.mark.parametrize("n", [1, LIMIT + 1, 10_000])
@pytest.mark.parametrize("case", AMPLIFIERS)
async def test_a_request_is_answered_with_at_most_4_times_its_size_in_problems(
    two_groups: Dispatcher, case: str, n: int
) -> None:
    method, params = AMPLIFIERS[case]
    sent, received, reply = await sizes(
        two_groups, {"jsonrpc": "2.0", "method": method, "params": params(n), "id": 1}
    )
    assert received <= 4 * sent + PROBLEM_BYTES + 400, (sent, received)  # 400: the envelope
    problems = reply["error"]["data"]
    assert 1 <= len(problems) <= LIMIT + 1
    if len(problems) < n:  # the last one says how many more there are
        listed = len(problems) - 1
        assert problems[-1]["message"].startswith(f"{n - listed:,} ")
        assert "not listed" in problems[-1]["message"]


@pytest.mark.parametrize("n", [1, 3, LIMIT + 1])
@pytest.mark.parametrize("case", AMPLIFIERS)
async def test_problems_in_swedish_keep_to_the_same_bound_in_bytes(
    two_groups: Dispatcher, case: str, n: int
) -> None:
    method, params = AMPLIFIERS[case]
    request = {"jsonrpc": "2.0", "method": method, "params": params(n), "id": 1}
    sent, received, reply = await sizes(two_groups, request, "sv")
    assert received <= 4 * sent + PROBLEM_BYTES + 400, (sent, received)
    assert 1 <= len(reply["error"]["data"]) <= LIMIT + 1


def test_the_problem_budget_counts_the_answer_s_words_in_bytes() -> None:
    message = N_("A group cannot move customers to itself; name another.")
    found = Problems([Problem(pointer="/1", message=message)] * 3)
    english = len("/1") + len(render(message, "en")) + 32
    swedish = len("/1") + len(render(message, "sv").encode()) + 32
    assert swedish > english  # longer, and with two-byte letters
    shown = Context(scope=None, problem_bytes=3 * english).share(found)
    assert len(shown) == 3
    context = Context(scope=None, language=Language("sv"), problem_bytes=3 * english)
    shown = context.share(found)
    assert [p["message"] for p in shown] == [
        "En grupp kan inte flytta kunder till sig själv; ange en annan grupp.",
        "En grupp kan inte flytta kunder till sig själv; ange en annan grupp.",
        "Ytterligare 1 problem här visas inte: svaren på ett anrop visar högst 100.",
    ]
    assert context.problem_bytes == 3 * english - 2 * swedish
    assert context.problems_left == LIMIT - 2


async def test_validate_lists_at_most_the_limit_and_then_how_many_more(
    two_groups: Dispatcher,
) -> None:
    patch = {str(i): 1 for i in range(10_000)}
    member = {
        "jsonrpc": "2.0",
        "method": "Customergroup.validate",
        "params": [None, patch],
        "id": 1,
    }
    sent, received, reply = await sizes(two_groups, member)
    assert received <= 4 * sent + PROBLEM_BYTES + 400
    # 10,000 unknown keys, and the name a new group needs
    assert reply["result"][-1]["message"].startswith("9,901 more problems here")


async def test_discover_answers_any_number_of_params_with_one_problem(
    two_groups: Dispatcher,
) -> None:
    for params in ([0] * 100_000, {str(i): 0 for i in range(10_000)}):
        member = {"jsonrpc": "2.0", "method": "rpc.discover", "params": params, "id": 1}
        sent, received, reply = await sizes(two_groups, member)
        assert received <= 4 * sent + PROBLEM_BYTES + 400
        assert len(reply["error"]["data"]) == 1


async def test_a_batch_shares_one_limit_of_problems_among_its_members(
    two_groups: Dispatcher,
) -> None:
    bad = {"/customers": {"containsAny": [0] * (LIMIT + 1)}}
    batch = [
        {"jsonrpc": "2.0", "method": "Customergroup.count", "params": [bad], "id": i}
        for i in range(100)
    ]
    sent, received, replies = await sizes(two_groups, batch)
    assert received <= 4 * sent + PROBLEM_BYTES + 400, (sent, received)
    first, second, *rest = (reply["error"]["data"] for reply in replies)
    assert len(first) == LIMIT + 1
    assert first[-1]["message"].startswith("1 more problem here")
    assert second == [
        {
            "pointer": "/0/~1customers/containsAny",
            "message": "101 problems here are not listed: the answers to a request list at most "
            "100.",
        }
    ]
    assert all(data == second for data in rest)
