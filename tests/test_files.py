"""Durable files: the atomic write (its mode, a failed one), the lock of a database (its file,
what it refuses and says, a database replaced or deleted under it)."""

from __future__ import annotations

import fcntl
import logging
import os
import re
import threading
from pathlib import Path

import pytest

from customergroup_rpc import files
from customergroup_rpc.files import FileLocked, Lock, LockLost, write_atomic


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "groups.db.json"


def names(parts: list[str], message: str) -> bool:
    """Whether a message names every part, each as words of its own."""
    return all(re.search(rf"(?<!\w){re.escape(part)}(?!\w)", message) for part in parts)


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


def test_a_file_written_atomically_is_the_owners_only_unless_told(path: Path) -> None:
    write_atomic(path, b"{}")
    assert mode(path) == 0o600
    write_atomic(path, b"{}", mode=0o640)
    assert mode(path) == 0o640 & ~_umask()


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def test_a_write_that_cannot_replace_the_file_raises_leaves_no_temporary_and_lets_go(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path.write_text("{}")
    lock = Lock(path)
    lock.acquire()

    def full(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    try:
        for locked in (None, lock):
            with pytest.raises(OSError, match="No space left"):
                write_atomic(path, b"[]", lock=locked)
            assert sorted(p.name for p in path.parent.iterdir()) == [path.name, lock.path.name]
            assert lock._next is None  # the new file's lock let go with it
    finally:
        monkeypatch.undo()
        lock.release()
    assert path.read_bytes() == b"{}"


def test_the_lock_file_is_the_owners_only(path: Path) -> None:
    lock = Lock(path)
    lock.acquire()
    lock.release()
    assert mode(lock.path) == 0o600


def test_a_lock_held_elsewhere_is_refused_naming_its_file(path: Path) -> None:
    path.write_text("{}")
    first = Lock(path)
    first.acquire()
    try:
        with pytest.raises(FileLocked, match=re.escape(str(first.path))):
            Lock(path).acquire()
    finally:
        first.release()


def test_a_database_file_locked_elsewhere_is_refused_naming_it(path: Path) -> None:
    path.write_text("{}")
    fd = os.open(path, os.O_RDONLY)  # another server's lock on the file itself, not <db>.lock
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(FileLocked, match=f"^{re.escape(str(path))}$"):
            Lock(path).acquire()
    finally:
        os.close(fd)


def test_a_lock_let_go_can_be_let_go_again_and_taken_again(path: Path) -> None:
    path.write_text("{}")
    lock = Lock(path)
    lock.acquire()
    lock.release()
    lock.release()
    lock.acquire()
    write_atomic(path, b"[]", lock=lock)
    lock.release()
    assert path.read_bytes() == b"[]"


def test_taking_the_lock_of_a_fifo_put_in_place_of_the_database_does_not_wait(
    path: Path,
) -> None:
    os.mkfifo(path)
    lock = Lock(path)
    taking = threading.Thread(target=lock.acquire, daemon=True)
    taking.start()
    taking.join(60)
    waited = taking.is_alive()
    if waited:  # waiting for a writer: give it one, so the thread ends
        with path.open("wb"):
            pass
        taking.join()
    lock.release()
    assert not waited


def test_a_database_replaced_between_its_open_and_its_lock_is_looked_at_again(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path.write_text("{}")
    real, looks = files._same, []

    def replaced_once(a: os.stat_result, b: os.stat_result) -> bool:
        looks.append(1)
        return len(looks) > 1 and real(a, b)

    monkeypatch.setattr(files, "_same", replaced_once)
    lock = Lock(path)
    lock.acquire()
    monkeypatch.undo()
    assert len(looks) == 2
    assert lock.check()
    lock.release()


def test_a_database_replaced_at_every_look_is_refused_naming_it(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path.write_text("{}")
    monkeypatch.setattr(files, "_same", lambda a, b: False)
    with pytest.raises(FileLocked, match=f"^{re.escape(str(path))}$"):
        Lock(path).acquire()
    monkeypatch.undo()
    again = Lock(path)
    again.acquire()  # the lock file was let go
    again.release()


def test_a_database_replaced_by_another_file_is_refused_saying_what_to_do(path: Path) -> None:
    path.write_text("{}")
    lock = Lock(path)
    lock.acquire()
    other = path.with_name("other.json")
    other.write_text("{}")
    os.replace(other, path)
    with pytest.raises(LockLost) as caught:
        lock.check()
    lock.release()
    message = str(caught.value)
    assert names([str(path), "was replaced by a file this server did not write"], message)
    assert names(["another server, or a copy put in its place", "Nothing more is written"], message)
    assert message.endswith(": stop this server.")


def test_a_deleted_database_is_written_again_with_a_warning_naming_it(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path.write_text("{}")
    lock = Lock(path)
    lock.acquire()
    path.unlink()
    write_atomic(path, b"{}", lock=lock)
    assert lock.check()
    lock.release()
    [warning] = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    # JSON log lines name the logger: this module's, under the service's.
    assert [r.name for r in caplog.records] == ["customergroup_rpc.files"]
    assert warning.startswith(f"{path} ")
    assert names(["was deleted while this server ran", "writing it again"], warning)
