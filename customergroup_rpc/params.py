"""Params: bind a call's params to the method's parameter names, check them, convert them.

Positional (``[123, "name"]``) and by-name (``{"uid": 123, "query": "name"}``) calls bind to the
same names. Each value is checked with its schema from ``methods.json``; then the query, filter
and selection languages parse theirs. Pointers follow the form of the call: ``/1/name`` for a
positional query, ``/query/name`` for a by-name one. All problems are reported at once.

>>> from customergroup_rpc.schemas import Schemas
>>> binder = Binder(Schemas.load())
>>> args = binder.bind(binder.schemas.methods["Customergroup.get"], ["12", ["name"]])
>>> args.uid("uid"), query.keys(args.query("query"), binder.shape)
(12, ('name',))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from . import filters, query
from .errors import LIMIT, InvalidParams, Problem, Problems, describe, join, quote
from .i18n import N_, Count, Message, N_plural
from .schemas import Method, Param, Schemas
from .service import Page, Selection

_FIELD_TYPES = {"integer": filters.FieldType.INTEGER, "string": filters.FieldType.STRING}
# Filterable without being a property: the groups a customer is in (SPEC 10).
_EXTRA_FIELDS = {"/customers": filters.FieldType.UID_SET}
MAX_CUSTOMERS = 10_000


class Binder:
    """Binds params for every method; built once from the schemas."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        props = schemas.properties()
        self.shape: query.Shape = dict.fromkeys(props)
        self.fields: filters.Fields = {
            **{"/" + name: _field_type(s) for name, s in props.items()},
            **_EXTRA_FIELDS,
        }
        self._queries: dict[str | bool | None, query.Query] = {}

    def bind(self, method: Method, params: Sequence[Any] | dict[str, Any]) -> Args:
        """The call's params by name, schema-checked; ``InvalidParams`` lists every problem."""
        if type(params) is not dict and method.least <= len(params) <= len(method.params):
            # The usual call: positional, every required param there; each value is checked
            # by its quick check, and only a value it doubts goes the long way.
            for param, value in zip(method.params, params, strict=False):
                if param.quick is None or not param.quick(value):
                    break
            else:
                return Args(
                    self, dict(zip(method.names, params, strict=False)), method.positional_pointers
                )
        values, pointers, problems = _by_name(method, params)
        for param in method.params:
            if param.name not in values:
                continue
            value = values[param.name]
            if param.quick is None or not param.quick(value):  # most values pass the quick check
                problems.merge(self._check(param, value, pointers[param.name]))
        if problems:
            raise InvalidParams(problems)
        return Args(self, values, pointers)

    def query(self, raw: Any, at: str) -> query.Query:
        """A parsed query; the few valid one-name and whole-object queries are parsed once."""
        if not (raw is None or raw is True or isinstance(raw, str)):
            return query.parse(raw, self.shape, at)
        parsed = self._queries.get(raw)
        if parsed is None:  # parse raises for a bad one: only valid queries are kept
            parsed = self._queries[raw] = query.parse(raw, self.shape, at)
        return parsed

    def _check(self, param: Param, value: Any, at: str) -> list[Problem]:
        if param.name == "customers" and isinstance(value, list):
            return customer_problems(value, at)
        return self.schemas.check_param(param, value, at)


def customer_problems(customers: list[Any], at: str) -> list[Problem]:
    """The schema's rules for a customer uid array, checked by hand.

    jsonschema takes ~50 ms for 10,000 items and goes on past ``maxItems``; this loop is the
    same rules (tests hold the two in agreement) at a fraction of the cost.

    >>> str(customer_problems([17, 0, "3"], "/1")[0]["message"])
    'A customer uid is an integer from 1 to 9007199254740991, such as 17; the number 0 is not.'
    """
    if len(customers) > MAX_CUSTOMERS:
        message = N_(
            "At most {limit} customer uids per call; this has {count}.",
            limit=Count(MAX_CUSTOMERS),
            count=Count(len(customers)),
        )
        return [Problem(pointer=at, message=message)]
    found = Problems()
    for i, value in enumerate(customers):
        if filters.is_uid(value):
            continue
        if found.full:
            found.skip(at)
        else:
            found.add(join(at, i), _not_a_uid(value))
    return found


def _not_a_uid(value: Any) -> Message:
    return N_(
        "A customer uid is an integer from 1 to {largest}, such as 17; {value} is not.",
        largest=filters.MAX_UID,
        value=describe(value),
    )


class Args:
    """One call's params, bound and checked; each accessor converts one of them."""

    def __init__(self, binder: Binder, values: dict[str, Any], pointers: Mapping[str, str]) -> None:
        self._binder, self._values, self._pointers = binder, values, pointers

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def at(self, name: str) -> str:
        return self._pointers[name]

    def uid(self, name: str) -> int:
        """A uid param: an integer or a string of digits (the schema checked which)."""
        return int(self._values[name])

    def integer(self, name: str) -> int | None:
        """An integer param, or None (JSON Schema counts 5.0 as an integer; Python does not)."""
        value = self._values.get(name)
        return None if value is None else int(value)

    def uid_or_none(self, name: str) -> int | None:
        return None if self._values.get(name) is None else self.uid(name)

    def query(self, name: str) -> query.Query:
        return self._binder.query(self._values.get(name), self._pointers[name])

    def filters(self, name: str) -> filters.Filter:
        raw = self._values.get(name)
        if raw is None:
            return filters.MATCH_ALL
        return filters.parse(raw, self._binder.fields, self._pointers[name])

    def customers(self, name: str) -> list[int]:
        """An array of customer uids (checked by ``customer_problems``), 5.0 made 5; as sent
        when every one is an int already (one C-level pass, not a conversion per uid)."""
        values: list[int] = self._values[name]
        if float in set(map(type, values)):
            return [int(value) for value in values]
        return values

    def customers_or_none(self, name: str) -> list[int] | None:
        return None if self._values.get(name) is None else self.customers(name)

    def page(self, name: str) -> Page:
        """A member selection; ``true``, ``null`` and ``{}`` select every uid, ascending."""
        raw = self._values.get(name)
        if not isinstance(raw, dict):
            return Page()
        limit = raw.get("limit")
        return Page(
            limit=None if limit is None else int(limit),
            offset=int(raw.get("offset", 0)),
            descending=raw.get("descending", False),
        )

    def selection(self, name: str) -> Selection:
        """A list selection; ``true``, ``null`` and ``{}`` select everything."""
        raw = self._values.get(name)
        if not isinstance(raw, dict):
            return Selection()
        where = filters.MATCH_ALL
        if raw.get("filters") is not None:
            at = join(self._pointers[name], "filters")
            where = filters.parse(raw["filters"], self._binder.fields, at)
        limit = raw.get("limit")
        # JSON Schema counts 5.0 as an integer; Python's slicing does not.
        return Selection(
            where=where,
            limit=None if limit is None else int(limit),
            offset=int(raw.get("offset", 0)),
            sort=raw.get("sort", "uid"),
            descending=raw.get("descending", False),
        )


def _field_type(schema: Mapping[str, Any]) -> filters.FieldType:
    if schema.get("format") == "date-time":
        return filters.FieldType.DATETIME
    return _FIELD_TYPES[schema["type"]]


def _by_name(
    method: Method, params: Sequence[Any] | dict[str, Any]
) -> tuple[dict[str, Any], Mapping[str, str], Problems]:
    """Map params to names; report unknown names, extra positions and missing params.

    The pointers dict returned is shared by every call of the same form: read it, never change it.
    """
    names = method.names
    problems = Problems()
    if isinstance(params, dict):
        values = dict(params)
        pointers = method.named_pointers
        if not values.keys() <= pointers.keys():
            unknown = sorted(set(values) - set(names))
            for key in unknown[:LIMIT]:
                message = N_(
                    "{method} has no parameter {name}. Its parameters: {parameters}.",
                    method=method.name,
                    name=quote(key),
                    parameters=", ".join(names),
                )
                problems.add(join("", key), message)
            if len(unknown) > LIMIT:
                problems.skip("", len(unknown) - LIMIT)
    else:
        values = dict(zip(names, params, strict=False))
        pointers = method.positional_pointers
        if len(params) > len(names):
            message = N_plural(
                "{method} takes at most {n} parameter ({parameters}).",
                "{method} takes at most {n} parameters ({parameters}).",
                len(names),
                method=method.name,
                parameters=", ".join(names),
            )
            problems.append(Problem(pointer=f"/{len(names)}", message=message))
    for name in method.required:
        if name not in values:
            message = N_(
                "{name} is required: {method}({parameters}).",
                name=name,
                method=method.name,
                parameters=", ".join(names),
            )
            problems.append(Problem(pointer=pointers[name], message=message))
    return values, pointers, problems
