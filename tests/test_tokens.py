"""Tokens: hashed at rest, scoped, and picked up from the file without a restart."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc.tokens import RECHECK, Tokens, token_path


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return token_path(tmp_path / "groups.db.json")


def test_token_file_sits_beside_the_database(tmp_path: Path) -> None:
    assert token_path(tmp_path / "x.json") == tmp_path / "x.json.tokens.json"


def test_tokens_are_stored_hashed_with_mode_0600(path: Path) -> None:
    _, secret = Tokens(path).create("manage")
    assert secret not in path.read_text()
    assert os.stat(path).st_mode & 0o777 == 0o600


def test_manage_may_view_but_view_may_not_manage(path: Path) -> None:
    tokens = Tokens(path)
    _, manage = tokens.create("manage")
    _, view = tokens.create("view")
    assert (tokens.allows(manage, "manage"), tokens.allows(manage, "view")) == (True, True)
    assert (tokens.allows(view, "manage"), tokens.allows(view, "view")) == (False, True)
    assert tokens.allows("nope", "view") is None
    assert tokens.allows(None, "view") is None


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


def test_ensure_adds_a_given_token_once(path: Path) -> None:
    tokens = Tokens(path)
    assert tokens.ensure("from-the-environment") is True
    assert tokens.ensure("from-the-environment") is False
    assert len(tokens.list()) == 1


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
