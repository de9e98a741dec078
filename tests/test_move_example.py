"""``examples/move_customers.py`` against a real server: by uid, by name, dry run, errors."""

from __future__ import annotations

import importlib.util
import itertools
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import ModuleType

import pytest

from .server_process import ADMIN_TOKEN, Server, cli, environment

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "move_customers.py"
_names = itertools.count(1)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One ``serve`` process on a database file for the module, stopped by its PID."""
    with Server(tmp_path_factory.mktemp("move")) as running:
        yield running


def url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}/backend/jsonrpc/v1/"


def move(
    server: Server, *args: str, token: str | None = ADMIN_TOKEN
) -> subprocess.CompletedProcess[str]:
    """Run the script with the URL and token (None: no token) in the environment."""
    env = environment() | {"CUSTOMERGROUP_RPC_URL": url(server)}
    if token is not None:
        env["CUSTOMERGROUP_RPC_TOKEN"] = token
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def group(server: Server, customers: Sequence[int], name: str | None = None) -> tuple[int, str]:
    """A new group holding ``customers``; its uid and name."""
    name = name or f"Move group {next(_names)}"
    uid = server.result("Customergroup.create", [{"name": name}, "uid"])["uid"]
    if customers:
        added = server.result("Customergroup.addCustomers", [uid, list(customers)])
        assert added == len(set(customers))
    return uid, name


def members(server: Server, uid: int) -> list[int]:
    customers: list[int] = server.result("Customergroup.listCustomers", [uid])
    return customers


def count(server: Server, uid: int) -> int:
    value: int = server.result("Customergroup.get", [uid, "customerCount"])["customerCount"]
    return value


def test_moves_every_customer_by_uid(server: Server) -> None:
    source, source_name = group(server, [5, 1, 3, 2])
    target, target_name = group(server, [3, 9])

    done = move(server, str(source), str(target))

    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"from   {source_name} (uid {source}): 4 customers"
    assert lines[1] == f"to     {target_name} (uid {target}): 2 customers"
    # The customer in both groups left FROM too, so it counts as moved.
    assert (
        lines[2]
        == f"Moved 4 customers from {source_name} (uid {source}) to {target_name} (uid {target})."
    )
    assert lines[3] == f"from   {source_name} (uid {source}): 0 customers"
    assert lines[4] == f"to     {target_name} (uid {target}): 5 customers"
    assert members(server, source) == []
    assert members(server, target) == [1, 2, 3, 5, 9]
    assert (count(server, source), count(server, target)) == (0, 5)
    assert done.stderr == ""


def test_moves_every_customer_by_name(server: Server) -> None:
    source, source_name = group(server, [10, 11])
    target, target_name = group(server, [], name=f"Move target {next(_names)}")

    done = move(server, source_name, target_name)

    assert done.returncode == 0, done.stderr
    assert f"to     {target_name} (uid {target}): 0 customers" in done.stdout
    assert f"Moved 2 customers from {source_name} (uid {source})" in done.stdout
    assert f"to     {target_name} (uid {target}): 2 customers" in done.stdout.splitlines()[-1]
    assert (members(server, source), members(server, target)) == ([], [10, 11])


def test_a_uid_and_a_name_mix(server: Server) -> None:
    source, _ = group(server, [7])
    target, target_name = group(server, [8])

    done = move(server, str(source), target_name)

    assert done.returncode == 0, done.stderr
    assert "Moved 1 customer from" in done.stdout
    assert (count(server, source), count(server, target)) == (0, 2)


def test_by_name_reads_digits_as_a_name(server: Server) -> None:
    source, _ = group(server, [1, 2], name=str(900_000 + next(_names)))
    target, target_name = group(server, [])
    source_name = server.result("Customergroup.get", [source, "name"])["name"]

    done = move(server, "--by-name", source_name, target_name)

    assert done.returncode == 0, done.stderr
    assert (count(server, source), count(server, target)) == (0, 2)


def test_dry_run_moves_nothing(server: Server) -> None:
    source, source_name = group(server, list(range(100, 112)))
    target, target_name = group(server, [111, 500])
    changed = server.result("Customergroup.get", [source, "changed"])

    done = move(server, "--dry-run", source_name, str(target))

    assert done.returncode == 0, done.stderr
    assert "Dry run: would move 12 customers (100, 101, 102, " in done.stdout
    assert ", 109, ...)." in done.stdout
    assert "1 customer of them is in both groups." in done.stdout
    assert f"{source_name} (uid {source}) would have 0 customers" in done.stdout
    assert f"{target_name} (uid {target}) 13 customers. Nothing was changed." in done.stdout
    assert "Moved" not in done.stdout
    assert members(server, source) == list(range(100, 112))
    assert members(server, target) == [111, 500]
    assert server.result("Customergroup.get", [source, "changed"]) == changed


def test_an_empty_group_moves_nothing(server: Server) -> None:
    source, _ = group(server, [])
    target, _ = group(server, [4])

    done = move(server, str(source), str(target))

    assert done.returncode == 0, done.stderr
    assert "Moved 0 customers from" in done.stdout
    assert (count(server, source), count(server, target)) == (0, 1)


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("999999", "No customer group has uid 999999.\n"),
        ("Nobody Here", "No customer group is named 'Nobody Here' (names match exactly"),
    ],
)
def test_an_unknown_group_exits_1(server: Server, ref: str, message: str) -> None:
    source, _ = group(server, [1])

    for args in ((ref, str(source)), (str(source), ref)):
        done = move(server, *args)
        assert done.returncode == 1
        assert message in done.stderr
        assert "Traceback" not in done.stderr
        assert "Moved" not in done.stdout
    assert count(server, source) == 1


def test_a_name_in_another_case_is_not_found_but_suggested(server: Server) -> None:
    source, source_name = group(server, [1])
    target, _ = group(server, [])

    done = move(server, source_name.upper(), str(target))

    assert done.returncode == 1
    assert f"No customer group is named {source_name.upper()!r}" in done.stderr
    assert f"Similar: {source_name} (uid {source})" in done.stderr
    assert count(server, source) == 1


def test_the_same_group_twice_exits_1(server: Server) -> None:
    source, source_name = group(server, [1, 2])

    done = move(server, str(source), source_name)

    assert done.returncode == 1
    assert "FROM and TO are the same group" in done.stderr
    assert count(server, source) == 2


def test_rpc_errors_are_readable(server: Server) -> None:
    source, _ = group(server, [1])
    target, _ = group(server, [])

    done = move(server, str(source), str(target), token="not-a-token")

    assert done.returncode == 1
    assert done.stderr.strip() == "Customergroup.get: error 1004: Bad auth token"
    assert done.stdout == ""
    assert (count(server, source), count(server, target)) == (1, 0)


def test_a_view_token_may_dry_run_but_not_move(server: Server) -> None:
    created = cli("token", "create", "--scope", "view", "--db", server.db, cwd=server.workdir)
    assert created.returncode == 0, created.stderr
    view = created.stdout.strip()
    source, _ = group(server, [1, 2])
    target, _ = group(server, [])

    dry = move(server, "--dry-run", str(source), str(target), token=view)
    assert dry.returncode == 0, dry.stderr
    assert "would move 2 customers" in dry.stdout

    done = move(server, str(source), str(target), token=view)
    assert done.returncode == 1
    assert done.stderr.strip() == "Customergroup.moveCustomers: error 1006: Forbidden"
    assert (count(server, source), count(server, target)) == (2, 0)


def test_needs_a_token(server: Server) -> None:
    done = move(server, "1", "2", token=None)
    assert done.returncode == 2
    assert "CUSTOMERGROUP_RPC_TOKEN" in done.stderr


def script_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("move_customers", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_errors_print_code_message_and_pointers() -> None:
    error = script_module().RpcError(
        "Customergroup.moveCustomers",
        -32602,
        "Invalid params",
        [{"pointer": "/1", "message": "toUid must differ from fromUid."}],
    )
    assert str(error) == (
        "Customergroup.moveCustomers: error -32602: Invalid params\n"
        "  /1: toUid must differ from fromUid."
    )
