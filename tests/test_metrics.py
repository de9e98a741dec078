"""metrics.py and GET /metrics: what a Prometheus scrape reads after a known load.

Every scrape here is read with prometheus-client's own text-format parser, as Prometheus
would read it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import time
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from prometheus_client.parser import text_string_to_metric_families

from customergroup_rpc.app import SHOPS, Config, create_app
from customergroup_rpc.errors import NameTaken
from customergroup_rpc.metrics import FOLD_EVERY, UNKNOWN, Metrics
from customergroup_rpc.rpc import KNOWN_METHODS
from customergroup_rpc.store import connect
from harness.client import Client

from .conftest import ENDPOINT, MANAGE, req
from .server_process import ADMIN_TOKEN, Server, post, rpc
from .test_workers import held_by

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]
CALLS = "customergroup_rpc_calls_total"
WAIT = 30.0


def parse(text: str) -> Samples:
    """Every sample of a scrape: (name, sorted labels) -> value."""
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def calls(samples: Samples) -> dict[tuple[str, str], float]:
    """customergroup_rpc_calls_total as (method, outcome) -> count, zeros left out."""
    found = {}
    for (name, labels), value in samples.items():
        if name == CALLS and value:
            found[(dict(labels)["method"], dict(labels)["outcome"])] = value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


# --- the module ---


def test_each_call_is_counted_by_method_and_outcome_and_timed() -> None:
    metrics = Metrics(KNOWN_METHODS)
    for _ in range(2):
        metrics.started()
    metrics.finished(["Customergroup.get"], [(None, 1.0, 1.25)])
    metrics.finished(["Customergroup.get", "Customergroup.get"], [(9003, 0, 0), (None, 0, 0.5)], 2)
    samples = parse(metrics.scrape({}).decode())
    assert calls(samples) == {("Customergroup.get", "ok"): 2, ("Customergroup.get", "9003"): 1}
    duration = "customergroup_rpc_call_duration_seconds"
    assert value(samples, f"{duration}_count", method="Customergroup.get") == 3
    assert value(samples, f"{duration}_sum", method="Customergroup.get") == 0.75
    assert value(samples, "customergroup_rpc_batch_size_count") == 1
    assert value(samples, "customergroup_rpc_requests_in_flight") == 0


def test_unknown_methods_share_one_label_and_the_label_set_stays_bounded() -> None:
    metrics = Metrics(KNOWN_METHODS)
    names = [f"Nope.{i}" for i in range(500)]
    metrics.finished(names, [(-32601, 0.0, 0.0)] * len(names))
    samples = parse(metrics.scrape({}).decode())
    assert calls(samples) == {(UNKNOWN, "-32601"): 500}
    methods = {dict(labels)["method"] for name, labels in samples if name == CALLS}
    assert methods == {*KNOWN_METHODS, UNKNOWN}


def test_known_methods_show_at_zero_before_any_call() -> None:
    samples = parse(Metrics(KNOWN_METHODS).scrape({}).decode())
    for method in KNOWN_METHODS:
        assert value(samples, CALLS, method=method, outcome="ok") == 0


def test_commits_and_each_shops_totals_are_shown() -> None:
    metrics = Metrics(KNOWN_METHODS)
    metrics.committed(0.002, 5)
    samples = parse(metrics.scrape({1: (3, 7), 2: (0, 0)}).decode())
    assert value(samples, "customergroup_rpc_commit_writes_sum") == 5
    assert value(samples, "customergroup_rpc_commit_duration_seconds_count") == 1
    assert value(samples, "customergroup_rpc_groups", shop="1") == 3
    assert value(samples, "customergroup_rpc_memberships", shop="1") == 7
    assert value(samples, "customergroup_rpc_groups", shop="2") == 0
    build = [labels for name, labels in samples if name == "customergroup_rpc_build_info"]
    assert [dict(labels)["version"] for labels in build] == ["0.1.0"]


# --- GET /metrics in the app ---


async def scrape(client: TestClient[Any, Any]) -> Samples:
    response = await client.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain; version=")
    return parse(await response.text())


async def test_metrics_count_a_batch_and_a_write_that_failed_with_its_commit(
    aiohttp_client: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await aiohttp_client(create_app(Config(db=tmp_path / "db.json", admin_token=MANAGE)))
    creates = [req("create", [{"name": "A"}], 1), req("create", [{"name": "B"}], 2)]
    await client.post(f"{ENDPOINT}?auth={MANAGE}", json=creates)

    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(28, "No space left on device")

    # The commit path is the journal's append (store/journal.py).
    monkeypatch.setattr("customergroup_rpc.store.journal.Journal.append", full)
    answer = await client.post(f"{ENDPOINT}?auth={MANAGE}", json=[req("create", [{"name": "C"}])])
    assert (await answer.json())[0]["error"]["code"] == -32603
    samples = await scrape(client)
    assert calls(samples) == {
        ("Customergroup.create", "ok"): 2,
        ("Customergroup.create", "-32603"): 1,  # answered ok by the method, lost at the commit
    }
    assert value(samples, "customergroup_rpc_batch_size_sum") == 3
    assert value(samples, "customergroup_rpc_commit_writes_sum") == 2  # the failed one: none
    assert value(samples, "customergroup_rpc_groups", shop="1") == 2


async def test_each_shops_groups_and_memberships_are_counted_apart(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    client = await aiohttp_client(create_app(Config(db=tmp_path / "db.json", admin_token=MANAGE)))
    client.app[SHOPS].source.create_shop(22222, "Sverige", "sv")
    made = [req("create", [{"name": "A"}], 1), req("addCustomers", [1, [5, 6, 7]], 2)]
    for shop, body in ((1, made[:1]), (22222, made)):
        answer = await client.post(f"{ENDPOINT}?auth={MANAGE}&webshop={shop}", json=body)
        assert all("result" in a for a in await answer.json())
    samples = await scrape(client)
    assert value(samples, "customergroup_rpc_groups", shop="1") == 1
    assert value(samples, "customergroup_rpc_memberships", shop="1") == 0
    assert value(samples, "customergroup_rpc_groups", shop="22222") == 1
    assert value(samples, "customergroup_rpc_memberships", shop="22222") == 3
    assert value(samples, "customergroup_rpc_commit_writes_sum") == 3  # every shop's commits


async def test_open_websockets_are_counted(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE)))
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        await ws.send_str(json.dumps(req("count")))
        assert (await ws.receive_json())["result"] == 0
        samples = await scrape(client)
        assert value(samples, "customergroup_rpc_websockets_open") == 1
        assert calls(samples) == {("Customergroup.count", "ok"): 1}
    for _ in range(100):  # the server sees the close a moment later
        if value(await scrape(client), "customergroup_rpc_websockets_open") == 0:
            break
    assert value(await scrape(client), "customergroup_rpc_websockets_open") == 0


async def test_subscriptions_to_the_change_feed_are_counted(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE)))
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}") as ws:
        assert value(await scrape(client), "customergroup_rpc_subscriptions") == 0
        await ws.send_str(json.dumps(req("subscribe", [0])))
        assert "result" in await ws.receive_json()
        for _ in range(100):  # the subscription starts once its answer is sent
            if value(await scrape(client), "customergroup_rpc_subscriptions") == 1:
                break
        assert value(await scrape(client), "customergroup_rpc_subscriptions") == 1
        await ws.send_str(json.dumps(req("unsubscribe", [], 2)))
        assert (await ws.receive_json())["result"] is True
        assert value(await scrape(client), "customergroup_rpc_subscriptions") == 0
        await ws.send_str(json.dumps(req("subscribe", [0], 3)))
        assert "result" in await ws.receive_json()
    for _ in range(100):  # closing the socket ends its subscription
        if value(await scrape(client), "customergroup_rpc_subscriptions") == 0:
            break
    assert value(await scrape(client), "customergroup_rpc_subscriptions") == 0


async def test_without_metrics_there_is_no_metrics_route(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE, metrics=False)))
    assert (await client.get("/metrics")).status == 404
    assert (await client.post(f"{ENDPOINT}?auth={MANAGE}", json=req("count"))).status == 200


# --- through the real server ---


def mixed_load(server: Server) -> None:
    """A load whose counts the tests know: see EXPECTED."""
    for name in ("A", "B", "C"):
        server.result("Customergroup.create", [{"name": name}])
    assert server.result("Customergroup.addCustomers", [1, [17, 42, 99]]) == 3
    server.result("Customergroup.get", [1, "name"])
    server.result("Customergroup.get", [2, "name"])
    assert server.call("Customergroup.get", [7])["error"]["code"] == 9003
    batch = [
        {"jsonrpc": "2.0", "method": "Customergroup.count", "params": [], "id": 1},
        {"jsonrpc": "2.0", "method": "Customergroup.get", "params": [3], "id": 2},
        {"jsonrpc": "2.0", "method": "Nope.nothing", "id": 3},
        {"jsonrpc": "1.0", "method": "Customergroup.count", "id": 4},
        {"jsonrpc": "2.0", "method": "Customergroup.count", "params": []},  # a notification
    ]
    status, answer = post(server.port, json.dumps(batch).encode(), token=ADMIN_TOKEN)
    assert status == 200
    assert len(answer) == 4
    assert post(server.port, b"{not json", token=ADMIN_TOKEN)[1]["error"]["code"] == -32700
    assert post(server.port, rpc("Customergroup.count", []))[1]["error"]["code"] == 1004


EXPECTED = {
    ("Customergroup.create", "ok"): 3,
    ("Customergroup.addCustomers", "ok"): 1,
    ("Customergroup.get", "ok"): 3,
    ("Customergroup.get", "9003"): 1,
    ("Customergroup.count", "ok"): 2,
    ("Customergroup.count", "1004"): 1,
    (UNKNOWN, "-32601"): 1,
    (UNKNOWN, "-32600"): 1,
    (UNKNOWN, "-32700"): 1,
}


def test_a_scrape_after_a_mixed_load_finds_exactly_its_counts(tmp_path: Path) -> None:
    with Server(tmp_path) as server:
        mixed_load(server)
        status, body = server.get("/metrics")
        assert status == 200
    samples = parse(body.decode())
    assert calls(samples) == EXPECTED
    assert value(samples, "customergroup_rpc_batch_size_count") == 1
    assert value(samples, "customergroup_rpc_batch_size_sum") == 5
    assert value(samples, "customergroup_rpc_commit_writes_sum") == 4  # 3 creates, 1 add
    assert value(samples, "customergroup_rpc_groups", shop="1") == 3
    assert value(samples, "customergroup_rpc_memberships", shop="1") == 3
    duration = "customergroup_rpc_call_duration_seconds_count"
    assert value(samples, duration, method="Customergroup.create") == 3
    assert value(samples, "customergroup_rpc_requests_in_flight") == 0


def test_serve_no_metrics_serves_none(tmp_path: Path) -> None:
    with Server(tmp_path, args=("--no-metrics",)) as server:
        assert server.get("/metrics")[0] == 404
        assert server.result("Customergroup.count", []) == 0


def workers_of(server: Server) -> list[int]:
    assert server.process is not None
    pid = server.process.pid
    return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def one_client_per_worker(server: Server, pids: list[int]) -> tuple[dict[int, Client], int]:
    """A kept-alive client on each worker (which worker took a connection: /proc), and how
    many ``count`` calls it took to find them."""
    clients: dict[int, Client] = {}
    opened: list[Client] = []
    while len(clients) < len(pids) and len(opened) < 40:
        before = {pid: held_by(pid, server.port) for pid in pids}
        client = server.client()
        opened.append(client)
        client.call("count", [])  # connected, and answered by the worker that took it
        took = [pid for pid in pids if held_by(pid, server.port) > before[pid]]
        if len(took) == 1 and took[0] not in clients:
            clients[took[0]] = client
    for client in opened:
        if client not in clients.values():
            client.close()
    assert len(clients) == len(pids), "the kernel gave every connection to one worker"
    return clients, len(opened)


def scraped_on(client: Client) -> Samples:
    """GET /metrics on the client's own connection: answered by the worker holding it."""
    assert client.connection is not None
    client.connection.request("GET", "/metrics")
    response = client.connection.getresponse()
    assert response.status == 200
    return parse(response.read().decode())


def seen_soon(client: Client, expected: dict[tuple[str, str], float]) -> dict[Any, float]:
    """The calls a worker's scrape shows, once they are ``expected`` or FOLD_EVERY seconds
    (and some) have passed: the other worker adds its calls to the shared files that often."""
    deadline = time.monotonic() + FOLD_EVERY + WAIT
    while (found := calls(scraped_on(client))) != expected and time.monotonic() < deadline:
        time.sleep(0.1)
    return found


def test_with_two_workers_one_scrape_sees_the_calls_of_both(
    postgres_url: str, tmp_path: Path
) -> None:
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    env = {"TMPDIR": str(temporary)}
    with Server(tmp_path, postgres_url, args=("--workers", "2"), env=env) as server:
        [shared] = temporary.iterdir()  # the parent's folder for the workers' metrics
        assert stat.S_IMODE(shared.stat().st_mode) == 0o700
        pids = workers_of(server)
        assert len(pids) == 2
        clients, counted = one_client_per_worker(server, pids)
        for pid, many in zip(pids, (5, 7), strict=True):
            for _ in range(many):
                clients[pid].call("count", [])
        counted += 12
        expected = {("Customergroup.count", "ok"): float(counted)}
        for pid in pids:  # each worker answers a scrape with both workers' calls
            found = seen_soon(clients[pid], expected)
            assert found == expected, f"worker {pid} saw {found}"
        for client in clients.values():
            client.close()
        # A worker that dies: what it counted still counts, what it had open no longer does.
        owner, socket_ = websocket_on_a_worker(server, pids)
        until_scraped(server, "customergroup_rpc_websockets_open", 1)
        os.kill(owner, signal.SIGKILL)
        deadline = time.monotonic() + WAIT
        while owner in workers_of(server) or len(workers_of(server)) < 2:
            assert time.monotonic() < deadline, "the killed worker was not replaced"
            time.sleep(0.05)
        socket_.close()
        samples = until_scraped(server, "customergroup_rpc_websockets_open", 0)
        assert calls(samples) == {("Customergroup.count", "ok"): counted}
        assert server.stop() == 0
    assert list(temporary.iterdir()) == []  # removed as the parent exits


def websocket_on_a_worker(server: Server, pids: list[int]) -> tuple[int, socket.socket]:
    """A WebSocket opened by hand, and the worker that holds it."""
    before = {pid: held_by(pid, server.port) for pid in pids}
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=WAIT)
    sock.sendall(
        f"GET {ENDPOINT}?auth={ADMIN_TOKEN} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    assert sock.recv(4096).startswith(b"HTTP/1.1 101")
    [owner] = [pid for pid in pids if held_by(pid, server.port) > before[pid]]
    return owner, sock


def until_scraped(server: Server, name: str, wanted: float) -> Samples:
    """A scrape in which ``name`` is ``wanted``, waiting FOLD_EVERY (and some) for it."""
    deadline = time.monotonic() + FOLD_EVERY + WAIT
    while value(samples := parse(server.get("/metrics")[1].decode()), name) != wanted:
        assert time.monotonic() < deadline, f"{name} stayed {value(samples, name)}"
        time.sleep(0.1)
    return samples


# --- what the stores tell /metrics ---

AT = "2014-01-16T14:14:18Z"


async def test_every_engine_reports_each_commits_writes_and_its_totals(
    db: Path | str | None,
) -> None:
    store = await connect(db)
    commits: list[int] = []
    store.on_commit = lambda seconds, writes: commits.append(writes)
    try:
        first = await store.create("A", AT)
        second = await store.create("B", AT)
        await store.add(first["uid"], frozenset({1, 2, 3}), AT)
        async with store.together():
            await store.create("C", AT)
            await store.add(second["uid"], frozenset({4}), AT)
            with pytest.raises(NameTaken):
                await store.create("a", AT)  # refused: no write of the commit
        assert commits == [1, 1, 1, 2]  # the block's two writes: one commit
        assert await store.totals() == (3, 4)
    finally:
        await store.aclose()
