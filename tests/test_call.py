"""``customergroup-rpc call`` (SPEC 11): the console notation against a real server process.

Each test runs ``sys.executable -m customergroup_rpc call ...`` in an environment without any
``CUSTOMERGROUP_RPC_*`` setting but those it sets itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .server_process import ADMIN_TOKEN, Server, environment, free_port

STAFF = 'Customergroup.count({"/name": {"startsWith": "Staff"}})'


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server for the module, holding Staff (uid 1), Staff room (2) and Students (3)."""
    with Server(tmp_path_factory.mktemp("call")) as server:
        for name in ("Staff", "Staff room", "Students"):
            server.result("Customergroup.create", [{"name": name}])
        yield server


def url(server: Server) -> str:
    return f"http://127.0.0.1:{server.port}/backend/jsonrpc/v1/"


def unreachable() -> str:
    return f"http://127.0.0.1:{free_port()}/backend/jsonrpc/v1/"


def run(
    *args: str, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "customergroup_rpc", "call", *args],
        env={**environment(), "PYTHONIOENCODING": "utf-8", **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=30,
        check=False,
    )


def call(server: Server, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """``call --url URL --token ADMIN ARGS``."""
    return run("--url", url(server), "--token", ADMIN_TOKEN, *args, stdin=stdin)


def test_a_result_is_printed_as_json_on_stdout(server: Server) -> None:
    done = call(server, STAFF)
    assert (done.returncode, done.stdout, done.stderr) == (0, "2\n", "")


def test_an_object_is_printed_indented(server: Server) -> None:
    done = call(server, 'Customergroup.get(1, ["uid", "name"])')
    assert done.returncode == 0, done.stderr
    assert done.stdout == '{\n  "name": "Staff",\n  "uid": 1\n}\n'


def test_text_is_printed_as_it_is_and_lone_surrogates_escaped(server: Server) -> None:
    created = call(server, 'Customergroup.create({"name": "Grüße 🎉"}, "name")')
    assert created.stdout == '{\n  "name": "Grüße 🎉"\n}\n'
    # The schema's name pattern holds lone surrogates, which no stream can print as they are.
    schema = call(server, "Customergroup.getSchema(null)")
    assert schema.returncode == 0, schema.stderr
    assert "\\ud800" in schema.stdout
    assert json.loads(schema.stdout)["required"] == ["name"]


def test_object_not_found_goes_to_stderr_with_its_pointer_and_exit_1(server: Server) -> None:
    done = call(server, "Customergroup.get(999)")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr == "error 9003: Object not found\n  /0: No customer group with uid 999\n"


def test_invalid_params_show_every_pointer_and_message(server: Server) -> None:
    done = call(server, 'Customergroup.create({"name": 5, "uid": 3})')
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines() == [
        "error -32602: Invalid params",
        "  /name: name must be a string, not the number 5.",
        "  /uid: uid is read-only: the server sets it.",
    ]
    listed = call(server, 'Customergroup.list(["name"], {"limit": -1})')
    assert listed.returncode == 1
    assert "  /1/limit: limit must be at least 0." in listed.stderr.splitlines()


def test_a_notation_error_exits_2_and_sends_nothing() -> None:
    # Nothing listens at the URL: exit 2 (not 1) shows nothing was sent.
    done = run("--url", unreachable(), "Customergroup.get(7")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("customergroup-rpc: Expected ',' or ')' at position 19, found the end\n")


def test_an_unreachable_server_is_one_readable_line_and_exit_1() -> None:
    address = unreachable()
    done = run("--url", address, "rpc.discover()")
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.startswith(f"customergroup-rpc: cannot reach {address}: ")
    assert "refused" in done.stderr
    assert len(done.stderr.splitlines()) == 1  # no traceback


def test_a_url_that_is_not_the_endpoint_says_so(server: Server) -> None:
    done = run("--url", f"http://127.0.0.1:{server.port}/nowhere", "rpc.discover()")
    assert done.returncode == 1
    assert "answered HTTP 404 without a JSON-RPC response" in done.stderr


def test_a_url_without_http_is_a_usage_error() -> None:
    done = run("--url", "127.0.0.1:8080", "rpc.discover()")
    assert done.returncode == 2
    assert "must start with http:// or https://" in done.stderr


@pytest.mark.parametrize("address", ["http://[::1", "http://[::1]:x/", "http://[zz]/"])
def test_a_url_that_does_not_parse_is_a_usage_error_without_a_traceback(address: str) -> None:
    done = run("--url", address, "rpc.discover()")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith(f"customergroup-rpc: the URL {address} is not valid: ")
    assert len(done.stderr.splitlines()) == 1  # no traceback


@pytest.mark.parametrize("token", ["cgr_a\nb", "cgr_a\rb", "cgr_a\x01b", "cgr_\u20ac"])
def test_a_token_no_header_can_carry_is_a_usage_error_and_nothing_is_sent(token: str) -> None:
    # From a file written on Windows, say (a \r at its end); or pasted with a line break.
    for given in (["--token", token], []):
        done = run("--url", unreachable(), *given, STAFF, env={"CUSTOMERGROUP_RPC_TOKEN": token})
        assert (done.returncode, done.stdout) == (2, ""), done.stderr
        assert done.stderr.startswith("customergroup-rpc: the token ")
        assert len(done.stderr.splitlines()) == 1  # no traceback


def test_a_token_read_with_its_line_end_is_sent_without_it(server: Server) -> None:
    env = {"CUSTOMERGROUP_RPC_URL": url(server), "CUSTOMERGROUP_RPC_TOKEN": ADMIN_TOKEN + "\r\n"}
    done = run(STAFF, env=env)
    assert (done.returncode, done.stdout) == (0, "2\n"), done.stderr


def test_without_a_token_the_error_says_how_to_give_one(server: Server) -> None:
    done = run("--url", url(server), STAFF)
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "error 1004: Bad auth token",
        "customergroup-rpc: no token was sent; give --token or set CUSTOMERGROUP_RPC_TOKEN",
    ]


def test_rpc_discover_needs_no_token(server: Server) -> None:
    done = run("--url", url(server), "rpc.discover()")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["openrpc"] == "1.2.6"


def test_the_environment_gives_url_and_token(server: Server) -> None:
    env = {"CUSTOMERGROUP_RPC_URL": url(server), "CUSTOMERGROUP_RPC_TOKEN": ADMIN_TOKEN}
    done = run(STAFF, env=env)
    assert (done.returncode, done.stdout) == (0, "2\n")


def test_flags_win_over_the_environment(server: Server) -> None:
    env = {"CUSTOMERGROUP_RPC_URL": unreachable(), "CUSTOMERGROUP_RPC_TOKEN": "cgr_wrong"}
    done = run("--url", url(server), "--token", ADMIN_TOKEN, STAFF, env=env)
    assert (done.returncode, done.stdout) == (0, "2\n")


def test_a_wrong_token_from_the_environment_is_sent_and_refused(server: Server) -> None:
    env = {"CUSTOMERGROUP_RPC_URL": url(server), "CUSTOMERGROUP_RPC_TOKEN": "cgr_wrong"}
    done = run(STAFF, env=env)
    assert (done.returncode, done.stderr) == (1, "error 1004: Bad auth token\n")


@pytest.mark.parametrize(
    ("env", "shown"),
    [
        ({}, "http://127.0.0.1:8080/backend/jsonrpc/v1/"),
        ({"CUSTOMERGROUP_RPC_URL": "http://h/"}, "http://h/"),
    ],
    ids=["default", "from the environment"],
)
def test_help_shows_the_url_calls_go_to_and_never_the_token(
    env: dict[str, str], shown: str
) -> None:
    done = run("--help", env={**env, "CUSTOMERGROUP_RPC_TOKEN": "cgr_secret"})
    assert done.returncode == 0
    assert shown in done.stdout.replace("\n", "").replace(" ", "")
    assert "cgr_secret" not in done.stdout


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "calls.txt"
    path.write_text(text, encoding="utf-8")
    return str(path)


def access_lines(server: Server, marker: str) -> list[str]:
    """Access log lines naming ``marker``; the log is written within a fifth of a second."""
    deadline = time.monotonic() + 5
    while True:
        lines = [line for line in server.stderr().splitlines() if marker in line]
        if lines or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_a_batch_is_one_request_and_each_answer_is_labelled_with_its_line(
    server: Server, tmp_path: Path
) -> None:
    calls = (
        "# groups whose name starts with Staff\n"
        "\n"
        "Customergroup.getSchema(1)\n"
        f"   {STAFF}  \n"
        "# a missing group\n"
        "Customergroup.listCustomers(999)\n"
        'Customergroup.get(2, "name")\n'
    )
    done = call(server, "--batch", write(tmp_path, calls))
    assert done.returncode == 1
    assert done.stdout.startswith("# line 3: Customergroup.getSchema(1)\n{\n")
    assert done.stdout.endswith(
        f"# line 4: {STAFF}\n2\n"
        '# line 7: Customergroup.get(2, "name")\n{\n  "name": "Staff room"\n}\n'
    )
    assert done.stderr == (
        "# line 6: Customergroup.listCustomers(999)\n"
        "error 9003: Object not found\n"
        "  /0: No customer group with uid 999\n"
    )
    sent = (
        "Customergroup.getSchema,Customergroup.count,Customergroup.listCustomers,Customergroup.get"
    )
    assert len(access_lines(server, sent)) == 1


def test_a_batch_that_all_succeeds_exits_0_and_may_come_from_stdin(server: Server) -> None:
    done = call(server, "--batch", "-", stdin="Customergroup.count()\nrpc.discover()\n")
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("# line 1: Customergroup.count()\n")
    assert "# line 2: rpc.discover()\n{\n" in done.stdout


def test_a_batch_with_a_bad_line_sends_nothing_and_names_every_bad_line(tmp_path: Path) -> None:
    calls = "Customergroup.count()\nCustomergroup.get(1,)\n\nCustomergroup.list\n"
    done = run("--url", unreachable(), "--batch", write(tmp_path, calls))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.splitlines() == [
        "customergroup-rpc: line 2: Expected a JSON value at position 20, found ')'",
        "customergroup-rpc: line 4: Expected '(' after the method name at position 18, "
        "found the end",
        "customergroup-rpc: nothing was sent",
    ]


def test_a_batch_without_calls_is_a_usage_error(tmp_path: Path) -> None:
    done = run("--url", unreachable(), "--batch", write(tmp_path, "# nothing\n\n"))
    assert (done.returncode, done.stderr) == (2, "customergroup-rpc: no calls to send\n")


def test_a_batch_file_that_cannot_be_read_is_a_usage_error(tmp_path: Path) -> None:
    done = run("--url", unreachable(), "--batch", str(tmp_path / "missing.txt"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr


def test_a_batch_over_the_servers_limit_shows_the_one_error(server: Server, tmp_path: Path) -> None:
    done = call(server, "--batch", write(tmp_path, "Customergroup.count()\n" * 101))
    assert (done.returncode, done.stdout) == (1, "")
    assert done.stderr.splitlines()[:2] == [
        "# the batch",
        "error -32600: Invalid Request",
    ]


def test_call_and_batch_are_exclusive(tmp_path: Path) -> None:
    assert run("--url", unreachable()).returncode == 2
    both = run("--url", unreachable(), "--batch", write(tmp_path, "x()\n"), "rpc.discover()")
    assert both.returncode == 2
    assert "not allowed with" in both.stderr
