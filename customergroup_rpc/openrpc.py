"""Discovery: an OpenRPC 1.2.6 document of the service, generated from ``methods.json``.

``rpc.discover`` answers it (SPEC 11), so OpenRPC tools can generate clients and docs from the
same schemas the service validates params with. The object schema is given once, as
``components.schemas.Customergroup``; results that are a group refer to it. Patches refer to
``CustomergroupPatch`` (``CustomergroupNew`` for ``create``, where a name is required): the
object schema's writable properties and nothing else, so a generated client or a stock
validator refuses what the server refuses (it treats ``readOnly`` as a rule on writes).

>>> from customergroup_rpc.schemas import Schemas
>>> doc = document(Schemas.load())
>>> doc["openrpc"], [m["name"] for m in doc["methods"]][-3:]
('1.2.6', ['Customergroup.subscribe', 'Customergroup.unsubscribe', 'rpc.discover'])
>>> doc["methods"][0]["result"]["schema"]
{'type': 'integer', 'minimum': 0}
>>> sorted(doc["components"]["schemas"]["CustomergroupNew"]["properties"])
['name']
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from . import __version__
from .errors import ERRORS
from .schemas import Method, Schemas
from .tokens import GRANTS

VERSION = "1.2.6"
DISCOVER = "rpc.discover"
GROUP_REF = {"$ref": "#/components/schemas/Customergroup"}
# The patch param of each method that takes one, by the component it refers to.
PATCHES = {"Customergroup.create": "CustomergroupNew"}
PATCH = "CustomergroupPatch"
_MESSAGES = {error.code: error.message for error in ERRORS}
_DESCRIPTION = (
    "A JSON-RPC 2.0 service for customer groups. Every Customergroup method needs an API token, "
    "sent as the auth query parameter or as an Authorization: Bearer header; rpc.discover needs "
    "none. Params may be given by position (the documented form) or by name."
)


def document(schemas: Schemas) -> dict[str, Any]:
    """The OpenRPC document: every method of ``schemas``, then ``rpc.discover`` itself."""
    group = copy.deepcopy(dict(schemas.object_schema))
    methods = [_method(m, group) for m in schemas.methods.values()]
    methods += [_socket(_method(m, group)) for m in schemas.socket_methods.values()]
    return {
        "openrpc": VERSION,
        "info": {
            "title": "customergroup-rpc",
            "version": __version__,
            "description": _DESCRIPTION,
            "license": {"name": "MIT"},
        },
        "methods": [*methods, _discover()],
        "components": {
            "errors": {
                error.__name__: {"code": error.code, "message": error.message, "x-when": error.when}
                for error in ERRORS
            },
            "schemas": {
                "Customergroup": group,
                "CustomergroupNew": _patch(schemas.object_for(new=True)),
                PATCH: _patch(schemas.object_for(new=False)),
            },
        },
    }


def _patch(group: Mapping[str, Any]) -> dict[str, Any]:
    """The schema of a patch: the group's writable properties, nothing else."""
    writable = {k: v for k, v in group["properties"].items() if not v.get("readOnly")}
    schema = {
        "title": f"{group['title']} patch",
        "description": "The properties to set; read-only and unknown properties are refused.",
        "type": "object",
        "properties": copy.deepcopy(writable),
        "additionalProperties": False,
    }
    if group.get("required"):
        schema["required"] = list(group["required"])
    return schema


def _method(method: Method, group: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": method.name,
        "summary": method.summary,
        "description": f"{method.summary} {_scope(method.scope)}",
        "x-scope": method.scope,
        "paramStructure": "either",
        "params": [
            _descriptor(
                p.name,
                _param_schema(method.name, p.name, p.schema, group),
                required=p.required,
                about=p.schema,
            )
            for p in method.params
        ],
        "result": _descriptor(method.result["name"], _refer(method.result["schema"], group)),
        "errors": [{"code": code, "message": _MESSAGES[code]} for code in method.errors],
    }


def _socket(method: dict[str, Any]) -> dict[str, Any]:
    """A method only a WebSocket on the endpoint can call."""
    method["description"] = f"{method['description']} Only over a WebSocket on the endpoint."
    method["x-transport"] = "websocket"
    return method


def _scope(scope: str) -> str:
    holders = [held for held, grants in GRANTS.items() if scope in grants]
    return f"Needs a token with the {' or '.join(sorted(holders))} scope."


def _descriptor(
    name: str, schema: Any, *, required: bool | None = None, about: Any = None
) -> dict[str, Any]:
    """A content descriptor; the description of ``about`` (default: the schema) is its own."""
    descriptor: dict[str, Any] = {"name": name}
    about = schema if about is None else about
    if isinstance(about, Mapping) and isinstance(about.get("description"), str):
        descriptor["description"] = about["description"]
    if required is not None:
        descriptor["required"] = required
    descriptor["schema"] = schema
    return descriptor


def _param_schema(method: str, name: str, schema: Any, group: Mapping[str, Any]) -> Any:
    if name == "patch":  # the descriptor keeps the param's description
        return {"$ref": f"#/components/schemas/{PATCHES.get(method, PATCH)}"}
    return _refer(schema, group)


def _refer(schema: Any, group: Mapping[str, Any]) -> Any:
    """``schema`` with every copy of the object schema replaced by a reference to it."""
    if schema == group:
        return dict(GROUP_REF)
    if isinstance(schema, Mapping):
        return {key: _refer(value, group) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_refer(item, group) for item in schema]
    return schema


def _discover() -> dict[str, Any]:
    return {
        "name": DISCOVER,
        "summary": "This document: the service's methods, params, results and errors.",
        "description": "The OpenRPC service discovery method. Needs no token and no params.",
        "paramStructure": "either",
        "params": [],
        "result": {
            "name": "OpenRPC Schema",
            "description": "An OpenRPC 1.2.6 document (https://spec.open-rpc.org/).",
            "schema": {"type": "object", "required": ["openrpc", "info", "methods"]},
        },
        "errors": [{"code": code, "message": _MESSAGES[code]} for code in (-32602, 1003)],
    }
