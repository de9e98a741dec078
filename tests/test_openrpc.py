"""Discovery (SPEC 11): the OpenRPC document and ``rpc.discover`` over HTTP without a token."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from jsonschema import Draft7Validator

from customergroup_rpc import __version__
from customergroup_rpc.errors import ERRORS
from customergroup_rpc.openrpc import DISCOVER, GROUP_REF, document
from customergroup_rpc.rpc import READS, SOCKET, WRITES
from customergroup_rpc.schemas import Schemas

from .conftest import ENDPOINT


# OpenRPC 1.2.6's document structure, transcribed from the specification (the official
# meta-schema lives on the network, which tests do not use). Objects allow ``x-`` extensions
# and nothing else beyond their fields, as the official meta-schema does.
def _object(required: list[str], properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": required,
        "properties": properties,
        "patternProperties": {"^x-": {}},
        "additionalProperties": False,
    }


_STRING, _BOOL, _ARRAY = {"type": "string"}, {"type": "boolean"}, {"type": "array"}
_SCHEMA = {"type": ["object", "boolean"]}
_REFERENCE = {
    "type": "object",
    "required": ["$ref"],
    "properties": {"$ref": _STRING},
    "additionalProperties": False,
}
_DESCRIPTOR = _object(
    ["name", "schema"],
    {
        "name": _STRING,
        "summary": _STRING,
        "description": _STRING,
        "required": _BOOL,
        "schema": _SCHEMA,
        "deprecated": _BOOL,
    },
)
_ERROR = _object(["code", "message"], {"code": {"type": "integer"}, "message": _STRING, "data": {}})
_METHOD = _object(
    ["name", "params", "result"],
    {
        "name": {"type": "string", "minLength": 1},
        "tags": _ARRAY,
        "summary": _STRING,
        "description": _STRING,
        "externalDocs": {"type": "object"},
        "params": {"type": "array", "items": {"oneOf": [_DESCRIPTOR, _REFERENCE]}},
        "result": {"oneOf": [_DESCRIPTOR, _REFERENCE]},
        "deprecated": _BOOL,
        "servers": _ARRAY,
        "errors": {"type": "array", "items": {"oneOf": [_ERROR, _REFERENCE]}},
        "links": _ARRAY,
        "paramStructure": {"enum": ["by-name", "by-position", "either"]},
        "examples": _ARRAY,
    },
)
_MAP = {"type": "object"}
OPENRPC_1_2 = _object(
    ["openrpc", "info", "methods"],
    {
        "openrpc": {"type": "string", "pattern": r"^1\.2\.[0-9]+$"},
        "info": _object(
            ["title", "version"],
            {
                "title": _STRING,
                "description": _STRING,
                "termsOfService": _STRING,
                "version": _STRING,
                "contact": _MAP,
                "license": _object(["name"], {"name": _STRING, "url": _STRING}),
            },
        ),
        "externalDocs": _MAP,
        "servers": _ARRAY,
        "methods": {"type": "array", "items": {"oneOf": [_METHOD, _REFERENCE]}},
        "components": _object(
            [],
            {
                "schemas": {"type": "object", "additionalProperties": _SCHEMA},
                "contentDescriptors": {"type": "object", "additionalProperties": _DESCRIPTOR},
                "errors": {"type": "object", "additionalProperties": _ERROR},
                "links": _MAP,
                "examples": _MAP,
                "examplePairings": _MAP,
                "tags": _MAP,
            },
        ),
    },
)


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas.load()


@pytest.fixture(scope="module")
def doc(schemas: Schemas) -> dict[str, Any]:
    return document(schemas)


def methods(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {method["name"]: method for method in doc["methods"]}


def resolve(doc: dict[str, Any], node: Any) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points at."""
    if isinstance(node, list):
        return [resolve(doc, n) for n in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target: Any = doc
        for token in node["$ref"].removeprefix("#/").split("/"):
            target = target[token.replace("~1", "/").replace("~0", "~")]
        return resolve(doc, target)
    return {key: resolve(doc, value) for key, value in node.items()}


def test_the_structure_check_itself_rejects_a_broken_document() -> None:
    broken = {"openrpc": "1.2.6", "info": {"title": "t"}, "methods": [{"name": "m"}]}
    assert len(list(Draft7Validator(OPENRPC_1_2).iter_errors(broken))) >= 2


def test_the_document_has_the_openrpc_1_2_structure(doc: dict[str, Any]) -> None:
    errors = [
        f"{list(e.absolute_path)}: {e.message}"
        for e in Draft7Validator(OPENRPC_1_2).iter_errors(doc)
    ]
    assert errors == []
    assert doc["openrpc"] == "1.2.6"


def test_every_dispatched_method_is_in_the_document_and_nothing_else(
    doc: dict[str, Any],
) -> None:
    names = [method["name"] for method in doc["methods"]]
    assert len(names) == len(set(names)), "method names must be unique"
    assert set(names) == {*READS, *WRITES, *SOCKET, DISCOVER}


def test_params_and_results_are_the_schemas_the_service_validates_with(
    doc: dict[str, Any], schemas: Schemas
) -> None:
    for name, spec in schemas.methods.items():
        method = methods(doc)[name]
        assert method["paramStructure"] == "either"
        assert [(p["name"], p["required"]) for p in method["params"]] == [
            (p.name, p.required) for p in spec.params
        ]
        for param, expected in zip(method["params"], spec.params, strict=True):
            if param["name"] != "patch":  # patches: the group's schema (the test below)
                assert resolve(doc, param["schema"]) == expected.schema, (name, param["name"])
        assert method["result"]["name"] == spec.result["name"]
        assert resolve(doc, method["result"]["schema"]) == spec.result["schema"], name


@pytest.mark.parametrize(
    ("method", "patch", "accepted"),
    [
        ("Customergroup.create", {"name": "Staff"}, True),
        ("Customergroup.create", {}, False),  # a new group needs a name
        ("Customergroup.create", {"uid": 1, "name": "Staff"}, False),  # read-only
        ("Customergroup.set", {}, True),
        ("Customergroup.set", {"customerCount": 3}, False),
        ("Customergroup.set", {"nmae": "Staff"}, False),  # unknown
        ("Customergroup.validate", {"name": 7}, False),
        ("Customergroup.validate", {"name": "x" * 256}, False),
    ],
)
def test_a_stock_validator_refuses_the_patches_the_server_refuses(
    doc: dict[str, Any], method: str, patch: dict[str, Any], accepted: bool
) -> None:
    param = next(p for p in methods(doc)[method]["params"] if p["name"] == "patch")
    assert param["description"]
    assert Draft7Validator(resolve(doc, param["schema"])).is_valid(patch) is accepted


def test_required_params_come_before_optional_ones(doc: dict[str, Any]) -> None:
    # OpenRPC 1.2.6, Method Object: "All required params MUST be positioned before any
    # optional params in the list."
    for method in doc["methods"]:
        flags = [p.get("required", False) for p in method["params"]]
        assert flags == sorted(flags, reverse=True), method["name"]


def test_every_schema_in_the_document_is_a_draft_07_schema(doc: dict[str, Any]) -> None:
    Draft7Validator.check_schema(doc["components"]["schemas"]["Customergroup"])
    for method in doc["methods"]:
        for descriptor in [*method["params"], method["result"]]:
            Draft7Validator.check_schema(resolve(doc, descriptor["schema"]))


def test_every_reference_points_into_the_document(doc: dict[str, Any]) -> None:
    text = json.dumps(doc)
    assert text.count('"$ref"') >= 4  # get, create, set, list refer to the group
    resolve(doc, doc)  # raises KeyError on a dangling reference


def test_the_group_schema_is_the_object_schema_given_once(
    doc: dict[str, Any], schemas: Schemas
) -> None:
    assert doc["components"]["schemas"]["Customergroup"] == schemas.object_schema
    assert methods(doc)["Customergroup.get"]["result"]["schema"] == GROUP_REF
    assert methods(doc)["Customergroup.list"]["result"]["schema"]["items"] == GROUP_REF


def test_errors_carry_the_codes_of_methods_json_and_the_messages_of_the_error_classes(
    doc: dict[str, Any], schemas: Schemas
) -> None:
    messages = {error.code: error.message for error in ERRORS}
    for name, spec in schemas.methods.items():
        errors = methods(doc)[name]["errors"]
        assert errors == [{"code": code, "message": messages[code]} for code in spec.errors]
    assert {"code": 9003, "message": "Object not found"} in methods(doc)["Customergroup.get"][
        "errors"
    ]


def test_the_document_lists_every_error_class_as_the_readme_does(doc: dict[str, Any]) -> None:
    listed = doc["components"]["errors"]
    assert [(e["code"], e["message"], e["x-when"]) for e in listed.values()] == [
        (error.code, error.message, error.when) for error in ERRORS
    ]
    # Each method's errors are among them, and every method may answer the transport's errors.
    codes = {error.code for error in ERRORS}
    for method in doc["methods"]:
        assert {e["code"] for e in method["errors"]} <= codes, method["name"]


def test_descriptions_say_which_scope_a_method_needs(doc: dict[str, Any]) -> None:
    assert "manage scope" in methods(doc)["Customergroup.create"]["description"]
    assert "manage or view scope" in methods(doc)["Customergroup.list"]["description"]
    assert methods(doc)["Customergroup.delete"]["x-scope"] == "manage"
    assert "no token" in methods(doc)[DISCOVER]["description"]


def test_info_names_the_service_and_its_version(doc: dict[str, Any]) -> None:
    assert doc["info"]["title"] == "customergroup-rpc"
    assert doc["info"]["version"] == __version__


def test_rpc_discover_is_listed_with_no_params(doc: dict[str, Any]) -> None:
    discover = methods(doc)[DISCOVER]
    assert discover["params"] == []
    assert discover["result"]["schema"]["required"] == ["openrpc", "info", "methods"]


def test_the_document_survives_a_json_round_trip(doc: dict[str, Any]) -> None:
    assert json.loads(json.dumps(doc)) == doc


# -- over HTTP ------------------------------------------------------------------------------


async def post(client: TestClient[Any, Any], body: Any, path: str = ENDPOINT) -> Any:
    response = await client.post(path, json=body)
    assert response.status == 200
    return await response.json()


@pytest.mark.parametrize(
    "params",
    [{}, {"params": []}, {"params": {}}],
    ids=["no params", "positional", "by name"],
)
async def test_rpc_discover_answers_without_a_token(
    client: TestClient[Any, Any], doc: dict[str, Any], params: dict[str, Any]
) -> None:
    answer = await post(client, {"jsonrpc": "2.0", "method": DISCOVER, **params, "id": "d"})
    assert answer == {"jsonrpc": "2.0", "result": json.loads(json.dumps(doc)), "id": "d"}


async def test_rpc_discover_with_params_refuses_them_with_one_problem(
    client: TestClient[Any, Any],
) -> None:
    # One problem however many params: rpc.discover needs no token, so it must not echo them.
    for params in ([1, 2], [0] * 1000, {"full": True}):
        answer = await post(
            client, {"jsonrpc": "2.0", "method": DISCOVER, "params": params, "id": 1}
        )
        assert answer["error"]["code"] == -32602
        message = "rpc.discover takes no params: send none, [] or {}."
        assert answer["error"]["data"] == [{"pointer": "", "message": message}]


async def test_every_documented_method_is_dispatched(
    client: TestClient[Any, Any], doc: dict[str, Any]
) -> None:
    batch = [{"jsonrpc": "2.0", "method": m["name"], "id": i} for i, m in enumerate(doc["methods"])]
    answers = await post(client, batch)
    assert len(answers) == len(batch)
    for request, answer in zip(batch, answers, strict=True):
        if request["method"] == DISCOVER:
            assert answer["result"]["openrpc"] == "1.2.6"
        else:  # found and dispatched, then refused for want of a token (not -32601)
            assert answer["error"]["code"] == 1004, (request, answer)


async def test_the_token_is_still_needed_for_everything_else(
    client: TestClient[Any, Any],
) -> None:
    answer = await post(client, {"jsonrpc": "2.0", "method": "Customergroup.count", "id": 1})
    assert answer["error"]["code"] == 1004
