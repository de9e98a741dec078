"""codec.loads must read every body exactly as the standard library's DECODER does.

loads takes orjson's answer only where it is the same; these tests hold that on the cases
where the two libraries differ (big integers, lone surrogates, depth, infinities, bad bytes),
and on generated JSON and near-JSON.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from customergroup_rpc.codec import DECODER, dumps, loads


def standard(data: bytes) -> tuple[str, Any]:
    try:
        return "value", _typed(DECODER.decode(data.decode("utf-8")))
    except (ValueError, RecursionError):
        return "error", None


def ours(data: bytes) -> tuple[str, Any]:
    try:
        return "value", _typed(loads(data))
    except (ValueError, RecursionError):
        return "error", None


def _typed(value: Any) -> Any:
    """The value with every number tagged by its type: 1 and 1.0 must not compare equal."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (type(value).__name__, repr(value))
    return value


EDGES = [
    b'{"jsonrpc":"2.0","method":"Customergroup.get","params":[1,"name"],"id":1}',
    b"123456789012345678901234567890",
    b"-9223372036854775809",
    b"18446744073709551616",
    b"9223372036854775807",
    b'{"id": 99999999999999999999}',
    b'"\\ud800"',
    b'"\\udc00\\ud800"',
    b'"\\ud83d\\ude00"',
    b"1e400",
    b"-1e400",
    b"1e-400",
    b"NaN",
    b"Infinity",
    b"-0",
    b"1.0",
    b"1E2",
    b"\xef\xbb\xbf{}",
    b"\xff",
    b'"\xed\xa0\x80"',  # a surrogate encoded as UTF-8: not UTF-8
    b'{"a":1,"a":2}',
    b"[" * 1100 + b"]" * 1100,
    b"[" * 900 + b"]" * 900,
    b"",
    b" ",
    b"[1,]",
    b"{} x",
    b'"a\x00b"',
    b'"\\u0000"',
]


@pytest.mark.parametrize("data", EDGES, ids=lambda d: repr(d[:30]))
def test_loads_agrees_with_the_standard_library_on_the_edges(data: bytes) -> None:
    assert ours(data) == standard(data)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec=None)),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=20,
)


@given(json_values)
def test_loads_agrees_on_generated_json(value: Any) -> None:
    data = json.dumps(value).encode()
    assert ours(data) == standard(data)
    assert ours(data)[0] == "value"


@given(st.binary(max_size=40) | st.text(alphabet='{}[]",:0123456789.eE+-\\u tfnrl').map(str.encode))
def test_loads_agrees_on_near_json(data: bytes) -> None:
    assert ours(data) == standard(data)


def test_dumps_writes_what_orjson_cannot() -> None:
    assert dumps({"id": 2**70}) == b'{"id":1180591620717411303424}'
    assert dumps("\ud800") == b'"\\ud800"'
