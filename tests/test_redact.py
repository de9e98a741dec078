"""Redaction: no token survives the log handler, whoever logs it and wherever it sits."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from aiohttp.http_exceptions import BadHttpMessage, BadStatusLine, InvalidURLError

from customergroup_rpc.redact import REDACTED, log_to, redact

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
