"""End to end over HTTP: transport, auth, batches and the source document's four examples."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import logging
import os
import socket
from typing import Any, cast

import pytest
from aiohttp import WSCloseCode, WSMsgType, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient, make_mocked_request

from customergroup_rpc import app as app_module
from customergroup_rpc.app import (
    SOCKETS,
    TOKENS,
    AccessLogger,
    Config,
    Sockets,
    _query,
    create_app,
)
from customergroup_rpc.rpc import Context, Dispatcher

from .conftest import ENDPOINT, MANAGE, VIEW, Call, Clock, admin, req

Client = TestClient[Any, Any]


async def post(client: Client, body: Any, token: str | None = MANAGE, **kw: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    url = ENDPOINT if token is None else f"{ENDPOINT}?auth={token}"
    response = await client.post(url, data=data, **kw)
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "application/json"
    return await response.json()


# --- the four examples of the source document, exactly as documented ---


async def test_seed_create_returns_name_and_uid(call: Call) -> None:
    answer = await call("create", {"name": "Students"}, ["uid", "name"])
    assert json.dumps(answer["result"]) == '{"name": "Students", "uid": 1}'


async def test_seed_get_returns_only_the_name(call: Call) -> None:
    await call("create", {"name": "Students"})
    assert (await call("get", 1, "name"))["result"] == {"name": "Students"}


async def test_seed_list_returns_two_groups_in_property_order(call: Call, clock: Clock) -> None:
    await call("create", {"name": "Staff"})
    clock.advance(3600)
    for name in ("Students", "Teachers"):
        await call("create", {"name": name})
    answer = await call("list", ["changed", "created", "name", "uid"], {"limit": 2})
    assert answer["result"] == [
        {
            "changed": "2014-01-16T14:14:18Z",
            "created": "2014-01-16T14:14:18Z",
            "name": "Staff",
            "uid": 1,
        },
        {
            "changed": "2014-01-16T15:14:18Z",
            "created": "2014-01-16T15:14:18Z",
            "name": "Students",
            "uid": 2,
        },
    ]
    assert list(answer["result"][0]) == ["changed", "created", "name", "uid"]


async def test_seed_set_renames_and_moves_changed(call: Call, clock: Clock) -> None:
    await call("create", {"name": "Students"})
    clock.advance(60)
    answer = await call(
        "set", 1, {"name": "Students and teachers"}, ["name", "changed", "created", "uid"]
    )
    assert answer["result"] == {
        "changed": "2014-01-16T14:15:18Z",
        "created": "2014-01-16T14:14:18Z",
        "name": "Students and teachers",
        "uid": 1,
    }


async def test_seed_count_starts_with_staff(call: Call) -> None:
    for name in ("Staff", "Students", "Staffing agency"):
        await call("create", {"name": name})
    assert (await call("count", {"/name": {"startsWith": "Staff"}}))["result"] == 2


# --- transport (SPEC 1) ---


@pytest.mark.parametrize("path", ["/backend/jsonrpc/v1/", "/backend/jsonrpc/v1"])
async def test_endpoint_answers_with_and_without_trailing_slash(client: Client, path: str) -> None:
    response = await client.post(f"{path}?auth={MANAGE}", json=req("count"))
    assert (await response.json())["result"] == 0


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json-rpc", "text/plain", None]
)
async def test_any_content_type_is_accepted(client: Client, content_type: str | None) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    assert (await post(client, req("count"), headers=headers))["result"] == 0


@pytest.mark.parametrize(
    "id_", ["jsonrpc", "6f1c8a52-6b8e-4f0b-9c84-3c1d8f6e2a10", 7, "a b", 0, None, 2.5, 10**30]
)
async def test_ids_are_echoed_exactly(client: Client, id_: Any) -> None:
    raw = await client.post(f"{ENDPOINT}?auth={MANAGE}", data=json.dumps(req("count", id_=id_)))
    text = await raw.text()
    assert f'"id":{json.dumps(id_)}' in text.replace(" ", "") or json.loads(text)["id"] == id_


async def test_by_name_params_equal_positional(call: Call) -> None:
    await call("create", patch={"name": "Staff"})
    assert (await call("get", uid=1, query="name"))["result"] == {"name": "Staff"}
    assert (await call("get", 1, "name"))["result"] == {"name": "Staff"}


async def test_notification_gets_204_and_empty_body(client: Client) -> None:
    notification = {"jsonrpc": "2.0", "method": "Customergroup.count"}
    response = await client.post(f"{ENDPOINT}?auth={MANAGE}", json=notification)
    assert response.status == 204
    assert await response.read() == b""


async def test_notification_writes_happen(client: Client, call: Call) -> None:
    notification = {
        "jsonrpc": "2.0",
        "method": "Customergroup.create",
        "params": [{"name": "Quiet"}],
    }
    assert (await client.post(f"{ENDPOINT}?auth={MANAGE}", json=notification)).status == 204
    assert (await call("count"))["result"] == 1


async def test_batch_answers_in_order_without_notifications(client: Client) -> None:
    batch = [
        req("create", [{"name": "A"}], id_="first"),
        {"jsonrpc": "2.0", "method": "Customergroup.count"},
        req("count", id_="second"),
    ]
    answers = await post(client, batch)
    assert [a["id"] for a in answers] == ["first", "second"]
    assert answers[1]["result"] == 1


async def test_batch_invalid_members_get_their_own_errors(client: Client) -> None:
    answers = await post(
        client, [1, req("count", id_=5), {"jsonrpc": "1.0", "method": "x", "id": 6}]
    )
    assert [a.get("error", {}).get("code") for a in answers] == [-32600, None, -32600]
    assert [a["id"] for a in answers] == [None, 5, 6]
    assert all(isinstance(a["error"]["data"], str) for a in (answers[0], answers[2]))


async def test_empty_batch_is_one_invalid_request(client: Client) -> None:
    answer = await post(client, [])
    assert answer["error"]["code"] == -32600
    assert answer["id"] is None


async def test_batch_over_the_limit_is_one_invalid_request(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE, max_batch=3)))
    answer = await post(client, [req("count", id_=i) for i in range(4)])
    assert answer["error"] == {
        "code": -32600,
        "message": "Invalid Request",
        "data": "A batch may hold at most 3 requests.",
    }
    assert len(await post(client, [req("count", id_=i) for i in range(3)])) == 3


async def test_all_notification_batch_gets_204(client: Client) -> None:
    batch = [{"jsonrpc": "2.0", "method": "Customergroup.count"}] * 2
    assert (await client.post(f"{ENDPOINT}?auth={MANAGE}", json=batch)).status == 204


@pytest.mark.parametrize(
    "body",
    [b"{", b"", b"\xff\xfe{", b'{"jsonrpc": "2.0", "method": "x", "id": NaN}', b"[" * 100_000],
)
async def test_unparseable_body_is_parse_error(client: Client, body: bytes) -> None:
    answer = await post(client, body)
    assert answer == {
        "jsonrpc": "2.0",
        "error": {"code": -32700, "message": "Parse error"},
        "id": None,
    }


async def test_body_over_max_body_is_413_and_nothing_happens(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE, max_body=1000)))
    big = req("create", [{"name": "x" * 2000}])
    response = await client.post(f"{ENDPOINT}?auth={MANAGE}", json=big)
    assert response.status == 413
    assert (await response.json())["error"]["code"] == -32600
    assert (await post(client, req("count")))["result"] == 0


async def test_unknown_method_names_the_method(client: Client) -> None:
    answer = await post(client, {"jsonrpc": "2.0", "method": "Customergroup.explode", "id": 1})
    assert answer["error"] == {
        "code": -32601,
        "message": "Method not found",
        "data": "Customergroup.explode",
    }


async def test_health_needs_no_token(client: Client) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"status": "ok"}


# --- auth (SPEC 2) ---


async def test_missing_token_is_1004_and_reads_nothing(client: Client) -> None:
    answer = await post(client, req("get", [1, "name"], id_="x"), token=None)
    assert answer == {
        "jsonrpc": "2.0",
        "error": {"code": 1004, "message": "Bad auth token"},
        "id": "x",
    }


@pytest.mark.parametrize(
    "query_string",
    [
        "",
        "auth=abc",
        "auth=first&auth=second",
        "webshop=2&language=sv&auth=abc",
        "auth=a%2Bb+c%20d",
        "auth=%E2%82%AC;webshop=3",
        "auth&webshop=&language",
        "&&auth=x&",
        "auth=%zz&webshop=%41",
    ],
)
def test_query_parameters_are_read_as_aiohttp_reads_the_query(query_string: str) -> None:
    # They are read once per query string as sent (app._parameters); that must be what
    # request.query says of it.
    request = make_mocked_request("POST", f"{ENDPOINT}?{query_string}")
    asked = _query(request)
    expected = tuple(request.query.get(name) for name in ("auth", "webshop", "language"))
    assert (asked.auth, asked.webshop, asked.language) == expected


async def test_a_percent_encoded_token_in_the_query_is_accepted(client: Client) -> None:
    encoded = "".join(f"%{byte:02X}" for byte in MANAGE.encode())
    response = await client.post(f"{ENDPOINT}?auth={encoded}", json=req("count", []))
    assert (await response.json())["result"] == 0


async def test_bad_token_with_bad_params_is_still_1004(client: Client) -> None:
    answer = await post(client, req("get", ["not a uid", 5]), token="wrong")
    assert answer["error"]["code"] == 1004


async def test_bearer_header_is_accepted(client: Client) -> None:
    headers = {"Authorization": f"Bearer {VIEW}"}
    assert (await post(client, req("count"), token=None, headers=headers))["result"] == 0


async def test_non_ascii_bearer_header_is_1004_not_a_crash(client: Client) -> None:
    headers = {"Authorization": "Bearer tökén".encode().decode("latin-1")}
    assert (await post(client, req("count"), token=None, headers=headers))["error"]["code"] == 1004


@pytest.mark.parametrize("method", ["create", "set", "delete"])
async def test_view_token_cannot_write(client: Client, method: str) -> None:
    params = {"create": [{"name": "A"}], "set": [None, {"name": "A"}], "delete": [1]}[method]
    answer = await post(client, req(method, params), token=VIEW)
    assert answer["error"] == {"code": 1006, "message": "Forbidden"}
    assert (await post(client, req("count"), token=VIEW))["result"] == 0


@pytest.mark.parametrize("method", ["count", "list", "getSchema", "validate"])
async def test_view_token_may_read(client: Client, method: str) -> None:
    params = {"validate": [None, {"name": "A"}]}.get(method)
    assert "result" in await post(client, req(method, params), token=VIEW)


async def test_batch_members_are_authorised_one_by_one(client: Client) -> None:
    answers = await post(
        client, [req("count", id_=1), req("create", [{"name": "A"}], id_=2)], token=VIEW
    )
    assert answers[0]["result"] == 0
    assert answers[1]["error"]["code"] == 1006


async def test_a_batch_member_sees_the_writes_of_the_members_before_it(client: Client) -> None:
    batch = [
        req("create", [{"name": "A"}, "uid"], 1),
        req("set", [1, {"name": "B"}, "name"], 2),
        req("addCustomers", [1, [5, 6]], 3),
        req("moveCustomers", [1, 1, None], 4),  # refused: the others stay
        req("removeCustomers", [1, [6]], 5),
        req("get", [1, ["name", "customerCount"]], 6),
    ]
    answers = await post(client, batch)
    assert [a.get("result") for a in answers] == [
        {"uid": 1},
        {"name": "B"},
        2,
        None,
        1,
        {"name": "B", "customerCount": 1},
    ]
    assert answers[3]["error"]["code"] == -32602
    assert (await post(client, req("get", [1, "name"])))["result"] == {"name": "B"}


async def test_revoked_token_is_refused_on_the_next_request(client: Client) -> None:
    tokens: Any = client.app[TOKENS]
    record, secret = await admin(tokens.create("manage"))
    assert "result" in await post(client, req("count"), token=secret)
    await admin(tokens.revoke(record.id))
    assert (await post(client, req("count"), token=secret))["error"]["code"] == 1004


# --- errors never leak (SPEC 7) ---


async def test_a_bug_is_internal_error_without_data(
    client: Client, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def explode(*args: Any) -> Any:
        raise RuntimeError("/secret/path/db.json exploded")

    monkeypatch.setattr("customergroup_rpc.service.Customergroups.count", explode)
    with caplog.at_level(logging.ERROR):
        answer = await post(client, req("count"))
    assert answer["error"] == {"code": -32603, "message": "Internal error"}
    assert "/secret/path" in caplog.text  # logged for the operator, not sent to the client


@pytest.mark.parametrize("method", ["PUT", "DELETE", "PATCH", "PROPFIND"])
@pytest.mark.parametrize("path", ["/backend/jsonrpc/v1/", "/backend/jsonrpc/v1"])
async def test_another_http_method_on_the_endpoint_gets_a_json_rpc_405_as_get_does(
    client: Client, method: str, path: str
) -> None:
    response = await client.request(method, f"{path}?auth={MANAGE}", json=req("create", [{}]))
    assert response.status == 405
    assert response.content_type == "application/json"
    assert response.headers["Allow"] == "GET, OPTIONS, POST"
    answer = await response.json()
    assert answer["error"]["code"] == -32600
    assert "POST" in answer["error"]["data"]
    assert (await post(client, req("count")))["result"] == 0  # nothing was created


# --- access log (SPEC 9) ---


@pytest.fixture
async def logged(aiohttp_server: Any, aiohttp_client: Any) -> tuple[Client, io.BytesIO]:
    """A client of an app whose access log goes to the returned buffer (full at close)."""
    out = io.BytesIO()
    app = create_app(Config(admin_token=MANAGE, access_log=out))
    server = await aiohttp_server(app, access_log_class=AccessLogger.of(app))
    return await aiohttp_client(server), out


async def raw(client: Client, data: bytes) -> bytes:
    """Send ``data`` on a new connection to the client's server; all it answers until it closes."""
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(data)
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    return answer


async def test_access_log_names_methods_and_never_the_token(
    logged: tuple[Client, io.BytesIO],
) -> None:
    client, out = logged
    await post(client, [req("count"), req("list")])
    await post(client, req("count"), token=None, headers={"Authorization": f"Bearer {MANAGE}"})
    await client.close()  # the app's cleanup writes what is buffered
    lines = out.getvalue().decode().splitlines()
    assert len(lines) == 2
    assert lines[0].endswith("Customergroup.count,Customergroup.list 200 " + lines[0].split()[-1])
    assert '"POST /backend/jsonrpc/v1/" Customergroup.count 200' in lines[1]
    assert MANAGE not in out.getvalue().decode()


async def test_a_token_not_shaped_like_ours_never_reaches_the_access_log_from_a_name_or_path(
    logged: tuple[Client, io.BytesIO],
) -> None:
    # MANAGE is the environment's token, any 16 or more characters (as the README's advice,
    # secrets.token_urlsafe, gives): nothing in its shape tells a log that it is one.
    client, out = logged
    await post(client, {"jsonrpc": "2.0", "method": MANAGE, "id": 1})
    await post(client, [req("count"), {"jsonrpc": "2.0", "method": f"x {MANAGE}"}])
    await client.get(f"/{MANAGE}")
    await client.get(f"/console/{MANAGE}")
    await client.get("/" + "a" * 190 + MANAGE)  # cut where the line's path is cut
    await client.close()
    log = out.getvalue().decode()
    assert len(log.splitlines()) == 5
    assert MANAGE[:8] not in log
    assert '"GET /[redacted]" - 404' in log


async def test_access_lines_stay_one_clean_line_whatever_the_client_sends(
    logged: tuple[Client, io.BytesIO],
) -> None:
    client, out = logged
    hostile = {"jsonrpc": "2.0", "method": 'x" 200\nFAKE LINE\x00', "id": 1}
    await post(client, hostile)
    await post(client, [req("count", id_=i) for i in range(25)])
    await client.get("/no/such/place%0A%22here%22")
    await client.close()
    lines = out.getvalue().decode().splitlines()
    assert len(lines) == 3
    assert '" x??200?FAKE?LINE? 200 ' in lines[0]  # quotes, spaces and controls replaced
    assert ",".join(["Customergroup.count"] * 20) + "+5 200" in lines[1]
    assert '"GET /no/such/place??here?" - 404' in lines[2]


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"X\r\n\r\n",
        b"POST /backend/jsonrpc/v1/?auth=" + MANAGE.encode() + b"&q=a b HTTP/1.1\r\n\r\n",
        b"GET /health HTTP/1.1\r\nHost: x\r\nBad\x01Header: 1\r\n\r\n",
    ],
    ids=["not HTTP", "space in the target", "control in a header"],
)
async def test_a_request_refused_while_parsing_gets_one_plain_access_line(
    logged: tuple[Client, io.BytesIO], caplog: pytest.LogCaptureFixture, request_bytes: bytes
) -> None:
    client, out = logged
    for _ in range(3):
        assert (await raw(client, request_bytes)).startswith(b"HTTP/1.0 400 ")
    await client.close()
    lines = out.getvalue().decode().splitlines()
    assert [line.split(" INFO ", 1)[1].rsplit(" ", 1)[0] for line in lines] == [
        '127.0.0.1 "UNKNOWN /" - 400'
    ] * 3
    assert "AssertionError" not in caplog.text  # the access logger itself never failed


# --- members (SPEC 10) ---


async def test_members_end_to_end(call: Call) -> None:
    for name in ("Staff", "Students"):
        await call("create", {"name": name})
    assert (await call("addCustomers", 1, [17, 42, 17]))["result"] == 2
    assert (await call("addCustomers", uid=2, customers=[17]))["result"] == 1
    assert (await call("listCustomers", 1, {"descending": True}))["result"] == [42, 17]
    groups_of_17 = await call("list", ["uid", "customerCount"], {"filters": {"/customers": 17}})
    assert groups_of_17["result"] == [
        {"customerCount": 2, "uid": 1},
        {"customerCount": 1, "uid": 2},
    ]
    assert (await call("moveCustomers", 1, 2, None))["result"] == 2
    by_count = await call("list", "name", {"sort": "customerCount", "descending": True})
    assert by_count["result"] == [{"name": "Students"}, {"name": "Staff"}]
    assert (await call("removeCustomers", 2, [42, 7]))["result"] == 1
    assert (await call("count", {"/customerCount": {"min": 1}}))["result"] == 1


async def test_a_bad_customer_uid_points_at_it(call: Call) -> None:
    await call("create", {"name": "Staff"})
    answer = await call("addCustomers", 1, [17, 42, 5, 0, "x"])
    assert [p["pointer"] for p in answer["error"]["data"]] == ["/1/3", "/1/4"]
    named = await call("removeCustomers", uid=1, customers=[-1])
    assert named["error"]["data"][0]["pointer"] == "/customers/0"


async def test_members_of_a_missing_group_is_9003(call: Call) -> None:
    answer = await call("moveCustomers", fromUid=1, toUid=2, customers=None)
    assert answer["error"]["code"] == 9003
    assert answer["error"]["data"][0]["pointer"] == "/fromUid"


async def test_whole_object_shows_customer_count_in_property_order(call: Call) -> None:
    await call("create", {"name": "Staff"})
    result = (await call("get", 1))["result"]
    assert list(result) == ["changed", "created", "customerCount", "name", "uid", "version"]
    schema = (await call("getSchema", None))["result"]
    assert schema["properties"]["customerCount"]["readOnly"] is True


async def test_view_token_may_list_customers_but_not_change_them(
    client: Client, call: Call
) -> None:
    await call("create", {"name": "Staff"})
    assert (await post(client, req("listCustomers", [1]), token=VIEW))["result"] == []
    for method, params in (
        ("addCustomers", [1, [1]]),
        ("removeCustomers", [1, [1]]),
        ("moveCustomers", [1, 1, None]),
    ):
        answer = await post(client, req(method, params), token=VIEW)
        assert answer["error"]["code"] == 1006


# --- stopping with open WebSockets (issue 10, item 10) ---


async def test_stopping_closes_an_idle_websocket_with_going_away(client: Client) -> None:
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps(req("count")))
        assert (await ws.receive_json())["result"] == 0
        stopping = asyncio.create_task(client.app.shutdown())  # what SIGTERM runs first
        closed = await ws.receive(timeout=5)
        await stopping
    assert closed.type == WSMsgType.CLOSE
    assert closed.data == WSCloseCode.GOING_AWAY
    assert not client.app[SOCKETS].open


async def test_stopping_lets_a_websocket_send_the_answer_it_is_working_on(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    working, finish = asyncio.Event(), asyncio.Event()
    handle = Dispatcher.handle

    async def slow(self: Dispatcher, body: bytes, context: Context) -> bytes | None:
        working.set()
        await finish.wait()
        return await handle(self, body, context)

    monkeypatch.setattr(Dispatcher, "handle", slow)
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps(req("count", id_="in flight")))
        await working.wait()
        stopping = asyncio.create_task(client.app.shutdown())
        await asyncio.sleep(0.05)
        finish.set()
        answer = await ws.receive(timeout=5)
        closed = await ws.receive(timeout=5)
        await stopping
    assert json.loads(answer.data) == {"jsonrpc": "2.0", "result": 0, "id": "in flight"}
    assert (closed.type, closed.data) == (WSMsgType.CLOSE, WSCloseCode.GOING_AWAY)


async def test_a_stopping_server_opens_no_new_websocket(client: Client) -> None:
    await client.app.shutdown()
    with pytest.raises(WSServerHandshakeError) as refused:
        await client.ws_connect(f"{ENDPOINT}?auth={MANAGE}")
    assert refused.value.status == 503


# --- WebSocket clients that read nothing: sends are bounded, so is the stop ---


class _Unread:
    """A WebSocket whose client reads nothing: a send never completes, nor does a close."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_str(self, text: str) -> None:
        self.sent.append(text)
        await asyncio.Event().wait()

    async def close(self, **how: Any) -> bool:
        await asyncio.Event().wait()
        return True


class _Transport:
    def __init__(self) -> None:
        self.aborted = False

    def abort(self) -> None:
        self.aborted = True


def _unread() -> tuple[web.WebSocketResponse, asyncio.Transport, _Transport]:
    transport = _Transport()
    return cast(web.WebSocketResponse, _Unread()), cast(asyncio.Transport, transport), transport


async def test_a_send_the_client_takes_nothing_of_is_cut_off_after_the_send_timeout(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(app_module, "SEND_TIMEOUT", 0.05)
    sockets, (socket, transport, seen) = Sockets(), _unread()
    with caplog.at_level(logging.WARNING), pytest.raises(ConnectionResetError):
        await asyncio.wait_for(sockets.send(socket, "{}", transport), 30)
    assert seen.aborted
    assert not sockets.sending
    assert "Cut off a WebSocket client that took nothing sent to it" in caplog.text


async def test_a_send_taken_in_time_is_neither_cut_off_nor_left_registered() -> None:
    class Reading:
        async def send_str(self, text: str) -> None:
            pass

    sockets, seen = Sockets(), _Transport()
    socket = cast(web.WebSocketResponse, Reading())
    await sockets.send(socket, "{}", cast(asyncio.Transport, seen))
    assert not seen.aborted
    assert not sockets.sending


async def test_stopping_gives_a_stuck_send_the_stop_grace_not_the_send_timeout(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "SEND_TIMEOUT", 3600.0)
    monkeypatch.setattr(app_module, "STOP_GRACE", 0.05)
    sockets, (socket, transport, seen) = Sockets(), _unread()
    sending = asyncio.create_task(sockets.send(socket, "{}", transport))
    await asyncio.sleep(0.01)  # the send is under way
    await sockets.close_all(create_app(Config()))
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(sending, 30)
    assert seen.aborted
    # A send begun while stopping has the grace only.
    with pytest.raises(ConnectionResetError):
        await asyncio.wait_for(sockets.send(socket, "{}", transport), 30)


async def test_stopping_does_not_wait_on_a_client_that_never_takes_the_close(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(app_module, "STOP_GRACE", 0.05)
    sockets, (socket, _, _) = Sockets(), _unread()
    sockets.open.add(socket)
    await asyncio.wait_for(sockets.close_all(create_app(Config())), 30)


async def test_a_subscriber_that_reads_nothing_neither_holds_the_stop_nor_leaves_a_traceback(
    client: Client, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A real client over TCP: it subscribes, then reads nothing while groups are made until
    the server's send to it is stuck (the socket buffers full); stopping still ends."""
    sending = [0]  # sends under way, seen from aiohttp's side
    send_str = web.WebSocketResponse.send_str

    async def counted(self: web.WebSocketResponse, data: str, compress: int | None = None) -> None:
        sending[0] += 1
        try:
            await send_str(self, data, compress)
        finally:
            sending[0] -= 1

    monkeypatch.setattr(web.WebSocketResponse, "send_str", counted)
    loop = asyncio.get_running_loop()
    raw = socket.socket()
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: fills early
    raw.setblocking(False)
    await loop.sock_connect(raw, (str(client.host), int(client.port or 0)))
    key = base64.b64encode(os.urandom(16)).decode()
    upgrade = (
        f"GET {ENDPOINT}?auth={MANAGE} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    await loop.sock_sendall(raw, upgrade.encode())
    assert (await loop.sock_recv(raw, 1024)).startswith(b"HTTP/1.1 101")
    text = json.dumps(req("subscribe", [])).encode()
    mask = os.urandom(4)
    frame = bytes([0x81, 0x80 | len(text)]) + mask
    await loop.sock_sendall(raw, frame + bytes(b ^ mask[i % 4] for i, b in enumerate(text)))
    try:
        for batch in range(400):  # each event carries a 250-character name
            names = [f"{batch:03d} {i:03d} " + "x" * 242 for i in range(100)]
            await post(client, [req("create", [{"name": name}], i) for i, name in enumerate(names)])
            await asyncio.sleep(0.05)
            if sending[0]:  # a send to the subscriber is waiting for it to read
                break
        assert sending[0], "the subscriber's buffers never filled"
        with caplog.at_level(logging.WARNING):
            await asyncio.wait_for(client.app.shutdown(), 30)
            await asyncio.sleep(0.05)  # the follower hears that its send was cut off
    finally:
        raw.close()
    assert "Cut off a WebSocket client that took nothing sent to it" in caplog.text
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# --- what a last attack pass found (issue 10): client errors answered cleanly ---


async def test_a_body_that_does_not_decode_is_400_without_a_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"Content-Encoding": "gzip"}
    with caplog.at_level(logging.ERROR):
        response = await client.post(ENDPOINT, data=b"abcd", headers=headers)
    assert response.status == 400
    assert (await response.json())["error"]["code"] == -32600
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_client_leaving_mid_body_leaves_no_traceback(
    client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        _, writer = await asyncio.open_connection(client.host, client.port)
        head = f"POST {ENDPOINT} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{{"
        writer.write(head.encode())
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        await asyncio.sleep(0.2)  # the server notices the closed connection
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


@pytest.mark.parametrize("depth", range(900, 1101, 25))
async def test_params_nested_too_deeply_are_refused_never_an_internal_error(
    client: Client, depth: int
) -> None:
    body = (
        '{"jsonrpc": "2.0", "id": 1, "method": "Customergroup.get", "params": ['
        + "[" * depth
        + "]" * depth
        + "]}"
    )
    answer = await post(client, body.encode())
    assert answer["error"]["code"] in (-32700, -32602)


async def test_a_small_request_gets_back_a_few_times_its_size_in_problems(
    client: Client,
) -> None:
    body = json.dumps(req("count", [{"/customers": {"containsAny": [0] * 100}}])).encode()
    response = await client.post(f"{ENDPOINT}?auth={MANAGE}", data=body)
    answer = await response.read()
    assert len(answer) <= 4 * len(body) + 2048 + 300  # the envelope and the summary
    problems = json.loads(answer)["error"]["data"]
    assert "more problems here are not listed" in problems[-1]["message"]


async def test_rpc_discover_is_answered_once_per_request(client: Client) -> None:
    discover = {"jsonrpc": "2.0", "method": "rpc.discover"}
    answers = await post(client, [{**discover, "id": n} for n in range(100)], token=None)
    assert "result" in answers[0]
    assert {a["error"]["code"] for a in answers[1:]} == {-32600}
    assert len(json.dumps(answers)) < 2 * len(json.dumps(answers[0]))


# --- request ids (issue 16) ---


@pytest.mark.parametrize(
    ("sent", "kept"),
    [("lb-7f3a/42", "lb-7f3a/42"), ("two words;", "two_words_"), ("x" * 500, "x" * 128)],
    ids=["as sent", "made safe", "cut short"],
)
async def test_a_request_id_sent_is_kept_made_safe_and_returned(
    client: Client, sent: str, kept: str
) -> None:
    response = await client.post(
        f"{ENDPOINT}?auth={MANAGE}", json=req("count"), headers={"X-Request-Id": sent}
    )
    assert response.headers["X-Request-Id"] == kept


async def test_without_a_request_id_each_request_gets_a_new_one(client: Client) -> None:
    made = set()
    for _ in range(3):
        response = await client.post(f"{ENDPOINT}?auth={MANAGE}", json=req("count"))
        made.add(response.headers["X-Request-Id"])
    assert len(made) == 3


@pytest.mark.parametrize("sent", [MANAGE, "cgr_looks_like_a_token_1234", "; ;"])
async def test_a_request_id_that_is_a_token_or_nothing_usable_is_replaced(
    client: Client, sent: str
) -> None:
    response = await client.post(
        f"{ENDPOINT}?auth={MANAGE}", json=req("count"), headers={"X-Request-Id": sent}
    )
    assert response.headers["X-Request-Id"] not in (sent, "___")
    assert len(response.headers["X-Request-Id"]) > 12


async def test_a_websocket_upgrade_returns_its_request_id(client: Client) -> None:
    async with client.ws_connect(
        f"{ENDPOINT}?auth={MANAGE}", headers={"X-Request-Id": "socket-1"}
    ) as ws:
        assert ws._response.headers["X-Request-Id"] == "socket-1"


# --- JSON access lines (serve --log-format json) ---


async def test_json_access_lines_carry_methods_outcomes_request_id_and_shop(
    aiohttp_server: Any, aiohttp_client: Any
) -> None:
    out = io.BytesIO()
    app = create_app(Config(admin_token=MANAGE, access_log=out, log_json=True))
    server = await aiohttp_server(app, access_log_class=AccessLogger.of(app))
    client = await aiohttp_client(server)
    batch = [req("count"), {"jsonrpc": "2.0", "method": "Nope.nope", "id": 2}, req("get", [9])]
    await post(client, batch, headers={"X-Request-Id": "trace-me"})
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps(req("count")))
        await ws.receive_json()
    await client.get("/no/such/place")
    await client.close()
    lines = [json.loads(line) for line in out.getvalue().decode().splitlines()]
    posted, message, upgrade, missing = lines
    assert posted["time"].endswith("Z")
    assert {k: v for k, v in posted.items() if k not in ("time", "duration_ms")} == {
        "level": "INFO",
        "event": "request",
        "client": "127.0.0.1",
        "http_method": "POST",
        "route": ENDPOINT,
        "status": 200,
        "request_id": "trace-me",
        "shop": 1,
        "methods": ["Customergroup.count", "unknown", "Customergroup.get"],
        "outcomes": ["ok", "-32601", "9003"],
    }
    assert (message["http_method"], message["methods"], message["outcomes"]) == (
        "WS",
        ["Customergroup.count"],
        ["ok"],
    )
    assert "status" not in message
    assert message["request_id"] == upgrade["request_id"]
    assert (upgrade["status"], "methods" in upgrade) == (101, False)
    assert (missing["route"], missing["status"], "request_id" in missing) == (None, 404, False)
