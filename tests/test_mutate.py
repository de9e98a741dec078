"""make mutate's own pass (tools/mutate.py): it reaches what mutmut skips, and only that."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent

SAMPLE = '''"""A module."""

from __future__ import annotations

import functools

LIMIT: int = 2**53 - 1
TABLE = {"eq": 1, "ne": 2}


@functools.lru_cache
def cached(x: int) -> bool:
    return x < 3


def plain(x: int) -> bool:
    return x > 3


class Rule:
    SIZE = 4

    def check(self) -> bool:
        return self.SIZE == 4
'''


@pytest.fixture(scope="module")
def mutate() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mutate", ROOT / "tools" / "mutate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["mutate"] = module  # dataclasses look their module up while building
    spec.loader.exec_module(module)
    return module


def test_the_own_pass_mutates_tables_constants_and_cached_functions(mutate: ModuleType) -> None:
    found = {
        m.name.removeprefix("customergroup_rpc.sample."): m
        for m in mutate.own_mutants("sample", SAMPLE)
    }
    changes = {m.change for m in found.values()}
    assert "line 7: 2**53 -> 2 * 53" in changes
    assert 'line 8: entry "eq": 1 left out' in changes
    assert "line 13: < 3 -> <= 3" in changes
    assert "line 21: 4 -> 5" in changes
    assert {name.split("__own_")[0] for name in found} == {
        "LIMIT",
        "TABLE",
        "x_cached",
        "RuleǁSIZE",
    }


def test_the_own_pass_leaves_plain_functions_and_methods_to_mutmut(mutate: ModuleType) -> None:
    changes = [m.change for m in mutate.own_mutants("sample", SAMPLE)]
    assert not [c for c in changes if c.startswith(("line 17:", "line 24:", "line 3:", "line 5:"))]


def test_every_mutant_of_the_own_pass_is_valid_python_that_differs(mutate: ModuleType) -> None:
    for mutant in mutate.own_mutants("sample", SAMPLE):
        assert mutant.code != SAMPLE
        compile(mutant.code, mutant.name, "exec")


def test_every_module_in_the_table_has_its_tests(mutate: ModuleType) -> None:
    for module, tests in mutate.MODULES.items():
        assert (ROOT / "customergroup_rpc" / f"{module}.py").is_file()
        assert all((ROOT / test).is_file() for test in tests)
