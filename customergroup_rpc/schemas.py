"""The JSON Schemas in ``schemas/``: loaded once, compiled once, errors made readable.

``customergroup.json`` is the object schema: ``getSchema`` returns it, and ``create``, ``set`` and
``validate`` check patches with it (``readOnly`` is enforced on writes), so client-side and
server-side validation cannot drift. ``methods.json`` holds every method's params, result and
scope; params are validated with it and discovery documents are generated from it. Its
``websocketMethods`` are the methods only a WebSocket can call (``subscribe``,
``unsubscribe``), described alike.

Every message is a ``Message`` (``i18n``), jsonschema's own English never reaches a client; the
texts in the schema files (titles, descriptions, ``errorMessage``) are message ids too.

>>> from customergroup_rpc.errors import worded
>>> s = Schemas.load()
>>> worded(s.check_patch({"name": 5, "uid": 1}, new=True), "sv")
[{'pointer': '/name', 'message': 'name måste vara en sträng, inte talet 5.'}, \
{'pointer': '/uid', 'message': 'uid är skrivskyddat: servern sätter värdet.'}]
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from jsonschema import Draft7Validator, ValidationError, validators

from .checks import Check, compile_check, ecma_regex
from .errors import Problem, describe, join, quote
from .i18n import N_, Arg, Listing, Message

OBJECT_ID = "urn:customergroup-rpc:customergroup"
# How each JSON type is named in a message; null reads as itself in every language.
_ARTICLES: Mapping[str, Arg] = {
    "array": N_("an array"),
    "boolean": N_("a boolean"),
    "integer": N_("an integer"),
    "null": "null",
    "number": N_("a number"),
    "object": N_("an object"),
    "string": N_("a string"),
}


def schema_dir() -> Path:
    """The folder of the schema files: bundled in a wheel, or ``schemas/`` in a checkout."""
    bundled = Path(__file__).parent / "_schemas"
    return bundled if bundled.is_dir() else Path(__file__).parent.parent / "schemas"


def _read_only(
    validator: Any, value: Any, instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    # Draft-07 treats readOnly as an annotation; on writes it is a rule (SPEC 4, patch rules).
    if value:
        yield ValidationError("read-only")


def _pattern(
    validator: Any, pattern: str, instance: Any, schema: Mapping[str, Any]
) -> Iterator[Any]:
    # jsonschema runs patterns with Python's re, where "$" also matches before a final newline;
    # JSON Schema means ECMA-262, where it is the end ("1\n" is no string of digits).
    if isinstance(instance, str) and not ecma_regex(pattern).search(instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


# Formats are asserted only with a checker; date-time needs rfc3339-validator installed.
_Validator = validators.extend(Draft7Validator, {"readOnly": _read_only, "pattern": _pattern})
_FORMATS = Draft7Validator.FORMAT_CHECKER
assert "date-time" in _FORMATS.checkers, "rfc3339-validator is missing: date-time is unchecked"


@dataclass(frozen=True)
class Param:
    """One parameter of a method, in positional order."""

    name: str
    required: bool
    schema: Mapping[str, Any]
    validator: Any
    quick: Check | None = None


@dataclass(frozen=True)
class Method:
    """What ``methods.json`` says of one method."""

    name: str
    summary: str
    scope: str
    params: tuple[Param, ...]
    result: Mapping[str, Any]
    errors: tuple[int, ...]

    # Worked out once, read on every call (params.py).
    @functools.cached_property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params)

    @functools.cached_property
    def required(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.params if p.required)

    @functools.cached_property
    def least(self) -> int:
        """The fewest positional params that hold every required one."""
        return max((i + 1 for i, p in enumerate(self.params) if p.required), default=0)

    @functools.cached_property
    def positional_pointers(self) -> Mapping[str, str]:
        """Where each param is in a positional call: ``/0``, ``/1``, ..."""
        return MappingProxyType({name: f"/{i}" for i, name in enumerate(self.names)})

    @functools.cached_property
    def named_pointers(self) -> Mapping[str, str]:
        """Where each param is in a by-name call: ``/uid``, ``/query``, ..."""
        return MappingProxyType({name: join("", name) for name in self.names})


@dataclass(frozen=True)
class Schemas:
    """The loaded schemas and their compiled validators; build one with ``Schemas.load()``."""

    object_schema: Mapping[str, Any]
    methods: Mapping[str, Method]
    _new_patch: Any
    _patch: Any
    _new_patch_quick: Check | None
    _patch_quick: Check | None
    socket_methods: Mapping[str, Method] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: Path | None = None) -> Schemas:
        """Read and check the schema files; a broken schema stops the start."""
        folder = folder or schema_dir()
        obj = json.loads((folder / "customergroup.json").read_text(encoding="utf-8"))
        doc = json.loads((folder / "methods.json").read_text(encoding="utf-8"))
        for schema in (obj, doc):
            Draft7Validator.check_schema(schema)
        resolved = _inline_refs(doc, doc["definitions"], {OBJECT_ID: obj})
        methods = {name: _method(name, spec) for name, spec in resolved["methods"].items()}
        sockets = resolved.get("websocketMethods", {})
        new = {**obj, "required": ["name"]}
        return cls(
            obj,
            methods,
            _Validator(new, format_checker=_FORMATS),
            _Validator(obj, format_checker=_FORMATS),
            compile_check(new),
            compile_check(obj),
            {name: _method(name, spec) for name, spec in sockets.items()},
        )

    def object_for(self, *, new: bool) -> dict[str, Any]:
        """The schema ``getSchema`` returns: ``required: ["name"]`` only for a new group."""
        schema = copy.deepcopy(dict(self.object_schema))
        if new:
            schema["required"] = ["name"]
        return schema

    def properties(self) -> dict[str, Mapping[str, Any]]:
        """The object's properties in their order (the order results are returned in)."""
        return dict(self.object_schema["properties"])

    def check_patch(self, patch: Mapping[str, Any], *, new: bool) -> list[Problem]:
        """Every schema problem of a patch, pointers into the patch."""
        quick = self._new_patch_quick if new else self._patch_quick
        if quick is not None and quick(patch):
            return []
        validator = self._new_patch if new else self._patch
        return problems(validator.iter_errors(patch), "", "patch")

    def check_param(self, param: Param, value: Any, at: str) -> list[Problem]:
        """Every schema problem of one param value, pointers into the params."""
        if param.quick is not None and param.quick(value):
            return []
        return problems(param.validator.iter_errors(value), at, param.name)


def _method(name: str, spec: Mapping[str, Any]) -> Method:
    params = tuple(
        Param(
            p["name"],
            p.get("required", False),
            p["schema"],
            _Validator(p["schema"], format_checker=_FORMATS),
            compile_check(p["schema"]),
        )
        for p in spec["params"]
    )
    return Method(
        name, spec["summary"], spec["scope"], params, spec["result"], tuple(spec["errors"])
    )


def _inline_refs(node: Any, definitions: Mapping[str, Any], external: Mapping[str, Any]) -> Any:
    """Replace ``$ref``s with what they name, so each param schema stands alone."""
    if isinstance(node, list):
        return [_inline_refs(n, definitions, external) for n in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        target = external[ref] if ref in external else definitions[ref.rsplit("/", 1)[-1]]
        return _inline_refs(target, definitions, external)
    return {k: _inline_refs(v, definitions, external) for k, v in node.items()}


# When one value breaks several rules, the first of these says what matters most.
_FIRST = {"readOnly": 0, "type": 1}


def problems(errors: Iterable[ValidationError], base: str, label: str) -> list[Problem]:
    """Turn jsonschema errors into problems: one per pointer, at the exact key, as a sentence."""
    found: list[Problem] = []
    seen: set[str] = set()
    for error in sorted(errors, key=lambda e: _FIRST.get(str(e.validator), 2)):
        at = join(base, *error.absolute_path)
        name = str(error.absolute_path[-1]) if error.absolute_path else label
        if error.validator == "required":
            missing = [k for k in error.validator_value if k not in error.instance]
            found += [
                Problem(pointer=join(at, k), message=N_("{name} is required.", name=k))
                for k in missing
            ]
        elif error.validator == "additionalProperties":
            properties = error.schema.get("properties", {})
            writable = sorted(k for k, v in properties.items() if not v.get("readOnly"))
            extra = sorted(set(error.instance) - set(properties))
            found += [
                Problem(pointer=join(at, k), message=_unknown(k, writable, name)) for k in extra
            ]
        elif at not in seen:
            found.append(Problem(pointer=at, message=_message(error, name)))
        seen.add(at)
    return sorted(found, key=lambda p: p["pointer"])


def _unknown(key: str, writable: list[str], owner: str) -> Message:
    """An unknown key of a patch, or of another object of the params (a selection)."""
    if owner != "patch":
        return N_(
            "Unknown key {key} in {name}; it may have: {keys}.",
            key=quote(key),
            name=owner,
            keys=", ".join(writable),
        )
    return N_(
        "Unknown key {key}. A patch may set: {keys}.", key=quote(key), keys=", ".join(writable)
    )


def _message(error: ValidationError, name: str) -> Message:
    """A schema rule's message: the schema's own ``errorMessage`` for it, or ours."""
    custom = error.schema.get("errorMessage", {})
    if isinstance(custom, dict) and error.validator in custom:
        return Message(str(custom[error.validator]))  # a message id, extracted from the file
    value = error.validator_value
    match error.validator:
        case "type":
            expected = [value] if isinstance(value, str) else list(value)
            wanted = Listing(tuple(_ARTICLES.get(t, t) for t in expected), "or")
            return N_(
                "{name} must be {wanted}, not {value}.",
                name=name,
                wanted=wanted,
                value=describe(error.instance),
            )
        case "minLength" if value == 1:
            return N_("{name} must not be empty.", name=name)
        case "minLength":
            return N_("{name} must be at least {limit} characters long.", name=name, limit=value)
        case "maxLength":
            return N_(
                "{name} must be at most {limit} characters long (it has {length}).",
                name=name,
                limit=value,
                length=len(error.instance),
            )
        case "minimum":
            return N_("{name} must be at least {limit}.", name=name, limit=value)
        case "maximum":
            return N_("{name} must be at most {limit}.", name=name, limit=value)
        case "enum":
            return N_(
                "{name} must be one of: {values}.", name=name, values=", ".join(map(str, value))
            )
        case "readOnly":
            return N_("{name} is read-only: the server sets it.", name=name)
        case "format" if value == "date-time":
            return N_("{name} must be a date-time such as 2014-01-16T14:14:18Z.", name=name)
    # No schema file has another rule without an errorMessage; jsonschema's English stays out.
    return N_("{name} does not fit the schema.", name=name)
