"""The examples run against a real server: ``examples/curl.sh`` and ``examples/client.py``."""

from __future__ import annotations

import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc.__main__ import _parser, _serve
from customergroup_rpc.schemas import Schemas

from .server_process import Server, environment

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
TOKEN = "examples-test-token"
METHODS = [name.removeprefix("Customergroup.") for name in Schemas.load().methods]


@dataclass(frozen=True)
class Endpoint:
    url: str  # the JSON-RPC endpoint of a running server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Endpoint]:
    """One ``serve`` process on a database file for the module, stopped by its PID."""
    with Server(tmp_path_factory.mktemp("examples"), admin_token=TOKEN) as running:
        yield Endpoint(url=f"http://127.0.0.1:{running.port}/backend/jsonrpc/v1/")


def run(
    command: list[str], server: Endpoint, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    """Run an example with the URL and token in the environment, capturing its output."""
    env = environment() | {"CUSTOMERGROUP_RPC_URL": server.url}
    if token is not None:
        env["CUSTOMERGROUP_RPC_TOKEN"] = token
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=30, check=False
    )


def client(
    server: Endpoint, *args: str, token: str | None = TOKEN
) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, str(EXAMPLES / "client.py"), *args], server, token)


def report(stdout: str) -> list[str]:
    """The lines client.py prints before its table: "created  NAME (uid N)", "exists ..."."""
    return stdout.split("\n\n", 1)[0].splitlines()


def table(stdout: str) -> list[list[str]]:
    """The rows of client.py's table (uid, name, created), without the header."""
    lines = stdout.split("\n\n", 1)[1].splitlines()
    assert lines[0].split() == ["uid", "name", "created"]
    return [
        [line.split()[0], " ".join(line.split()[1:-1]), line.split()[-1]] for line in lines[1:-1]
    ]


# -- curl.sh ----------------------------------------------------------------------------------


def curl_sh(server: Endpoint, token: str | None = TOKEN) -> subprocess.CompletedProcess[str]:
    if shutil.which("curl") is None or shutil.which("bash") is None:
        pytest.skip("curl.sh needs bash and curl")
    return run(["bash", str(EXAMPLES / "curl.sh")], server, token)


def calls(stdout: str) -> list[tuple[str, Any]]:
    """The (call line, decoded response) pairs curl.sh prints."""
    lines = stdout.splitlines()
    return [
        (line, json.loads(answer))
        for line, answer in itertools.pairwise(lines)
        if line.startswith(("Customergroup.", "Batch:"))
    ]


def test_curl_sh_calls_every_method(server: Endpoint) -> None:
    done = curl_sh(server)
    assert done.returncode == 0, done.stderr
    answers = calls(done.stdout)

    for method in METHODS:
        found = [answer for line, answer in answers if line.startswith(f"Customergroup.{method}(")]
        assert found, f"no call of {method}"
        assert "result" in found[0], (method, found[0])
    assert 'Customergroup.list(["changed", "created", "name", "uid"], {"limit": 2})' in done.stdout

    results = {line.split("(")[0]: answer.get("result") for line, answer in answers[:-2]}
    assert results["Customergroup.getSchema"]["required"] == ["name"]
    assert results["Customergroup.validate"][0]["pointer"] == "/name"  # the duplicate name
    assert results["Customergroup.delete"] is True
    members = ("addCustomers", "removeCustomers", "moveCustomers", "listCustomers")
    assert [results[f"Customergroup.{name}"] for name in members] == [3, 1, 1, [17]]

    batch = [answer for line, answer in answers if line.startswith("Batch:")]
    assert len(batch) == 1
    assert [("result" in member, member["id"]) for member in batch[0]] == [(True, 1), (True, 2)]

    line, error = answers[-1]
    assert line.startswith("Customergroup.get(")
    assert error["error"]["code"] == 9003


def test_curl_sh_runs_again_on_the_same_database(server: Endpoint) -> None:
    first, second = curl_sh(server), curl_sh(server)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    assert calls(first.stdout)[0] != calls(second.stdout)[0]  # new names, new uids


def test_curl_sh_is_executable() -> None:
    assert os.access(EXAMPLES / "curl.sh", os.X_OK)


def test_curl_sh_needs_a_token(server: Endpoint) -> None:
    done = curl_sh(server, token=None)
    assert done.returncode == 1
    assert "CUSTOMERGROUP_RPC_TOKEN" in done.stderr
    assert done.stdout == ""


# -- client.py --------------------------------------------------------------------------------


def test_client_creates_missing_groups_once(server: Endpoint) -> None:
    first = client(server, "Alpha Club", "Beta Club")
    assert first.returncode == 0, first.stderr
    assert "created  Alpha Club (uid" in first.stdout
    assert "created  Beta Club (uid" in first.stdout

    # Names compare as the service compares them: case and spacing do not matter.
    second = client(server, "alpha club", "  BETA   club ", "Gamma Club")
    assert second.returncode == 0, second.stderr
    assert "exists   Alpha Club (uid" in second.stdout
    assert "exists   Beta Club (uid" in second.stdout
    assert [line.split(" (")[0] for line in report(second.stdout)] == [
        "exists   Alpha Club",
        "exists   Beta Club",
        "created  Gamma Club",
    ]

    rows = table(second.stdout)
    names = [name for _, name, _ in rows]
    assert {"Alpha Club", "Beta Club", "Gamma Club"} <= set(names)
    assert names == sorted(names, key=str.casefold)
    assert all(uid.isdigit() and created.endswith("Z") for uid, _, created in rows)
    assert second.stdout.rstrip().endswith(f"{len(rows)} groups")


def test_client_default_names(server: Endpoint) -> None:
    first, second = client(server), client(server)
    assert (first.returncode, second.returncode) == (0, 0), second.stderr
    for name in ("Staff", "Students", "Wholesale"):
        assert f"created  {name} (uid" in first.stdout
        assert f"exists   {name} (uid" in second.stdout
    assert not any(line.startswith("created") for line in report(second.stdout))


def test_client_validates_everything_before_creating(server: Endpoint) -> None:
    done = client(server, "Delta Club", "", "tab\there")
    assert done.returncode == 1
    assert "invalid  '': /name: " in done.stderr
    assert "invalid  'tab\\there': /name: " in done.stderr
    assert "Nothing was created." in done.stderr
    assert "Delta Club" not in client(server, "Zeta Club").stdout


def test_client_reports_rpc_errors(server: Endpoint) -> None:
    done = client(server, "Epsilon Club", token="not-a-token")
    assert done.returncode == 1
    assert done.stderr.strip() == "Customergroup.list: error 1004: Bad auth token"
    assert done.stdout == ""


def test_client_needs_a_token(server: Endpoint) -> None:
    done = client(server, token=None)
    assert done.returncode == 2
    assert "CUSTOMERGROUP_RPC_TOKEN" in done.stderr


# --- examples/customergroup-rpc.service (issue 16) ---

UNIT = EXAMPLES / "customergroup-rpc.service"


def unit_settings() -> dict[str, list[str]]:
    """The unit's settings (continued lines joined), each name with its values in order."""
    text = UNIT.read_text(encoding="utf-8").replace("\\\n", " ")
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            name, _, value = line.partition("=")
            settings.setdefault(name.strip(), []).append(value.strip())
    return settings


def test_the_systemd_unit_runs_serve_with_flags_serve_has_and_waits_out_its_drain() -> None:
    settings = unit_settings()
    binary, *argv = shlex.split(settings["ExecStart"][0])
    assert binary.endswith("/bin/customergroup-rpc")
    args = _parser().parse_args(argv)
    assert args.run is _serve
    assert (args.log_format, args.host) == ("json", "127.0.0.1")
    in_flight = 10  # __main__._run: web.run_app(shutdown_timeout=10)
    assert int(settings["TimeoutStopSec"][0]) > args.drain_seconds + in_flight
    assert settings["KillMode"] == ["mixed"]  # the parent passes SIGTERM on to its workers
    for hardening in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "DynamicUser"):
        assert hardening in settings, hardening


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verifies_the_unit(tmp_path: Path) -> None:
    # verify wants the program to exist: this environment's own customergroup-rpc.
    program = Path(sys.executable).parent / "customergroup-rpc"
    unit = tmp_path / UNIT.name
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace(
            "/opt/customergroup-rpc/bin/customergroup-rpc", str(program)
        ),
        encoding="utf-8",
    )
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""


# -- follow.py ----------------------------------------------------------------------------------


def test_follow_py_prints_events_and_goes_on_from_its_cursor(
    server: Endpoint, tmp_path: Path
) -> None:
    for name in ("Follow A", "Follow B", "Follow C"):  # events to follow, whatever ran before
        body = json.dumps({"jsonrpc": "2.0", "method": "Customergroup.create", "id": 1})
        body = body[:-1] + f', "params": [{{"name": "{name} {tmp_path.name}"}}]}}'
        request = urllib.request.Request(f"{server.url}?auth={TOKEN}", body.encode())
        with urllib.request.urlopen(request, timeout=10) as response:
            assert "result" in json.load(response)
    cursor = tmp_path / "cursor"
    follow = [sys.executable, str(EXAMPLES / "follow.py"), "--cursor", str(cursor), "--count"]
    first = run([*follow, "2"], server)
    assert first.returncode == 0, first.stderr
    assert [line.split()[0] for line in first.stdout.splitlines()] == ["1", "2"]
    assert cursor.read_text() == "2"
    again = run([*follow, "1"], server)
    assert [line.split()[0] for line in again.stdout.splitlines()] == ["3"]
