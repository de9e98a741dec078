"""probes.py: /livez and /readyz, and the drain SIGTERM begins (``serve``'s ``_Stops``)."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from aiohttp import WSCloseCode, WSMsgType

from customergroup_rpc.app import Config, begin_drain, create_app
from harness.postgres import Cluster

from .conftest import ENDPOINT, MANAGE, req
from .server_process import ADMIN_TOKEN, Server, rpc
from .test_metrics import one_client_per_worker, workers_of

WAIT = 30.0


async def test_livez_and_readyz_answer_ok_while_the_store_answers(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE)))
    for path in ("/livez", "/readyz"):
        response = await client.get(path)
        assert (response.status, await response.json()) == (200, {"status": "ok"})


async def test_a_database_that_is_down_fails_readyz_never_livez(
    aiohttp_client: Any, postgres: Cluster, postgres_url: str
) -> None:
    client = await aiohttp_client(create_app(Config(db=postgres_url, admin_token=MANAGE)))
    postgres.stop()
    try:
        ready = await client.get("/readyz")
        assert (ready.status, await ready.json()) == (
            503,
            {"status": "unavailable", "database": "down"},
        )
        live = await client.get("/livez")
        assert (live.status, await live.json()) == (200, {"status": "ok"})
        scraped = await client.get("/metrics")  # the rest still counts, the totals left out
        assert scraped.status == 200
        assert "customergroup_rpc_groups{" not in await scraped.text()
    finally:
        postgres.start()
    assert (await client.get("/readyz")).status == 200


async def test_a_drain_fails_readyz_at_once_and_goes_on_answering_calls(
    aiohttp_client: Any,
) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE)))
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps(req("count")))
        assert (await ws.receive_json())["result"] == 0
        closing = begin_drain(client.app)
        ready = await client.get("/readyz")
        assert (ready.status, await ready.json()) == (503, {"status": "draining"})
        closed = await ws.receive(timeout=5)
        await closing
    assert (closed.type, closed.data) == (WSMsgType.CLOSE, WSCloseCode.GOING_AWAY)
    assert (await client.get("/livez")).status == 200
    answer = await client.post(f"{ENDPOINT}?auth={MANAGE}", json=req("count"))
    assert (answer.status, (await answer.json())["result"]) == (200, 0)
    assert answer.headers["Connection"] == "close"  # the next request goes to the balancer


# --- the drain of a real server ---


class Balancer(threading.Thread):
    """Polls ``/readyz`` as a load balancer does, until it first sees 503."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.unready_at: float | None = None
        self.seen: list[int] = []
        self.ready = threading.Event()  # it has seen this server ready

    def run(self) -> None:
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            status = self.server.get("/readyz", timeout=5)[0]
            self.seen.append(status)
            if status == 200:
                self.ready.set()
            if status == 503:
                self.unready_at = time.monotonic()
                return
            time.sleep(0.01)


def test_after_sigterm_the_balancer_sees_unready_before_the_last_call_and_no_call_fails(
    tmp_path: Path,
) -> None:
    with Server(tmp_path, args=("--drain-seconds", "2")) as server:
        balancer = Balancer(server)
        balancer.start()
        answered: list[tuple[float, Any]] = []
        with server.client() as client:
            for _ in range(20):
                answered.append((time.monotonic(), client.call("count", [])))
            assert balancer.ready.wait(WAIT)
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            # The client goes on calling until the balancer takes this server out; then
            # the call already on its way is the last one.
            while balancer.is_alive():
                answered.append((time.monotonic(), client.call("count", [])))
            answered.append((time.monotonic(), client.call("count", [])))
        balancer.join()
        assert server.stop() == 0
    assert balancer.unready_at is not None, balancer.seen
    assert balancer.seen[0] == 200
    assert [result for _, result in answered] == [0] * len(answered)  # none failed
    assert balancer.unready_at < answered[-1][0]
    assert "Traceback" not in server.stderr()


async def test_a_call_in_flight_when_the_drain_ends_is_finished(
    postgres_url: str, tmp_path: Path
) -> None:
    with Server(tmp_path, postgres_url, args=("--drain-seconds", "0.5")) as server:
        server.result("Customergroup.create", [{"name": "Held"}])
        holder = await asyncpg.connect(postgres_url)
        try:
            locked = holder.transaction()
            await locked.start()
            await holder.execute("SELECT 1 FROM customergroups WHERE uid = 1 FOR UPDATE")
            async with aiohttp.ClientSession() as session:
                url = f"http://127.0.0.1:{server.port}{ENDPOINT}?auth={ADMIN_TOKEN}"
                body = rpc("Customergroup.addCustomers", [1, [17]])
                call = asyncio.create_task(session.post(url, data=body))  # waits for the lock
                await until_waiting_for_a_lock(holder)
                assert server.process is not None
                server.process.send_signal(signal.SIGTERM)
                deadline = time.monotonic() + WAIT
                while listening(server.port):  # the drain is over: the server is stopping
                    assert time.monotonic() < deadline, "the port stayed open"
                    await asyncio.sleep(0.05)
                await locked.rollback()
                response = await call
                answer = await response.json()
        finally:
            await holder.close()
        assert server.process.wait(WAIT) == 0
    assert (response.status, answer) == (200, {"jsonrpc": "2.0", "result": 1, "id": 1})


async def until_waiting_for_a_lock(db: asyncpg.Connection[Any]) -> None:
    deadline = time.monotonic() + WAIT
    while not await db.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
    ):
        assert time.monotonic() < deadline, "the call never waited for the lock"
        await asyncio.sleep(0.02)


def listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return False
    return True


def test_sigint_stops_at_once_even_in_the_middle_of_a_drain(tmp_path: Path) -> None:
    with Server(tmp_path, args=("--drain-seconds", "600")) as server:
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + WAIT
        while server.get("/readyz")[0] != 503:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert server.stop(signal.SIGINT, timeout=WAIT) == 0  # not 600 s later
    assert "Traceback" not in server.stderr()


def test_sigterm_to_serve_workers_drains_every_worker(postgres_url: str, tmp_path: Path) -> None:
    with Server(
        tmp_path, postgres_url, args=("--workers", "2", "--drain-seconds", "600")
    ) as server:
        pids = workers_of(server)
        clients, _ = one_client_per_worker(server, pids)
        assert server.process is not None
        server.process.send_signal(signal.SIGTERM)
        for pid, client in clients.items():
            deadline = time.monotonic() + WAIT
            while True:  # on the connection the worker holds: its own answer
                assert client.connection is not None
                client.connection.request("GET", "/readyz")
                response = client.connection.getresponse()
                response.read()
                if response.status == 503:
                    break
                assert time.monotonic() < deadline, f"worker {pid} did not begin to drain"
                time.sleep(0.05)
            client.close()
        assert server.stop(signal.SIGINT, timeout=WAIT) == 0
    assert "Traceback" not in server.stderr()
