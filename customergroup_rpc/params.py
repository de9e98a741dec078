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

from collections.abc import Mapping
from typing import Any

from . import filters, query
from .errors import InvalidParams, Problem, join
from .schemas import Method, Schemas
from .service import Selection

_FIELD_TYPES = {"integer": filters.FieldType.INTEGER, "string": filters.FieldType.STRING}


class Binder:
    """Binds params for every method; built once from the schemas."""

    def __init__(self, schemas: Schemas) -> None:
        self.schemas = schemas
        props = schemas.properties()
        self.shape: query.Shape = dict.fromkeys(props)
        self.fields: filters.Fields = {"/" + name: _field_type(s) for name, s in props.items()}

    def bind(self, method: Method, params: list[Any] | Mapping[str, Any]) -> Args:
        """The call's params by name, schema-checked; ``InvalidParams`` lists every problem."""
        values, pointers, problems = _by_name(method, params)
        for param in method.params:
            if param.name in values:
                at = pointers[param.name]
                problems += self.schemas.check_param(param, values[param.name], at)
        if problems:
            raise InvalidParams(problems)
        return Args(self, values, pointers)


class Args:
    """One call's params, bound and checked; each accessor converts one of them."""

    def __init__(self, binder: Binder, values: dict[str, Any], pointers: dict[str, str]) -> None:
        self._binder, self._values, self._pointers = binder, values, pointers

    def raw(self, name: str) -> Any:
        return self._values.get(name)

    def at(self, name: str) -> str:
        return self._pointers[name]

    def uid(self, name: str) -> int:
        """A uid param: an integer or a string of digits (the schema checked which)."""
        return int(self._values[name])

    def uid_or_none(self, name: str) -> int | None:
        value = self._values.get(name)
        return None if value is None else int(value)

    def query(self, name: str) -> query.Query:
        return query.parse(self._values.get(name), self._binder.shape, self._pointers[name])

    def filters(self, name: str) -> filters.Filter:
        raw = self._values.get(name)
        if raw is None:
            return filters.MATCH_ALL
        return filters.parse(raw, self._binder.fields, self._pointers[name])

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
    method: Method, params: list[Any] | Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str], list[Problem]]:
    """Map params to names; report unknown names, extra positions and missing params."""
    names = [p.name for p in method.params]
    problems: list[Problem] = []
    if isinstance(params, Mapping):
        values = dict(params)
        pointers = {name: join("", name) for name in names}
        for key in sorted(set(values) - set(names)):
            message = f"{method.name} has no parameter '{key}'. Its parameters: {', '.join(names)}."
            problems.append(Problem(pointer=join("", key), message=message))
    else:
        values = dict(zip(names, params, strict=False))
        pointers = {name: f"/{i}" for i, name in enumerate(names)}
        if len(params) > len(names):
            message = f"{method.name} takes at most {len(names)} parameters ({', '.join(names)})."
            problems.append(Problem(pointer=f"/{len(names)}", message=message))
    for param in method.params:
        if param.required and param.name not in values:
            message = f"{param.name} is required: {method.name}({', '.join(names)})."
            problems.append(Problem(pointer=pointers[param.name], message=message))
    return values, pointers, problems
