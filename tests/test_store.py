"""The store: persistence, the uid counter, atomic commits, failed writes, refusing bad files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from customergroup_rpc import files
from customergroup_rpc.store import StoreError, TinyStore

DOC = {"name": "Staff", "created": "2014-01-16T14:14:18Z", "changed": "2014-01-16T14:14:18Z"}


def doc(name: str) -> dict[str, str]:
    return {**DOC, "name": name}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "groups.db.json"


def test_store_keeps_what_it_was_given(db: Path | None) -> None:
    store = TinyStore.open(db)
    uid = store.insert(doc("A"))
    store.save({uid: doc("B")}, {})
    assert store.get(uid) == doc("B")
    assert list(store.items()) == [(uid, doc("B"))]
    store.remove(uid)
    assert store.get(uid) is None
    store.close()


def test_everything_survives_a_reopen(path: Path) -> None:
    store = TinyStore.open(path)
    for name in ("A", "B", "C"):
        store.insert(doc(name))
    store.remove(2)
    store.close()
    again = TinyStore.open(path)
    assert [uid for uid, _ in again.items()] == [1, 3]
    again.close()


def test_uid_counter_survives_deleting_the_newest(path: Path) -> None:
    store = TinyStore.open(path)
    store.insert(doc("A"))
    store.insert(doc("B"))
    store.remove(2)
    store.close()
    again = TinyStore.open(path)
    assert again.insert(doc("C")) == 3
    again.close()


def test_file_is_plain_tinydb_json_without_uid_inside(path: Path) -> None:
    store = TinyStore.open(path)
    store.insert(doc("A"))
    store.close()
    data = json.loads(path.read_text())
    assert data == {"customergroups": {"1": doc("A")}, "meta": {"1": {"last_uid": 1}}}


def test_each_write_is_on_disk_when_it_returns(path: Path) -> None:
    store = TinyStore.open(path)
    store.insert(doc("A"))
    assert json.loads(path.read_text())["customergroups"]["1"]["name"] == "A"
    store.close()


def test_failed_write_changes_nothing_on_disk_or_in_memory(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    store.insert(doc("A"))
    before = path.read_bytes()

    def disk_full(target: Path, data: bytes, mode: int = 0o600) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("customergroup_rpc.store.write_atomic", disk_full)
    with pytest.raises(OSError, match="No space"):
        store.insert(doc("B"))
    with pytest.raises(OSError, match="No space"):
        store.save({1: doc("Z")}, {})
    assert path.read_bytes() == before
    assert list(store.items()) == [(1, doc("A"))]
    monkeypatch.undo()
    assert store.insert(doc("B")) == 2  # the failed insert's uid was not burnt into memory
    store.close()


def test_no_temporary_files_are_left_behind(path: Path) -> None:
    store = TinyStore.open(path)
    for name in ("A", "B"):
        store.insert(doc(name))
    store.close()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]


@pytest.mark.parametrize(
    "content",
    [b'{"customergroups": ', b"[1, 2]", b"", b'{"customergroups": {"x": 1}}', b'{"meta": 5}'],
)
def test_unreadable_file_refuses_to_open_and_is_left_untouched(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    with pytest.raises(StoreError, match=r"Left untouched\.$") as caught:
        TinyStore.open(path)
    assert str(path) in str(caught.value)
    assert path.read_bytes() == content
    TinyStore.open(path.with_name("other.json")).close()  # the lock was released


def test_a_second_store_on_the_same_file_is_refused(path: Path) -> None:
    first = TinyStore.open(path)
    with pytest.raises(StoreError, match="in use by another"):
        TinyStore.open(path)
    first.close()
    TinyStore.open(path).close()


def test_missing_folder_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="does not exist"):
        TinyStore.open(tmp_path / "nowhere" / "db.json")


def test_write_atomic_replaces_and_sets_the_mode(tmp_path: Path) -> None:
    target = tmp_path / "f.json"
    target.write_bytes(b"old")
    files.write_atomic(target, b"new", mode=0o600)
    assert target.read_bytes() == b"new"
    assert os.stat(target).st_mode & 0o777 == 0o600


def test_temporary_files_of_a_killed_writer_are_removed_at_open(path: Path) -> None:
    TinyStore.open(path).close()
    stale = path.with_name(f".{path.name}.4242.tmp")
    stale.write_bytes(b'{"half": ')
    other = path.with_name(".other.json.1.tmp")
    other.write_bytes(b"not ours")
    TinyStore.open(path).close()
    assert not stale.exists()
    assert other.exists()


def test_ten_thousand_members_are_one_write(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = TinyStore.open(path)
    uid = store.insert(doc("A"))
    writes: list[int] = []
    real = files.write_atomic

    def counted(target: Path, data: bytes, mode: int = 0o600) -> None:
        writes.append(len(data))
        real(target, data, mode)

    monkeypatch.setattr("customergroup_rpc.store.write_atomic", counted)
    store.save({uid: doc("A")}, {uid: frozenset(range(1, 10_001))})
    assert len(writes) == 1
    assert json.loads(path.read_text())["members"]["1"]["customers"][:3] == [1, 2, 3]
    store.close()


def test_removing_a_group_removes_its_members_in_the_same_write(path: Path) -> None:
    store = TinyStore.open(path)
    store.insert(doc("A"))
    store.save({}, {1: frozenset({5})})
    store.remove(1)
    assert json.loads(path.read_text())["members"] == {}
    store.close()


@pytest.mark.parametrize(
    "members",
    [{"1": {"customers": [0]}}, {"9": {"customers": [1]}}, {"1": {"customers": "x"}}],
)
def test_malformed_members_refuse_to_open(path: Path, members: object) -> None:
    content = json.dumps({"customergroups": {"1": DOC}, "members": members}).encode()
    path.write_bytes(content)
    with pytest.raises(StoreError, match=r"members|customers"):
        TinyStore.open(path)
    assert path.read_bytes() == content
