"""Binding params: positional and by name, arity, pointers that follow the form of the call."""

from __future__ import annotations

from typing import Any

import pytest

from customergroup_rpc.errors import LIMIT, InvalidParams
from customergroup_rpc.params import Binder, customer_problems
from customergroup_rpc.schemas import Schemas


@pytest.fixture(scope="module")
def binder() -> Binder:
    return Binder(Schemas.load())


def pointers(binder: Binder, method: str, params: Any) -> list[str]:
    with pytest.raises(InvalidParams) as caught:
        binder.bind(binder.schemas.methods[f"Customergroup.{method}"], params)
    return [p["pointer"] for p in caught.value.problems]


def test_positional_and_named_bind_the_same_values(binder: Binder) -> None:
    method = binder.schemas.methods["Customergroup.get"]
    by_position = binder.bind(method, [7, ["name"]])
    by_name = binder.bind(method, {"query": ["name"], "uid": "7"})
    assert by_position.uid("uid") == by_name.uid("uid") == 7
    assert by_position.query("query") == by_name.query("query")


@pytest.mark.parametrize(
    ("method", "params", "expected"),
    [
        ("get", [], ["/0"]),
        ("get", {}, ["/uid"]),
        ("get", {"query": "name"}, ["/uid"]),
        ("get", [1, "name", 3], ["/2"]),
        ("get", {"uid": 1, "fields": "name"}, ["/fields"]),
        ("get", [True], ["/0"]),
        ("get", [1.5], ["/0"]),
        ("get", ["-3"], ["/0"]),
        ("get", [None], ["/0"]),
        ("set", [None], ["/1"]),
        ("set", {"uid": None, "patch": []}, ["/patch"]),
        ("create", ["Staff"], ["/0"]),
        ("list", [None, {"limit": "2", "offset": -1}], ["/1/limit", "/1/offset"]),
        ("list", [None, False], ["/1"]),
        ("list", {"selection": {"sort": "size"}}, ["/selection/sort"]),
        ("count", ["/name"], ["/0"]),
    ],
)
def test_bad_params_point_at_the_param(
    binder: Binder, method: str, params: Any, expected: list[str]
) -> None:
    assert pointers(binder, method, params) == expected


def test_uid_accepts_digit_strings_and_integral_numbers(binder: Binder) -> None:
    method = binder.schemas.methods["Customergroup.delete"]
    assert binder.bind(method, ["123123"]).uid("uid") == 123123
    assert binder.bind(method, [5.0]).uid("uid") == 5


def test_customer_uids_come_as_ints_whole_numbers_sent_as_floats_too(binder: Binder) -> None:
    method = binder.schemas.methods["Customergroup.addCustomers"]
    sent = [17, 42]
    assert binder.bind(method, [1, sent]).customers("customers") is sent  # no copy, no int()
    converted = binder.bind(method, [1, [17, 5.0]]).customers("customers")
    assert converted == [17, 5]
    assert [type(uid) for uid in converted] == [int, int]


def test_query_and_filter_pointers_follow_the_call_form(binder: Binder) -> None:
    method = binder.schemas.methods["Customergroup.list"]
    named = binder.bind(method, {"selection": {"filters": {"/name": {"startsWith": 1}}}})
    with pytest.raises(InvalidParams) as caught:
        named.selection("selection")
    assert caught.value.problems[0]["pointer"] == "/selection/filters/~1name/startsWith"
    positional = binder.bind(method, [["nme"]])
    with pytest.raises(InvalidParams) as caught:
        positional.query("query")
    assert caught.value.problems[0]["pointer"] == "/0/0"


@pytest.mark.parametrize("selection", [True, None, {}])
def test_true_null_and_empty_select_everything(binder: Binder, selection: Any) -> None:
    args = binder.bind(binder.schemas.methods["Customergroup.list"], [None, selection])
    chosen = args.selection("selection")
    assert (chosen.limit, chosen.offset, chosen.sort, chosen.descending) == (None, 0, "uid", False)


@pytest.mark.parametrize(
    "customers",
    [
        [17, 42],
        [0],
        [-1, "3", None, True, 2.5, 4.0, [1], {}],
        [1, 2, 0, 3],
        list(range(1, 50)),
        [2**53 - 1, 2**53, 1e20, 12345678901234567890.0],
    ],
)
def test_hand_check_of_customers_agrees_with_the_schema(binder: Binder, customers: Any) -> None:
    param = binder.schemas.methods["Customergroup.addCustomers"].params[1]
    by_schema = [p["pointer"] for p in binder.schemas.check_param(param, customers, "/1")]
    by_hand = [p["pointer"] for p in customer_problems(customers, "/1")]
    assert by_hand == by_schema


def test_more_than_ten_thousand_customers_is_one_problem(binder: Binder) -> None:
    method = binder.schemas.methods["Customergroup.addCustomers"]
    assert pointers(binder, "addCustomers", [1, list(range(1, 10_002))]) == ["/1"]
    assert binder.bind(method, [1, list(range(1, 10_001))]).customers("customers")[-1] == 10_000


def test_move_customers_takes_null_for_all(binder: Binder) -> None:
    args = binder.bind(binder.schemas.methods["Customergroup.moveCustomers"], [1, 2, None])
    assert args.customers_or_none("customers") is None
    assert pointers(binder, "moveCustomers", {"fromUid": 1, "toUid": 2}) == ["/customers"]


@pytest.mark.parametrize("uid", ["1\n", " 1", "1 ", "１", "١", "+1", "1.0", ""])
def test_a_uid_string_is_ascii_digits_only(binder: Binder, uid: str) -> None:
    """Found by fuzzing: Python's "$" and int() both let "1\\n" through as uid 1."""
    assert pointers(binder, "delete", [uid]) == ["/0"]
    assert pointers(binder, "set", {"uid": uid, "patch": {}}) == ["/uid"]


@pytest.mark.parametrize("key", ["limit", "offset"])
@pytest.mark.parametrize("value", [2**63, 2**53, 1e300])
def test_paging_numbers_beyond_2_53_are_refused(binder: Binder, key: str, value: object) -> None:
    """Found by fuzzing: itertools.islice raised on a limit beyond 2**63 - 1 (a -32603)."""
    assert pointers(binder, "list", [None, {key: value}]) == [f"/1/{key}"]
    assert pointers(binder, "listCustomers", [1, {key: value}]) == [f"/1/{key}"]


def test_ten_thousand_bad_customers_list_the_first_hundred_and_count_the_rest(
    binder: Binder,
) -> None:
    with pytest.raises(InvalidParams) as caught:
        binder.bind(binder.schemas.methods["Customergroup.addCustomers"], [1, [0] * 10_000])
    found = caught.value.problems
    assert [p["pointer"] for p in found[:LIMIT]] == [f"/1/{i}" for i in range(LIMIT)]
    assert found[LIMIT]["pointer"] == "/1"
    assert str(found[LIMIT]["message"]).startswith("9,900 more problems here are not listed")


def test_many_unknown_named_params_list_the_first_hundred_in_order(binder: Binder) -> None:
    listed = pointers(binder, "count", {f"k{i:05}": 1 for i in range(5000)})
    assert listed == [f"/k{i:05}" for i in range(LIMIT)] + [""]


def test_a_long_unknown_param_name_is_cut_short_in_the_message(binder: Binder) -> None:
    with pytest.raises(InvalidParams) as caught:
        binder.bind(binder.schemas.methods["Customergroup.count"], {"x" * 10_000: 1})
    (problem,) = caught.value.problems
    assert problem["pointer"] == "/" + "x" * 10_000
    assert len(str(problem["message"])) < 200
