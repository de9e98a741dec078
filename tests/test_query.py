"""The query language (SPEC 5): the cases in cases/query.json, then the rules they cannot show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc.errors import LIMIT, InvalidParams, worded
from customergroup_rpc.query import WHOLE, apply, keys, parse

CASES = json.loads((Path(__file__).parent / "cases" / "query.json").read_text("utf-8"))
SHAPE: dict[str, Any] = CASES["shape"]
OBJECT: dict[str, Any] = CASES["object"]

GROUP_SHAPE = {"changed": None, "created": None, "name": None, "uid": None}
GROUP = {
    "changed": "2014-01-16T14:14:18Z",
    "created": "2014-01-16T14:14:18Z",
    "name": "Students",
    "uid": 123123,
}


def cases(kind: str) -> list[Any]:
    """The cases of one kind ("result" or "error") as params named after the case."""
    return [pytest.param(c, id=c["name"]) for c in CASES["cases"] if kind in c]


def pointers(raw: object, shape: Any = SHAPE, at: str = "/1") -> list[str]:
    """The sorted pointers of the problems ``parse`` raises for ``raw``."""
    with pytest.raises(InvalidParams) as caught:
        parse(raw, shape, at)
    return sorted(problem["pointer"] for problem in worded(caught.value.problems))


def ordered(value: object) -> str:
    """A dict as text, so comparisons see key order at every level."""
    return json.dumps(value)


@pytest.mark.parametrize("case", cases("result"))
def test_result_case(case: dict[str, Any]) -> None:
    assert ordered(apply(parse(case["query"], SHAPE, "/1"), OBJECT)) == ordered(case["result"])


@pytest.mark.parametrize("case", cases("error"))
def test_error_case(case: dict[str, Any]) -> None:
    assert pointers(case["query"]) == sorted(case["error"])


@pytest.mark.parametrize("case", cases("error"))
def test_every_problem_is_a_sentence(case: dict[str, Any]) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse(case["query"], SHAPE, "/1")
    for problem in worded(caught.value.problems):
        assert problem["message"][0].isupper() or problem["message"].startswith(("'", "false"))
        assert problem["message"].endswith(".")


@pytest.mark.parametrize("raw", [True, {}, None])
def test_spec_whole_object_forms(raw: object) -> None:
    assert ordered(apply(parse(raw, GROUP_SHAPE, "/1"), GROUP)) == ordered(GROUP)


def test_spec_string_selects_one_property() -> None:
    assert apply(parse("name", GROUP_SHAPE, "/1"), GROUP) == {"name": "Students"}


def test_spec_create_example_returns_name_then_uid() -> None:
    result = apply(parse(["uid", "name"], GROUP_SHAPE, "/1"), GROUP)
    assert list(result.items()) == [("name", "Students"), ("uid", 123123)]


def test_spec_object_form_selects_several() -> None:
    result = apply(parse({"uid": True, "name": True}, GROUP_SHAPE, "/1"), GROUP)
    assert list(result.items()) == [("name", "Students"), ("uid", 123123)]


def test_spec_into_a_scalar_points_at_the_property() -> None:
    assert pointers({"name": {"en": True}}, GROUP_SHAPE) == ["/1/name"]


def test_unknown_property_message_lists_the_properties() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse({"nme": True}, GROUP_SHAPE, "/1")
    assert worded(caught.value.problems) == [
        {
            "pointer": "/1/nme",
            "message": "Unknown property 'nme'. A customer group has: changed, created, name, uid.",
        }
    ]


def test_into_a_scalar_message_says_use_true() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse({"name": "en"}, GROUP_SHAPE, "/1")
    assert (
        worded(caught.value.problems)[0]["message"]
        == "'name' is a single value; select it with true."
    )


def test_unknown_nested_property_names_the_sub_object() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse({"address": "town"}, SHAPE, "/1")
    message = worded(caught.value.problems)[0]["message"]
    assert message == "Unknown property 'town'. 'address' has: street, zip, city."


def test_top_level_false_explains_what_to_use() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse(False, GROUP_SHAPE, "/1")
    assert [p["message"] for p in worded(caught.value.problems)] == [
        "false selects nothing; use true for the whole object, a property name, "
        "an array of names or an object."
    ]


def test_hostile_key_is_cut_short_in_the_message() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse("x" * 10_000, GROUP_SHAPE, "/1")
    assert len(worded(caught.value.problems)[0]["message"]) < 200


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("nme", ["/query"]), (["nme"], ["/query/0"]), ({"a/b": True}, ["/query/a~1b"])],
)
def test_by_name_base_pointer(raw: object, expected: list[str]) -> None:
    assert pointers(raw, GROUP_SHAPE, "/query") == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (True, ("changed", "created", "name", "uid")),
        (["uid", "name"], ("name", "uid")),
        ({"uid": True, "changed": True, "name": False}, ("changed", "uid")),
        ([], ()),
    ],
)
def test_keys_in_shape_order(raw: object, expected: tuple[str, ...]) -> None:
    assert keys(parse(raw, GROUP_SHAPE, "/1"), GROUP_SHAPE) == expected


def test_keys_of_whole_is_every_shape_key() -> None:
    assert keys(WHOLE, SHAPE) == ("address", "changed", "created", "name", "uid")


def test_keys_of_nested_query_is_top_level_only() -> None:
    assert keys(parse({"address": "city"}, SHAPE, "/1"), SHAPE) == ("address",)


def deep(levels: int, key: str | None) -> object:
    """A query nested ``levels`` deep, built without recursion: objects under ``key``, or arrays."""
    raw: object = True
    for _ in range(levels):
        raw = [raw] if key is None else {key: raw}
    return raw


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (deep(10_000, "name"), ["/1/name"]),
        (deep(10_000, "nme"), ["/1/nme"]),
        (deep(10_000, None), ["/1/0"]),
        ({"address": {"city": deep(10_000, "city")}}, ["/1/address/city"]),
    ],
    ids=["into-scalar", "unknown", "arrays", "nested"],
)
def test_deep_query_is_a_clean_error(raw: object, expected: list[str]) -> None:
    assert pointers(raw) == expected


def test_whole_object_leaves_out_keys_the_shape_lacks() -> None:
    stored = {"secret": "x", **GROUP, "address": {"city": "Oslo", "internal": 1}}
    assert apply(parse(True, SHAPE, "/1"), stored) == {**GROUP, "address": {"city": "Oslo"}}


def test_apply_skips_missing_keys_and_keeps_null_sub_objects() -> None:
    selected = parse({"address": "city", "name": True, "uid": True}, SHAPE, "/1")
    assert apply(selected, {"address": None, "uid": 7}) == {"address": None, "uid": 7}


def test_apply_whole_copies_the_object() -> None:
    result = apply(WHOLE, GROUP)
    assert result == GROUP
    assert result is not GROUP


def test_the_array_and_object_forms_parse_to_one_query() -> None:
    assert parse(["uid", "name"], GROUP_SHAPE, "/1") == parse(
        {"name": True, "uid": True}, GROUP_SHAPE, "/1"
    )


@pytest.mark.parametrize(
    ("raw", "at"),
    [
        ([0] * 300, "/1"),
        (["nope"] * 300, "/1"),
        ({f"k{i}": True for i in range(300)}, "/1"),
    ],
)
def test_a_long_query_lists_the_first_hundred_problems_and_counts_the_rest(
    raw: Any, at: str
) -> None:
    with pytest.raises(InvalidParams) as caught:
        parse(raw, GROUP_SHAPE, "/1")
    found = worded(caught.value.problems)
    assert len(found) == LIMIT + 1
    assert found[LIMIT]["pointer"] == at
    assert found[LIMIT]["message"].startswith("200 more problems here are not listed")


# Sub-objects picked by name (issue 17): the shape decides their keys and order, not the store.

STORED = {
    "uid": 123123,
    "name": "Students",
    "address": {"city": "Oslo", "internal": 1, "zip": "0150", "street": "Main Street 1"},
}
ADDRESS = {"address": {"street": "Main Street 1", "zip": "0150", "city": "Oslo"}}


@pytest.mark.parametrize("raw", ["address", ["address"], {"address": True}, {"address": {}}])
def test_a_sub_object_picked_by_name_has_the_shape_keys_in_shape_order(raw: object) -> None:
    assert ordered(apply(parse(raw, SHAPE, "/1"), STORED)) == ordered(ADDRESS)


def test_the_whole_object_cuts_its_sub_objects_to_the_shape_in_shape_order() -> None:
    expected = {**ADDRESS, "name": "Students", "uid": 123123}
    assert ordered(apply(parse(True, SHAPE, "/1"), STORED)) == ordered(expected)


def test_keys_picked_inside_a_sub_object_follow_the_sub_shape_order() -> None:
    picked = apply(parse({"address": ["city", "street"]}, SHAPE, "/1"), STORED)
    assert ordered(picked) == ordered({"address": {"street": "Main Street 1", "city": "Oslo"}})


def test_a_sub_object_query_on_a_stored_scalar_takes_the_scalar_as_it_is() -> None:
    assert apply(parse({"address": "city"}, SHAPE, "/1"), {"address": "Oslo"}) == {
        "address": "Oslo"
    }


# What a problem names (issue 17): the value given, the object that lacks a name, the choices.


def messages(raw: object, shape: Any = SHAPE) -> list[str]:
    """The messages of the problems ``parse`` raises for ``raw``, in pointer order."""
    with pytest.raises(InvalidParams) as caught:
        parse(raw, shape, "/1")
    return [p["message"] for p in sorted(worded(caught.value.problems), key=lambda p: p["pointer"])]


@pytest.mark.parametrize(
    ("raw", "owner"),
    [(["nme"], "A customer group has:"), ({"address": ["twn"]}, "'address' has:")],
)
def test_an_unknown_name_in_an_array_names_the_object_that_lacks_it(
    raw: object, owner: str
) -> None:
    [message] = messages(raw)
    assert owner in message


def test_an_object_without_properties_says_it_has_none() -> None:
    [message] = messages("name", {})
    assert "'name'" in message
    assert message.endswith("has: no properties.")


def test_a_query_of_the_wrong_kind_names_what_was_given() -> None:
    [message] = messages(42)
    assert "the number 42" in message
    assert "a property name" in message  # and the other forms a query may take


def test_an_array_element_that_is_no_name_is_named() -> None:
    [message] = messages(["uid", 7])
    assert "the number 7" in message
    assert "property names" in message


def test_a_value_that_is_no_selection_names_it_and_what_fits_the_property() -> None:
    sub_object, scalar = messages({"uid": 1, "address": 5})
    assert "'address'" in sub_object
    assert "the number 5" in sub_object
    assert "a query for its properties" in sub_object
    assert "'uid'" in scalar
    assert "the number 1" in scalar
    assert "query" not in scalar  # a single value: only true or false fit


def test_a_query_of_no_kind_says_what_a_query_may_be_naming_the_value() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse(5, GROUP_SHAPE, "/1")
    [message] = [p["message"] for p in worded(caught.value.problems)]
    assert message.startswith("A query is true for the whole object, a property name, ")
    assert message.endswith(", not the number 5.")


def test_a_sub_object_given_a_number_says_true_false_or_a_query_naming_it() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse({"address": 5}, SHAPE, "/1")
    [message] = [p["message"] for p in worded(caught.value.problems)]
    assert message.startswith("Use true to select 'address', false to leave it out or a query ")
    assert message.endswith(", not the number 5.")
