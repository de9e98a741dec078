"""The API console's call notation: a method name and its params as JSON values (SPEC 11).

``Customergroup.list(["name"], {"limit": 2})`` calls ``Customergroup.list`` with the positional
params ``[["name"], {"limit": 2}]``. The standard JSON decoder reads each value, so strings may
hold commas and parentheses; only RFC 8259 JSON is accepted (no ``NaN``, no ``Infinity``).
Positions in errors are 0-based character indexes into the text.

>>> parse('Customergroup.list(["name"], {"limit": 2})')
Call(method='Customergroup.list', params=[['name'], {'limit': 2}])
>>> parse("Customergroup.get(7")
Traceback (most recent call last):
...
customergroup_rpc.notation.NotationError: Expected ',' or ')' at position 19, found the end
"""

from __future__ import annotations

import json
import re
from typing import Any, NamedTuple

from .codec import DECODER

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace (RFC 8259, section 2)
_TRAILING_AT = re.compile(r"( starting)? at$")


class Call(NamedTuple):
    """One parsed call: the method name and its positional params."""

    method: str
    params: list[Any]


class NotationError(ValueError):
    """Text that is not a call; ``position`` is where the problem is."""

    def __init__(self, position: int, message: str) -> None:
        super().__init__(message)
        self.position = position


def parse(text: str) -> Call:
    """The call written in ``text``; ``NotationError`` says where and what was expected."""
    at = _skip(text, 0)
    name = _NAME.match(text, at)
    if name is None:
        raise _expected(text, at, "a method name such as Customergroup.count")
    at = _skip(text, name.end())
    if not text.startswith("(", at):
        raise _expected(text, at, "'(' after the method name")
    at = _skip(text, at + 1)
    params: list[Any] = []
    if not text.startswith(")", at):
        while True:
            value, at = _value(text, at, "a JSON value" if params else "a JSON value or ')'")
            params.append(value)
            at = _skip(text, at)
            if not text.startswith(",", at):
                break
            at = _skip(text, at + 1)
        if not text.startswith(")", at):
            raise _expected(text, at, "',' or ')'")
    end = _skip(text, at + 1)
    if end < len(text):
        raise _expected(text, end, "nothing after the closing ')'")
    return Call(name.group(), params)


def _skip(text: str, at: int) -> int:
    return _SPACE.match(text, at).end()  # type: ignore[union-attr]  # it matches ""


def _value(text: str, at: int, wanted: str) -> tuple[Any, int]:
    try:
        value, end = DECODER.raw_decode(text, at)
    except json.JSONDecodeError as exc:
        if exc.pos == at and exc.msg == "Expecting value":
            raise _expected(text, at, wanted) from None
        reason = _TRAILING_AT.sub("", exc.msg)  # the decoder's "... at" expects a position
        raise NotationError(exc.pos, f"Bad JSON at position {exc.pos}: {reason}") from None
    except (ValueError, RecursionError) as exc:  # from the hooks below, or nesting too deep
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise NotationError(at, f"Bad JSON at position {at}: {reason}") from None
    return value, end


def _expected(text: str, at: int, what: str) -> NotationError:
    found = repr(text[at : at + 12]) if at < len(text) else "the end"
    return NotationError(at, f"Expected {what} at position {at}, found {found}")
