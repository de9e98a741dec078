"""JSON-RPC 2.0 over HTTP with the standard library: one kept-alive connection per ``Client``.

A token goes as ``?auth=TOKEN`` or, with ``bearer=True``, as an ``Authorization`` header.

>>> request("count", [{}], id_=7)
{'jsonrpc': '2.0', 'method': 'Customergroup.count', 'id': 7, 'params': [{}]}
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

ENDPOINT = "/backend/jsonrpc/v1/"
PREFIX = "Customergroup."
MAX_BATCH = 100  # the service's default --max-batch
NO_PARAMS: Any = object()  # leave the params member out
DEFAULT: Any = object()  # the client's own token


class CallError(Exception):
    """A call that had to succeed did not: HTTP status, transport, or a JSON-RPC error."""


def request(method: str, params: Any = NO_PARAMS, id_: Any = 1) -> dict[str, Any]:
    """A request object for ``Customergroup.<method>`` (a name with a dot is taken as it is)."""
    name = method if "." in method else PREFIX + method
    sent: dict[str, Any] = {"jsonrpc": "2.0", "method": name, "id": id_}
    if params is not NO_PARAMS:
        sent["params"] = params
    return sent


def rpc(method: str, params: Any, id_: Any = 1) -> bytes:
    """The body of one request, ``method`` in full (``Customergroup.get``)."""
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": id_}).encode()


@dataclass(frozen=True)
class Reply:
    """One HTTP answer as it came."""

    status: int
    content_type: str
    body: bytes

    def json(self) -> Any:
        """The decoded body; None when it is empty."""
        return json.loads(self.body) if self.body else None


class Client:
    """Calls over one keep-alive connection to ``host:port``; reconnects after a failure."""

    def __init__(
        self,
        port: int,
        token: str | None = None,
        *,
        host: str = "127.0.0.1",
        path: str = ENDPOINT,
        timeout: float = 30.0,
    ) -> None:
        self.host, self.port, self.path, self.token, self.timeout = host, port, path, token, timeout
        self.connection: http.client.HTTPConnection | None = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def send(self, body: bytes, token: Any = DEFAULT, bearer: bool = False) -> Reply:
        """POST a body with ``token`` (default: the client's own; None: none).

        Raises OSError or http.client.HTTPException when no whole answer comes, and drops the
        connection (the next call makes a new one).
        """
        token = self.token if token is DEFAULT else token
        path, headers = self.path, {"Content-Type": "application/json"}
        if token is not None and bearer:
            headers["Authorization"] = f"Bearer {token}"
        elif token is not None:
            path = f"{self.path}?auth={token}"
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        try:
            self.connection.request("POST", path, body=body, headers=headers)
            response = self.connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.will_close:
            self.close()
        return Reply(response.status, response.headers.get_content_type(), data)

    def post(self, sent: Any) -> Any:
        """POST a JSON document; the decoded answer of an HTTP 200, or CallError."""
        try:
            reply = self.send(json.dumps(sent).encode())
        except (OSError, http.client.HTTPException) as error:
            raise CallError(f"no answer: {error!r}") from error
        if reply.status != 200:
            raise CallError(f"HTTP {reply.status}: {reply.body[:300]!r}")
        return reply.json()

    def call(self, method: str, params: Any = NO_PARAMS) -> Any:
        """The result of one call that must succeed: ``call("get", [1, "name"])``."""
        return result(self.post(request(method, params)))

    def batch(self, calls: Sequence[tuple[str, Any]]) -> list[dict[str, Any]]:
        """The answers to ``(method, params)`` calls, sent in batches of at most MAX_BATCH."""
        answers: list[dict[str, Any]] = []
        for start in range(0, len(calls), MAX_BATCH):
            chunk = calls[start : start + MAX_BATCH]
            got = self.post([request(m, p, start + i) for i, (m, p) in enumerate(chunk)])
            if not isinstance(got, list) or len(got) != len(chunk):
                raise CallError(f"a batch of {len(chunk)} answered {str(got)[:300]}")
            answers += got
        return answers


def result(answer: Any) -> Any:
    """The result of an answer, or CallError."""
    if not isinstance(answer, dict) or "result" not in answer:
        raise CallError(f"expected a result, got {json.dumps(answer)[:300]}")
    return answer["result"]


def post(
    port: int,
    body: bytes,
    *,
    token: str | None = None,
    bearer: bool = False,
    timeout: float = 10.0,
    connection: http.client.HTTPConnection | None = None,
) -> tuple[int, Any]:
    """POST one body on a connection of its own (or the given one), then close it.

    Returns the HTTP status and the decoded JSON body (None when empty).
    """
    client = Client(port, token, timeout=timeout)
    client.connection = connection
    with client:
        reply = client.send(body, bearer=bearer)
    return reply.status, reply.json()
