"""CLI calls: the console notation sent to a running service, the answer printed (SPEC 11).

``customergroup-rpc call 'Customergroup.count({"/name": {"startsWith": "Staff"}})'`` posts one
JSON-RPC request and prints the result as indented JSON on standard output. A JSON-RPC error
goes to standard error (code, message, and each pointer with its message), exit code 1; a call
that is not valid notation is exit code 2 and nothing is sent; a server that cannot be reached
or answers something that is not JSON-RPC is exit code 1 with a sentence saying so.
``--batch FILE`` sends one call per line (blank lines and ``#`` comments skipped) as one batch.
Standard library only, so the command works wherever the package is installed.

>>> print(describe({"code": 9003, "message": "Object not found",
...                 "data": [{"pointer": "/0", "message": "No customer group with uid 7"}]}))
error 9003: Object not found
  /0: No customer group with uid 7
"""

from __future__ import annotations

import http.client
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, TextIO

from .notation import Call, NotationError, parse

DEFAULT_URL = "http://127.0.0.1:8080/backend/jsonrpc/v1/"
OK, FAILED, USAGE = 0, 1, 2
TIMEOUT = 30.0
BAD_AUTH = 1004


class CallFailed(Exception):
    """The service could not be asked or did not answer in JSON-RPC; the text says why."""


@dataclass(frozen=True)
class Client:
    """Where calls go and the token they carry (as ``Authorization: Bearer``)."""

    url: str
    token: str | None = None
    timeout: float = TIMEOUT

    def send(self, body: Any) -> Any:
        """POST a request or batch; the decoded answer, or ``CallFailed``."""
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(body).encode()
        request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:  # 413 still carries a JSON-RPC error
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
            raise CallFailed(f"cannot reach {self.url}: {_reason(reason)}") from None
        try:
            return json.loads(raw)
        except ValueError:
            raise CallFailed(
                f"{self.url} answered HTTP {status} without a JSON-RPC response; "
                "is this the service's endpoint (…/backend/jsonrpc/v1/)?"
            ) from None


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be called, or None.

    >>> check_url("127.0.0.1:8080")
    'the URL must start with http:// or https:// (it is 127.0.0.1:8080)'
    """
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 (read for its check: a port that is no number or too big)
    except ValueError as exc:  # an unclosed [ or an address in [] that is none, say
        return f"the URL {url} is not valid: {exc}"
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return f"the URL must start with http:// or https:// (it is {url})"
    return None


def check_token(token: str) -> str | None:
    """Why ``token`` cannot be sent in an ``Authorization`` header, or None.

    >>> check_token("cgr_abc")
    >>> check_token("cgr_abc" + chr(13))[:40]
    'the token holds a line break or another '
    """
    try:
        token.encode("latin-1")  # what http.client sends header values as
    except UnicodeEncodeError:
        return _UNSENDABLE
    return None if token.isprintable() else _UNSENDABLE


_UNSENDABLE = (
    "the token holds a line break or another character a header cannot carry; "
    "check --token or CUSTOMERGROUP_RPC_TOKEN"
)


def call(client: Client, text: str, out: TextIO, err: TextIO) -> int:
    """Make one call written in the notation; the exit code."""
    try:
        method, params = parse(text)
    except NotationError as exc:
        print(f"customergroup-rpc: {exc}", file=err)
        return USAGE
    try:
        answer = client.send(_request(method, params, 1))
    except CallFailed as exc:
        print(f"customergroup-rpc: {exc}", file=err)
        return FAILED
    code = _show(answer, out, err, label=None)
    _hint(client, [answer], err)
    return code


def batch(client: Client, lines: Iterable[str], out: TextIO, err: TextIO) -> int:
    """Send every call in ``lines`` as one batch, ids being line numbers; the exit code.

    Nothing is sent unless every line parses. Each answer is printed under ``# line N: CALL``,
    results on ``out`` and errors on ``err``; the exit code is 1 if any call failed.
    """
    calls: dict[int, tuple[str, Call]] = {}
    wrong = 0
    for number, line in enumerate(lines, start=1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        try:
            calls[number] = (text, parse(text))
        except NotationError as exc:
            print(f"customergroup-rpc: line {number}: {exc}", file=err)
            wrong += 1
    if wrong or not calls:
        print(
            "customergroup-rpc: " + ("nothing was sent" if wrong else "no calls to send"), file=err
        )
        return USAGE
    try:
        answer = client.send([_request(*c, number) for number, (_, c) in calls.items()])
    except CallFailed as exc:
        print(f"customergroup-rpc: {exc}", file=err)
        return FAILED
    if not isinstance(answer, list):  # one error for the whole batch (too many calls, say)
        return _show(answer, out, err, label="the batch")
    by_id = {a.get("id"): a for a in answer if isinstance(a, dict)}
    codes = [
        _show(by_id.get(number), out, err, label=f"line {number}: {text}")
        for number, (text, _) in calls.items()
    ]
    _hint(client, answer, err)
    return max(codes)


def describe(error: Any) -> str:
    """A JSON-RPC error object as lines for people: code and message, then the details."""
    if not isinstance(error, dict):
        return f"error: {json.dumps(error)}"
    lines = [f"error {error.get('code')}: {error.get('message')}"]
    data = error.get("data")
    if isinstance(data, list) and all(isinstance(p, dict) and "pointer" in p for p in data):
        lines += [f"  {p['pointer'] or '(the whole value)'}: {p.get('message')}" for p in data]
    elif isinstance(data, str):
        lines.append(f"  {data}")
    elif data is not None:
        lines.append(f"  {json.dumps(data, ensure_ascii=False)}")
    return "\n".join(lines)


def _request(method: str, params: list[Any], id_: int) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": method, "params": params, "id": id_}


def _show(answer: Any, out: TextIO, err: TextIO, label: str | None) -> int:
    heading = "" if label is None else f"# {label}\n"
    if isinstance(answer, dict) and "result" in answer:
        text = json.dumps(answer["result"], indent=2, ensure_ascii=False)
        if not _fits(text, out):  # a lone surrogate (the name pattern has some), say
            text = json.dumps(answer["result"], indent=2)
        print(heading + text, file=out)
        return OK
    if isinstance(answer, dict) and "error" in answer:
        print(_printable(heading + describe(answer["error"]), err), file=err)
    else:
        print(heading + "customergroup-rpc: no JSON-RPC answer for this call", file=err)
    return FAILED


def _fits(text: str, stream: TextIO) -> bool:
    """Whether ``stream`` can print ``text`` as it is."""
    try:
        text.encode(_encoding(stream))
    except UnicodeEncodeError:
        return False
    return True


def _printable(text: str, stream: TextIO) -> str:
    """``text`` with what ``stream`` cannot print written as backslash escapes."""
    encoding = _encoding(stream)
    return text.encode(encoding, "backslashreplace").decode(encoding)


def _encoding(stream: TextIO) -> str:
    return getattr(stream, "encoding", None) or "utf-8"


def _hint(client: Client, answers: list[Any], err: TextIO) -> None:
    if not client.token and any(_code(a) == BAD_AUTH for a in answers):
        print(
            "customergroup-rpc: no token was sent; give --token or set CUSTOMERGROUP_RPC_TOKEN",
            file=err,
        )


def _code(answer: Any) -> Any:
    error = answer.get("error") if isinstance(answer, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (is the service running?)"
    if isinstance(reason, TimeoutError):
        return "no answer in time"
    return str(getattr(reason, "strerror", None) or reason)
