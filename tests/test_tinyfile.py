"""The TinyDB file of a store: what is refused at open and how (the file, its shape, its
journal), the warnings that name the file, the journal's operations, and a file written again."""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path

import pytest
from tinydb import TinyDB

from customergroup_rpc import files
from customergroup_rpc.store import StoreError
from customergroup_rpc.store.journal import MAGIC, path_of, record, replayed, scan
from customergroup_rpc.store.state import Drop, Join, Leave, Put, State
from customergroup_rpc.store.tiny import TinyStore
from customergroup_rpc.store.tinyfile import AtomicStorage, document, load

DOC = {"name": "Staff", "created": "2014-01-16T14:14:18Z", "changed": "2014-01-16T14:14:18Z"}
BAD_MOVE = {"type": "customersMoved", "uid": 1, "toUid": []}  # an event to no group


def doc(name: str) -> dict[str, str]:
    return {**DOC, "name": name}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "groups.db.json"


def names(parts: list[str], message: str) -> bool:
    """Whether a message names every part, each as words of its own."""
    return all(re.search(rf"(?<!\w){re.escape(part)}(?!\w)", message) for part in parts)


def logged(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ([], "the top level is not an object"),
        ({"members": []}, "customergroups, members or meta is not a table"),
        ({"customergroups": {"x": DOC}}, "entry 'x' of customergroups is malformed"),
        ({"customergroups": {"1": 5}}, "entry '1' of customergroups is malformed"),
        ({"customergroups": {"1": {"name": "A"}}}, "customer group 1 lacks name"),
        ({"customergroups": {"1": DOC}, "members": {"1": 5}}, "entry '1' of members is malformed"),
        ({"meta": {"1": 5}}, "meta.last_uid is not an integer"),
        ({"meta": {"1": {"last_uid": "7"}}}, "meta.last_uid is not an integer"),
        ({"meta": {"1": {"last_uid": True}}}, "meta.last_uid is not an integer"),
        ({"meta": {"1": {"last_uid": 7.0}}}, "meta.last_uid is not an integer"),
        ({"events": []}, "events or feed is not a table"),
        ({"feed": []}, "events or feed is not a table"),
        ({"events": {"x": {"type": "created", "uid": 1}}}, "entry 'x' of events is malformed"),
        ({"events": {"1": 5}}, "entry '1' of events is malformed"),
        ({"events": {"1": {"type": 5}}}, "entry '1' of events is malformed"),
        ({"events": {"1": {"type": "created"}}}, "entry '1' of events is malformed"),
        ({"events": {"1": {"type": "created", "uid": "1"}}}, "entry '1' of events is malformed"),
        ({"events": {"1": BAD_MOVE}}, "entry '1' of events is malformed"),
        ({"feed": {"1": 5}}, "feed.last_position is not an integer"),
        ({"feed": {"1": {"last_position": "7"}}}, "feed.last_position is not an integer"),
        ({"feed": {"1": {"last_position": True}}}, "feed.last_position is not an integer"),
        (
            {"customergroups": {"1": {**DOC, "version": 0}}},
            "the version of customer group 1 is not a positive integer",
        ),
        (
            {"customergroups": {"1": {**DOC, "version": "2"}}},
            "the version of customer group 1 is not a positive integer",
        ),
        (
            {"customergroups": {"1": {**DOC, "version": True}}},
            "the version of customer group 1 is not a positive integer",
        ),
    ],
)
def test_a_file_of_another_shape_is_refused_naming_the_file_and_the_problem(
    path: Path, content: object, problem: str
) -> None:
    path.write_text(json.dumps(content))
    with pytest.raises(StoreError) as caught:
        TinyStore.open(path)
    assert names([str(path), problem], str(caught.value))
    assert str(caught.value).endswith(". Left untouched.")


@pytest.mark.parametrize(
    ("meta", "last_uid"), [({}, 1), ({"1": {}}, 1), ({"1": {"last_uid": 7}}, 7)]
)
def test_a_file_with_meta_absent_or_whole_opens(path: Path, meta: object, last_uid: int) -> None:
    path.write_text(json.dumps({"customergroups": {"1": DOC}, "meta": meta}))
    store = TinyStore.open(path)
    assert store.committed.last_uid == last_uid
    store.close()


def test_a_path_that_cannot_be_read_is_refused_naming_it_and_why(path: Path) -> None:
    path.mkdir()
    with pytest.raises(StoreError) as caught:
        TinyStore.open(path)
    assert names([f"Cannot read {path}", "Is a directory"], str(caught.value))


def test_a_journal_that_cannot_be_read_is_refused_naming_it_and_why(path: Path) -> None:
    path.write_text("{}")
    path_of(path).mkdir()
    with pytest.raises(StoreError) as caught:
        TinyStore.open(path)
    assert names([f"Cannot read {path_of(path)}", "Is a directory"], str(caught.value))


async def test_a_damaged_journal_is_refused_naming_it_and_what_to_do(path: Path) -> None:
    path.write_text("{}")
    broken = bytearray(MAGIC + record([["put", "meta", "1", {"last_uid": 1}]]) * 2)
    broken[len(MAGIC) + 20] ^= 1
    path_of(path).write_bytes(bytes(broken))
    with pytest.raises(StoreError) as caught:
        TinyStore.open(path)
    message = str(caught.value)
    assert names([f"{path_of(path)} is damaged", "record 1"], message)
    assert names(["keep a copy of the database and its journal", "see the README"], message)


def test_a_journal_without_its_database_is_refused_naming_both_and_touches_nothing(
    path: Path,
) -> None:
    path_of(path).write_bytes(MAGIC + record([["put", "customergroups", "1", DOC]]))
    with pytest.raises(StoreError) as caught:
        TinyStore.open(path)
    message = str(caught.value)
    assert names([str(path_of(path)), f"{path}, the database they belong to, is missing"], message)
    assert message.endswith(". Left untouched.")
    assert not path.exists()


def test_a_journal_that_replays_into_another_shape_is_refused_naming_both(path: Path) -> None:
    path.write_text("{}")
    journal = MAGIC + record([["put", "customergroups", "x", DOC]])
    path_of(path).write_bytes(journal)
    with pytest.raises(StoreError) as caught:
        TinyStore.open(path)
    message = str(caught.value)
    assert names([str(path), f"with its journal {path_of(path).name}"], message)
    assert names(["entry 'x' of customergroups is malformed"], message)
    assert message.endswith(". Left untouched.")
    assert (path.read_text(), path_of(path).read_bytes()) == ("{}", journal)


def test_groups_that_are_one_name_are_warned_about_naming_the_file(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path.write_text(json.dumps({"customergroups": {"1": doc("Staff"), "2": doc("STAFF")}}))
    TinyStore.open(path).close()
    [warning] = logged(caplog, logging.WARNING)
    # JSON log lines name the logger: the store's own, under the service's.
    assert [r.name for r in caplog.records] == ["customergroup_rpc.store.tinyfile"]
    assert warning.startswith(f"{path}: ")
    assert names(["customer groups 1 ('Staff') and 2 ('STAFF') are one name"], warning)
    assert names(["rename one of them"], warning)


async def test_a_file_that_lost_its_events_still_hands_out_positions_after_its_last(
    path: Path,
) -> None:
    path.write_text(json.dumps({"events": {}, "feed": {"1": {"last_position": 7}}}))
    store = TinyStore.open(path)
    await store.create("A", DOC["created"])
    assert [e["position"] for e in (await store.changes(0, None)).events] == [8]
    await store.aclose()


async def test_removing_a_groups_last_customers_journals_no_members_entry(path: Path) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Join(1, frozenset({5, 6}))])
    await store.stage([Leave(1, frozenset({5})), Leave(1, frozenset({6}))])
    assert scan(path_of(path).read_bytes())[0][-1][-1] == ["delete", "members", "1"]
    assert replayed(path)["members"] == {}
    store.close()
    again = TinyStore.open(path)
    assert again.committed.members(1) == frozenset()
    again.close()


async def test_a_database_deleted_while_it_runs_is_written_again_with_customers_and_events(
    path: Path,
) -> None:
    store = TinyStore.open(path)
    at = DOC["created"]
    await store.create("A", at)
    await store.create("B", at)
    await store.add(1, frozenset({4, 2}), at)
    await store.add(2, frozenset({9}), at)
    path.unlink()
    await store.create("C", at)
    store.close()
    written = json.loads(path.read_text())
    assert written["members"] == {"1": {"customers": [2, 4]}, "2": {"customers": [9]}}
    assert sorted(written["customergroups"]) == ["1", "2"]
    assert sorted(written["events"]) == ["1", "2", "3", "4"]  # each under its position
    assert written["feed"] == {"1": {"last_position": 4}}


def test_a_tinydb_write_through_the_storage_is_atomic_and_keeps_the_lock(path: Path) -> None:
    lock = files.Lock(path)
    lock.acquire()
    try:
        storage = AtomicStorage(path, {}, lock)
        TinyDB(storage=lambda: storage).table("customergroups").insert(DOC)
        assert json.loads(path.read_text())["customergroups"] == {"1": DOC}
        assert os.stat(path).st_mode & 0o777 == 0o600
        files.write_atomic(path, b"{}", lock=lock)  # the lock went with the new file
    finally:
        lock.release()
    AtomicStorage(None, {}).write({"customergroups": {}})  # in memory: nothing to write
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]


def test_a_file_written_again_keeps_the_last_uid_past_a_deleted_newest_group(path: Path) -> None:
    state = State()
    for uid in (1, 2):
        state.apply(Put(uid, doc(f"Group {uid}")))
    state.last_uid = 2
    state.apply(Drop(2))  # the newest group goes: its uid must never come back
    path.write_text(json.dumps(document(state)))
    read, end = load(path, None)
    assert (read.last_uid, [uid for uid, _ in read.items()]) == (2, [1])
    assert end == 0  # no journal beside the file: appends start at its beginning
