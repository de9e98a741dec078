"""Tokens: hashed at rest, scoped, and picked up from the file without a restart."""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest

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
    with pytest.raises(TokenFileError):
        Tokens(path)


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
