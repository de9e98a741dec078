"""The error tree's problem lists: at most LIMIT problems, then one saying how many more."""

from __future__ import annotations

import pytest

from customergroup_rpc.errors import (
    LIMIT,
    InvalidParams,
    PatchInvalid,
    Problem,
    Problems,
    parent,
    worded,
)
from customergroup_rpc.i18n import N_

GIVE_A_UID = N_("Give a uid.")


def bad(pointer: str) -> Problem:
    return Problem(pointer=pointer, message=GIVE_A_UID)


@pytest.mark.parametrize(
    ("a", "b", "common"),
    [
        ("/0/in/3", "/0/in/3", "/0/in/3"),
        ("/0/in/3", "/0/in/12", "/0/in"),
        ("/0/in", "/0/in/12", "/0/in"),
        ("/0/in/12", "/0/in", "/0/in"),
        ("/0/ab", "/0/a", "/0"),  # whole reference tokens, not characters
        ("/0", "/1", ""),
        ("", "/1/x", ""),
    ],
)
def test_parent_is_the_deepest_pointer_holding_both(a: str, b: str, common: str) -> None:
    assert parent(a, b) == common


def test_a_short_list_is_listed_whole() -> None:
    found = Problems(bad(f"/{i}") for i in range(LIMIT))
    assert found.listed() == [bad(f"/{i}") for i in range(LIMIT)]


def test_past_the_limit_problems_are_counted_and_one_says_how_many() -> None:
    found = Problems()
    for i in range(LIMIT + 250):
        found.add(f"/0/containsAny/{i}", GIVE_A_UID)
    assert len(found) == LIMIT
    assert found.more == 250
    assert found.total == LIMIT + 250
    shown = found.listed()
    assert shown[:LIMIT] == [bad(f"/0/containsAny/{i}") for i in range(LIMIT)]
    assert worded(shown)[LIMIT] == {
        "pointer": "/0/containsAny",
        "message": "250 more problems here are not listed: the answers to a request list at "
        "most 100.",
    }


def test_one_problem_left_out_is_named_in_the_singular_at_its_own_pointer() -> None:
    found = Problems(bad(f"/{i}") for i in range(LIMIT + 1))
    assert worded(found.listed())[-1] == {
        "pointer": f"/{LIMIT}",
        "message": "1 more problem here is not listed: the answers to a request list at most 100.",
    }


def test_a_smaller_limit_lists_fewer_and_counts_the_rest() -> None:
    found = Problems(bad(f"/1/{i}") for i in range(10))
    shown = found.listed(3)
    assert [p["pointer"] for p in shown] == ["/1/0", "/1/1", "/1/2", "/1"]
    assert str(shown[-1]["message"]).startswith("7 more problems here are not listed")
    nothing = found.listed(0)
    assert worded(nothing) == [
        {
            "pointer": "/1",
            "message": "10 problems here are not listed: the answers to a request list at "
            "most 100.",
        }
    ]


def test_merge_keeps_the_count_of_what_the_other_list_left_out() -> None:
    inner = Problems()
    for i in range(LIMIT + 40):
        inner.add(f"/1/{i}", GIVE_A_UID)
    outer = Problems([bad("/0")])
    outer.merge(inner)
    assert outer.total == LIMIT + 41
    assert str(outer.listed()[-1]["message"]).startswith("41 more problems")
    assert outer.listed()[-1]["pointer"] == "/1"


@pytest.mark.parametrize("error", [InvalidParams, PatchInvalid])
def test_invalid_params_from_a_long_plain_list_is_capped(error: type[InvalidParams]) -> None:
    raised = error([bad(f"/k{i}") for i in range(100_000)])
    assert raised.data is raised.problems
    assert len(raised.problems) == LIMIT + 1
    assert str(raised.problems[-1]["message"]).startswith("99,900 more problems")
    assert raised.problems[-1]["pointer"] == ""
    assert raised.found.total == 100_000


def test_invalid_params_with_few_problems_lists_them_as_they_are() -> None:
    assert InvalidParams.at("/0", GIVE_A_UID).problems == [bad("/0")]
