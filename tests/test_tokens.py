"""Tokens: hashed at rest, scoped, and picked up from the file without a restart."""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc import files
from customergroup_rpc import tokens as tokens_module
from customergroup_rpc.__main__ import main
from customergroup_rpc.app import Config, create_app
from customergroup_rpc.tokens import (
    RECHECK,
    TokenFileError,
    Tokens,
    environment_problem,
    token_path,
)

from .conftest import ENDPOINT, MANAGE
from .server_process import Server, cli


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return token_path(tmp_path / "groups.db.json")


def test_token_file_sits_beside_the_database(tmp_path: Path) -> None:
    assert token_path(tmp_path / "x.json") == tmp_path / "x.json.tokens.json"


def test_tokens_are_stored_hashed_with_mode_0600(path: Path) -> None:
    _, secret = Tokens(path).create("manage")
    assert secret not in path.read_text()
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_a_token_is_known_by_its_scope_and_an_unknown_one_by_none(path: Path) -> None:
    tokens = Tokens(path)
    _, manage = tokens.create("manage")
    _, view = tokens.create("view")
    assert [tokens.scope_of(t) for t in (manage, view, "nope", "")] == [
        "manage",
        "view",
        None,
        None,
    ]


def test_another_process_creating_or_revoking_is_seen_once_it_has_settled(path: Path) -> None:
    # The CLI settles after each edit (test_cli runs it against a real server).
    server, cli = Tokens(path), Tokens(path)
    record, secret = cli.create("view")
    cli.settle()
    assert server.scope_of(secret) == "view"
    cli.revoke(record.id)
    cli.settle()
    assert server.scope_of(secret) is None


class Ticks:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_file_is_looked_at_once_per_recheck_not_per_request(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ticks = Ticks()
    server, editor = Tokens(path, clock=ticks), Tokens(path)
    _, secret = editor.create("view")
    looked: list[object] = []
    real_stat = os.stat

    def counted_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        looked.append(path)
        return real_stat(path, *args, **kwargs)

    monkeypatch.setattr(os, "stat", counted_stat)
    for _ in range(100):
        assert server.scope_of(secret) is None  # not looked at yet
    assert looked == []
    ticks.now += RECHECK
    assert server.scope_of(secret) == "view"
    assert server.scope_of(secret) == "view"
    assert len(looked) == 1


def test_an_edit_in_the_same_object_counts_at_once(path: Path) -> None:
    tokens = Tokens(path, clock=Ticks())
    record, secret = tokens.create("view")
    assert tokens.scope_of(secret) == "view"
    tokens.revoke(record.id)
    assert tokens.scope_of(secret) is None


def test_the_environment_token_is_added_once_and_the_file_left_alone_after(path: Path) -> None:
    tokens = Tokens(path)
    assert tokens.from_environment("from-the-environment") is True
    written = path.stat()
    assert Tokens(path).from_environment("from-the-environment") is False
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    (record,) = tokens.list()
    assert record.id.startswith("env-")
    assert record.scope == "manage"


def test_revoking_an_unknown_id_says_so(path: Path) -> None:
    assert Tokens(path).revoke("nothere") is False


def test_a_broken_token_file_keeps_the_known_tokens(path: Path) -> None:
    ticks = Ticks()
    tokens = Tokens(path, clock=ticks)
    _, secret = tokens.create("manage")
    path.write_text("{not json")
    ticks.now += RECHECK  # looked at again, and found broken
    assert tokens.scope_of(secret) == "manage"


def test_unknown_scope_is_refused(path: Path) -> None:
    with pytest.raises(ValueError, match="Unknown scope"):
        Tokens(path).create("admin")


# Hand-edited records, and the token the environment names (issue 10, items 8 and 9).

OLD, NEW = "old-environment-token", "new-environment-token"


def write_records(path: Path, *records: dict[str, str]) -> None:
    path.write_text(json.dumps({"tokens": list(records)}))


def record(id_: str, scope: str, token: str) -> dict[str, str]:
    digest = hashlib.sha256(token.encode()).hexdigest()
    return {"id": id_, "scope": scope, "sha256": digest, "created": "2026-01-01T00:00:00Z"}


def test_a_record_with_an_unknown_scope_is_refused_with_one_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_records(path, record("a1", "manage", "good-token"), record("b2", "root", "root-token"))
    ticks = Ticks()
    tokens = Tokens(path, clock=ticks)
    for _ in range(50):
        ticks.now += RECHECK
        assert tokens.scope_of("root-token") is None
        assert tokens.scope_of("good-token") == "manage"
    tokens.create("view")  # the file changes and is read again: no second warning
    ticks.now += RECHECK
    assert tokens.scope_of("root-token") is None
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == ["Token b2 has the unknown scope 'root' and is refused; use manage or view"]
    assert [r.id for r in tokens.list() if r.scope == "root"] == ["b2"]  # listed, revocable
    assert tokens.revoke("b2") is True


async def test_a_call_with_a_token_of_unknown_scope_answers_1004(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    db = tmp_path / "db.json"
    write_records(token_path(db), record("b2", "root", "root-token"))
    client = await aiohttp_client(create_app(Config(db=db, admin_token=MANAGE)))
    body = {"jsonrpc": "2.0", "method": "Customergroup.count", "id": 1}
    for token, expected in (
        ("root-token", {"error": {"code": 1004, "message": "Bad auth token"}}),
        (MANAGE, {"result": 0}),
    ):
        answer = await (await client.post(f"{ENDPOINT}?auth={token}", json=body)).json()
        assert answer == {"jsonrpc": "2.0", **expected, "id": 1}


def test_a_token_file_with_a_field_that_is_no_string_is_unreadable(path: Path) -> None:
    bad = {**record("a1", "manage", "good-token"), "scope": ["manage"]}
    write_records(path, bad)  # type: ignore[arg-type]  # a scope that is no string, on purpose
    with pytest.raises(TokenFileError) as caught:
        Tokens(path)
    assert names([str(path), "not a string"], str(caught.value))


def test_a_new_environment_token_replaces_the_one_it_named_before(path: Path) -> None:
    Tokens(path).from_environment(OLD)
    view, made = Tokens(path).create("view")
    assert Tokens(path).from_environment(NEW) is True
    tokens = Tokens(path)
    assert (tokens.scope_of(OLD), tokens.scope_of(NEW), tokens.scope_of(made)) == (
        None,
        "manage",
        "view",
    )
    assert [r.id for r in tokens.list() if not r.id.startswith("env-")] == [view.id]


def test_an_unmarked_token_of_an_older_version_is_marked_at_the_next_start(path: Path) -> None:
    # Before the mark, the environment's token was an ordinary record with a random id.
    write_records(path, record("1a2b3c4d", "manage", OLD), record("5e6f7a8b", "manage", "cli"))
    tokens = Tokens(path)
    assert tokens.from_environment(OLD) is True
    marked = next(r for r in tokens.list() if r.id.startswith("env-"))
    assert marked.created == "2026-01-01T00:00:00Z"
    assert len(tokens.list()) == 2
    tokens.from_environment(NEW)
    assert (tokens.scope_of(OLD), tokens.scope_of(NEW), tokens.scope_of("cli")) == (
        None,
        "manage",
        "manage",
    )


def test_rotating_at_the_first_start_after_the_upgrade_keeps_the_unmarked_token(
    path: Path,
) -> None:
    # Documented: it cannot be told from a token made with token create.
    write_records(path, record("1a2b3c4d", "manage", OLD))
    tokens = Tokens(path)
    tokens.from_environment(NEW)
    assert (tokens.scope_of(OLD), tokens.scope_of(NEW)) == ("manage", "manage")


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("x" * 15, "has 15 characters; use at least 16"),
        (" " + "x" * 20, "spaces at an end or control characters"),
        ("x" * 20 + "\r", "spaces at an end or control characters"),
        ("x" * 10 + "\x01" + "x" * 10, "spaces at an end or control characters"),
    ],
)
def test_an_environment_token_that_could_be_guessed_or_never_work_is_refused(
    path: Path, token: str, problem: str
) -> None:
    assert problem in (environment_problem(token) or "")
    with pytest.raises(ValueError, match=problem):
        Tokens(path).from_environment(token)
    assert not path.exists()


def test_a_token_of_16_characters_with_inner_spaces_is_accepted() -> None:
    assert environment_problem("0123456789 abcde") is None


def test_the_token_file_of_a_link_is_the_one_of_its_target(tmp_path: Path) -> None:
    (tmp_path / "link.json").symlink_to("data.json")
    assert token_path(tmp_path / "link.json") == token_path(tmp_path / "data.json")
    assert token_path(tmp_path / "link.json").name == "data.json.tokens.json"


def test_serve_with_a_short_environment_token_exits_1_before_listening(tmp_path: Path) -> None:
    server = Server(tmp_path, admin_token="short")
    process = server.spawn()
    try:
        code = process.wait(timeout=15)
    finally:
        server.stop()
    assert code == 1
    said = server.stderr()
    assert "CUSTOMERGROUP_RPC_ADMIN_TOKEN has 5 characters; use at least 16" in said, said
    assert "customergroup-rpc on http" not in said, said
    assert not (tmp_path / "groups.db.json").exists()


def test_restarting_with_another_environment_token_revokes_the_old_one(tmp_path: Path) -> None:
    with Server(tmp_path, admin_token=OLD) as server:
        made = cli("token", "create", "--scope", "view", "--db", server.db, cwd=tmp_path)
        assert made.returncode == 0, made.stderr
    server.admin_token = server.token = NEW
    with server:
        assert server.call("Customergroup.count", [], token=OLD)["error"]["code"] == 1004
        assert server.result("Customergroup.count", []) == 0
        assert server.result("Customergroup.count", [], token=made.stdout.strip()) == 0
        assert "Revoked token env-" in server.stderr()
        assert OLD not in server.stderr()


# Two registries on one file, the broken file, the list and the empty registry (issue 17).


def test_a_registry_that_read_the_file_earlier_keeps_a_token_another_one_made_since(
    path: Path,
) -> None:
    first, second = Tokens(path), Tokens(path)  # both have read the (empty) file
    _, made_second = second.create("view")
    _, made_first = first.create("manage")  # re-reads under the lock: the view token stays
    fresh = Tokens(path)
    assert (fresh.scope_of(made_second), fresh.scope_of(made_first)) == ("view", "manage")


def test_two_registries_creating_at_once_wait_for_each_other_and_lose_no_token(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The first registry is stopped as it writes, holding the lock, until the second one has
    # written (or half a second has passed). Under the lock the second one waits, then reads
    # the first one's file; without the lock it would write first and lose its token to the
    # first one's write, made from the file as it was before.
    _, old = Tokens(path).create("view")
    first, second = Tokens(path), Tokens(path)
    writing, second_wrote = threading.Event(), threading.Event()
    real_write = files.write_atomic

    def held_write(target: Path, data: bytes, mode: int = 0o600) -> None:
        if threading.current_thread().name == "first":
            writing.set()
            second_wrote.wait(0.5)
        real_write(target, data, mode=mode)
        if threading.current_thread().name == "second":
            second_wrote.set()

    monkeypatch.setattr(files, "write_atomic", held_write)
    made: dict[str, str] = {}
    threads = [
        threading.Thread(target=lambda: made.update(first=first.create("manage")[1])),
        threading.Thread(target=lambda: made.update(second=second.create("view")[1])),
    ]
    threads[0].name, threads[1].name = "first", "second"
    threads[0].start()
    assert writing.wait(10)
    threads[1].start()
    for thread in threads:
        thread.join(10)
    fresh = Tokens(path)
    assert [fresh.scope_of(t) for t in (old, made["first"], made["second"])] == [
        "view",
        "manage",
        "view",
    ]
    assert len(fresh.list()) == 3


def test_a_broken_token_file_is_read_and_logged_once_not_at_every_recheck(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    ticks = Ticks()
    tokens = Tokens(path, clock=ticks)
    _, secret = tokens.create("manage")
    path.write_text("{not json")
    reads: list[Path] = []
    real_read = tokens_module._read

    def counted_read(at: Path) -> dict[str, Any]:
        reads.append(at)
        return real_read(at)

    monkeypatch.setattr(tokens_module, "_read", counted_read)
    for _ in range(20):
        ticks.now += RECHECK
        assert tokens.scope_of(secret) == "manage"
    assert reads == [path]
    errors = [r for r in caplog.records if r.name == tokens_module.__name__]
    assert len(errors) == 1
    assert errors[0].levelno == logging.ERROR
    assert names(
        [str(path), "not a readable token file", "keeping the tokens read before"],
        errors[0].getMessage(),
    )


def test_a_mended_token_file_is_read_again(path: Path) -> None:
    ticks = Ticks()
    tokens = Tokens(path, clock=ticks)
    tokens.create("manage")
    path.write_text("{not json")
    ticks.now += RECHECK
    tokens.scope_of("anything")  # found broken
    write_records(path, record("a1", "view", "mended-token"))
    ticks.now += RECHECK
    assert tokens.scope_of("mended-token") == "view"


TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z")


def test_a_new_token_is_dated_now_in_utc_to_the_second_with_z(path: Path) -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    made, _ = Tokens(path).create("view")
    after = datetime.now(UTC)
    assert TIMESTAMP.fullmatch(made.created), made.created
    assert before <= datetime.fromisoformat(made.created) <= after


def test_the_list_is_ordered_by_creation_then_id_whatever_the_file_order(path: Path) -> None:
    later = {**record("a1", "view", "t1"), "created": "2026-03-01T10:00:00Z"}
    earlier_b = {**record("b2", "manage", "t2"), "created": "2026-01-01T00:00:00Z"}
    earlier_a = {**record("a3", "view", "t3"), "created": "2026-01-01T00:00:00Z"}
    write_records(path, later, earlier_b, earlier_a)
    listed = Tokens(path).list()
    assert [(r.id, r.created) for r in listed] == [
        ("a3", "2026-01-01T00:00:00Z"),
        ("b2", "2026-01-01T00:00:00Z"),
        ("a1", "2026-03-01T10:00:00Z"),
    ]


def test_token_list_prints_one_line_per_token_oldest_first_without_the_token(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, first_token = Tokens(path).create("manage")
    later = {**record("ffffffff", "view", "later-token"), "created": "2999-01-01T00:00:00Z"}
    doc = json.loads(path.read_text())
    path.write_text(json.dumps({"tokens": [later, *doc["tokens"]]}))
    assert main(["token", "list", "--db", str(tmp_path / "groups.db.json")]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines()]
    assert rows == [
        [first.id, "manage", first.created, "every", "shop"],
        ["ffffffff", "view", "2999-01-01T00:00:00Z", "every", "shop"],
    ]
    assert TIMESTAMP.fullmatch(rows[0][2])
    assert first_token not in out


def test_an_empty_in_memory_registry_knows_no_token() -> None:
    tokens = Tokens(None)
    assert tokens.scope_of("any-token") is None
    assert tokens.list() == []
    assert tokens.revoke("nothere") is False


def names(parts: list[str], message: str) -> bool:
    """Whether a message names every part, each as words of its own."""
    return all(re.search(rf"(?<!\w){re.escape(part)}(?!\w)", message) for part in parts)


def test_a_loop_of_links_is_a_token_file_error_naming_the_path(tmp_path: Path) -> None:
    (tmp_path / "a.json").symlink_to("b.json")
    (tmp_path / "b.json").symlink_to("a.json")
    with pytest.raises(TokenFileError) as caught:
        token_path(tmp_path / "a.json")
    assert names([str(tmp_path / "a.json")], str(caught.value))


def test_a_new_token_is_cgr_and_256_random_bits_under_an_id_of_8_hex_digits(path: Path) -> None:
    made, secret = Tokens(path).create("view")
    assert re.fullmatch(r"cgr_[A-Za-z0-9_-]{43}", secret), secret
    assert re.fullmatch(r"[0-9a-f]{8}", made.id), made.id
    assert made.sha256 == hashlib.sha256(secret.encode()).hexdigest()


def test_a_new_token_is_dated_in_utc_whatever_the_local_time_zone(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30 all year
    time.tzset()
    try:
        before = datetime.now(UTC).replace(microsecond=0)
        made, _ = Tokens(path).create("view")
        after = datetime.now(UTC)
    finally:
        monkeypatch.undo()
        time.tzset()
    assert before <= datetime.fromisoformat(made.created) <= after


def test_a_hand_edit_counts_within_50_ms_and_the_cli_waits_0_1_s(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Both are in the README: a hand edit counts within 50 ms; create and revoke wait 0.1 s.
    ticks = Ticks()
    server = Tokens(path, clock=ticks)
    write_records(path, record("a1", "view", "by-hand"))
    ticks.now += 0.05
    assert server.scope_of("by-hand") == "view"
    slept: list[float] = []
    monkeypatch.setattr(time, "sleep", slept.append)
    Tokens.settle()
    assert slept == [pytest.approx(0.1)]


def test_the_file_is_indented_json_for_hand_edits_private_and_ends_in_a_newline(
    path: Path,
) -> None:
    made, _ = Tokens(path).create("view")
    text = path.read_text()
    assert text.startswith('{\n  "tokens": [\n    {\n      "id": ')
    assert f'\n      "scope": "view",\n      "sha256": "{made.sha256}",\n' in text
    assert text.endswith("\n  ]\n}\n")
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_an_edit_holds_the_private_lock_file_beside_the_token_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every version locks <db>.tokens.json.lock: an older CLI and this one wait for each other.
    lock = path.with_name(path.name + ".lock")
    held: list[bool] = []
    real_write = files.write_atomic

    def probing_write(target: Path, data: bytes, mode: int = 0o600) -> None:
        fd = os.open(lock, os.O_RDWR)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            held.append(True)
        else:
            held.append(False)
        finally:
            os.close(fd)
        real_write(target, data, mode=mode)

    monkeypatch.setattr(files, "write_atomic", probing_write)
    Tokens(path).create("view")
    assert held == [True]
    assert os.stat(lock).st_mode & 0o777 == 0o600


def test_a_token_no_utf_8_could_carry_is_unknown_not_an_error() -> None:
    # A bad percent-escape in ?auth= reaches the server as a lone surrogate.
    tokens = Tokens(None)
    assert tokens.scope_of("\udcff") is None
    _, secret = tokens.create("view", "abc\udcffdef")
    assert tokens.scope_of(secret) == "view"


def test_a_record_with_a_long_unknown_scope_is_named_in_40_characters(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_records(path, record("b2", "r" * 40 + "!" * 60, "root-token"))
    Tokens(path)
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert names(["b2", repr("r" * 40)], warning)


def test_the_token_file_is_read_as_utf_8_whatever_the_locale(path: Path) -> None:
    # A hand-edited id outside ASCII; the server runs with an ASCII locale and no UTF-8 mode.
    write_records(path, record("zürich", "view", "z-token"), record("a1", "manage", "good-token"))
    path.write_text(path.read_text().replace("\\u00fc", "ü"), encoding="utf-8")
    script = (
        "import sys, pathlib\n"
        "from customergroup_rpc.tokens import Tokens\n"
        "tokens = Tokens(pathlib.Path(sys.argv[1]))\n"
        "print(tokens.scope_of('good-token'), [r.id for r in tokens.list()])\n"
    )
    env = {**os.environ, "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    env["PYTHONIOENCODING"] = "utf-8"
    done = subprocess.run(
        [sys.executable, "-c", script, str(path)],
        check=False,
        cwd=Path(__file__).parents[1],
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "manage ['a1', 'zürich']"


async def test_a_view_token_reads_and_may_not_write_and_a_manage_token_does_both(
    tmp_path: Path, aiohttp_client: Any
) -> None:
    db = tmp_path / "db.json"
    write_records(token_path(db), record("v1", "view", "view-token"))
    client = await aiohttp_client(create_app(Config(db=db, admin_token=MANAGE)))

    async def code(token: str, method: str, params: list[Any]) -> object:
        body = {"jsonrpc": "2.0", "method": f"Customergroup.{method}", "params": params, "id": 1}
        answer = await (await client.post(f"{ENDPOINT}?auth={token}", json=body)).json()
        return answer.get("error", {}).get("code", "ok")

    assert await code("view-token", "count", []) == "ok"
    assert await code("view-token", "create", [{"name": "Staff"}]) == 1006
    assert await code(MANAGE, "create", [{"name": "Staff"}]) == "ok"
    assert await code("view-token", "get", [1]) == "ok"


def test_a_hand_edited_environment_record_of_another_scope_is_made_manage_again(
    path: Path,
) -> None:
    write_records(path, record("env-1a2b3c4d", "view", NEW))
    tokens = Tokens(path)
    assert tokens.from_environment(NEW) is True
    (marked,) = tokens.list()
    assert (marked.id.startswith("env-"), marked.scope, marked.created) == (
        True,
        "manage",
        "2026-01-01T00:00:00Z",
    )
    assert tokens.scope_of(NEW) == "manage"


def test_an_unmarked_copy_of_the_marked_environment_token_is_dropped_and_none_added(
    path: Path,
) -> None:
    write_records(path, record("env-1a2b3c4d", "manage", NEW), record("5e6f7a8b", "manage", NEW))
    tokens = Tokens(path)
    assert tokens.from_environment(NEW) is True
    assert [r.id for r in tokens.list()] == ["env-1a2b3c4d"]


def test_a_stale_environment_record_beside_the_current_one_is_revoked_and_logged(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    write_records(
        path, record("env-00000001", "manage", NEW), record("env-00000002", "manage", OLD)
    )
    tokens = Tokens(path)
    with caplog.at_level(logging.INFO, logger=tokens_module.__name__):
        assert tokens.from_environment(NEW) is True
    assert [r.id for r in tokens.list()] == ["env-00000001"]
    assert tokens.scope_of(OLD) is None
    [revoked] = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert names(["Revoked token", "env-00000002", "the environment names another one"], revoked)


def test_other_tokens_do_not_make_a_start_rewrite_the_file(path: Path) -> None:
    tokens = Tokens(path)
    tokens.from_environment(NEW)
    tokens.create("view")
    tokens.create("manage")
    written = path.stat()
    assert Tokens(path).from_environment(NEW) is False
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (written.st_ino, written.st_mtime_ns)


def test_an_environment_token_rotated_by_another_process_meanwhile_is_left_as_it_is(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Between this registry's first look and its look under the lock, another server made the
    # same rotation: the locked look finds nothing to do, and nothing is done twice.
    token = "another-process-token-0123456789"
    ours, theirs = Tokens(path), Tokens(path)
    real = tokens_module.rotation
    looks: list[object] = []

    def racing(records: Any, token_digest: str) -> Any:
        looks.append(token_digest)
        if len(looks) == 1:
            planned = real(records, token_digest)
            theirs.from_environment(token)  # the other server, in between
            return planned
        return real(records, token_digest)

    monkeypatch.setattr(tokens_module, "rotation", racing)
    assert ours.from_environment(token) is True
    monkeypatch.setattr(tokens_module, "rotation", real)
    environment = [r for r in Tokens(path).list() if r.id.startswith("env-")]
    assert len(environment) == 1
    assert Tokens(path).scope_of(token) == "manage"


# Shops (issue 14): a token opens the shops it was made for, or every shop.


def test_a_token_made_before_shops_opens_every_shop(path: Path) -> None:
    write_records(path, record("a1", "view", "old-token"))  # no shops field: every shop
    grant = Tokens(path).grant_of("old-token")
    assert grant is not None
    assert (grant.scope, grant.shops, grant.opens(1), grant.opens(22222)) == (
        "view",
        None,
        True,
        True,
    )


def test_a_token_for_given_shops_opens_only_those_and_is_stored_so(path: Path) -> None:
    tokens = Tokens(path)
    _, shop_token = tokens.create("view", "shop-token", shops=[33333, 22222, 22222])
    _, every = tokens.create("manage", "every-token")
    grant = Tokens(path).grant_of(shop_token)  # read back from the file
    assert grant is not None
    assert grant.shops == frozenset({22222, 33333})
    assert (grant.opens(22222), grant.opens(1)) == (True, False)
    stored = json.loads(path.read_text())["tokens"]
    assert [r.get("shops", "absent") for r in stored] == [[22222, 33333], "absent"]
    assert Tokens(path).scope_of(every) == "manage"


@pytest.mark.parametrize("shops", ['"22222"', "[0]", "[true]", '["1"]', "{}"])
def test_a_record_with_malformed_shops_makes_the_file_unreadable(path: Path, shops: str) -> None:
    entry = record("a1", "view", "t")
    path.write_text('{"tokens": [' + json.dumps(entry)[:-1] + f', "shops": {shops}' + "}]}")
    with pytest.raises(TokenFileError):
        Tokens(path)


# Labels, and the token id a grant carries for the change feed (issue 17).


def test_a_label_is_kept_in_the_file_and_a_token_without_one_stores_none(path: Path) -> None:
    tokens = Tokens(path)
    labelled, _ = tokens.create("view", label="CI pipeline")
    plain, _ = tokens.create("view")
    stored = {r["id"]: r for r in json.loads(path.read_text())["tokens"]}
    assert stored[labelled.id]["label"] == "CI pipeline"
    assert "label" not in stored[plain.id]
    assert {r.id: r.label for r in Tokens(path).list()} == {
        labelled.id: "CI pipeline",
        plain.id: "",
    }


def test_a_label_of_200_printable_characters_is_taken_a_longer_or_unprintable_one_refused(
    path: Path,
) -> None:
    tokens = Tokens(path)
    tokens.create("view", label="x" * 200)
    for wrong in ("x" * 201, "two\nlines"):
        with pytest.raises(ValueError, match=r"^A label is at most 200 printable characters"):
            tokens.create("view", label=wrong)
    assert len(tokens.list()) == 1


def test_a_grant_names_the_token_it_came_from(path: Path) -> None:
    tokens = Tokens(path)
    made, secret = tokens.create("view", shops=[1])
    grant = tokens.grant_of(secret)
    assert grant is not None
    assert (grant.scope, grant.shops, grant.token) == ("view", frozenset({1}), made.id)
    assert grant.opens(1)


def test_the_environment_token_is_stored_without_a_label(path: Path) -> None:
    Tokens(path).from_environment("an-admin-token-long-enough")
    [stored] = json.loads(path.read_text())["tokens"]
    assert stored["id"].startswith("env-")
    assert "label" not in stored
