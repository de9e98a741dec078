"""make mutate (tools/mutate.py): its own pass reaches what mutmut skips, and only that;
mutmut's survivors are written into the source as they are for a check in a fresh process;
modules are found with their tests."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from mutmut.mutation.file_mutation import mutate_file_contents

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


def one_less(x: int) -> int:
    return x - 1


LESS = one_less(TABLE["ne"])
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
        "LESS",
    }


def test_the_own_pass_leaves_plain_functions_and_methods_to_mutmut(mutate: ModuleType) -> None:
    changes = [m.change for m in mutate.own_mutants("sample", SAMPLE)]
    assert not [
        c
        for c in changes
        if c.startswith(("line 17:", "line 24:", "line 28:", "line 3:", "line 5:"))
    ]


def test_every_mutant_of_the_own_pass_is_valid_python_that_differs(mutate: ModuleType) -> None:
    for mutant in mutate.own_mutants("sample", SAMPLE):
        assert mutant.code != SAMPLE
        compile(mutant.code, mutant.name, "exec")


def test_every_module_in_the_table_has_its_tests(mutate: ModuleType) -> None:
    assert mutate.selected([]) == mutate.MODULES
    for module, tests in mutate.MODULES.items():
        assert (ROOT / "customergroup_rpc" / f"{module}.py").is_file()
        assert all((ROOT / test).is_file() for test in tests if test.endswith(".py"))


def test_a_module_outside_the_table_takes_its_test_file_or_the_tests_given(
    mutate: ModuleType,
) -> None:
    assert mutate.selected(["store/migrate", "store/sql"]) == {
        "store/migrate": ("tests/test_migrate.py",),
        "store/sql": ("tests/test_sql.py",),
    }
    assert mutate.selected(["store/sql.py=tests/test_sql.py,tests/test_postgres.py"]) == {
        "store/sql": ("tests/test_sql.py", "tests/test_postgres.py")
    }


@pytest.mark.parametrize(
    ("name", "named"),
    [("store/nowhere", "store/nowhere.py"), ("store/migrate=tests/test_x.py", "tests/test_x.py")],
)
def test_a_module_or_test_file_that_is_not_there_is_refused_naming_it(
    mutate: ModuleType, name: str, named: str
) -> None:
    with pytest.raises(ValueError, match=named):
        mutate.selected([name])


@pytest.fixture
def rewritten(
    mutate: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, list[Any]]:
    """SAMPLE as mutmut rewrites it (each function's mutants beside it), and its mutants."""
    (tmp_path / "pyproject.toml").write_text('[tool.mutmut]\nsource_paths = ["."]\n')
    monkeypatch.chdir(tmp_path)  # mutmut reads its configuration from the working directory
    done = mutate_file_contents("sample.py", SAMPLE)
    names = done.mutant_names
    return (
        mutate.cst.parse_module(done.code),
        [mutate.Mutant(f"customergroup_rpc.sample.{name}", "survived") for name in names],
    )


def changed_lines(code: str) -> list[tuple[str, str]]:
    return [(a, b) for a, b in zip(SAMPLE.splitlines(), code.splitlines(), strict=True) if a != b]


def test_a_survivor_of_mutmut_is_written_into_the_source_in_place_of_its_function(
    mutate: ModuleType, rewritten: tuple[Any, list[Any]]
) -> None:
    module, mutants = rewritten
    applied = {s.name.rpartition(".")[2]: s for s in mutate.applied(SAMPLE, module, mutants)}
    sources = {name: source.code for name, source in applied.items()}
    assert len(sources) == len(mutants) > 0
    assert applied["x_plain__mutmut_1"].change == "return x > 3 -> return x >= 3"
    assert changed_lines(sources["x_plain__mutmut_1"]) == [
        ("    return x > 3", "    return x >= 3")
    ]
    assert changed_lines(sources["xǁRuleǁcheck__mutmut_1"]) == [
        ("        return self.SIZE == 4", "        return self.SIZE != 4")
    ]


def test_a_survivor_in_a_function_run_at_import_time_changes_what_the_import_builds(
    mutate: ModuleType, rewritten: tuple[Any, list[Any]]
) -> None:
    # mutmut switches its mutants on after the import, so only the source written out shows
    # that LESS = one_less(2) would be built wrong.
    module, mutants = rewritten
    built = []
    for source in mutate.applied(SAMPLE, module, mutants):
        if ".x_one_less__" in source.name:
            namespace: dict[str, object] = {}
            exec(compile(source.code, source.name, "exec"), namespace)
            built.append(namespace["LESS"])
    assert built
    assert 1 not in built


def test_a_survivor_mutmut_cannot_name_in_its_rewrite_keeps_its_verdict(
    mutate: ModuleType, rewritten: tuple[Any, list[Any]]
) -> None:
    module, _ = rewritten
    unknown = [mutate.Mutant("customergroup_rpc.sample.x_gone__mutmut_1", "survived")]
    assert mutate.applied(SAMPLE, module, unknown) == []


def ended(pid: int) -> bool:
    """Whether the process ends (a zombie nobody reaps counts) within a generous bound: a
    SIGKILL takes effect when the machine next runs it."""
    stat = Path(f"/proc/{pid}/stat")
    for _ in range(600):
        with contextlib.suppress(FileNotFoundError):
            if stat.read_text().split(") ")[1][0] != "Z":
                time.sleep(0.1)
                continue
        return True
    return False


def test_a_run_past_its_limit_is_ended_with_everything_it_started(
    mutate: ModuleType, tmp_path: Path
) -> None:
    # The shell starts a sleep of its own and waits for it: both belong to the run's session.
    command = ["sh", "-c", "sleep 600 & echo $! > child; wait"]
    assert mutate._session(command, tmp_path, mutate.subprocess.DEVNULL, 2) is None
    child = (tmp_path / "child").read_text().strip()
    assert ended(int(child))
    assert not mutate._RUNNING
