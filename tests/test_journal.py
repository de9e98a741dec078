"""The journal: records, torn and damaged ones, replay, folds, and the store over it."""

from __future__ import annotations

import asyncio
import fcntl
import json
import logging
import os
import random
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from tinydb import TinyDB

from customergroup_rpc.files import FileLocked
from customergroup_rpc.store import Retention, StoreError, journal
from customergroup_rpc.store.journal import (
    MAGIC,
    Corrupt,
    Journal,
    fold,
    install,
    path_of,
    read_base,
    record,
    replay,
    replayed,
    scan,
)
from customergroup_rpc.store.state import Drop, Join, Leave, Put
from customergroup_rpc.store.tiny import TinyStore

DOC = {"name": "Staff", "created": "2014-01-16T14:14:18Z", "changed": "2014-01-16T14:14:18Z"}
RECORDS: list[list[list[Any]]] = [
    [["put", "customergroups", "1", {**DOC, "name": "A"}]],
    [["add", "members", "1", "customers", [5, 3]], ["put", "meta", "1", {"last_uid": 1}]],
    [["remove", "members", "1", "customers", [5]]],
]

AT = "2014-01-16T14:14:18Z"


def doc(name: str) -> dict[str, str]:
    return {**DOC, "name": name}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "groups.db.json"


def journal_bytes(records: list[list[list[Any]]]) -> bytes:
    return MAGIC + b"".join(record(ops) for ops in records)


def test_a_journal_begins_with_its_format_s_line_so_one_written_before_is_read() -> None:
    written_before = b"customergroup-rpc journal 1\n" + record(RECORDS[0])
    assert scan(written_before) == (RECORDS[:1], len(written_before))


def test_whole_records_are_read_back_in_order() -> None:
    data = journal_bytes(RECORDS)
    assert scan(data) == (RECORDS, len(data))


def test_a_last_record_cut_anywhere_is_dropped_whole() -> None:
    whole = journal_bytes(RECORDS[:2])
    last = record(RECORDS[2])
    for cut in range(len(last)):
        assert scan(whole + last[:cut]) == (RECORDS[:2], len(whole)), cut


def test_a_last_record_cut_anywhere_in_the_zeros_written_ahead_is_dropped_whole() -> None:
    whole = journal_bytes(RECORDS[:2])
    last = record(RECORDS[2])
    for cut in range(len(last)):
        ahead = last[:cut] + bytes(len(last) - cut + 100)
        assert scan(whole + ahead) == (RECORDS[:2], len(whole)), cut
    assert scan(whole + last + bytes(100)) == (RECORDS, len(whole + last))


@pytest.mark.parametrize("where", ["header", "payload"])
def test_a_damaged_record_before_the_last_is_corrupt(where: str) -> None:
    data = bytearray(journal_bytes(RECORDS))
    at = len(MAGIC) + (2 if where == "header" else 14)
    data[at] ^= 0x40
    with pytest.raises(Corrupt, match=r"record 1 .byte"):
        scan(bytes(data))


def test_a_file_that_is_no_journal_is_corrupt_and_a_cut_first_line_is_empty() -> None:
    with pytest.raises(Corrupt) as caught:
        scan(b'{"customergroups": {}}')
    assert names(["it does not start as a customergroup-rpc journal"], str(caught.value))
    assert scan(MAGIC[:5]) == ([], 0)


def names(parts: list[str], message: str) -> bool:
    """Whether a message names every part, each as words of its own."""
    return all(re.search(rf"(?<!\w){re.escape(part)}(?!\w)", message) for part in parts)


def test_a_last_header_that_is_garbage_with_nothing_after_it_is_a_torn_append() -> None:
    whole = journal_bytes(RECORDS[:2])
    assert scan(whole + b"\x01" * 12) == (RECORDS[:2], len(whole))


def test_a_last_record_whose_payload_is_damaged_is_a_torn_append() -> None:
    whole = journal_bytes(RECORDS[:2])
    last = bytearray(record(RECORDS[2]))
    last[15] ^= 0x40
    assert scan(whole + bytes(last)) == (RECORDS[:2], len(whole))


@pytest.mark.parametrize(
    "op",
    [
        5,
        ["delete", "members"],
        ["delete", 1, "1"],
        ["delete", "members", 1],
        ["delete", "members", "1", "x"],
        ["put", "members", "1", 5],
        ["put", "members", "1"],
        ["add", "members", "1", 5, [1]],
        ["add", "members", "1", "customers", 1],
        ["remove", "members", "1", "customers", [1], "x"],
        ["rename", "members", "1"],
    ],
)
def test_a_record_holding_a_malformed_operation_is_corrupt_naming_where(op: Any) -> None:
    first = journal_bytes(RECORDS[:1])
    data = first + record([["delete", "members", "1"], op]) + record(RECORDS[2])
    with pytest.raises(Corrupt) as caught:
        scan(data)
    assert names([f"record 2 (byte {len(first)}) is not a list of operations"], str(caught.value))


@pytest.mark.parametrize("payload", [{"put": 1}, 5, "put"])
def test_a_record_that_is_no_list_is_corrupt(payload: object) -> None:
    data = MAGIC + record(payload) + record(RECORDS[0])  # type: ignore[arg-type]
    with pytest.raises(Corrupt, match=re.escape(f"record 1 (byte {len(MAGIC)})")):
        scan(data)


def test_removing_numbers_from_a_document_that_is_not_there_makes_none_and_goes_on() -> None:
    ops: list[list[Any]] = [
        ["remove", "members", "1", "customers", [5]],
        ["put", "meta", "1", {"last_uid": 1}],
    ]
    assert replay({}, [ops]) == {"members": {}, "meta": {"1": {"last_uid": 1}}}


def test_numbers_join_a_document_that_lacks_the_list_or_holds_no_list_there() -> None:
    tables = {"members": {"1": {"note": "x"}, "2": {"customers": None}}}
    ops = [["add", "members", "1", "customers", [3]], ["add", "members", "2", "customers", [4]]]
    assert replay(tables, [ops]) == {
        "members": {"1": {"note": "x", "customers": [3]}, "2": {"customers": [4]}}
    }


def test_a_database_file_that_is_no_object_is_refused_saying_so(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text("[]")
    with pytest.raises(ValueError, match=r"^the top level is not an object$"):
        read_base(tmp_path / "db.json")


def test_a_database_without_a_journal_holds_what_its_file_holds(tmp_path: Path) -> None:
    (tmp_path / "db.json").write_text('{"meta": {"1": {"last_uid": 3}}}')
    assert replayed(tmp_path / "db.json") == {"meta": {"1": {"last_uid": 3}}}
    assert replayed(tmp_path / "none.json") == {}


def test_replay_sets_documents_and_changes_lists_by_what_joined_or_left() -> None:
    tables = replay({"members": {"1": {"customers": [1, 9]}}}, RECORDS)
    assert tables == {
        "members": {"1": {"customers": [1, 3, 9]}},
        "customergroups": {"1": doc("A")},
        "meta": {"1": {"last_uid": 1}},
    }


def test_a_table_nobody_planned_for_is_journaled_like_any_other() -> None:
    ops: list[list[Any]] = [["put", "shops", "7", {"host": "a.example"}], ["delete", "shops", "8"]]
    assert replay({"shops": {"8": {}}}, scan(journal_bytes([ops]))[0]) == {
        "shops": {"7": {"host": "a.example"}}
    }


OPS = st.one_of(
    st.tuples(st.just("put"), st.sampled_from("12"), st.integers(0, 3)).map(
        lambda t: ["put", "members", t[1], {"customers": list(range(t[2]))}]
    ),
    st.tuples(st.just("delete"), st.sampled_from("12")).map(lambda t: ["delete", "members", t[1]]),
    st.tuples(
        st.sampled_from(["add", "remove"]),
        st.sampled_from("12"),
        st.lists(st.integers(0, 6), max_size=4),
    ).map(lambda t: [t[0], "members", t[1], "customers", t[2]]),
)


@given(st.lists(st.lists(OPS, min_size=1, max_size=3), max_size=8), st.data())
def test_replaying_records_a_fold_already_holds_changes_nothing(
    records: list[list[list[Any]]], data: st.DataObject
) -> None:
    """A crash between a fold's rename and the journal's trim replays folded records again."""
    folded_upto = data.draw(st.integers(0, len(records)))
    end = replay({}, json.loads(json.dumps(records)))
    after_fold = replay({}, json.loads(json.dumps(records[:folded_upto])))
    assert replay(after_fold, json.loads(json.dumps(records))) == end


# -- the store over its journal ------------------------------------------------------------


async def test_a_commit_appends_to_the_journal_and_leaves_the_file_alone(path: Path) -> None:
    store = TinyStore.open(path)
    before = path.read_bytes()
    await store.stage([Put(1, doc("A"))])
    assert path.read_bytes() == before
    assert replayed(path)["customergroups"] == {"1": doc("A")}
    store.close()  # as a crash: the journal stays
    again = TinyStore.open(path)
    assert again.committed.get(1) == doc("A")
    again.close()


async def test_adding_ten_customers_to_a_big_group_journals_ten(path: Path) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Join(1, frozenset(range(1, 100_001)))])
    size = len(path_of(path).read_bytes().rstrip(b"\0"))
    await store.stage([Join(1, frozenset(range(200_001, 200_011)))])
    assert len(path_of(path).read_bytes().rstrip(b"\0")) - size < 200
    await store.stage([Leave(1, frozenset(range(1, 11)))])
    assert len(path_of(path).read_bytes().rstrip(b"\0")) - size < 400
    store.close()
    again = TinyStore.open(path)
    assert len(again.committed.members(1)) == 100_000
    again.close()


async def test_a_clean_stop_folds_and_removes_the_journal_and_tinydb_reads_the_file(
    path: Path,
) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Put(2, doc("B")), Join(1, frozenset({42, 17}))])
    await store.stage([Drop(2)])
    await store.aclose()
    assert not path_of(path).exists()
    plain = TinyDB(path, access_mode="r")
    assert plain.table("customergroups").all() == [doc("A")]
    assert plain.table("members").get(doc_id=1) == {"customers": [17, 42]}
    assert plain.table("meta").get(doc_id=1) == {"last_uid": 2}
    plain.close()


async def test_a_torn_last_record_is_dropped_and_cut_off_at_the_next_start(path: Path) -> None:
    store = TinyStore.open(path)
    journal = path_of(path)
    await store.stage([Put(1, doc("A"))])
    first = len(journal.read_bytes().rstrip(b"\0"))
    await store.stage([Put(2, doc("B"))])
    store.close()
    data = journal.read_bytes()
    second = len(data.rstrip(b"\0"))
    cut = data[: second - 5] + bytes(len(data) - second + 5)  # cut short by a crash
    journal.write_bytes(cut)
    again = TinyStore.open(path)
    assert [uid for uid, _ in again.committed.items()] == [1]
    assert journal.stat().st_size == first
    await again.stage([Put(2, doc("C"))])  # appended after the last whole record
    again.close()
    assert replayed(path)["customergroups"] == {"1": doc("A"), "2": doc("C")}


async def test_a_damaged_record_refuses_the_start_and_touches_nothing(path: Path) -> None:
    store = TinyStore.open(path)
    for uid in (1, 2):
        await store.stage([Put(uid, doc(str(uid)))])
    store.close()
    journal = path_of(path)
    data = bytearray(journal.read_bytes())
    data[len(MAGIC) + 20] ^= 1
    journal.write_bytes(data)
    files = {p.name: p.read_bytes() for p in path.parent.iterdir()}
    with pytest.raises(StoreError, match=r"groups.db.json.journal is damaged: record 1 \(byte"):
        TinyStore.open(path)
    assert {p.name: p.read_bytes() for p in path.parent.iterdir()} == files
    TinyStore.open(path.with_name("other.json")).close()  # the lock was let go


async def test_a_journal_without_its_database_refuses_the_start(path: Path) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A"))])
    store.close()
    path.unlink()
    with pytest.raises(StoreError, match="the database they belong to, is missing"):
        TinyStore.open(path)
    assert not path.exists()


async def test_the_journal_is_locked_and_so_is_the_trimmed_one(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "1")
    store = TinyStore.open(path)

    def locked() -> bool:
        fd = os.open(path_of(path), os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    assert locked()
    inode = path_of(path).stat().st_ino
    await store.stage([Put(1, doc("A"))])
    assert store._folder is not None
    await store._folder  # folded in a child process, then trimmed: a new journal file
    assert path_of(path).stat().st_ino != inode
    assert locked()
    await store.aclose()


async def test_a_fold_in_the_background_replaces_the_file_and_trims_the_journal(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "4000")
    store = TinyStore.open(path)
    rng = random.Random(5)
    for uid in range(1, 60):
        await store.stage(
            [Put(uid, doc(f"g{uid}")), Join(uid, frozenset(rng.sample(range(1, 99), 9)))]
        )
    assert store._folder is not None
    await store._folder
    on_file = json.loads(path.read_text())["customergroups"]
    assert "1" in on_file  # folded
    left = scan(path_of(path).read_bytes())[0]
    assert ["put", "customergroups", "1", doc("g1")] not in left[0]  # trimmed
    expected = replayed(path)
    store.close()
    again = TinyStore.open(path)
    assert len(list(again.committed.items())) == 59
    assert replayed(path) == expected
    again.close()


async def test_a_crash_between_a_folds_rename_and_the_trim_loses_and_doubles_nothing(
    path: Path,
) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Join(1, frozenset({1, 2, 3}))])
    await store.stage([Leave(1, frozenset({2})), Put(2, doc("B"))])
    await store.stage([Drop(2), Join(1, frozenset({2}))])
    store.close()
    expected = replayed(path)
    journal = path_of(path)
    new = path.with_name(".folded.tmp")
    fold(path, journal, len(journal.read_bytes().rstrip(b"\0")), new)
    install(new, path, None)  # and then the crash: the journal still holds every record
    assert json.loads(path.read_text()) == expected
    again = TinyStore.open(path)
    assert again.committed.members(1) == {1, 2, 3}
    assert [uid for uid, _ in again.committed.items()] == [1]
    await again.aclose()
    assert json.loads(path.read_text()) == expected


async def test_reads_go_on_while_a_fold_runs(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "1")
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A"))])
    assert store._folder is not None
    assert not store._folder.done()
    assert await store.get(1) is not None  # answered while the fold's process runs
    await store.stage([Put(2, doc("B"))])  # and writes are acknowledged
    assert not store._folder.done()
    await asyncio.shield(store._folder)
    await store.aclose()
    assert len(json.loads(path.read_text())["customergroups"]) == 2


# -- the journal's file: modes, locks, appends that fail or come short, zeros ahead, trims ----


def mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777


async def test_the_journal_the_trimmed_journal_and_the_folded_file_are_the_owners_only(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "1")
    store = TinyStore.open(path)
    assert mode(path_of(path)) == 0o600
    inode = path_of(path).stat().st_ino
    await store.stage([Put(1, doc("A"))])
    assert store._folder is not None
    await store._folder  # folded into a new file, then trimmed into a new journal
    assert path_of(path).stat().st_ino != inode
    assert (mode(path), mode(path_of(path))) == (0o600, 0o600)
    await store.aclose()


def test_a_fold_applies_the_first_bytes_it_is_given_and_no_record_after_them(
    path: Path,
) -> None:
    path.write_text("{}")
    first = journal_bytes(RECORDS[:1])
    path_of(path).write_bytes(first + record(RECORDS[1]) + bytes(100))
    out = path.with_name("out.json")
    fold(path, path_of(path), len(first), out)
    assert json.loads(out.read_text()) == {"customergroups": {"1": doc("A")}}
    assert mode(out) == 0o600


def test_a_fold_up_to_the_middle_of_a_record_is_refused_naming_the_journal(path: Path) -> None:
    path.write_text("{}")
    path_of(path).write_bytes(journal_bytes(RECORDS))
    upto = len(MAGIC) + 5
    with pytest.raises(Corrupt) as caught:
        fold(path, path_of(path), upto, path.with_name("out.json"))
    assert names(
        [f"the first {upto} bytes of {path_of(path)} are not whole records"], str(caught.value)
    )


def test_a_folded_file_that_cannot_replace_the_database_is_removed_and_the_error_raised(
    path: Path,
) -> None:
    path.mkdir()
    (path / "inside").write_text("")  # a folder that is not empty: no rename over it
    new = path.with_name("new.json")
    new.write_text("{}")
    with pytest.raises(IsADirectoryError):
        install(new, path, None)
    assert not new.exists()


def test_a_journal_opened_twice_is_refused_naming_it(path: Path) -> None:
    first = Journal.open(path_of(path), 0)
    try:
        with pytest.raises(FileLocked, match=re.escape(str(path_of(path)))):
            Journal.open(path_of(path), 0)
    finally:
        first.close()


def test_a_short_write_is_carried_on_until_the_record_is_whole(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real, calls = os.pwrite, []

    def short(fd: int, data: bytes, offset: int) -> int:
        calls.append(offset)
        assert len(calls) < 1000, "the append does not carry on where the write stopped"
        return real(fd, data[:7], offset)

    log = Journal.open(path_of(path), 0)
    log.append(record(RECORDS[0]))  # the zeros ahead are written whole, before the patch
    monkeypatch.setattr(os, "pwrite", short)
    log.append(record(RECORDS[1]))
    monkeypatch.undo()
    log.close()
    assert len(calls) > 1
    assert scan(path_of(path).read_bytes())[0] == RECORDS[:2]


def test_a_failed_append_is_cut_off_and_the_next_one_lands_after_the_last_whole_record(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Journal.open(path_of(path), 0)
    log.append(record(RECORDS[0]))
    size = log.size
    real = os.pwrite

    def full(fd: int, data: bytes, offset: int) -> int:
        real(fd, data[:9], offset)  # a part written, then the disk is full
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(OSError, match="No space left"):
        log.append(record(RECORDS[1]))
    monkeypatch.undo()
    assert (log.size, log.broken, path_of(path).stat().st_size) == (size, False, size)
    log.append(record(RECORDS[2]))
    log.close()
    assert scan(path_of(path).read_bytes())[0] == [RECORDS[0], RECORDS[2]]


def test_an_append_that_cannot_be_cut_off_breaks_the_journal_naming_it(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Journal.open(path_of(path), 0)

    def fail(*_: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", fail)
    monkeypatch.setattr(os, "ftruncate", fail)
    with pytest.raises(OSError, match="Input/output"):
        log.append(record(RECORDS[0]))
    monkeypatch.undo()
    assert log.broken is True
    cut = f"^{re.escape(str(path_of(path)))} could not be cut back after a failed write$"
    with pytest.raises(OSError, match=cut):
        log.append(record(RECORDS[1]))
    log.close()


def test_the_journal_is_zeroed_ahead_by_64_kib_or_as_much_again_as_it_holds(path: Path) -> None:
    log = Journal.open(path_of(path), 0)
    small = record(RECORDS[0])
    log.append(small)
    held = len(MAGIC) + len(small)
    assert path_of(path).stat().st_size == held + (64 << 10)
    big = b"\x01" * (100 << 10)  # past the zeros: zeroed ahead 64 KiB again
    log.append(big)
    held += len(big)
    assert path_of(path).stat().st_size == held + (64 << 10)
    log.append(big)  # now the journal holds more than 64 KiB: as much again
    assert path_of(path).stat().st_size == held + len(big) + held
    log.close()


def test_the_zeros_ahead_of_a_journal_of_more_than_4_mib_are_4_mib(path: Path) -> None:
    log = Journal.open(path_of(path), 0)
    log.append(b"\x01" * (4 << 20))
    log.append(b"\x01" * (65 << 10))  # past the 64 KiB zeroed after the first
    assert path_of(path).stat().st_size == log.size + (4 << 20)
    log.close()


def test_a_trim_keeps_the_records_after_it_and_the_next_append_follows_them(path: Path) -> None:
    log = Journal.open(path_of(path), 0)
    for ops in RECORDS[:2]:
        log.append(record(ops))
    log.trim(len(journal_bytes(RECORDS[:1])))
    log.append(record(RECORDS[2]))
    log.close()
    assert scan(path_of(path).read_bytes())[0] == RECORDS[1:]


def test_a_trim_that_fails_leaves_the_journal_as_it_was_and_no_temporary_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = Journal.open(path_of(path), 0)
    for ops in RECORDS:
        log.append(record(ops))
    before = path_of(path).read_bytes()

    def fail(*_: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="No space left"):
        log.trim(len(journal_bytes(RECORDS[:1])))
    monkeypatch.undo()
    log.append(record(RECORDS[0]))
    log.close()
    assert path_of(path).read_bytes().startswith(before.rstrip(b"\0"))
    assert sorted(p.name for p in path.parent.iterdir()) == [path_of(path).name]


async def test_a_clean_stop_logs_nothing(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A"))])
    with caplog.at_level(logging.DEBUG):
        await store.aclose()
    assert caplog.records == []
    assert not path_of(path).exists()


async def test_the_feed_is_journaled_with_its_changes_and_survives_a_crash_and_a_fold(
    path: Path,
) -> None:
    store = TinyStore.open(path, retention=Retention(keep=3, slack=1))
    for name in "ABCDE":
        await store.create(name, AT)
    await store.add(1, frozenset({7, 8}), AT)
    await store.rename(2, "Z", AT, expected=1)
    kept = await store.changes(0, None)
    store.close()  # a crash: what is not folded is only in the journal
    assert json.loads(path.read_text())["events"] == {}  # only in the journal so far
    again = TinyStore.open(path, retention=Retention(keep=3, slack=1))
    assert await again.changes(0, None) == kept
    assert [e["type"] for e in kept.events][-2:] == ["customersAdded", "renamed"]
    assert (await again.get(1) or {})["version"] == 2
    await again.aclose()  # folds the rest: a plain TinyDB file with the feed's tables
    plain = TinyDB(path)
    positions = sorted(int(k) for k in json.loads(path.read_text())["events"])
    assert positions == [e["position"] for e in kept.events]
    assert plain.table("feed").get(doc_id=1) == {"last_position": 7}
    plain.close()


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="SCHED_IDLE is Linux's")
def test_the_fold_s_process_runs_at_idle_priority(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a core the server shares, a request preempts the fold at once (journal.background);
    asked for before the fold reads anything."""
    asked: list[tuple[int, int]] = []
    folded: list[tuple[int, int]] = []
    monkeypatch.setattr(
        os, "sched_setscheduler", lambda pid, policy, param: asked.append((pid, policy))
    )
    monkeypatch.setattr(journal, "fold", lambda *args: folded.extend(asked))
    paths = ["db.json", "db.json.journal", "0", "out"]
    assert journal.main(paths) == 0
    assert folded == [(0, os.SCHED_IDLE)]
