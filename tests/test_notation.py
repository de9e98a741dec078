"""The console notation: the cases in cases/notation.json, and what errors carry."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc.notation import Call, NotationError, parse

CASES = json.loads((Path(__file__).parent / "cases" / "notation.json").read_text("utf-8"))["cases"]


def test_there_are_enough_cases_of_both_kinds() -> None:
    assert sum("error" in case for case in CASES) >= 10
    assert sum("method" in case for case in CASES) >= 10


@pytest.mark.parametrize("case", CASES, ids=[case["text"][:40] for case in CASES])
def test_notation_case(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(NotationError) as raised:
            parse(case["text"])
        assert case["error"] in str(raised.value)
    else:
        assert parse(case["text"]) == Call(case["method"], case["params"])


@pytest.mark.parametrize(
    ("text", "position"),
    [("", 0), ("Customergroup.get(7", 19), ('Customergroup.count({"/name": })', 30)],
)
def test_error_position_is_an_index_into_the_text(text: str, position: int) -> None:
    with pytest.raises(NotationError) as raised:
        parse(text)
    assert raised.value.position == position
    assert f"at position {position}" in str(raised.value)


def test_params_are_what_json_decodes_so_they_encode_back_the_same() -> None:
    params = [{"name": 'a, "b" (c)'}, [1, 2.5, None, True], "x"]
    text = f"Customergroup.set({', '.join(json.dumps(p) for p in params)})"
    assert parse(text).params == params


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    with pytest.raises(NotationError, match="nested too deeply"):
        parse("Customergroup.count(" + "[" * 100_000 + "]" * 100_000 + ")")


def test_a_notation_error_is_a_value_error() -> None:
    assert issubclass(NotationError, ValueError)
