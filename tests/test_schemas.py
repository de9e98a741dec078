"""The schemas: one object schema for getSchema and for validation, readable messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft7Validator

from customergroup_rpc.schemas import Schemas, schema_dir


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas.load()


def test_schema_files_are_valid_draft_07() -> None:
    for name in ("customergroup.json", "methods.json"):
        schema = json.loads((schema_dir() / name).read_text())
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        Draft7Validator.check_schema(schema)


def test_get_schema_marks_read_only_properties(schemas: Schemas) -> None:
    props = schemas.object_for(new=True)["properties"]
    assert {k for k, v in props.items() if v.get("readOnly")} == {
        "uid",
        "created",
        "changed",
        "customerCount",
    }
    assert props["name"]["maxLength"] == 255
    assert all("title" in v and "description" in v for v in props.values())


def test_object_for_returns_a_copy(schemas: Schemas) -> None:
    schemas.object_for(new=True)["properties"].clear()
    assert "name" in schemas.object_for(new=True)["properties"]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"name": 5}, [("/name", "name must be a string, not an integer.")]),
        ({"name": ""}, [("/name", "name must not be empty.")]),
        (
            {"name": "x" * 300},
            [("/name", "name must be at most 255 characters long (it has 300).")],
        ),
        (
            {"name": "a\tb"},
            [
                (
                    "/name",
                    "The name must not contain control characters (such as line breaks or tabs).",
                )
            ],
        ),
        (
            {"uid": "7"},
            [("/name", "name is required."), ("/uid", "uid is read-only: the server sets it.")],
        ),
        (
            {"name": "A", "a/b": 1},
            [
                (
                    "/a~1b",
                    "Unknown key 'a/b'. Allowed keys: changed, created, customerCount, name, uid.",
                )
            ],
        ),
    ],
)
def test_patch_problems_are_sentences_at_exact_pointers(
    schemas: Schemas, patch: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    found = [(p["pointer"], p["message"]) for p in schemas.check_patch(patch, new=True)]
    assert found == expected


def test_client_side_validation_agrees_with_the_server(schemas: Schemas) -> None:
    """A front end validating with getSchema's schema rejects what the server rejects."""
    client = Draft7Validator(schemas.object_for(new=True))
    for patch in ({"name": 5}, {"name": ""}, {"name": "x" * 256}, {"name": "a\nb"}, {}, {"x": 1}):
        assert not client.is_valid(patch)
        assert schemas.check_patch(patch, new=True)
    assert client.is_valid({"name": "Staff"})
    assert schemas.check_patch({"name": "Staff"}, new=True) == []


def test_every_method_has_a_scope_summary_and_result(schemas: Schemas) -> None:
    for method in schemas.methods.values():
        assert method.scope in {"manage", "view"}
        assert method.summary.endswith(".")
        assert method.result["schema"]


def test_param_problems_point_into_the_params(schemas: Schemas) -> None:
    get = schemas.methods["Customergroup.get"]
    assert schemas.check_param(get.params[0], "12a", "/0") == [
        {
            "pointer": "/0",
            "message": 'A uid is an integer or a string of digits, such as 123 or "123".',
        }
    ]
    selection = schemas.methods["Customergroup.list"].params[1]
    found = schemas.check_param(selection, {"limit": -1, "sort": "size", "page": 2}, "/1")
    assert [p["pointer"] for p in found] == ["/1/limit", "/1/page", "/1/sort"]
