"""Filter-object semantics (SPEC 6), from the cases in tests/cases/filters.json plus edge cases."""

from __future__ import annotations

import gettext
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc import i18n
from customergroup_rpc.errors import LIMIT, InvalidParams, Worded, worded
from customergroup_rpc.filters import (
    MATCH_ALL,
    MAX_DEPTH,
    OPERATORS,
    FieldType,
    compile_filter,
    fits_bigint,
    fits_text,
    parse,
    prefix,
)
from customergroup_rpc.params import Binder
from customergroup_rpc.schemas import Schemas

FIELDS = Binder(Schemas.load()).fields  # the filterable pointers, as the service has them
DATA = json.loads((Path(__file__).parent / "cases" / "filters.json").read_text(encoding="utf-8"))
# Records carry a group's customers as the store serves them: a frozenset.
GIVEN: list[dict[str, Any]] = [{**r, "customers": frozenset(r["customers"])} for r in DATA["given"]]
RESULTS = [case for case in DATA["cases"] if "result" in case]
ERRORS = [case for case in DATA["cases"] if "error" in case]


def problems_of(raw: object, at: str = "/1/filters") -> list[Worded]:
    """The problems parse reports for a filter (in English), failing the test if it parses."""
    with pytest.raises(InvalidParams) as caught:
        parse(raw, FIELDS, at)
    return worded(caught.value.problems)


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
        " /customers, /name, /uid, /version."
    )


def test_key_without_slash_suggests_the_pointer() -> None:
    [problem] = problems_of({"name": 1})
    assert "'/name'" in problem["message"]
    assert "pointer 'name'." in problem["message"]  # the key as it was given


def test_unfit_condition_names_the_types_it_applies_to() -> None:
    [problem] = problems_of({"/name": {"max": 3}})
    assert problem["message"] == "/name is a string; max applies to integers and date-times."


def test_date_time_without_zone_asks_for_z_or_offset() -> None:
    [problem] = problems_of({"/created": "2013-01-14T15:04:34"})
    assert "add Z or an offset" in problem["message"]
    assert "'2013-01-14T15:04:34' has no time zone" in problem["message"]


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


# Stored values of the wrong type, fine date-times, prefixes and uids (issue 17).


@pytest.mark.parametrize("stored", [True, 1.0, "1"])
@pytest.mark.parametrize("condition", [1, {"in": [1]}, {"min": 1, "max": 1}])
def test_a_stored_value_that_is_no_integer_matches_no_integer_condition(
    stored: object, condition: object
) -> None:
    matches = compile_filter(parse({"/uid": condition}, FIELDS, "/0"))
    assert matches({"uid": 1})
    assert not matches({"uid": stored})


@pytest.mark.parametrize("condition", [{"startsWith": "5"}, {"contains": "5"}, {"endsWith": "5"}])
def test_a_stored_name_that_is_no_string_matches_nothing_and_raises_nothing(
    condition: object,
) -> None:
    matches = compile_filter(parse({"/name": condition}, FIELDS, "/0"))
    assert matches({"name": "5"})
    assert not any(matches({"name": stored}) for stored in (5, True, ["5"]))


def test_a_stored_date_time_that_is_no_string_matches_no_date_time_condition() -> None:
    matches = compile_filter(parse({"/created": {"min": "2000-01-01"}}, FIELDS, "/0"))
    assert matches({"created": "2014-01-16T14:14:18Z"})
    assert not any(matches({"created": stored}) for stored in (20140116, True, None))


@pytest.mark.parametrize("zeros", ["0", "000"])
def test_a_date_time_with_trailing_zeros_past_the_microsecond_is_that_instant(
    zeros: str,
) -> None:
    fine = parse({"/created": {"min": f"2014-01-16T14:14:18.123456{zeros}Z"}}, FIELDS, "/0")
    assert fine == parse({"/created": {"min": "2014-01-16T14:14:18.123456Z"}}, FIELDS, "/0")
    bound = parse({"/created": {"max": "2014-01-16T14:14:18.0000000Z"}}, FIELDS, "/0")
    assert compile_filter(bound)({"created": "2014-01-16T14:14:18Z"})
    assert not compile_filter(bound)({"created": "2014-01-16T14:14:19Z"})


@pytest.mark.parametrize("raw", ["2014-01-16T14:14:18.1234561Z", "2014-01-16T14:14:18.00000001Z"])
def test_a_date_time_finer_than_a_microsecond_is_refused_naming_it(raw: str) -> None:
    [problem] = problems_of({"/created": {"min": raw}})
    assert problem["pointer"] == "/1/filters/~1created/min"
    assert f"'{raw}'" in problem["message"]
    assert "at most 6 decimals" in problem["message"]


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"/name": "Staff"},
        {"/name": {"contains": "st", "endsWith": "f"}},
        {"/name": {"not": {"startsWith": "st"}}},
        {"/uid": 1},
    ],
)
def test_a_filter_without_a_name_startswith_gives_no_prefix(raw: dict[str, Any]) -> None:
    assert prefix(parse(raw, FIELDS, "/0"), "name") == (None, False)


def test_a_startswith_of_another_property_gives_no_name_prefix() -> None:
    fields = {**FIELDS, "/nickname": FieldType.STRING}
    assert prefix(parse({"/nickname": {"startsWith": "a"}}, fields, "/0"), "name") == (None, False)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"/name": {"startsWith": "STAFF"}}, ("staff", True)),
        ({"/name": {"contains": "x", "startsWith": "S"}}, ("s", False)),
        ({"/uid": 2, "/name": {"startsWith": "S"}}, ("s", False)),
    ],
)
def test_a_name_startswith_gives_its_folded_prefix_whole_only_when_alone(
    raw: dict[str, Any], expected: tuple[str, bool]
) -> None:
    assert prefix(parse(raw, FIELDS, "/0"), "name") == expected


@pytest.mark.parametrize("uid", [1, 1.0, 2**53 - 1, 5.0, float(2**53 - 1)])
def test_a_customer_uid_from_1_to_2_53_minus_1_is_accepted_5_0_as_5(uid: object) -> None:
    for condition in ({"containsAny": [uid]}, {"containsAll": uid}, uid):
        matches = compile_filter(parse({"/customers": condition}, FIELDS, "/0"))
        assert matches({"customers": frozenset({int(uid)})})  # type: ignore[call-overload]
        assert not matches({"customers": frozenset({2})})


@pytest.mark.parametrize(
    ("uid", "named"),
    [
        (0, "0"),
        (0.0, "0.0"),
        (-1, "-1"),
        (2**53, str(2**53)),
        (float(2**53), f"{2**53}.0"),
        (5.5, "5.5"),
        (True, "true"),
    ],
)
def test_a_customer_uid_out_of_range_or_fractional_is_refused_naming_it(
    uid: object, named: str
) -> None:
    [problem] = problems_of({"/customers": {"containsAny": [17, uid]}})
    assert problem["pointer"] == "/1/filters/~1customers/containsAny/1"
    assert f"from 1 to {2**53 - 1}" in problem["message"]
    assert named in problem["message"]


def test_an_integer_operand_of_5_0_is_5_and_5_5_is_refused_naming_it() -> None:
    matches = compile_filter(parse({"/uid": {"in": [5.0]}}, FIELDS, "/0"))
    assert [matches({"uid": uid}) for uid in (5, 6)] == [True, False]
    for bad, named in ((5.5, "5.5"), (True, "true"), ("5", "a string")):
        [problem] = problems_of({"/uid": {"min": bad}})
        assert problem["pointer"] == "/1/filters/~1uid/min"
        assert "whole number" in problem["message"]
        assert named in problem["message"]


# What a problem names (issue 17): the value given, the types that fit, how to write it.


def unnamed(parts: list[str], message: str) -> list[str]:
    """The parts a message does not name, each as words of its own."""
    return [part for part in parts if not re.search(rf"(?<!\w){re.escape(part)}(?!\w)", message)]


def message_of(raw: object) -> str:
    """The message of the one problem parse reports for ``raw``."""
    [problem] = problems_of(raw)
    return problem["message"]


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"/name": 5}, ["/name", "strings", "the number 5"]),
        ({"/name": {"startsWith": 5}}, ["string", "the number 5"]),
        ({"/uid": {"in": 5}}, ["in", "array", "the number 5"]),
        ({"/created": 5}, ["/created", "date-times", "ISO 8601", "the number 5"]),
        ({"/customers": {"containsAny": ["x"]}}, ["/customers", "customer uids", "a string"]),
    ],
)
def test_a_misfit_operand_is_named_with_what_fits(raw: object, named: list[str]) -> None:
    assert unnamed(named, message_of(raw)) == []


@pytest.mark.parametrize("raw", ["14.01.2013", "２０１３-01-14", "٢٠١٣-01-14"])
def test_a_date_time_not_in_iso_8601_is_named_with_how_to_write_it(raw: str) -> None:
    message = message_of({"/created": {"min": raw}})
    assert f"'{raw}'" in message
    for example in ("2013-01-14T15:04:34Z", "2013-01-14T16:04:34+01:00", "2013-01-14"):
        assert example in message


def test_a_date_that_does_not_exist_is_named() -> None:
    message = message_of({"/created": "2013-02-30"})
    assert "'2013-02-30'" in message
    assert "not a real date-time" in message


@pytest.mark.parametrize(
    ("raw", "types"),
    [
        ({"/uid": {"startsWith": "1"}}, ["/uid is an integer", "strings"]),
        ({"/created": {"contains": "1"}}, ["/created is a date-time", "strings"]),
        ({"/customers": {"min": 1}}, ["/customers is a set of customer uids", "integers"]),
        ({"/name": {"containsAll": [1]}}, ["/name is a string", "customer uids"]),
    ],
)
def test_an_operator_that_does_not_fit_names_the_field_type_and_the_types_it_fits(
    raw: object, types: list[str]
) -> None:
    assert unnamed(types, message_of(raw)) == []


@pytest.mark.parametrize(
    ("field", "instead"), [("/customers", '{"containsAny": [...]}'), ("/uid", '{"in": [...]}')]
)
def test_a_bare_array_is_refused_naming_the_condition_to_use(field: str, instead: str) -> None:
    assert instead in message_of({field: [1, 2]})


def test_too_deep_a_condition_names_the_limit() -> None:
    assert str(MAX_DEPTH) in message_of({"/uid": nested_not(MAX_DEPTH + 5, 1)})


def test_a_filter_that_is_no_object_names_what_was_given() -> None:
    with pytest.raises(InvalidParams) as caught:
        parse([1], FIELDS, "/0")
    [problem] = worded(caught.value.problems)
    assert problem["pointer"] == "/0"
    assert "not an array" in problem["message"]


def test_null_is_no_customer_uid_to_contain() -> None:
    found = problems_of({"/customers": {"containsAny": [None, 3], "containsAll": [None]}})
    assert [p["pointer"] for p in found] == [
        "/1/filters/~1customers/containsAny/0",
        "/1/filters/~1customers/containsAll/0",
    ]


def test_stored_customers_that_are_no_set_match_nothing_and_raise_nothing() -> None:
    for condition in ({"containsAny": [5]}, {"containsAll": [5]}):
        matches = compile_filter(parse({"/customers": condition}, FIELDS, "/0"))
        assert matches({"customers": frozenset({5})})
        assert not any(matches({"customers": stored}) for stored in ([5], {5: 1}, 5, None))


# Every problem a filter reports is put into the request's language (SPEC 12): each text it is
# made of is one the catalogues translate, so a text changed in the code but not in the
# catalogues would reach every reader in English.


def texts(arg: object) -> Iterator[str]:
    """The message ids a message is made of: its own and those of its arguments."""
    if isinstance(arg, i18n.Message):
        yield arg.id
        for value in arg.args.values():
            yield from texts(value)
    elif isinstance(arg, i18n.Listing):
        for item in arg.items:
            yield from texts(item)


@pytest.mark.parametrize(
    "raw",
    [
        {"/uid": {"min": "x"}},  # a whole number; integers
        {"/name": 5},  # a string; strings
        {"/name": {"startsWith": 5}},  # a string to match against
        {"/created": 5},  # an ISO 8601 string; date-times
        {"/created": "14.01.2013"},  # how to write it
        {"/created": "2013-01-14T15:04:34"},  # no time zone
        {"/created": "2013-01-14T15:04:34.1234567Z"},  # finer than a microsecond
        {"/created": "2013-02-30"},  # not a real date-time
        {"/customers": {"containsAny": [0]}},  # a uid from 1; customer uids
        {"/uid": {"startsWith": "1"}},  # an integer; strings
        {"/name": {"containsAll": [1]}},  # a string; customer uids
        {"/created": {"contains": "1"}},  # a date-time
        {"/customers": {"min": 1}},  # a set of customer uids; integers and date-times
        {"/uid": {"in": 5}},  # in takes an array
        {"/uid": {"nearly": 1}},  # an unknown condition
        {"/uid": [1, 2]},  # a bare array
        {"/uid": nested_not(MAX_DEPTH + 5, 1)},  # too deep
        {"name": "Staff"},  # a key without its slash
        {"/nope": 1},  # an unknown pointer
        [1],  # no object
    ],
)
@pytest.mark.parametrize("code", ["da", "nb", "sv"])
def test_every_text_of_a_problem_is_translated_in_every_language(code: str, raw: object) -> None:
    words = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, [code])
    with pytest.raises(InvalidParams) as caught:
        parse(raw, FIELDS, "/0")
    found = [text for problem in caught.value.problems for text in texts(problem["message"])]
    assert found
    assert [text for text in found if words.gettext(text) == text] == []


# --- what a store can hold: an operand, or a uid the service is given, past it matches nothing ---


@pytest.mark.parametrize(
    ("value", "fits"),
    [(0, True), (2**63 - 1, True), (-(2**63), True), (2**63, False), (-(2**63) - 1, False)],
)
def test_an_integer_fits_a_bigint_exactly_within_64_signed_bits(value: int, fits: bool) -> None:
    assert fits_bigint(value) is fits


@pytest.mark.parametrize(
    ("value", "fits"),
    [("Gold", True), ("", True), ("ø 金", True), ("a\x00b", False), ("a\ud800", False)],
)
def test_a_string_fits_text_unless_it_holds_nul_or_a_lone_surrogate(value: str, fits: bool) -> None:
    assert fits_text(value) is fits
