"""The compiled yes/no checks agree with jsonschema on every schema the service uses."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft7Validator

from customergroup_rpc.checks import compile_check
from customergroup_rpc.schemas import Schemas

SCALARS: list[Any] = [
    None,
    True,
    False,
    0,
    1,
    -1,
    5.0,
    5.5,
    2**53,
    10**30,
    "",
    "12",
    "1x",
    "x" * 40,
]
VALUES: list[Any] = [
    *SCALARS,
    [],
    [1, 2],
    [0],
    [True],
    [17, 5.0],
    [17, 5.5],
    [2**53 - 1, 1],
    [1, 2**53],
    [1, "2"],
    [1, None],
    [[1]],
    list(range(1, 10_002)),
    {},
    {"name": "Staff"},
    {"name": ""},
    {"name": "a\tb"},
    {"name": "x" * 256},
    {"name": " " + "x" * 255 + "  "},
    {"name": "\tStaff\n"},
    {"name": "  "},
    {"name": "\u200b"},
    {"name": "a\u202eb"},
    {"name": "a\x1c"},
    {"name": "Staff\n\n"},
    {"name": 5},
    {"uid": 1},
    {"name": "A", "uid": 1},
    {"customerCount": 0},
    {"colour": "red"},
    {"limit": 5},
    {"limit": -1},
    {"limit": 2.0},
    {"limit": True},
    {"offset": 0, "sort": "name", "descending": True},
    {"sort": "size"},
    {"sort": "customerCount", "filters": {"/name": "x"}},
    {"filters": None},
    {"filters": []},
    {"page": 1},
]


def schemas_in_use() -> list[tuple[str, dict[str, Any]]]:
    loaded = Schemas.load()
    found = [("new group", loaded.object_for(new=True)), ("group", loaded.object_for(new=False))]
    for method in loaded.methods.values():
        found += [(f"{method.name} {p.name}", dict(p.schema)) for p in method.params]
    return found


@pytest.mark.parametrize(
    ("name", "schema"), schemas_in_use(), ids=lambda x: x if isinstance(x, str) else ""
)
def test_quick_check_agrees_with_jsonschema(name: str, schema: dict[str, Any]) -> None:
    quick = compile_check(schema)
    if quick is None:
        pytest.skip(f"{name} is always checked by jsonschema")
    full = Draft7Validator(schema, format_checker=Draft7Validator.FORMAT_CHECKER)
    # readOnly is a rule on writes (schemas.py): a read-only key is never valid in a patch.
    read_only = {k for k, v in schema.get("properties", {}).items() if v.get("readOnly")}
    for value in VALUES:
        expected = full.is_valid(value) and not (
            isinstance(value, dict) and value.keys() & read_only
        )
        assert quick(value) == expected, (name, value)


def test_hot_params_compile() -> None:
    """The params of get, list, count, create and set never need jsonschema when valid."""
    loaded = Schemas.load()
    for name in ("get", "list", "count", "create", "set"):
        for param in loaded.methods[f"Customergroup.{name}"].params:
            assert param.quick is not None, (name, param.name)


def test_member_params_compile() -> None:
    """An array of 10,000 customer uids is checked without jsonschema, or an item by item walk,
    when valid: the one C-level pass per rule keeps an addCustomers of 10,000 short."""
    loaded = Schemas.load()
    for name in ("addCustomers", "removeCustomers", "moveCustomers"):
        param = next(
            p for p in loaded.methods[f"Customergroup.{name}"].params if p.name == "customers"
        )
        assert param.quick is not None, name


def test_patch_schemas_compile() -> None:
    """create and set check a valid name without jsonschema: allOf holds the name's rules."""
    loaded = Schemas.load()
    assert all(compile_check(loaded.object_for(new=new)) is not None for new in (True, False))


def test_all_of_holds_when_every_part_holds() -> None:
    both = compile_check({"allOf": [{"pattern": "^a"}, {"maxLength": 2}]})
    assert both is not None
    assert (both("ab"), both("abc"), both("ba"), both(5)) == (True, False, False, True)
    assert compile_check({"allOf": [{"pattern": "^a"}, {"format": "email"}]}) is None


def test_unknown_keywords_fall_back_to_jsonschema() -> None:
    assert compile_check({"type": "string", "format": "email"}) is None
    assert compile_check({"not": {"type": "string"}}) is None
    assert compile_check({"properties": {"a": {"oneOf": []}}}) is None
