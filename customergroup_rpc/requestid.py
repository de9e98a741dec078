"""Request ids (``X-Request-Id``): the one a client or proxy sent, made safe, or a new one.

An id sent is kept, so that one request can be followed through the proxy's log and ours:
cut to ``LONGEST`` characters, and every character outside letters, digits and ``-._:@/+=``
replaced by ``_`` (an id lands in log lines and a response header). One with nothing left
is replaced by a new one. A new one is this process's random prefix and a counter: unique
across workers and restarts, and cheaper than a UUID on every request.

>>> kept("req-42/a b")
'req-42/a_b'
>>> kept("x" * 300) == "x" * LONGEST
True
>>> kept("\\n\\r") is None
True
>>> ids = Ids()
>>> first, second = ids.new(), ids.new()
>>> first != second and first[:12] == second[:12]
True
"""

from __future__ import annotations

import itertools
import re
import secrets

HEADER = "X-Request-Id"
LONGEST = 128
_SAFE = re.compile(r"[A-Za-z0-9\-._:@/+=]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9\-._:@/+=]")


def kept(sent: str) -> str | None:
    """The id ``sent`` as it is kept; None when nothing of it is usable."""
    sent = sent[:LONGEST]
    if _SAFE.fullmatch(sent):
        return sent
    cleaned = _UNSAFE.sub("_", sent)
    return None if cleaned.strip("_") == "" else cleaned


class Ids:
    """New request ids: ``<12 random hex digits>-<counter in hex>``."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(6) + "-"
        self._counter = itertools.count(1)

    def new(self) -> str:
        return f"{self._prefix}{next(self._counter):x}"
