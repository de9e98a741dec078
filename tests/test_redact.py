"""Redaction: no token survives the log handler, whoever logs it and wherever it sits."""

from __future__ import annotations

import http.client
import io
import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, InvalidURLError

from customergroup_rpc.accesslog import JsonFormatter
from customergroup_rpc.redact import REDACTED, log_to, redact

from .server_process import ADMIN_TOKEN, ENDPOINT, Server

TOKEN = "cgr_Zq3-x_9LmNoPq0rStUvWxYz012345"


@pytest.fixture
def logged() -> Iterator[io.StringIO]:
    """Standard error as ``serve`` sets it up, into a buffer; the root logger restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    log_to(out)
    try:
        yield out
    finally:
        root.handlers[:], root.level = saved


# What aiohttp's parser put in its exceptions for the requests of issue 10, item 1.
REFUSED = {
    "space in the target": BadStatusLine(
        "Bad status line:\n  Expected HTTP/, RTSP/ or ICE/:\n\n"
        f"    b'POST /backend/jsonrpc/v1/?auth={TOKEN}&q=a b HTTP/1.1'\n      ^"
    ),
    "raw byte in the query": InvalidURLError(
        "Invalid char in url query:\n\n"
        f"    b'POST /backend/jsonrpc/v1/?auth={TOKEN}&q=\\xc3\\xa9 HTTP/1.1'\n    ^"
    ),
    "control in the header": BadHttpMessage(
        f"Invalid header value char:\n\n    b'Authorization: Bearer {TOKEN}\\x01'\n    ^"
    ),
}


@pytest.mark.parametrize(
    "text",
    [
        f"GET /backend/jsonrpc/v1/?auth={TOKEN} HTTP/1.1",
        f"/backend/jsonrpc/v1?q=1&auth={TOKEN}&x=2",
        f"/backend/jsonrpc/v1?%61%75%74%68={TOKEN}",  # what yarl decodes to auth
        f"?AUTH={TOKEN}",
        f"b'Authorization: Bearer {TOKEN}\\x01\\r\\nHost: x'",
        f"Authorization: Basic {TOKEN}",
        f"{{'Authorization': 'Bearer {TOKEN}', 'Host': 'x'}}",
        f"<MultiDict('auth': '{TOKEN}')>",
        f'{{"auth": "{TOKEN}"}}',
        f"headers bearer\\t{TOKEN}",
        f"a token on its own: {TOKEN}.",
    ],
)
def test_redact_removes_the_token_wherever_it_sits(text: str) -> None:
    redacted = redact(text)
    assert REDACTED in redacted
    assert TOKEN not in redacted
    assert TOKEN[4:12] not in redacted  # nor a part of it


def test_redact_keeps_the_rest_of_the_line() -> None:
    line = f"b'POST /backend/jsonrpc/v1/?auth={TOKEN}&q=a b HTTP/1.1'"
    assert redact(line) == f"b'POST /backend/jsonrpc/v1/?auth={REDACTED}&q=a b HTTP/1.1'"
    assert redact('"POST /backend/jsonrpc/v1/" Customergroup.get 200') == (
        '"POST /backend/jsonrpc/v1/" Customergroup.get 200'
    )


@pytest.mark.parametrize("name", list(REFUSED))
def test_a_refused_request_leaves_no_traceback_and_no_token(logged: io.StringIO, name: str) -> None:
    try:
        raise REFUSED[name]
    except BadHttpMessage as exc:
        logging.getLogger("aiohttp.server").exception("Error handling request", exc_info=exc)
    assert logged.getvalue() == ""  # the access line records the 400


@pytest.mark.parametrize("name", list(REFUSED))
@pytest.mark.parametrize("logger", ["aiohttp.server", "asyncio", "customergroup_rpc"])
def test_any_other_record_is_redacted_message_args_and_traceback(
    logged: io.StringIO, name: str, logger: str
) -> None:
    refused = REFUSED[name]
    try:
        raise RuntimeError(str(refused))  # not a parse refusal: logged, and redacted
    except RuntimeError:
        logging.getLogger(logger).exception("Failed on %s with %r", f"/?auth={TOKEN}", refused)
    text = logged.getvalue()
    assert "Traceback" in text
    assert "RuntimeError" in text
    assert TOKEN not in text
    assert REDACTED in text


# --- serve --log-format json: the same handler, lines of JSON ---


@pytest.fixture
def logged_json() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    out = io.StringIO()
    log_to(out, formatter=JsonFormatter())
    try:
        yield out
    finally:
        root.handlers[:], root.level = saved


@pytest.mark.parametrize("name", list(REFUSED))
def test_json_lines_are_redacted_message_and_traceback_and_stay_json(
    logged_json: io.StringIO, name: str
) -> None:
    try:
        raise RuntimeError(str(REFUSED[name]))
    except RuntimeError:
        logging.getLogger("customergroup_rpc").exception("Failed on %s", f"/?auth={TOKEN}")
    [line] = logged_json.getvalue().splitlines()
    record = json.loads(line)
    assert (record["level"], record["logger"]) == ("ERROR", "customergroup_rpc")
    assert record["message"] == f"Failed on /?auth={REDACTED}"
    assert "RuntimeError" in record["exception"]
    assert TOKEN not in line


@pytest.mark.parametrize("name", list(REFUSED))
def test_json_lines_leave_out_aiohttps_refusals_too(logged_json: io.StringIO, name: str) -> None:
    try:
        raise REFUSED[name]
    except BadHttpMessage as exc:
        logging.getLogger("aiohttp.server").exception("Error handling request", exc_info=exc)
    assert logged_json.getvalue() == ""


def sent_everywhere(server: Server, token: str) -> int:
    """Send ``token`` in every place a client can put it; how many HTTP requests that was."""
    headers = {
        "Authorization": f"Bearer {token}",
        "X-Request-Id": token,
        "Cookie": f"auth={token}",
        "User-Agent": token,
        "Referer": f"http://x/?auth={token}",
    }
    body = json.dumps({"jsonrpc": "2.0", "method": token, "params": [token], "id": token})
    sent = 0
    for path in (f"{ENDPOINT}?auth={token}", ENDPOINT, f"/{token}", f"{ENDPOINT}{token}"):
        for method in ("POST", "GET"):
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
            connection.request(method, path, body=body.encode(), headers=headers)
            connection.getresponse().read()
            connection.close()
            sent += 1
    basic = {"Authorization": f"Basic {token}", "X-Request-Id": f"auth={token}"}
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    connection.request("POST", ENDPOINT, body=body.encode(), headers=basic)
    connection.getresponse().read()
    connection.close()
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as raw:
        raw.sendall(f"POST {ENDPOINT}?auth={token}&q=a b HTTP/1.1\r\n\r\n".encode())
        raw.recv(65536)
    return sent + 2


async def websocket_with(server: Server, token: str) -> None:
    url = f"http://127.0.0.1:{server.port}{ENDPOINT}?auth={token}"
    headers = {"X-Request-Id": token}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=headers) as ws:
        await ws.send_str(json.dumps({"jsonrpc": "2.0", "method": token, "id": token}))
        await ws.receive(timeout=10)


@pytest.mark.parametrize(
    "token",
    [ADMIN_TOKEN, "plain-admin-secret-of-32-letters"],
    ids=["token of this service's shape", "environment token of any shape"],
)
async def test_a_token_sent_in_every_place_never_appears_in_json_logs(
    tmp_path: Path, token: str
) -> None:
    unknown = "cgr_unknown_but_secret_looking_token"
    with Server(tmp_path, admin_token=token, args=("--log-format", "json")) as server:
        requests = sent_everywhere(server, token) + sent_everywhere(server, unknown)
        await websocket_with(server, token)
        await websocket_with(server, unknown)
        assert server.stop() == 0
    log = server.stderr()
    records = [json.loads(line) for line in log.splitlines()]  # every line is JSON
    served = [r for r in records if r.get("event") == "request" and r["route"] != "/health"]
    assert len(served) >= requests  # the lines are there, each without a token
    assert token not in log
    assert unknown not in log
    assert "Traceback" not in log
