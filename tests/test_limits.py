"""Limits under attack, and disk faults: a clear answer, nothing changed, still serving."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from customergroup_rpc.app import Config, create_app
from customergroup_rpc.store.journal import Journal, replayed

from .conftest import ENDPOINT, MANAGE, req

URL = f"{ENDPOINT}?auth={MANAGE}"


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[TestServer]:
    config = Config(db=tmp_path / "db.json", admin_token=MANAGE, max_body=4096, read_timeout=0.5)
    server = TestServer(create_app(config))
    await server.start_server(keepalive_timeout=0.5)
    yield server
    await server.close()


@pytest.fixture
async def client(server: TestServer) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(server) as client:
        yield client


async def test_a_hundred_thousand_levels_of_nesting_are_a_parse_error(
    client: TestClient[Any, Any],
) -> None:
    for body in (b"[" * 100_000 + b"]" * 100_000, b'{"a":' * 100_000 + b"1" + b"}" * 100_000):
        config = Config(admin_token=MANAGE, max_body=1 << 20)
        async with TestClient(TestServer(create_app(config))) as big:
            response = await big.post(URL, data=body)
            assert response.status == 200
            assert (await response.json())["error"]["code"] == -32700


async def raw(server: TestServer, *parts: bytes, gap: float = 0.0, wait: float = 3.0) -> bytes:
    """Send bytes over a raw socket, with gaps; whatever the server sent within ``wait`` s."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    received = b""
    try:
        for part in parts:
            writer.write(part)
            await writer.drain()
            await asyncio.sleep(gap)
        deadline = asyncio.get_running_loop().time() + wait
        while (left := deadline - asyncio.get_running_loop().time()) > 0:
            chunk = await asyncio.wait_for(reader.read(65536), left)
            if not chunk:
                break
            received += chunk
    except (ConnectionError, TimeoutError):
        pass
    finally:
        writer.close()
    return received


async def test_a_chunked_body_over_the_limit_is_refused_before_it_ends(server: TestServer) -> None:
    head = f"POST {URL} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
    chunk = b"400\r\n" + b" " * 1024 + b"\r\n"
    answer = await raw(server, head, chunk * 8, wait=2)  # 8 KiB sent, the body never finished
    assert answer.startswith(b"HTTP/1.1 413")
    assert b"larger than 4096 bytes" in answer


async def test_a_slow_body_is_cut_off_with_408(server: TestServer) -> None:
    head = f"POST {URL} HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n".encode()
    answer = await raw(server, head, b'{"json', gap=1.0, wait=1)
    assert answer.startswith(b"HTTP/1.1 408")
    assert b"did not arrive within 0.5 s" in answer


async def test_an_idle_connection_is_closed(server: TestServer) -> None:
    started = asyncio.get_running_loop().time()
    assert await raw(server, wait=5) == b""
    assert asyncio.get_running_loop().time() - started < 3  # closed at 0.5 s, not at 5


async def test_headers_sent_slowly_are_cut_off(server: TestServer) -> None:
    parts = [f"POST {URL} HTTP/1.1\r\n".encode()] + [b"X-Slow: yes\r\n"] * 10
    started = asyncio.get_running_loop().time()
    answer = await raw(server, *parts, gap=0.2, wait=5)
    assert not answer.startswith(b"HTTP/1.1 200")
    assert asyncio.get_running_loop().time() - started < 4.5  # closed, not waited out


async def test_a_failed_disk_write_answers_an_error_changes_nothing_and_reads_go_on(
    client: TestClient[Any, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await client.post(URL, json=req("create", [{"name": "Staff"}]))
    files = [tmp_path / "db.json", tmp_path / "db.json.journal"]
    before = [file.read_bytes() for file in files]

    def disk_full(journal: Journal, data: bytes) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(Journal, "append", disk_full)
    batch = [req("create", [{"name": "Students"}], 1), req("addCustomers", [1, [17]], 2)]
    answers = await (await client.post(URL, json=batch)).json()
    assert [a["error"] for a in answers] == [{"code": -32603, "message": "Internal error"}] * 2
    assert [file.read_bytes() for file in files] == before
    listed = await (
        await client.post(URL, json=req("list", [["uid", "name", "customerCount"]]))
    ).json()
    assert listed["result"] == [{"customerCount": 0, "name": "Staff", "uid": 1}]
    monkeypatch.undo()
    again = await (await client.post(URL, json=req("create", [{"name": "Students"}]))).json()
    assert again["result"]["uid"] == 2
    assert replayed(tmp_path / "db.json")["customergroups"]["2"]["name"] == "Students"
