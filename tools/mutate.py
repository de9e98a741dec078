"""Mutation testing: each module against its own tests, with a score per module.

Usage:
    .venv/bin/python tools/mutate.py [--jobs N] [MODULE[=TEST,...] ...]

``make mutate`` runs it on every module of ``MODULES`` (``ARGS="text store/state"`` picks
some). For each module, in a fresh copy of the project under ``mutants/<module>/``:

1. mutmut (``[tool.mutmut]`` added to the copy's pyproject) mutates the module's functions and
   methods and runs, for each mutant, the selected tests that call the mutated function;
2. each mutant mutmut reports as surviving is checked again the plain way: written into the
   module's source and the module's tests run in a fresh ``pytest`` process. mutmut switches a
   mutant on only after the module is imported, in its own test process, so it misses what a
   function does at import time (``filters._only`` building a table) and what a test sees only
   in a subprocess it starts (the product run as a command);
3. a pass of our own mutates what mutmut leaves alone because it runs at import time or sits
   behind a decorator: module-level assignments (tables, patterns, constants), class-level
   attributes, decorators and the bodies of decorated functions (``functools.lru_cache``).
   It applies mutmut's own node operators, plus dropping one entry of a module-level table, one
   mutant at a time, and runs the module's tests on each in a fresh ``pytest`` process.

A mutant is killed when the tests fail (or time out, or the module no longer imports). The
score is killed / total over mutmut's mutants and ours. Survivors are printed with what
changed; those listed in ``tools/mutate-equivalents.md`` (one ``- `name`: why`` line each) are
marked equivalent. Exits 1 when a survivor is not listed there, and stops (exit 1) when a
module's tests fail without any mutant.

A module is named by its path under the package (``store/tiny``). Its tests are those of
``MODULES``, else ``tests/test_<name>.py`` (``store/journal``: ``tests/test_journal.py``), or
the ones given after ``=``: ``store/journal=tests/test_journal.py,tests/test_tiny.py``. An
entry that does not end in ``.py`` is passed to pytest as it is (``-k,not postgresql``).
"""

from __future__ import annotations

import argparse
import contextlib
import difflib
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider
from mutmut.mutation.mutators import mutation_operators

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants"
EQUIVALENTS = Path(__file__).resolve().parent / "mutate-equivalents.md"
PACKAGE = "customergroup_rpc"
# What a copy of the project needs for the tests to run there.
COPIED = (PACKAGE, "tests", "harness", "schemas", "pyproject.toml")

# Each module against the tests that target it: its own test files and its doctests. The store
# is a package: the embedded store is store/tiny.py over the journal (store/journal.py) in its
# file (store/tinyfile.py), with the uncommitted changes (store/overlay.py), the name index
# (store/index.py), the reads (store/queries.py) and the change feed (store/feed.py, which
# the PostgreSQL store shares); its data store/state.py; files.py writes
# and locks the database file (and the token file) for it. An entry that
# starts with "-" is a pytest option: service and store tests run on memory and a file, not on
# PostgreSQL (the code mutated here never runs there). ``make mutate`` without names runs these.
NOT_POSTGRESQL = ("-k", "not postgresql")
MODULES: dict[str, tuple[str, ...]] = {
    "filters": ("tests/test_filters.py", "tests/test_sql.py"),  # test_sql: its SQL half
    "query": ("tests/test_query.py",),
    "text": ("tests/test_text.py",),
    # store/state: its own tests (test_queries' 300-example property test of its name index,
    # and test_tiny, are too slow to run once per mutant; name them after = to add them).
    "store/state": ("tests/test_state.py",),
    "tokens": ("tests/test_tokens.py",),
    "service": (
        "tests/test_service.py",
        "tests/test_members.py",
        "tests/test_feed.py",
        *NOT_POSTGRESQL,
    ),
    "store/tiny": (
        "tests/test_tiny.py",
        "tests/test_journal.py",
        "tests/test_feed.py",
        "tests/test_service.py",
        "tests/test_members.py",
        *NOT_POSTGRESQL,
    ),
    "store/tinyfile": ("tests/test_tinyfile.py", "tests/test_tiny.py", "tests/test_journal.py"),
    # files: the atomic write and the lock of the database, the token file and the shops file.
    "files": (
        "tests/test_files.py",
        "tests/test_tiny.py",
        "tests/test_journal.py",
        "tests/test_tokens.py",
    ),
    "store/journal": ("tests/test_journal.py", "tests/test_tiny.py"),
    "store/overlay": ("tests/test_overlay.py", "tests/test_tiny.py"),
    "store/feed": ("tests/test_feed.py", *NOT_POSTGRESQL),  # the change feed's events
    "store/index": (
        "tests/test_index.py",
        "tests/test_tiny.py",
        "tests/test_service.py",
        *NOT_POSTGRESQL,
    ),
    "store/queries": (  # the reads: lists and counts, a group's customers, the feed
        "tests/test_queries.py",
        "tests/test_tiny.py",
        "tests/test_service.py",
        "tests/test_members.py",
        "tests/test_feed.py",
        *NOT_POSTGRESQL,
    ),
}

KILLED = {"killed", "timeout", "segfault"}
# Calls mutmut never mutates (NEVER_MUTATE_FUNCTION_CALLS): the same here.
UNTOUCHED_CALLS = {"len", "isinstance"}
OWN_DECORATORS = {"staticmethod", "classmethod"}  # mutmut mutates methods decorated only so


@dataclass(frozen=True)
class Mutant:
    """One mutant and its verdict: ``status`` is mutmut's word (killed, survived, ...)."""

    name: str
    status: str
    change: str = ""


@dataclass(frozen=True)
class Source:
    """A mutant of our own pass: its name, what it changes, and the whole mutated module."""

    name: str
    change: str
    code: str


@dataclass(frozen=True)
class Score:
    """The verdicts of one module and how long they took; ``rechecked``: how many of mutmut's
    survivors the check in a fresh process killed (counted in ``mutmut`` as killed)."""

    module: str
    mutmut: list[Mutant]
    own: list[Mutant]
    seconds: float
    rechecked: int = 0

    @property
    def mutants(self) -> list[Mutant]:
        return self.mutmut + self.own

    @property
    def killed(self) -> int:
        return sum(m.status in KILLED for m in self.mutants)

    @property
    def percent(self) -> float:
        return 100 * self.killed / len(self.mutants) if self.mutants else 100.0


# -- the pass of our own: what runs at import time or behind a decorator --------------------

# (scope, node, mutated node, the table entry left out if that is the mutation)
Edit = tuple[str, cst.CSTNode, cst.CSTNode, cst.CSTNode | None]


def own_mutants(module: str, code: str) -> list[Source]:
    """Every mutant of the code mutmut does not reach, named ``<module>.<scope>__own_<n>``."""
    wrapper = MetadataWrapper(cst.parse_module(code))
    tree = wrapper.module
    lines = wrapper.resolve(PositionProvider)
    found: list[Source] = []
    counts: dict[str, int] = {}
    for scope, node, mutated, dropped in _targets(tree):
        counts[scope] = counts.get(scope, 0) + 1
        shown = dropped or node
        line = lines[shown].start.line if shown in lines else 0
        if dropped:
            entry = _short(tree.code_for_node(dropped)).rstrip(",")
            change = f"line {line}: entry {entry} left out"
        else:
            before, after = _short(tree.code_for_node(node)), _short(tree.code_for_node(mutated))
            change = f"line {line}: {before} -> {after}"
        name = f"{PACKAGE}.{module.replace('/', '.')}.{scope}__own_{counts[scope]}"
        mutant = tree.deep_replace(node, mutated)
        assert isinstance(mutant, cst.Module)
        found.append(Source(name, change, mutant.code))
    return found


def _targets(tree: cst.Module) -> Iterator[Edit]:
    """(scope, node, mutated node) for each mutant, statement by statement."""
    for statement in tree.body:
        if isinstance(statement, cst.FunctionDef):
            yield from _function(statement, None)
        elif isinstance(statement, cst.ClassDef):
            yield from _class(statement)
        else:
            yield from _statement(_scope_of(statement, None), statement)


def _class(node: cst.ClassDef) -> Iterator[Edit]:
    name = node.name.value
    for part in [*node.decorators, *node.bases, *node.keywords]:
        yield from _mutations(f"{name}", part)
    body = node.body.body if isinstance(node.body, cst.IndentedBlock) else [node.body]
    for statement in body:
        if isinstance(statement, cst.FunctionDef):
            yield from _function(statement, name)
        else:
            yield from _statement(_scope_of(statement, name), statement)


def _function(node: cst.FunctionDef, owner: str | None) -> Iterator[Edit]:
    """A decorated function's decorators and body; a plain one is mutmut's."""
    scope = f"xǁ{owner}ǁ{node.name.value}" if owner else f"x_{node.name.value}"
    names = {_decorator_name(d) for d in node.decorators}
    if not node.decorators or names <= OWN_DECORATORS:
        return
    for decorator in node.decorators:
        yield from _mutations(scope, decorator)
    yield from _mutations(scope, node.with_changes(decorators=()), inside=node)


def _statement(scope: str, node: cst.CSTNode) -> Iterator[Edit]:
    if isinstance(node, cst.SimpleStatementLine) and any(
        isinstance(small, cst.Import | cst.ImportFrom) for small in node.body
    ):
        return
    yield from _mutations(scope, node)
    if isinstance(node, cst.SimpleStatementLine):
        for small in node.body:
            if isinstance(small, cst.Assign | cst.AnnAssign) and small.value is not None:
                for entry, table in _drop_one(small.value):
                    yield scope, small.value, table, entry


def _mutations(scope: str, node: cst.CSTNode, inside: cst.CSTNode | None = None) -> Iterator[Edit]:
    """mutmut's operators on ``node`` and everything below it, as mutmut skips them.

    ``inside``: the real node when ``node`` is a copy without decorators (its children are the
    real ones, so mutants below it apply to the module; the copy itself is never mutated).
    """
    if isinstance(node, cst.Annotation) or (
        isinstance(node, cst.Call)
        and isinstance(node.func, cst.Name)
        and node.func.value in UNTOUCHED_CALLS
    ):
        return
    if inside is None:
        for kind, operator in mutation_operators:
            if isinstance(node, kind):
                yield from ((scope, node, mutated, None) for mutated in operator(node))
    for child in node.children:
        yield from _mutations(scope, child)


def _drop_one(value: cst.BaseExpression) -> Iterator[tuple[cst.CSTNode, cst.CSTNode]]:
    """(entry, the table without it) for each entry of a module-level table."""
    if isinstance(value, cst.Tuple | cst.List | cst.Set | cst.Dict) and len(value.elements) > 1:
        elements = list(value.elements)
        for i, entry in enumerate(elements):
            yield entry, value.with_changes(elements=[*elements[:i], *elements[i + 1 :]])


def _scope_of(node: cst.CSTNode, owner: str | None) -> str:
    """The name a statement assigns (``DEFAULT_IGNORABLE``), else ``module``."""
    name = "module"
    if isinstance(node, cst.SimpleStatementLine) and node.body:
        small = node.body[0]
        target = (
            small.targets[0].target
            if isinstance(small, cst.Assign)
            else small.target
            if isinstance(small, cst.AnnAssign)
            else None
        )
        if isinstance(target, cst.Name):
            name = target.value
    return f"{owner}ǁ{name}" if owner else name


def _decorator_name(decorator: cst.Decorator) -> str:
    inner = decorator.decorator
    return inner.value if isinstance(inner, cst.Name) else ""


def _short(code: str, width: int = 70) -> str:
    flat = " ".join(code.split())
    return flat if len(flat) <= width else flat[: width - 3] + "..."


# -- running: copies of the project, mutmut, pytest ------------------------------------------


def copy_project(target: Path, tool_config: str = "") -> None:
    """A fresh copy of what the tests need, at ``target``; ``tool_config`` ends its pyproject."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            ignore = shutil.ignore_patterns(".pytest_cache", ".hypothesis")
            shutil.copytree(source, target / name, ignore=ignore)
        else:
            shutil.copy2(source, target / name)
    if tool_config:
        with (target / "pyproject.toml").open("a", encoding="utf-8") as pyproject:
            pyproject.write(tool_config)


def mutmut_config(module: str, tests: Sequence[str]) -> str:
    """The ``[tool.mutmut]`` table that mutates ``module`` against ``tests`` (and doctests)."""
    path = f"{PACKAGE}/{module}.py"
    quoted = ", ".join(f'"{test}"' for test in [*tests, path])
    return (
        "\n[tool.mutmut]\n"
        f'source_paths = ["{PACKAGE}"]\n'
        f'only_mutate = ["{path}"]\n'
        f"pytest_add_cli_args_test_selection = [{quoted}]\n"
        'also_copy = ["schemas"]\n'
        "use_git_change_detection = false\n"
    )


def run_mutmut(module: str, tests: Sequence[str], jobs: int) -> tuple[list[Mutant], cst.Module]:
    """mutmut over ``module``'s functions and methods, in ``mutants/<module>/mutmut``; the
    verdicts, and the module as mutmut rewrote it (every mutant beside the original)."""
    where = WORK / module / "mutmut"
    copy_project(where, mutmut_config(module, tests))
    mutmut = str(Path(sys.executable).parent / "mutmut")
    log = where / "mutmut.log"
    with log.open("w", encoding="utf-8") as out:
        code = _session([mutmut, "run", "--max-children", str(jobs)], where, out)
    if code != 0:
        if "could not find any test case for any mutant" in log.read_text(encoding="utf-8"):
            return [], cst.Module([])  # the module's functions are not mutated, or not called
        raise SystemExit(f"mutmut failed on {module}.py: see {log}")
    listing = subprocess.run(
        [mutmut, "results", "--all", "true"], cwd=where, capture_output=True, text=True, check=True
    ).stdout
    verdicts = re.findall(r"^\s*(\S+): (.+)$", listing, re.MULTILINE)
    rewritten = (where / "mutants" / PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    return [Mutant(name, status) for name, status in verdicts], cst.parse_module(rewritten)


def applied(code: str, rewritten: cst.Module, mutants: Sequence[Mutant]) -> list[Source]:
    """Each of mutmut's ``mutants`` written into ``code`` (the module's source), as ``mutmut
    apply`` would: the function it mutates replaced by the mutant, from mutmut's ``rewritten``
    module (``x_f__mutmut_3``, ``xǁClassǁmethod__mutmut_3``). One mutmut cannot name is left
    out, so its verdict stays mutmut's."""
    original = cst.parse_module(code)
    functions = {
        f"xǁ{owner}ǁ{function.name.value}" if owner else f"x_{function.name.value}": function
        for owner, function in _functions(original)
    }
    generated = {function.name.value: function for _, function in _functions(rewritten)}
    found: list[Source] = []
    for mutant in mutants:
        made = mutant.name.rpartition(".")[2]
        target = functions.get(made.partition("__mutmut_")[0])
        replacement = generated.get(made)
        if target is None or replacement is None:
            continue
        replacement = replacement.with_changes(
            name=target.name, decorators=target.decorators, leading_lines=target.leading_lines
        )
        module = original.deep_replace(target, replacement)
        assert isinstance(module, cst.Module)
        found.append(Source(mutant.name, _change(target, replacement), module.code))
    return found


def _change(before: cst.FunctionDef, after: cst.FunctionDef) -> str:
    """The lines a mutant changes in its function, as ``removed -> added``."""
    old, new = (cst.Module([f]).code.splitlines() for f in (before, after))
    diff = list(difflib.unified_diff(old, new, lineterm="", n=0))[2:]
    removed = [line[1:] for line in diff if line[:1] == "-"]
    added = [line[1:] for line in diff if line[:1] == "+"]
    return f"{_short(' '.join(removed))} -> {_short(' '.join(added))}"


def _functions(tree: cst.Module) -> Iterator[tuple[str | None, cst.FunctionDef]]:
    """(class name or None, function) for each function and method of a module."""
    for statement in tree.body:
        if isinstance(statement, cst.FunctionDef):
            yield None, statement
        elif isinstance(statement, cst.ClassDef) and isinstance(statement.body, cst.IndentedBlock):
            for method in statement.body.body:
                if isinstance(method, cst.FunctionDef):
                    yield statement.name.value, method


def in_fresh_processes(
    module: str, tests: Sequence[str], jobs: int, sources: Sequence[Source]
) -> list[Mutant]:
    """The verdict on each mutated source of ``module``: its tests (and doctests) in a fresh
    pytest on a copy of the project with the source in place, ``jobs`` at a time."""
    if not sources:
        return []
    path = f"{PACKAGE}/{module}.py"
    code = (ROOT / path).read_text(encoding="utf-8")
    folders: queue.Queue[Path] = queue.Queue()
    for i in range(jobs):
        folder = WORK / module / f"fresh-{i}"
        copy_project(folder)
        folders.put(folder)
    selection = [*tests, path]
    started = time.monotonic()
    if _pytest(WORK / module / "fresh-0", selection, 600) != "survived":
        raise SystemExit(f"{module}.py: {' '.join(selection)} fail (or cannot run) unmutated")
    limit = 30 + 10 * (time.monotonic() - started)
    failing = code + '\nraise RuntimeError("a mutant the tests must see")\n'
    if _in_copy(folders, path, failing, selection, limit) == "survived":
        raise SystemExit(f"{module}.py: its tests do not import the copy that is mutated")

    done = iter(range(1, len(sources) + 1))  # next() on it is atomic: a count across threads

    def verdict(source: Source) -> Mutant:
        status = _in_copy(folders, path, source.code, selection, limit)
        count = next(done)
        if count % 25 == 0:
            print(f"{module}.py: {count} of {len(sources)} done", flush=True)
        return Mutant(source.name, status, source.change)

    with ThreadPoolExecutor(jobs) as pool:
        try:
            return list(pool.map(verdict, sources))
        except BaseException:  # make mutate stops: no more runs, and end those under way
            pool.shutdown(wait=False, cancel_futures=True)
            _stop_sessions()
            raise


def _in_copy(
    folders: queue.Queue[Path], path: str, code: str, tests: list[str], limit: float
) -> str:
    """The verdict on ``code`` as ``path``, in a copy of the project nobody else is using."""
    folder = folders.get()
    try:
        (folder / path).write_text(code, encoding="utf-8")
        return _pytest(folder, tests, limit)
    finally:
        folders.put(folder)


def _pytest(folder: Path, tests: Sequence[str], limit: float) -> str:
    """Run ``tests`` in ``folder``: survived when they pass, killed when they fail."""
    # No bytecode written: two mutants of one size in one second would share a stale .pyc.
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
    code = _session(command, folder, subprocess.DEVNULL, limit, env)
    # Any failure kills, a module that no longer imports too (conftest's import error is exit 4).
    return "timeout" if code is None else "survived" if code == 0 else "killed"


# The sessions under way (mutmut, pytest), ended with all they started when make mutate stops.
_RUNNING: set[int] = set()


def _session(
    command: Sequence[str],
    folder: Path,
    out: IO[str] | int,
    limit: float | None = None,
    env: dict[str, str] | None = None,
) -> int | None:
    """Run ``command`` in ``folder`` in a session of its own; its exit code, or None when it
    ran past ``limit`` seconds and was ended with everything it started."""
    with subprocess.Popen(
        command, cwd=folder, env=env, stdout=out, stderr=out, start_new_session=True
    ) as process:
        _RUNNING.add(process.pid)
        try:
            return process.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            return None
        finally:
            if process.returncode is None:  # past the limit, or make mutate stops
                with contextlib.suppress(ProcessLookupError):  # the session started here
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            _RUNNING.discard(process.pid)


def _stop_sessions() -> None:
    for pid in list(_RUNNING):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)


# -- reporting ----------------------------------------------------------------------------


def equivalents() -> dict[str, str]:
    """The survivors judged equivalent, by name, with why."""
    if not EQUIVALENTS.exists():
        return {}
    text = EQUIVALENTS.read_text(encoding="utf-8")
    return dict(re.findall(r"^- `([^`]+)`: (.+)$", text, re.MULTILINE))


def report(score: Score, known: dict[str, str]) -> int:
    """Print a module's score and survivors; the number of survivors not listed as equivalent."""
    print(f"{score.module}.py: {_line(score)}")
    unexplained = 0
    for mutant in score.mutants:
        if mutant.status in KILLED:
            continue
        why = known.get(mutant.name)
        unexplained += why is None
        print(f"  {mutant.status}: {mutant.name}  {mutant.change}")
        print(f"    equivalent: {why}" if why else "    NOT LISTED AS EQUIVALENT")
    return unexplained


def _line(score: Score) -> str:
    mutmut = sum(m.status in KILLED for m in score.mutmut)
    own = sum(m.status in KILLED for m in score.own)
    return (
        f"{score.killed}/{len(score.mutants)} killed ({score.percent:.1f}%): "
        f"mutmut {mutmut}/{len(score.mutmut)} ({score.rechecked} of them in a fresh process), "
        f"import time and decorated {own}/{len(score.own)}; {score.seconds:.0f} s"
    )


def selected(names: Sequence[str]) -> dict[str, tuple[str, ...]]:
    """Each module named (all of ``MODULES`` for none) and its tests: ``MODULES``' entry, the
    tests given after ``=``, else ``tests/test_<last part>.py``. ValueError for a module or a
    test file that is not there."""
    chosen: dict[str, tuple[str, ...]] = {}
    for name in names or list(MODULES):
        module, given, tests = name.partition("=")
        module = module.removesuffix(".py")
        if given:
            chosen[module] = tuple(tests.split(","))
        else:
            default = (f"tests/test_{module.rpartition('/')[2]}.py",)
            chosen[module] = MODULES.get(module, default)
        if not (ROOT / PACKAGE / f"{module}.py").is_file():
            raise ValueError(
                f"no module {PACKAGE}/{module}.py; the usual ones: {', '.join(MODULES)}"
            )
        missing = [t for t in chosen[module] if t.endswith(".py") and not (ROOT / t).is_file()]
        if missing:
            raise ValueError(f"{module}: no test file {', '.join(missing)}; name them after =")
    return chosen


def mutate(module: str, tests: Sequence[str], jobs: int) -> Score:
    """Every mutant of ``module`` against ``tests``: mutmut's, those mutmut reports surviving
    checked again in a fresh process, and the pass of our own."""
    started = time.monotonic()
    print(f"{module}.py: mutmut against {' '.join(tests)} ...", flush=True)
    mutmut, rewritten = run_mutmut(module, tests, jobs)
    code = (ROOT / PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    again = applied(code, rewritten, [m for m in mutmut if m.status not in KILLED])
    own = own_mutants(module, code)
    print(
        f"{module}.py: {len(again)} survivors of mutmut again and {len(own)} mutants of our own,"
        " each in a fresh process ...",
        flush=True,
    )
    verdicts = in_fresh_processes(module, tests, jobs, [*again, *own])
    rechecked = {m.name: m for m in verdicts[: len(again)]}
    return Score(
        module,
        [rechecked.get(m.name, m) for m in mutmut],
        verdicts[len(again) :],
        time.monotonic() - started,
        sum(m.status in KILLED for m in rechecked.values()),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("modules", nargs="*", metavar="MODULE[=TEST,...]", help=", ".join(MODULES))
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args(argv)
    try:
        chosen = selected(args.modules)
    except ValueError as wrong:
        parser.error(str(wrong))
    known = equivalents()
    scores: list[Score] = []
    unexplained = 0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the finally below runs
    try:
        for module, tests in chosen.items():
            scores.append(mutate(module, tests, args.jobs))
            unexplained += report(scores[-1], known)
    finally:
        _stop_sessions()
    print("\nmodule              killed / total    score   survivors (listed equivalent)   time")
    for score in scores:
        survivors = [m for m in score.mutants if m.status not in KILLED]
        listed = sum(m.name in known for m in survivors)
        print(
            f"{score.module + '.py':<19} {score.killed:>6} / {len(score.mutants):<7}"
            f" {score.percent:5.1f}%   {len(survivors):>4} ({listed}){'':<22}"
            f" {score.seconds:5.0f} s"
        )
    return 1 if unexplained else 0


if __name__ == "__main__":
    sys.exit(main())
