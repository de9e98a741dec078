r"""Logs without tokens: a formatter that redacts credentials from every finished log line.

Tokens travel in the ``auth`` query parameter or the ``Authorization`` header. Our own log
lines never carry them, but aiohttp logs the raw bytes of a request it cannot parse, and any
library's traceback may show a URL or a header. So ``serve``'s one log handler redacts the
whole formatted record, message and traceback alike, whoever logged it:

>>> redact("b'POST /backend/jsonrpc/v1/?q=1&auth=cgr_abc&x=2 HTTP/1.1'")
"b'POST /backend/jsonrpc/v1/?q=1&auth=[redacted]&x=2 HTTP/1.1'"
>>> redact("b'Authorization: Bearer cgr_abc\\x01\\r\\nHost: x'")
"b'Authorization: [redacted]\\r\\nHost: x'"

It also keeps out the tracebacks aiohttp writes for every request it refuses while parsing:
such a request gets its ordinary access line (status 400) and nothing else.
"""

from __future__ import annotations

import logging
import re
from typing import IO

from aiohttp.http_exceptions import HttpProcessingError

REDACTED = "[redacted]"
_LINE = "%(asctime)s %(levelname)s %(message)s"

# A value runs to whitespace, a separator or a quote; "\xNN" is how a bytes repr shows the
# bytes aiohttp refused, so it stays part of the value.
_VALUE = r"(?:\\x[0-9a-fA-F]{2}|[^\s&;'\"#\\,)}])+"
_PATTERNS = (
    # ?auth=, &auth=, 'auth': '...' and percent-encoded spellings of the name (yarl decodes
    # "%61uth" to "auth", so the server would take it as the token).
    re.compile(
        r"""(?i)((?<![a-z0-9_%])(?:a|%61)(?:u|%75)(?:t|%74)(?:h|%68)['"]?\s*[=:]\s*['"]?)"""
        + _VALUE
    ),
    # An Authorization header: everything up to the end of the header line, raw or escaped.
    re.compile(r"""(?i)(authorization['"]?\s*[=:]\s*['"]?)(?:(?!\\r|\\n)[^\r\n])+"""),
    # The credentials of a scheme wherever they appear, e.g. in a repr of a header dict.
    re.compile(r"(?i)(\b(?:bearer|basic)(?:\s|\\t)+)" + _VALUE),
    # The shape of the tokens this service makes, wherever they appear.
    re.compile(r"()\bcgr_[A-Za-z0-9_\-]{8,}"),
)


# Tokens of this server that have no shape of their own: CUSTOMERGROUP_RPC_ADMIN_TOKEN may be
# any 16 or more printable characters (``hide``).
_SECRETS: list[str] = []


def hide(secret: str) -> None:
    """Redact ``secret`` too, wherever it appears: a token this server knows that the
    patterns would miss (the environment's, which need not look like ``cgr_...``).

    >>> hide("Plain-Secret-0123456789")
    >>> redact("GET /Plain-Secret-0123456789/x")
    'GET /[redacted]/x'
    """
    if secret and secret not in _SECRETS:
        _SECRETS.append(secret)


def redact(text: str) -> str:
    """``text`` with every token-like credential replaced by ``[redacted]``."""
    for secret in _SECRETS:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for pattern in _PATTERNS:
        text = pattern.sub(r"\g<1>" + REDACTED, text)
    return text


class RedactingFormatter(logging.Formatter):
    """A ``logging.Formatter`` whose output, traceback included, has passed ``redact``."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


def refused_while_parsing(record: logging.LogRecord) -> bool:
    """A logging filter: drop aiohttp's traceback for a request it refused while parsing.

    aiohttp answers such a request 400 and logs ``Error handling request`` with the raw bytes
    it refused; the access line already records the refusal, and the bytes are the client's.
    """
    if record.exc_info is None or not record.name.startswith("aiohttp."):
        return True
    return not isinstance(record.exc_info[1], HttpProcessingError)


def log_to(
    stream: IO[str], level: int = logging.INFO, formatter: logging.Formatter | None = None
) -> logging.Handler:
    """Send every logger's records to ``stream``, redacted, replacing any earlier handler;
    ``formatter`` (one that redacts, as ``accesslog.JsonFormatter``) replaces the text lines."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter or RedactingFormatter(_LINE))
    handler.addFilter(refused_while_parsing)
    root = logging.getLogger()
    for earlier in root.handlers[:]:  # none may write a record unredacted
        root.removeHandler(earlier)
    root.addHandler(handler)
    root.setLevel(level)
    return handler
