"""The command line (SPEC 2 tokens, 8 storage, 9 command line), with real server processes.

Every test runs ``sys.executable -m customergroup_rpc`` in its own ``tmp_path`` on a free port;
the servers are always stopped by PID (see ``server_process.Server``).
"""

from __future__ import annotations

import http.client
import json
import re
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from customergroup_rpc.__main__ import _cors_origins, _parser
from harness.server import SERVE

from .server_process import ADMIN_TOKEN, ENDPOINT, Server, cli, environment, free_port, post, rpc

TOKEN = re.compile(r"cgr_[A-Za-z0-9_\-]+")
BAD_AUTH, FORBIDDEN = 1004, 1006


def error_code(answer: dict[str, object]) -> object:
    error = answer.get("error")
    assert isinstance(error, dict), answer
    return error.get("code")


def test_first_start_prints_one_manage_token_on_stderr_and_a_restart_prints_none(
    tmp_path: Path,
) -> None:
    with Server(tmp_path, admin_token=None) as server:
        first_stderr = server.stderr()
        printed = TOKEN.findall(first_stderr)
        assert len(printed) == 1, first_stderr
        server.token = printed[0]
        # A write works: the token has the manage scope.
        assert server.result("Customergroup.create", [{"name": "A"}])["name"] == "A"
        assert server.result("Customergroup.count", []) == 1

        assert server.stop() == 0
        assert server.stderr().count(printed[0]) == 1  # shown once, never logged again
        server.start()
        assert TOKEN.findall(server.stderr()) == []
        assert server.result("Customergroup.count", []) == 1


def test_token_create_list_revoke_take_effect_on_a_running_server(tmp_path: Path) -> None:
    with Server(tmp_path) as server:
        db = server.db
        before = cli("token", "list", "--db", db, cwd=tmp_path)
        assert before.returncode == 0, before.stderr
        known_ids = {line.split()[0] for line in before.stdout.splitlines() if line.strip()}

        created = cli("token", "create", "--scope", "view", "--db", db, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        lines = created.stdout.splitlines()
        assert len(lines) == 1, created.stdout  # the token alone, so scripts can capture it
        view = lines[0]
        assert view == view.strip()
        assert view.startswith("cgr_")

        # The running server takes it at the next request, with its scope.
        count = server.call("Customergroup.count", [], token=view)
        assert count.get("result") == 0, count
        create = server.call("Customergroup.create", [{"name": "Nope"}], token=view)
        assert error_code(create) == FORBIDDEN
        assert server.result("Customergroup.count", []) == 0  # nothing was written

        listed = cli("token", "list", "--db", db, cwd=tmp_path)
        assert listed.returncode == 0, listed.stderr
        rows = [line.split() for line in listed.stdout.splitlines() if line.split()]
        new = [row for row in rows if row[0] not in known_ids]
        assert len(new) == 1, listed.stdout
        token_id, scope = new[0][0], new[0][1]
        assert scope == "view"
        for output in (listed.stdout, listed.stderr, created.stderr, before.stdout):
            assert view not in output
            assert ADMIN_TOKEN not in output

        token_file = Path(db + ".tokens.json")
        assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
        stored = token_file.read_text("utf-8")
        assert view not in stored
        assert ADMIN_TOKEN not in stored
        assert view.removeprefix("cgr_") not in stored

        revoked = cli("token", "revoke", token_id, "--db", db, cwd=tmp_path)
        assert revoked.returncode == 0, revoked.stderr
        after = server.call("Customergroup.count", [], token=view)
        assert error_code(after) == BAD_AUTH
        assert "result" not in after
        # Other tokens are untouched.
        assert server.result("Customergroup.count", []) == 0
        relisted = cli("token", "list", "--db", db, cwd=tmp_path)
        assert token_id not in relisted.stdout


def test_second_serve_on_the_same_db_refuses_to_start(tmp_path: Path) -> None:
    with Server(tmp_path) as server:
        server.result("Customergroup.create", [{"name": "Kept"}])
        started = time.monotonic()
        second = cli(
            "serve",
            "--port",
            str(free_port()),
            "--db",
            server.db,
            cwd=tmp_path,
            admin_token=ADMIN_TOKEN,
            timeout=10,
        )
        took = time.monotonic() - started
        assert second.returncode != 0
        assert took < 5, took
        assert "in use" in second.stderr, second.stderr
        assert Path(server.db).name in second.stderr
        assert "Traceback" not in second.stderr, second.stderr
        # The first server goes on as if nothing happened.
        assert server.get("/health")[0] == 200
        assert server.result("Customergroup.count", []) == 1


@pytest.mark.parametrize(
    "content",
    [
        pytest.param(b'{"customergroups": ', id="truncated-json"),
        pytest.param(b"[1,2]", id="json-not-a-database"),
    ],
)
def test_corrupt_db_stops_the_start_and_leaves_the_file_untouched(
    tmp_path: Path, content: bytes
) -> None:
    db = tmp_path / "broken.db.json"
    db.write_bytes(content)
    result = cli(
        "serve",
        "--port",
        str(free_port()),
        "--db",
        str(db),
        cwd=tmp_path,
        admin_token=ADMIN_TOKEN,
        timeout=10,
    )
    assert result.returncode != 0
    assert db.name in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert db.read_bytes() == content


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_signal_stops_the_server_cleanly(tmp_path: Path, sig: signal.Signals) -> None:
    # A shell without job control starts background children with SIGINT ignored, and a
    # child inherits that; give it the default disposition so SIGINT reaches Python.
    previous = signal.getsignal(signal.SIGINT)
    server = Server(tmp_path)
    try:
        if previous is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            server.start()
        finally:
            signal.signal(signal.SIGINT, previous)
        server.result("Customergroup.create", [{"name": "Before the signal"}])
        started = time.monotonic()
        code = server.stop(sig, timeout=5)
        assert code == 0, server.stderr()
        assert time.monotonic() - started < 5
        assert "Traceback" not in server.stderr()
    finally:
        server.stop()


def test_access_log_has_one_line_per_request_and_never_a_token(tmp_path: Path) -> None:
    unknown = "cgr_not_a_real_token_but_secret_looking"
    with Server(tmp_path) as server:
        assert server.call("Customergroup.count", []).get("result") == 0  # ?auth=
        assert server.call("Customergroup.count", [], bearer=True).get("result") == 0
        assert error_code(server.call("Customergroup.count", [], token=unknown)) == BAD_AUTH
        assert error_code(server.call("Customergroup.count", [], token=unknown, bearer=True)) == (
            BAD_AUTH
        )
        status, answer = post(server.port, rpc("Customergroup.count", []))  # no token
        assert status == 200
        assert error_code(answer) == BAD_AUTH
        # Stopping cleanly makes sure every line is written.
        assert server.stop() == 0
        log = server.stderr()

    rpc_lines = [line for line in log.splitlines() if "/backend/jsonrpc/v1" in line]
    assert len(rpc_lines) == 5, log
    for line in rpc_lines:
        assert "Customergroup.count" in line
        assert re.search(r"(?<!\S)200(?!\S)", line), line  # the status, as a word
    assert ADMIN_TOKEN not in log
    assert ADMIN_TOKEN.removeprefix("cgr_") not in log
    assert unknown not in log
    assert "auth=" not in log


def test_help_and_an_in_memory_server(tmp_path: Path) -> None:
    helped = cli("--help", cwd=tmp_path)
    assert helped.returncode == 0, helped.stderr
    assert "serve" in helped.stdout
    assert "token" in helped.stdout
    serve_help = cli("serve", "--help", cwd=tmp_path)
    assert serve_help.returncode == 0, serve_help.stderr
    for option in ("--host", "--port", "--db", "--max-body", "--max-batch"):
        assert option in serve_help.stdout

    with Server(tmp_path, db=":memory:") as server:
        assert server.result("Customergroup.create", [{"name": "Volatile"}])["uid"] == 1
        assert server.result("Customergroup.count", []) == 1
        assert server.stop() == 0
        server.start()
        assert server.result("Customergroup.count", []) == 0  # kept nothing
    assert not [p for p in tmp_path.iterdir() if not p.name.endswith(".stderr.log")]


# --- what an outsider sends (issue 10: items 1, 2 and 10, and CORS) ---


def send_raw(port: int, data: bytes) -> bytes:
    """``data`` on a new connection; everything the server answers until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def refused_requests(token: str) -> list[bytes]:
    """Requests aiohttp cannot parse, each carrying ``token``."""
    body = b"\r\nContent-Length: 2\r\n\r\n{}"
    return [
        b"POST /backend/jsonrpc/v1/?auth=" + token.encode() + b"&q=a b HTTP/1.1\r\nHost: x" + body,
        b"POST /backend/jsonrpc/v1/?auth=" + token.encode() + "&q=é HTTP/1.1".encode() + body,
        b"POST /backend/jsonrpc/v1/?%61uth=" + token.encode() + b"&q=a b HTTP/1.1" + body,
        b"POST /backend/jsonrpc/v1/ HTTP/1.1\r\nAuthorization: Bearer "
        + token.encode()
        + b"\x01"
        + body,
        # A good request, then a bad one on the same connection.
        b"GET /health HTTP/1.1\r\nHost: x\r\n\r\nPOST /?auth="
        + token.encode()
        + b"&x=a b HTTP/1.1"
        + body,
    ]


def test_requests_aiohttp_refuses_leave_no_token_and_no_traceback_in_the_log(
    tmp_path: Path,
) -> None:
    with Server(tmp_path, db=":memory:") as server:
        for request in refused_requests(ADMIN_TOKEN):
            assert b" 400 Bad Request\r\n" in send_raw(server.port, request)
        assert server.result("Customergroup.count", []) == 0  # still serving
        assert server.stop() == 0  # every line written
        log = server.stderr()
    assert ADMIN_TOKEN not in log
    assert ADMIN_TOKEN.removeprefix("cgr_test_")[:12] not in log
    assert "Traceback" not in log
    assert "Error handling request" not in log
    assert log.count('"UNKNOWN /" - 400 ') == len(refused_requests(ADMIN_TOKEN))


def test_each_request_that_is_no_http_gets_one_short_access_line(tmp_path: Path) -> None:
    sent = 200
    with Server(tmp_path, db=":memory:") as server:
        for _ in range(sent):
            assert send_raw(server.port, b"X\r\n\r\n").startswith(b"HTTP/1.0 400 ")
        assert server.stop() == 0
        log = server.stderr()
    lines = [line for line in log.splitlines()[1:] if '"GET /health"' not in line]  # no banner
    refused = re.compile(r'\S+ \S+ INFO 127\.0\.0\.1 "UNKNOWN /" - 400 \d+\.\dms')
    assert len(lines) == sent, log[:2000]
    assert all(refused.fullmatch(line) for line in lines), log[:2000]
    assert "Traceback" not in log


async def test_sigterm_closes_an_open_websocket_with_going_away_and_exits(
    tmp_path: Path,
) -> None:
    with Server(tmp_path, db=":memory:") as server:
        url = f"http://127.0.0.1:{server.port}/backend/jsonrpc/v1/?auth={ADMIN_TOKEN}"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            await ws.send_str(rpc("Customergroup.count", []).decode())
            assert (await ws.receive_json(timeout=10))["result"] == 0
            assert server.process is not None
            server.process.send_signal(signal.SIGTERM)
            closed = await ws.receive(timeout=10)
        assert (closed.type, closed.data) == (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSCloseCode.GOING_AWAY,
        )
        # Bounded, generously: before, it took about 22 s.
        assert server.process.wait(timeout=10) == 0, server.stderr()
        assert "Traceback" not in server.stderr()


def test_cors_origin_flag_answers_preflights_for_that_origin_only(tmp_path: Path) -> None:
    allowed = "https://admin.example.com"
    with Server(tmp_path, db=":memory:", args=("--cors-origin", allowed + "/")) as server:
        for origin, status in ((allowed, 204), ("https://elsewhere.example.com", 403)):
            conn = server.connection()
            try:
                headers = {"Origin": origin, "Access-Control-Request-Method": "POST"}
                conn.request("OPTIONS", "/backend/jsonrpc/v1/", headers=headers)
                response = conn.getresponse()
                response.read()
            finally:
                conn.close()
            assert response.status == status
            assert response.getheader("Access-Control-Allow-Origin") == (
                origin if status == 204 else None
            )


def test_a_bad_cors_origin_stops_serve_with_a_message(tmp_path: Path) -> None:
    result = cli("serve", "--port", str(free_port()), "--cors-origin", "*", cwd=tmp_path)
    assert result.returncode == 2
    assert "not an origin" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("environment", "flags", "expected"),
    [
        (None, [], set()),
        ("", [], set()),
        (
            "https://a.example.com, http://localhost:8000/ ,,",
            [],
            {"https://a.example.com", "http://localhost:8000"},
        ),
        (
            "https://a.example.com",
            ["--cors-origin", "https://b.example.com"],
            {"https://b.example.com"},
        ),
    ],
    ids=["unset", "empty", "comma-separated", "flags win"],
)
def test_cors_origins_come_from_flags_or_the_environment(
    monkeypatch: pytest.MonkeyPatch, environment: str | None, flags: list[str], expected: set[str]
) -> None:
    if environment is None:
        monkeypatch.delenv("CUSTOMERGROUP_RPC_CORS_ORIGINS", raising=False)
    else:
        monkeypatch.setenv("CUSTOMERGROUP_RPC_CORS_ORIGINS", environment)
    args = _parser().parse_args(["serve", *flags])
    assert _cors_origins(args) == expected


def test_a_bad_origin_in_the_environment_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_CORS_ORIGINS", "https://a.example.com,null")
    with pytest.raises(SystemExit, match="CUSTOMERGROUP_RPC_CORS_ORIGINS: 'null' is not an origin"):
        _cors_origins(_parser().parse_args(["serve"]))


# --- shops (issue 14): through the real server, with the calls curl makes ----------------------


def shop_post(server: Server, body: str, **query: object) -> dict[str, Any]:
    """``curl -d BODY 'http://.../backend/jsonrpc/v1/?auth=...&webshop=...'``: the answer."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("POST", f"{ENDPOINT}?{urlencode(query)}", body=body.encode())
        response = connection.getresponse()
        assert response.status == 200
        answer: dict[str, Any] = json.loads(response.read())
        return answer
    finally:
        connection.close()


def created_token(db: str, tmp_path: Path, *args: str) -> str:
    made = cli("token", "create", *args, "--db", db, cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


COUNT = '{"jsonrpc": "2.0", "method": "Customergroup.count", "id": 1}'
CREATE_STAFF = (
    '{"jsonrpc": "2.0", "method": "Customergroup.create", "params": [{"name": "Staff"}, ["uid"]],'
    ' "id": 1}'
)


def test_shops_made_with_the_cli_while_serving_are_served_each_with_its_own_groups(
    tmp_path: Path,
) -> None:
    with Server(tmp_path) as server:
        db = server.db
        # One shop: no webshop needed, as before shops.
        assert shop_post(server, CREATE_STAFF, auth=ADMIN_TOKEN)["result"] == {"uid": 1}
        for shop, name, language in [("22222", "Sverige", "sv"), ("33333", "Norge", "nb")]:
            made = cli(
                "shop",
                "create",
                shop,
                "--name",
                name,
                "--language",
                language,
                "--db",
                db,
                cwd=tmp_path,
            )
            assert made.returncode == 0, made.stderr
        listed = cli("shop", "list", "--db", db, cwd=tmp_path)
        assert listed.stdout == "1  en  Shop 1\n22222  sv  Sverige\n33333  nb  Norge\n"

        a = created_token(db, tmp_path, "--scope", "manage", "--shop", "22222")
        b = created_token(db, tmp_path, "--scope", "view", "--shop", "33333")
        assert shop_post(server, CREATE_STAFF, auth=a, webshop=22222)["result"] == {"uid": 1}
        assert shop_post(server, COUNT, auth=a, webshop=22222)["result"] == 1
        assert shop_post(server, COUNT, auth=b, webshop=33333)["result"] == 0
        assert shop_post(server, COUNT, auth=ADMIN_TOKEN, webshop=1)["result"] == 1
        assert error_code(shop_post(server, COUNT, auth=b, webshop=22222)) == FORBIDDEN
        assert error_code(shop_post(server, COUNT, auth=a)) == 1001
        assert error_code(shop_post(server, COUNT, auth=a, webshop=44444)) == 1002

        tokens = cli("token", "list", "--db", db, cwd=tmp_path).stdout
        assert "shop 22222" in tokens
        assert "shop 33333" in tokens
        assert "every shop" in tokens

    assert sorted(p.name for p in tmp_path.glob("groups.db.json.shop-*.json")) == [
        "groups.db.json.shop-22222.json",
        "groups.db.json.shop-33333.json",
    ]


def test_a_second_server_is_refused_on_any_file_of_a_running_one(tmp_path: Path) -> None:
    db = tmp_path / "groups.db.json"
    made = cli("shop", "create", "22222", "--name", "Sverige", "--db", str(db), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    with Server(tmp_path, db=db):
        for other in (db, tmp_path / "groups.db.json.shop-22222.json"):
            second = Server(tmp_path, db=other)
            second.spawn()
            assert second.process is not None
            assert second.process.wait(10) == 1
            assert "in use" in second.stderr(), second.stderr()


def test_token_create_names_its_shops_when_there_are_several(tmp_path: Path) -> None:
    db = str(tmp_path / "groups.db.json")
    one_shop = cli("token", "create", "--scope", "view", "--db", db, cwd=tmp_path)
    assert "for every shop" in one_shop.stderr
    cli("shop", "create", "22222", "--name", "Sverige", "--db", db, cwd=tmp_path)
    unnamed = cli("token", "create", "--scope", "view", "--db", db, cwd=tmp_path)
    assert unnamed.returncode == 1
    assert "several shops" in unnamed.stderr
    assert unnamed.stdout == ""
    unknown = cli("token", "create", "--shop", "5", "--db", db, cwd=tmp_path)
    assert unknown.returncode == 1
    assert "No shop 5" in unknown.stderr
    assert unknown.stdout == ""
    both = cli("token", "create", "--shop", "1", "--all-shops", "--db", db, cwd=tmp_path)
    assert both.returncode == 2
    every = cli("token", "create", "--all-shops", "--db", db, cwd=tmp_path)
    assert every.returncode == 0
    assert "for every shop" in every.stderr


# --- operating it (issue 16): the flags of serve ---


@pytest.mark.parametrize("seconds", ["-1", "3601", "soon"])
def test_drain_seconds_out_of_range_is_a_usage_error(tmp_path: Path, seconds: str) -> None:
    done = cli("serve", "--drain-seconds", seconds, "--port", str(free_port()), cwd=tmp_path)
    assert done.returncode == 2
    assert "--drain-seconds" in done.stderr


def test_serve_tracing_sends_spans_where_the_otel_variables_say(tmp_path: Path) -> None:
    spans = tmp_path / "spans.out"
    port = free_port()
    env = environment(ADMIN_TOKEN) | {"OTEL_TRACES_EXPORTER": "console"}
    command = [*SERVE, "serve", "--port", str(port), "--db", ":memory:", "--drain-seconds", "0"]
    with spans.open("wb") as out, (tmp_path / "err.log").open("wb") as err:
        process = subprocess.Popen(
            [*command, "--tracing"], cwd=tmp_path, env=env, stdout=out, stderr=err
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                status, answer = post(port, rpc("Customergroup.count", []), token=ADMIN_TOKEN)
                break
            except OSError:
                assert process.poll() is None, (tmp_path / "err.log").read_text()
                assert time.monotonic() < deadline, "serve did not answer"
                time.sleep(0.05)
        assert (status, answer["result"]) == (200, 0)
        process.send_signal(signal.SIGTERM)
        assert process.wait(30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    written = spans.read_text()  # the console exporter: spans as JSON, sent at the stop
    assert '"name": "Customergroup.count"' in written
    assert '"name": "POST /backend/jsonrpc/v1/"' in written


# --- what an operator gets wrong: one line each, never a traceback ---


def test_serve_on_a_port_in_use_says_so_in_one_line_and_makes_nothing(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("serve", "--port", str(port), "--db", "db.json", cwd=tmp_path)
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-1].startswith(f"customergroup-rpc: cannot listen on 127.0.0.1:{port}: ")
    assert "in use" in lines[-1]
    assert "Traceback" not in done.stderr
    assert TOKEN.findall(done.stderr) == []  # no first-start token, shown and never usable
    assert list(tmp_path.iterdir()) == []  # the database was not even made


def test_serve_on_an_address_not_of_this_machine_says_so_in_one_line(tmp_path: Path) -> None:
    host = "192.0.2.1"  # TEST-NET-1: no machine has it
    done = cli("serve", "--host", host, "--port", "8080", "--db", ":memory:", cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.splitlines()[-1].startswith(f"customergroup-rpc: cannot listen on {host}:")
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("port", ["65536", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error(tmp_path: Path, port: str) -> None:
    done = cli("serve", "--port", port, "--db", ":memory:", cwd=tmp_path)
    assert done.returncode == 2
    assert "--port" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    "command",
    [("token", "create"), ("token", "revoke", "abc"), ("shop", "create", "7", "--name", "Seven")],
)
def test_a_database_in_a_folder_that_does_not_exist_is_one_line(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    db = tmp_path / "no" / "such" / "folder" / "db.json"
    done = cli(*command, "--db", str(db), cwd=tmp_path)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(f"customergroup-rpc: {db}")
    assert "No such file or directory" in done.stderr
    assert len(done.stderr.splitlines()) == 1  # no traceback
