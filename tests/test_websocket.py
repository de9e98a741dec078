"""The endpoint over a WebSocket: the same requests, batches, auth and errors (SPEC 11)."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import pytest
from aiohttp import ClientSession, WSMsgType, web
from aiohttp.test_utils import TestClient

from customergroup_rpc.app import DISPATCHER, SOCKETS, TOKENS, Config, create_app

from .conftest import ENDPOINT, MANAGE, VIEW, admin, req

Client = TestClient[Any, Any]


async def test_requests_and_batches_are_answered_one_message_each(client: Client) -> None:
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps(req("create", [{"name": "Staff"}, ["uid", "name"]], "a")))
        assert await ws.receive_json() == {
            "jsonrpc": "2.0",
            "result": {"name": "Staff", "uid": 1},
            "id": "a",
        }
        await ws.send_str(json.dumps([req("count", id_=1), 7, req("get", [1, "name"], 2)]))
        answers = await ws.receive_json()
        assert [a.get("result", a.get("error", {}).get("code")) for a in answers] == [
            1,
            -32600,
            {"name": "Staff"},
        ]


async def test_notifications_get_no_message(client: Client) -> None:
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": "Customergroup.count"}))
        await ws.send_str(json.dumps(req("count", id_=2)))
        assert (await ws.receive_json())["id"] == 2  # the notification's answer never came


async def test_auth_is_the_same_and_checked_per_message(client: Client) -> None:
    async with client.ws_connect(ENDPOINT) as ws:
        await ws.send_str(json.dumps(req("count")))
        assert (await ws.receive_json())["error"] == {"code": 1004, "message": "Bad auth token"}
    tokens: Any = client.app[TOKENS]
    record, secret = await admin(tokens.create("view"))
    headers = {"Authorization": f"Bearer {secret}"}
    async with client.ws_connect(ENDPOINT, headers=headers) as ws:
        await ws.send_str(json.dumps(req("create", [{"name": "A"}])))
        assert (await ws.receive_json())["error"]["code"] == 1006
        await admin(tokens.revoke(record.id))
        await ws.send_str(json.dumps(req("count")))
        assert (await ws.receive_json())["error"]["code"] == 1004


async def test_bad_json_and_errors_keep_the_socket_open(client: Client) -> None:
    async with client.ws_connect(f"{ENDPOINT}?auth={VIEW}") as ws:
        await ws.send_str("{not json")
        assert (await ws.receive_json())["error"]["code"] == -32700
        await ws.send_str(json.dumps(req("get", [99])))
        assert (await ws.receive_json())["error"]["data"][0]["pointer"] == "/0"
        await ws.send_bytes(json.dumps(req("count")).encode())
        assert (await ws.receive_json())["result"] == 0


async def test_a_message_over_max_body_closes_the_socket(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE, max_body=1000)))
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps(req("create", [{"name": "x" * 2000}])))
        message = await ws.receive()
        assert message.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert (await (await client.post(f"{ENDPOINT}?auth={MANAGE}", json=req("count"))).json())[
        "result"
    ] == 0


@pytest.mark.parametrize("path", ["/backend/jsonrpc/v1/", "/backend/jsonrpc/v1"])
async def test_a_plain_get_on_the_endpoint_says_how_to_call(client: Client, path: str) -> None:
    response = await client.get(path)
    assert response.status == 405
    assert "POST" in (await response.json())["error"]["data"]


async def test_a_client_gone_before_its_answer_is_sent_logs_no_error(
    config: Config, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A client that closes its connection while the server answers it is no server error:
    # the send raised out of the handler, and aiohttp logged a traceback for each one. (A
    # runner of our own: the test server cancels a handler whose client left, as serve does not.)
    app = create_app(config)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    dispatcher = app[DISPATCHER]
    handle, entered, release = dispatcher.handle, asyncio.Event(), asyncio.Event()

    async def held(body: bytes, context: Any) -> bytes | None:
        entered.set()
        await release.wait()
        return await handle(body, context)

    monkeypatch.setattr(dispatcher, "handle", held)
    try:
        async with ClientSession() as session:
            ws = await session.ws_connect(f"{site.name}{ENDPOINT}?auth={MANAGE}")
            await ws.send_str(json.dumps(req("count")))
            await entered.wait()
            [server_side] = app[SOCKETS].open
            transport = server_side._req.transport if server_side._req else None
            connection = ws._response.connection
            assert transport is not None
            assert connection is not None
            connection.close()  # gone at once, without a close frame
            while not transport.is_closing():
                await asyncio.sleep(0.01)
            release.set()
            while app[SOCKETS].open:  # the handler ends
                await asyncio.sleep(0.01)
    finally:
        await runner.cleanup()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
