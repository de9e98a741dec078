"""Versions, ifVersion and the change feed over HTTP, on every store: the client's view."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp.test_utils import TestClient

from customergroup_rpc.app import TOKENS

from .conftest import ENDPOINT, MANAGE, VIEW, Call, admin, req

Client = TestClient[Any, Any]


async def post(client: Client, body: Any, token: str = MANAGE) -> Any:
    response = await client.post(f"{ENDPOINT}?auth={token}", json=body)
    return await response.json()


async def test_two_clients_racing_to_rename_one_group_one_wins_one_gets_the_conflict(
    client: Client, call: Call
) -> None:
    await call("create", {"name": "Gold"})
    answers = await asyncio.gather(
        post(client, req("set", [1, {"name": "Platinum"}, None, 1], "a")),
        post(client, req("set", {"uid": 1, "patch": {"name": "Diamond"}, "ifVersion": 1}, "b")),
    )
    [won] = [a for a in answers if "result" in a]
    [lost] = [a for a in answers if "error" in a]
    assert lost["error"]["code"] == 9004
    assert lost["error"]["message"] == "Conflict"
    assert lost["error"]["data"] == {"current": won["result"]}
    assert list(lost["error"]["data"]["current"]) == list(won["result"])  # in the same order
    assert won["result"]["version"] == 2
    assert (await call("get", 1))["result"] == won["result"]


async def test_if_version_is_the_trailing_positional_param_of_every_write(call: Call) -> None:
    await call("create", {"name": "Gold"})
    await call("create", {"name": "Silver"})
    # The documented positional forms still work without it.
    assert (await call("addCustomers", 1, [17]))["result"] == 1
    stale: list[tuple[str, list[Any]]] = [
        ("set", [1, {"name": "X"}, None, 1]),
        ("addCustomers", [1, [42], 1]),
        ("removeCustomers", [1, [17], 1]),
        ("moveCustomers", [1, 2, [17], 1]),
        ("delete", [1, 1]),
    ]
    for method, params in stale:
        answer = await call(method, *params)
        assert answer["error"]["code"] == 9004, method
        assert answer["error"]["data"]["current"]["version"] == 2
    assert (await call("moveCustomers", 1, 2, None, 2))["result"] == 1
    assert (await call("delete", 1, 3))["result"] is True


async def test_if_version_is_refused_for_a_new_group(call: Call) -> None:
    answer = await call("set", None, {"name": "Gold"}, None, 1)
    assert answer["error"]["data"] == [
        {
            "pointer": "/3",
            "message": "ifVersion is for an existing group; leave it out (or null) to create one.",
        }
    ]


async def test_version_is_read_only_in_get_list_and_get_schema(call: Call) -> None:
    await call("create", {"name": "Gold"})
    assert (await call("list", ["uid", "version"]))["result"] == [{"uid": 1, "version": 1}]
    schema = (await call("getSchema", 1))["result"]
    assert schema["properties"]["version"]["readOnly"] is True
    answer = await call("set", 1, {"version": 5})
    assert answer["error"]["data"][0]["pointer"] == "/version"


async def test_who_removed_customer_17_from_gold_is_one_call(client: Client, call: Call) -> None:
    tokens: Any = client.app[TOKENS]
    alice_record, alice = await admin(tokens.create("manage", label="Alice's import"))
    bob_record, bob = await admin(tokens.create("manage", label="Bob"))
    await call("create", {"name": "Gold"})
    await post(client, req("addCustomers", [1, [17, 42]]), token=alice)
    await post(client, req("removeCustomers", [1, [42]]), token=alice)
    await post(client, req("removeCustomers", [1, [17]]), token=bob)
    found = await post(client, req("changes", {"uid": 1}), token=VIEW)
    [who] = [
        e["token"]
        for e in found["result"]["events"]
        if e["type"] == "customersRemoved" and 17 in e["customers"]
    ]
    assert who == {"id": bob_record.id, "scope": "manage"}
    by_alice = await post(client, req("changes", [0, None, None, alice_record.id]))
    assert [e["type"] for e in by_alice["result"]["events"]] == [
        "customersAdded",
        "customersRemoved",
    ]
    assert alice not in str(by_alice)  # never a secret
    assert bob not in str(found)


async def test_changes_answers_events_and_the_position_to_pass_next(call: Call) -> None:
    await call("create", {"name": "Gold"})
    await call("create", {"name": "Silver"})
    first = (await call("changes", 0, 1))["result"]
    assert [e["position"] for e in first["events"]] == [1]
    assert first["last"] == 1
    rest = (await call("changes", first["last"]))["result"]
    assert ([e["name"] for e in rest["events"]], rest["last"]) == (["Silver"], 2)
    assert (await call("changes", None, 0))["result"] == {"events": [], "last": 2}


async def test_a_position_the_feed_does_not_have_is_9005_telling_to_resync(call: Call) -> None:
    await call("create", {"name": "Gold"})
    error = (await call("changes", 7))["error"]
    assert (error["code"], error["message"]) == (9005, "Resync needed")
    assert error["data"]["last"] == 1
    assert "Customergroup.list" in error["data"]["message"]


async def test_bad_changes_params_point_at_them(call: Call) -> None:
    answer = await call("changes", -1, 10_001, "x")
    assert [p["pointer"] for p in answer["error"]["data"]] == ["/0", "/1", "/2"]


async def test_subscribe_over_http_says_to_open_a_websocket(call: Call) -> None:
    answer = await call("subscribe", 0)
    assert answer["error"]["code"] == -32600
    assert "WebSocket" in answer["error"]["data"]
