"""Filter-object semantics (SPEC 6), from the cases in tests/cases/filters.json plus edge cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc.errors import LIMIT, InvalidParams, Problem
from customergroup_rpc.filters import (
    MATCH_ALL,
    MAX_DEPTH,
    OPERATORS,
    FieldType,
    compile_filter,
    parse,
)

FIELDS = {
    "/uid": FieldType.INTEGER,
    "/name": FieldType.STRING,
    "/created": FieldType.DATETIME,
    "/changed": FieldType.DATETIME,
    "/customerCount": FieldType.INTEGER,
    "/customers": FieldType.UID_SET,
}
DATA = json.loads((Path(__file__).parent / "cases" / "filters.json").read_text(encoding="utf-8"))
# Records carry a group's customers as the store serves them: a frozenset.
GIVEN: list[dict[str, Any]] = [{**r, "customers": frozenset(r["customers"])} for r in DATA["given"]]
RESULTS = [case for case in DATA["cases"] if "result" in case]
ERRORS = [case for case in DATA["cases"] if "error" in case]


def problems_of(raw: object, at: str = "/1/filters") -> list[Problem]:
    """The problems parse reports for a filter, failing the test if it parses."""
    with pytest.raises(InvalidParams) as caught:
        parse(raw, FIELDS, at)
    return caught.value.problems


def nested_not(levels: int, inner: object) -> object:
    """A condition of `levels` nested `not` objects around `inner`."""
    condition = inner
    for _ in range(levels):
        condition = {"not": condition}
    return condition


@pytest.mark.parametrize("case", RESULTS, ids=[case["name"] for case in RESULTS])
def test_filter_selects(case: dict[str, Any]) -> None:
    matches = compile_filter(parse(case["filter"], FIELDS, "/1/filters"))
    assert [record["uid"] for record in GIVEN if matches(record)] == case["result"]


@pytest.mark.parametrize("case", ERRORS, ids=[case["name"] for case in ERRORS])
def test_filter_is_rejected_at(case: dict[str, Any]) -> None:
    pointers = sorted(problem["pointer"] for problem in problems_of(case["filter"]))
    assert pointers == sorted(problem["pointer"] for problem in case["error"])


@pytest.mark.parametrize("case", ERRORS, ids=[case["name"] for case in ERRORS])
def test_problem_messages_are_sentences(case: dict[str, Any]) -> None:
    for problem in problems_of(case["filter"]):
        message = problem["message"]
        assert message[0].isupper() or message[0] in "/'", message
        assert message.endswith("."), message
        assert "Traceback" not in message


def test_count_pointer_base_is_zero() -> None:
    problems = problems_of({"/name": {"startsWith": 1}}, at="/0")
    assert [problem["pointer"] for problem in problems] == ["/0/~1name/startsWith"]


def test_empty_filter_is_match_all() -> None:
    assert parse({}, FIELDS, "/0") == MATCH_ALL
    assert compile_filter(MATCH_ALL)({})


def test_unknown_condition_lists_the_conditions_that_fit() -> None:
    [problem] = problems_of({"/name": {"between": 1}})
    assert problem["message"] == (
        "Unknown condition 'between'. Use one of: contains, endsWith, equals, in, not, startsWith."
    )


def test_unknown_pointer_lists_filterable_pointers() -> None:
    [problem] = problems_of({"/nme": 1})
    assert problem["message"] == (
        "Unknown filter pointer '/nme'. Filterable: /changed, /created, /customerCount,"
        " /customers, /name, /uid."
    )


def test_key_without_slash_suggests_the_pointer() -> None:
    [problem] = problems_of({"name": 1})
    assert "'/name'" in problem["message"]


def test_unfit_condition_names_the_types_it_applies_to() -> None:
    [problem] = problems_of({"/name": {"max": 3}})
    assert problem["message"] == "/name is a string; max applies to integers and date-times."


def test_date_time_without_zone_asks_for_z_or_offset() -> None:
    [problem] = problems_of({"/created": "2013-01-14T15:04:34"})
    assert "add Z or an offset" in problem["message"]


def test_long_input_is_not_echoed_in_full() -> None:
    [problem] = problems_of({"/name": {"x" * 10_000: 1}})
    assert len(problem["message"]) < 200


def test_deep_nesting_is_a_clean_problem() -> None:
    problems = problems_of({"/uid": nested_not(100_000, 1)})
    assert len(problems) == 1
    assert problems[0]["pointer"] == "/1/filters/~1uid" + "/not" * MAX_DEPTH


def test_nesting_up_to_the_limit_parses() -> None:
    # The top-level condition object is level 1, so MAX_DEPTH - 1 nested nots reach the limit.
    condition = nested_not(MAX_DEPTH - 1, {"in": [1, 2]})
    matches = compile_filter(parse({"/uid": condition}, FIELDS, "/0"))
    assert [matches({"uid": uid}) for uid in (1, 3)] == [False, True]


def test_null_matches_a_missing_property() -> None:
    matches = compile_filter(parse({"/name": None}, FIELDS, "/0"))
    assert matches({"uid": 1})
    assert not matches({"uid": 1, "name": "Staff"})


def test_broken_stored_date_time_matches_nothing_and_raises_nothing() -> None:
    matches = compile_filter(parse({"/created": {"max": "2100-01-01"}}, FIELDS, "/0"))
    assert not any(matches({"created": value}) for value in ("2014-01-16T14:14:18", "x", 5))


def test_missing_property_fails_every_other_condition() -> None:
    for condition in ({"min": 1}, {"in": [1]}, 1):
        assert not compile_filter(parse({"/uid": condition}, FIELDS, "/0"))({})
    assert not compile_filter(parse({"/name": {"contains": ""}}, FIELDS, "/0"))({})


def test_parse_is_deterministic_and_comparable() -> None:
    raw = {"/uid": {"in": [3, 1]}, "/created": {"min": "2014-01-16T15:14:18+01:00"}}
    assert parse(raw, FIELDS, "/0") == parse(raw, FIELDS, "/1/filters")


def test_the_registry_holds_the_documented_conditions() -> None:
    names = {"equals", "in", "not", "startsWith", "endsWith", "contains", "min", "max"}
    assert names | {"containsAny", "containsAll"} == set(OPERATORS)


@pytest.mark.parametrize(
    ("condition", "at"),
    [
        ({"/customers": {"containsAny": [0] * 520}}, "/1/filters/~1customers/containsAny"),
        (
            {"/customers": {"not": {"containsAll": [0] * 520}}},
            "/1/filters/~1customers/not/containsAll",
        ),
        ({"/uid": {"in": ["x"] * 520}}, "/1/filters/~1uid/in"),
        ({"/uid": {f"op{i}": 1 for i in range(520)}}, "/1/filters/~1uid"),
        ({f"/k{i}": 1 for i in range(520)}, "/1/filters"),
    ],
)
def test_a_long_list_of_problems_stops_at_the_limit_and_counts_the_rest(
    condition: dict[str, Any], at: str
) -> None:
    found = problems_of(condition)
    assert len(found) == LIMIT + 1
    assert all(p["pointer"].startswith(at + "/") for p in found[:LIMIT])
    assert found[LIMIT]["pointer"] == at
    assert found[LIMIT]["message"].startswith("420 more problems here are not listed")


def test_null_and_bad_values_in_an_in_list_are_told_apart() -> None:
    found = problems_of({"/uid": {"in": [None, 1, "x", 2.5]}})
    assert [p["pointer"] for p in found] == ["/1/filters/~1uid/in/2", "/1/filters/~1uid/in/3"]
