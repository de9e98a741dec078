"""The field-selection query language (SPEC 5): parse a raw query against a shape, then apply it.

``parse`` checks the decoded JSON of a ``query`` param against the object's shape and reports
every problem at once, each with a JSON Pointer into the params; ``apply`` cuts an object down to
the selection, in the shape's property order, and cannot fail on a query that parsed.

>>> shape = {"changed": None, "created": None, "name": None, "uid": None}
>>> group = {"changed": "2014-01-16T14:14:18Z", "name": "Students", "uid": 123123}
>>> apply(parse(["uid", "name"], shape, "/1"), group)
{'name': 'Students', 'uid': 123123}
>>> from customergroup_rpc.errors import worded
>>> try:
...     parse({"name": {"en": True}}, shape, "/1")
... except InvalidParams as error:
...     print(worded(error.problems))
[{'pointer': '/1/name', 'message': "'name' is a single value; select it with true."}]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from .errors import InvalidParams, Problem, Problems, describe, join, quote
from .i18n import N_, Arg, Message

Shape = Mapping[str, "Shape | None"]
"""Property name -> sub-shape, or None for a scalar. Its order is the output order."""

_TOP: Final = N_("A customer group")


@dataclass(frozen=True)
class Query:
    """A selection: the picked properties in shape order with their sub-queries; None takes all."""

    picks: tuple[tuple[str, Query], ...] | None = None


WHOLE: Final = Query()
"""The whole value as it is. ``parse`` spells whole objects out by shape, so stray keys stay out."""


def parse(raw: object, shape: Shape, at: str) -> Query:
    """Check a raw query against ``shape``; raise ``InvalidParams`` listing every problem.

    >>> parse({"uid": True, "name": False}, {"name": None, "uid": None}, "/query")
    Query(picks=(('uid', Query(picks=None)),))
    """
    problems = Problems()
    if raw is False:
        message = N_(
            "false selects nothing; use true for the whole object, a property name, "
            "an array of names or an object."
        )
        problems.add(at, message)
    query = _query(raw, shape, at, _TOP, problems)
    if problems:
        raise InvalidParams(problems)
    return query


def apply(query: Query, obj: Mapping[str, Any]) -> dict[str, Any]:
    """The selected keys of ``obj`` that it has, in the query's (shape) order.

    >>> apply(Query((("name", WHOLE),)), {"name": "Students", "uid": 7})
    {'name': 'Students'}
    """
    if query.picks is None:
        return dict(obj)
    return {name: _value(sub, obj[name]) for name, sub in query.picks if name in obj}


def keys(query: Query, shape: Shape) -> tuple[str, ...]:
    """The top-level property names ``query`` selects, in shape order.

    >>> keys(WHOLE, {"name": None, "uid": None})
    ('name', 'uid')
    """
    if query.picks is None:
        return tuple(shape)
    chosen = {name for name, _ in query.picks}
    return tuple(name for name in shape if name in chosen)


def _value(query: Query, value: object) -> object:
    """One selected value, cut down when the query digs into it and it is an object."""
    # A nested value may be null (or anything) in a stored object: take it as it is, never fail.
    if query.picks is None or not isinstance(value, Mapping):
        return value
    return apply(query, value)


def _whole(shape: Shape | None) -> Query:
    """Every property of ``shape``, spelled out to its leaves (bounded by the shape's depth)."""
    if shape is None:
        return WHOLE
    return Query(tuple((name, _whole(sub)) for name, sub in shape.items()))


def _pick(shape: Shape, chosen: Mapping[str, Query]) -> Query:
    """The chosen properties as a node, in shape order whatever the query's order."""
    return Query(tuple((name, chosen[name]) for name in shape if name in chosen))


def _query(raw: object, shape: Shape, at: str, owner: Arg, problems: Problems) -> Query:
    """Dispatch on the form of one level of query; problems are collected, not raised."""
    if raw is True or raw is None or raw == {}:
        return _whole(shape)
    if isinstance(raw, str):
        return _pick(shape, _names([(raw, None)], shape, at, owner, problems))
    if isinstance(raw, list):
        return _pick(shape, _names(_elements(raw, at, problems), shape, at, owner, problems))
    if isinstance(raw, dict):
        return _pick(shape, _fields(raw, shape, at, owner, problems))
    if raw is not False:  # already reported by parse, with its own advice
        message = N_(
            "A query is true for the whole object, a property name, an array of names "
            "or an object, not {value}.",
            value=describe(raw),
        )
        problems.add(at, message)
    return Query(())


def _elements(raw: list[object], at: str, problems: Problems) -> list[tuple[str, int | None]]:
    """The string elements of an array form with their indexes; the rest are problems.

    The array may hold half a million elements: pointers are made only for problems, and
    past the problem limit a problem is only counted.
    """
    found: list[tuple[str, int | None]] = []
    for index, item in enumerate(raw):
        if isinstance(item, str):
            found.append((item, index))
        elif problems.full:
            problems.skip(at)
        else:
            message = N_(
                "An array query lists property names (strings), not {value}.", value=describe(item)
            )
            problems.add(join(at, index), message)
    return found


def _names(
    names: list[tuple[str, int | None]], shape: Shape, at: str, owner: Arg, problems: Problems
) -> dict[str, Query]:
    """Names one level down, each taken whole; duplicates are selected once.

    Each name comes with its index under ``at`` (None for the one-name form), for the
    pointer of a problem.
    """
    chosen: dict[str, Query] = {}
    for name, token in names:
        if name in shape:
            chosen[name] = _whole(shape[name])
        elif problems.full:
            problems.skip(at)
        else:
            pointer = at if token is None else join(at, token)
            problems.append(_unknown(name, shape, pointer, owner))
    return chosen


def _fields(
    raw: dict[str, object], shape: Shape, at: str, owner: Arg, problems: Problems
) -> dict[str, Query]:
    """The object form: true takes a property, false leaves it out, a query digs into it."""
    chosen: dict[str, Query] = {}
    for name, value in raw.items():
        if name not in shape:
            # Never look inside the value of an unknown key: that keeps recursion shape-bounded.
            if problems.full:
                problems.skip(at)
            else:
                problems.append(_unknown(name, shape, join(at, name), owner))
        elif value is not False:
            pointer = join(at, name)
            found = _field(name, value, shape[name], pointer, problems)
            if found is not None:
                chosen[name] = found
    return chosen


def _field(
    name: str, value: object, sub: Shape | None, at: str, problems: Problems
) -> Query | None:
    """One object-form value other than false: the property's sub-query, or None and a problem."""
    if value is True:
        return _whole(sub)
    if not isinstance(value, str | list | dict):
        # null inside an object is ambiguous (take it? leave it out?), so ask for a boolean.
        problems.add(at, _choices(name, value, sub))
        return None
    if sub is None:
        problems.add(at, N_("{name} is a single value; select it with true.", name=quote(name)))
        return None
    return _query(value, sub, at, quote(name), problems)


def _choices(name: str, value: object, sub: Shape | None) -> Message:
    """What an object-form value may be, for a value that is none of those."""
    if sub is None:
        return N_(
            "Use true to select {name} or false to leave it out, not {value}.",
            name=quote(name),
            value=describe(value),
        )
    return N_(
        "Use true to select {name}, false to leave it out or a query for its properties, "
        "not {value}.",
        name=quote(name),
        value=describe(value),
    )


def _unknown(name: str, shape: Shape, at: str, owner: Arg) -> Problem:
    """The problem for a name the shape does not have, listing the names it does have."""
    listed: Arg = ", ".join(shape) or N_("no properties")
    message = N_(
        "Unknown property {name}. {owner} has: {properties}.",
        name=quote(name),
        owner=owner,
        properties=listed,
    )
    return Problem(pointer=at, message=message)
