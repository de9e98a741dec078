"""Following the change feed over a WebSocket (follow.py): in the app on every store, then
against real servers: across a restart, and across the workers of one PostgreSQL database."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from customergroup_rpc.app import TOKENS
from customergroup_rpc.follow import CHANGED, ENDED
from harness.server import Server

from .conftest import ENDPOINT, VIEW, Call, admin, req
from .test_workers import held_by

Client = TestClient[Any, Any]
Socket = aiohttp.ClientWebSocketResponse
WAIT = 30.0  # seconds a test waits for a message before it fails (not a timing assertion)


async def receive(ws: Socket) -> Any:
    return json.loads(await ws.receive_str(timeout=WAIT))


async def changed(ws: Socket, count: int) -> list[dict[str, Any]]:
    """The next ``count`` messages, each a Customergroup.changed notification: their events."""
    found = []
    for _ in range(count):
        message = await receive(ws)
        assert message.get("method") == CHANGED, message
        assert "id" not in message
        found.append(message["params"])
    return found


async def test_subscribe_answers_then_sends_the_backlog_then_each_new_event(
    client: Client, call: Call
) -> None:
    await call("create", {"name": "Gold"})
    await call("create", {"name": "Silver"})
    async with client.ws_connect(f"{ENDPOINT}?auth={VIEW}") as ws:
        await ws.send_json(req("subscribe", [1], "s"))
        assert await receive(ws) == {"jsonrpc": "2.0", "result": {"since": 1, "last": 2}, "id": "s"}
        [silver] = await changed(ws, 1)
        assert (silver["position"], silver["type"], silver["name"]) == (2, "created", "Silver")
        await call("addCustomers", 1, [17])
        await call("set", 2, {"name": "Bronze"})
        live = await changed(ws, 2)
        assert [(e["position"], e["type"]) for e in live] == [
            (3, "customersAdded"),
            (4, "renamed"),
        ]


async def test_after_unsubscribe_answers_no_event_comes(client: Client, call: Call) -> None:
    async with client.ws_connect(f"{ENDPOINT}?auth={VIEW}") as ws:
        await ws.send_json(req("subscribe", []))
        assert (await receive(ws))["result"] == {"since": 0, "last": 0}
        await call("create", {"name": "Gold"})
        await changed(ws, 1)
        await ws.send_json(req("unsubscribe", [], 2))
        assert await receive(ws) == {"jsonrpc": "2.0", "result": True, "id": 2}
        await call("create", {"name": "Silver"})
        await ws.send_json(req("count", [], 3))
        assert await receive(ws) == {"jsonrpc": "2.0", "result": 2, "id": 3}
        await ws.send_json(req("unsubscribe", [], 4))
        assert (await receive(ws))["result"] is False


async def test_one_subscription_per_socket(client: Client) -> None:
    async with client.ws_connect(f"{ENDPOINT}?auth={VIEW}") as ws:
        await ws.send_json(req("subscribe", [0], 1))
        assert "result" in await receive(ws)
        await ws.send_json(req("subscribe", [0], 2))
        error = (await receive(ws))["error"]
        assert error["code"] == -32600
        assert "unsubscribe first" in error["data"]


async def test_subscribe_from_a_position_not_kept_is_9005(client: Client, call: Call) -> None:
    await call("create", {"name": "Gold"})
    async with client.ws_connect(f"{ENDPOINT}?auth={VIEW}") as ws:
        await ws.send_json(req("subscribe", [5]))
        assert (await receive(ws))["error"]["code"] == 9005
        await ws.send_json(req("subscribe", [1], 2))  # the socket can still subscribe
        assert (await receive(ws))["result"] == {"since": 1, "last": 1}


async def test_subscribe_needs_a_token(client: Client) -> None:
    async with client.ws_connect(ENDPOINT) as ws:
        await ws.send_json(req("subscribe", [0]))
        assert (await receive(ws))["error"]["code"] == 1004


async def test_a_revoked_token_ends_the_subscription_with_1004(client: Client, call: Call) -> None:
    tokens: Any = client.app[TOKENS]
    record, secret = await admin(tokens.create("view"))
    async with client.ws_connect(f"{ENDPOINT}?auth={secret}") as ws:
        await ws.send_json(req("subscribe", [0]))
        assert "result" in await receive(ws)
        await admin(tokens.revoke(record.id))
        await asyncio.sleep(0.2)  # the file's tokens are looked at every 50 ms (tokens.RECHECK)
        await call("create", {"name": "Gold"})  # a wake-up: the pump checks the token first
        ended = await receive(ws)
        assert ended["method"] == ENDED
        assert ended["params"]["error"]["code"] == 1004


# --- real servers: harness/server.py ------------------------------------------------------


class Subscriber:
    """A WebSocket client of a real server that follows the feed and keeps every event."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.cursor = 0

    @property
    def positions(self) -> list[int]:
        return [event["position"] for event in self.events]

    async def follow(self, session: aiohttp.ClientSession, server: Server, until: int) -> None:
        """Subscribe after ``cursor``; keep events until position ``until`` or the server
        closes the socket (it stops)."""
        url = f"http://127.0.0.1:{server.port}{ENDPOINT}?auth={server.token}"
        async with session.ws_connect(url) as ws:
            await ws.send_json(req("subscribe", [self.cursor]))
            assert "result" in await receive(ws)
            while self.cursor < until:
                message = await ws.receive(timeout=WAIT)
                if message.type != aiohttp.WSMsgType.TEXT:
                    return  # closed: the server stops
                event = json.loads(message.data)["params"]
                self.events.append(event)
                self.cursor = event["position"]


KINDS = ["create", "rename", "add", "add", "remove", "move", "delete"]
BATCH = 50  # writes per request: thousands of writes in a few hundred requests


async def mixed_writes(
    session: aiohttp.ClientSession, server: Server, count: int, seed: int
) -> list[dict[str, Any]]:
    """``count`` writes of every kind, in batches sent one after another (a batch runs its
    members in order, so commit order is the order of the requests and of their members);
    what the feed must say of those that changed something."""
    rng = random.Random(seed)
    url = f"http://127.0.0.1:{server.port}{ENDPOINT}?auth={server.token}"
    expected: list[dict[str, Any]] = []
    live: list[int] = []
    for start in range(0, count, BATCH):
        usable = list(live)  # the groups there at the start of the batch, less its deletes
        planned: list[tuple[str, int, dict[str, Any]]] = []
        for i in range(start, min(start + BATCH, count)):
            kind = rng.choice(KINDS) if len(usable) > 1 else "create"
            uid, other = rng.sample(usable, 2) if len(usable) > 1 else (0, 0)
            if kind == "delete":
                usable.remove(uid)
            method, params = {
                "create": ("set", [None, {"name": f"group {seed}-{i}"}]),
                "rename": ("set", [uid, {"name": f"renamed {seed}-{i}"}]),
                "add": ("addCustomers", [uid, rng.sample(range(1, 40), 3)]),
                "remove": ("removeCustomers", [uid, rng.sample(range(1, 40), 3)]),
                "move": ("moveCustomers", [uid, other, None]),
                "delete": ("delete", [uid]),
            }[kind]
            planned.append((kind, uid, req(method, params, i)))
        async with session.post(url, json=[request for *_, request in planned]) as response:
            answers = {answer["id"]: answer for answer in await response.json()}
        for kind, uid, request in planned:
            answer = answers[request["id"]]
            assert "result" in answer, answer
            result = answer["result"]
            if kind == "create":
                live.append(result["uid"])
            elif kind == "delete":
                live.remove(uid)
            elif kind in ("add", "remove", "move") and not result:
                continue  # changed nothing: no event
            names = {"create": "created", "rename": "renamed", "delete": "deleted"}
            names |= {"add": "customersAdded", "remove": "customersRemoved"}
            made = result["uid"] if kind == "create" else uid
            expected.append({"type": names.get(kind, "customersMoved"), "uid": made})
    return expected


def summary(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"type": e["type"], "uid": e["uid"]} for e in events]


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


WRITES = 5_000  # per run of writes; two runs, the server restarted between them


@pytest.mark.parametrize("engine", ["disk", "postgresql"])
async def test_a_subscriber_sees_every_change_once_in_order_across_a_restart(
    engine: str, tmp_path: Path, request: pytest.FixtureRequest, session: aiohttp.ClientSession
) -> None:
    db = request.getfixturevalue("postgres_url") if engine == "postgresql" else None
    server, subscriber = Server(tmp_path, db), Subscriber()
    try:
        await asyncio.to_thread(server.start)
        following = asyncio.create_task(subscriber.follow(session, server, until=10**9))
        done = await mixed_writes(session, server, WRITES, seed=1)
        await asyncio.to_thread(server.stop)  # its sockets close; the subscriber stops there
        await asyncio.wait_for(following, WAIT)
        assert subscriber.cursor > 0  # it followed while the writes went on
        assert server.stderr().count("Traceback") == 0, server.stderr()

        await asyncio.to_thread(server.start)  # the same database: a new process and port
        following = asyncio.create_task(subscriber.follow(session, server, until=10**9))
        more = await mixed_writes(session, server, WRITES, seed=2)
        await asyncio.wait_for(_until(following, subscriber, len(done) + len(more)), WAIT)
    finally:
        await asyncio.to_thread(server.stop)
    assert subscriber.positions == list(range(1, len(done) + len(more) + 1))
    assert summary(subscriber.events) == done + more


async def _until(task: asyncio.Task[None], subscriber: Subscriber, position: int) -> None:
    """Wait until the subscriber has seen ``position`` (or stopped), then stop it."""
    while subscriber.cursor < position and not task.done():
        await asyncio.sleep(0.01)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def pids_of(server: Server) -> list[int]:
    assert server.process is not None
    pid = server.process.pid
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


async def test_with_two_workers_a_subscriber_sees_writes_made_through_the_other(
    postgres_url: str, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    server = Server(tmp_path, postgres_url, args=("--workers", "2"))
    url = f"{ENDPOINT}?auth={{}}".format(server.token)
    try:
        await asyncio.to_thread(server.start)
        pids = pids_of(server)
        sockets: list[Socket] = []
        where: list[int] = []  # the worker of each socket
        while len(set(where)) < 2 and len(sockets) < 40:
            before = [held_by(pid, server.port) for pid in pids]
            sockets.append(await session.ws_connect(f"http://127.0.0.1:{server.port}{url}"))
            await sockets[-1].send_json(req("count", []))  # answered: its worker has accepted it
            assert "result" in await receive(sockets[-1])
            after = [held_by(pid, server.port) for pid in pids]
            where.append(pids[[b < a for b, a in zip(before, after, strict=True)].index(True)])
        subscriber = sockets[0]
        writer = sockets[where.index(next(pid for pid in where if pid != where[0]))]
        await subscriber.send_json(req("subscribe", [0]))
        assert "result" in await receive(subscriber)
        for name in ("Gold", "Silver"):
            await writer.send_json(req("create", [{"name": name}]))
            assert "result" in await receive(writer)
        await writer.send_json(req("addCustomers", [1, [17]]))
        assert (await receive(writer))["result"] == 1
        found = await changed(subscriber, 3)
        assert [(e["position"], e["type"]) for e in found] == [
            (1, "created"),
            (2, "created"),
            (3, "customersAdded"),
        ]
        for socket in sockets:
            await socket.close()
    finally:
        await asyncio.to_thread(server.stop)
