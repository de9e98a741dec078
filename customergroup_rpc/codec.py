"""JSON in and out: orjson where it gives the standard library's answer (several times faster),
the standard library where it cannot.

Out: orjson refuses integers beyond 64 bits and lone surrogates, both of which a client may
send in an ``id``; those fall back to ``json.dumps``, which writes them exactly (``\\ud800``
escaped).

In: the standard library's ``DECODER`` is the rule. It refuses ``NaN`` and ``Infinity`` (not
JSON) and numbers such as ``1e400`` that overflow to infinity, which no answer could carry back;
orjson refuses them too. orjson turns integers beyond 64 bits into floats, and ids must be
echoed exactly (SPEC 1), so a body with a run of 19 or more digits goes to ``DECODER``, as does
every body orjson refuses (lone surrogates, deep nesting, bad UTF-8), which then parses alike
or fails alike. ``tests/test_codec.py`` holds ``loads`` and ``DECODER`` in agreement.

>>> dumps({"id": 10**30, "name": "Ｓtaff"})
b'{"id":1000000000000000000000000000000,"name":"\\\\uff33taff"}'
>>> dumps({"id": 1, "name": "Staff"})
b'{"id":1,"name":"Staff"}'
>>> loads(b'{"id": 12345678901234567890123}')
{'id': 12345678901234567890123}
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON bytes of a value made of dicts, lists, strings, numbers, booleans, None."""
    try:
        return orjson.dumps(value)
    except TypeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False).encode("ascii")


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is too large")
    return value


# Built once: json.loads with hooks would build a new decoder for every call.
DECODER = json.JSONDecoder(parse_constant=_no_constants, parse_float=_finite)


# Integers of 19 digits or more may not fit in 64 bits, where orjson would make them floats.
# Found as a run of 19 zeros once every digit is a zero: faster than a regex (0.2 µs, not 0.7).
_DIGITS_AS_ZEROS = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def loads(data: bytes) -> Any:
    """The JSON value of a UTF-8 body, exactly as ``DECODER`` reads it; ``ValueError`` (or
    ``RecursionError``) when it is no JSON."""
    if _LONG_RUN not in data.translate(_DIGITS_AS_ZEROS):
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError:
            pass  # DECODER decides, and says why
    return DECODER.decode(data.decode("utf-8"))
