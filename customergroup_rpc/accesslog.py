"""The access log's output: lines gathered in memory, formatted and written in blocks.

The standard ``logging`` machinery costs about 40 µs a line, more than answering a ``get``; and
even a plain f-string per request costs several µs on a busy server, where every request runs
with cold caches. So a request only records its fields (``add``); they are formatted together,
a block at a time, when the block is written: at ``FLUSH_LINES`` lines, a fifth of a second
after the first unwritten line, and on close. A line reaches the log at most that late, and a
crash can lose at most that much of the log (never data: the log is not the database).

>>> import io
>>> out = io.BytesIO()
>>> lines = LineBuffer(out)
>>> lines.add("{} {} {}".format, "127.0.0.1", '"GET /health"', 200)
>>> lines.write('127.0.0.1 "WS /backend/jsonrpc/v1/" Customergroup.get - 0.4ms')
>>> lines.close()
>>> [line.split(" INFO ")[1] for line in out.getvalue().decode().splitlines()]
['127.0.0.1 "GET /health" 200', '127.0.0.1 "WS /backend/jsonrpc/v1/" Customergroup.get - 0.4ms']

With ``json=True`` (``serve --log-format json``) a line is one JSON object, for log shippers:
the format function returns the fields, and the line adds ``time`` (UTC, milliseconds) and
``level``. ``JsonFormatter`` writes the other log records (the app's, aiohttp's) alike.

>>> out = io.BytesIO()
>>> lines = LineBuffer(out, json=True)
>>> lines.add(lambda status: {"event": "request", "status": status}, 200)
>>> lines.close()
>>> import json
>>> line = json.loads(out.getvalue())
>>> sorted(line), line["level"], line["status"]
(['event', 'level', 'status', 'time'], 'INFO', 200)
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import IO, Any

from .codec import dumps
from .redact import redact

FLUSH_AFTER = 0.2
FLUSH_LINES = 500


def _as_is(line: str) -> str:
    return line


def _as_message(line: str) -> dict[str, Any]:
    return {"message": line}


class LineBuffer:
    """Buffered, timestamped log lines on a binary stream; ``close`` writes the rest."""

    def __init__(self, stream: IO[bytes], *, json: bool = False) -> None:
        self._stream = stream
        self.json = json
        self._pending: list[tuple[float, Callable[..., Any], tuple[Any, ...]]] = []
        self._timer: asyncio.TimerHandle | None = None
        self._second, self._stamp = -1, ""

    def add(self, format: Callable[..., Any], *fields: Any) -> None:
        """A line that is ``format(*fields)`` (a ``str``; with ``json``, a ``dict``), made when
        it is written: pass values that do not change afterwards (strings, numbers, tuples,
        the lists of a finished request), never a live request."""
        self._pending.append((time.time(), format, fields))
        if len(self._pending) >= FLUSH_LINES:
            self.flush()
        elif self._timer is None:
            self._timer = _call_later(FLUSH_AFTER, self.flush)

    def write(self, line: str) -> None:
        """A line as it is (with ``json``, as its ``message``)."""
        self.add(_as_message if self.json else _as_is, line)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            pending, self._pending = self._pending, []
            if self.json:
                data = b"".join(json_line(t, "INFO", f(*fields)) for t, f, fields in pending)
            else:
                text = "".join(f"{self._at(t)} INFO {f(*fields)}\n" for t, f, fields in pending)
                data = text.encode("utf-8", "backslashreplace")
            self._stream.write(data)
            self._stream.flush()

    def close(self) -> None:
        self.flush()

    def _at(self, moment: float) -> str:
        second = int(moment)
        if second != self._second:  # formatting the time is the dearest part of a line
            self._second, self._stamp = (
                second,
                time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second)),
            )
        return self._stamp


def _call_later(delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle | None:
    try:
        return asyncio.get_running_loop().call_later(delay, callback)
    except RuntimeError:  # no loop (a doctest, a script): write at once
        callback()
        return None


def json_line(moment: float, level: str, fields: dict[str, Any]) -> bytes:
    """One JSON log line: ``time`` (UTC, ISO 8601 with milliseconds), ``level``, then ``fields``.

    >>> json_line(0.25, "INFO", {"message": "hi"})
    b'{"time":"1970-01-01T00:00:00.250Z","level":"INFO","message":"hi"}\\n'
    """
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(moment))
    millis = int(moment * 1000) % 1000
    return dumps({"time": f"{stamp}.{millis:03d}Z", "level": level, **fields}) + b"\n"


class JsonFormatter(logging.Formatter):
    """Log records as JSON lines (``json_line``): logger, message and any traceback, each
    redacted (``redact.redact``) before it is written, so no token appears."""

    def format(self, record: logging.LogRecord) -> str:
        fields: dict[str, Any] = {"logger": record.name, "message": redact(record.getMessage())}
        if record.exc_info:
            fields["exception"] = redact(self.formatException(record.exc_info))
        elif record.exc_text:
            fields["exception"] = redact(record.exc_text)
        line = json_line(record.created, record.levelname, fields)
        return line.decode("utf-8", "backslashreplace").rstrip("\n")
