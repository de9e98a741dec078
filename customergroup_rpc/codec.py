"""JSON in and out. Out: orjson where it can (about ten times faster), the standard library
where it cannot. In: the standard library, strictly.

orjson refuses integers beyond 64 bits and lone surrogates, both of which a client may send in
an ``id``; those fall back to ``json.dumps``, which writes them exactly (``\\ud800`` escaped).
Parsing stays with the standard library: orjson turns big integers into floats, and ids must be
echoed exactly (SPEC 1). ``DECODER`` refuses ``NaN`` and ``Infinity`` (not JSON) and numbers
such as ``1e400`` that overflow to infinity, which no answer could carry back.

>>> dumps({"id": 10**30, "name": "Ｓtaff"})
b'{"id":1000000000000000000000000000000,"name":"\\\\uff33taff"}'
>>> dumps({"id": 1, "name": "Staff"})
b'{"id":1,"name":"Staff"}'
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
