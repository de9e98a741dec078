"""The store: persistence, group commit, reads that never see unwritten data, failed writes."""

from __future__ import annotations

import asyncio
import json
import os
import re
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from tinydb import TinyDB

from customergroup_rpc import files, turns
from customergroup_rpc.errors import NameTaken
from customergroup_rpc.store import Page, Retention, StoreError, WriteFailed, tiny
from customergroup_rpc.store.journal import Journal, path_of, replayed
from customergroup_rpc.store.state import Drop, Members, Put, State
from customergroup_rpc.store.tiny import TinyStore

DOC = {"name": "Staff", "created": "2014-01-16T14:14:18Z", "changed": "2014-01-16T14:14:18Z"}


def doc(name: str) -> dict[str, str]:
    return {**DOC, "name": name}


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "groups.db.json"


def gated_writes(
    monkeypatch: pytest.MonkeyPatch, fail: bool = False
) -> tuple[threading.Event, list[int]]:
    """Make commits (appends to the journal) wait for an event (and fail, if asked); count
    them."""
    gate, writes = threading.Event(), []
    real = Journal.append

    def append(journal: Journal, data: bytes) -> None:
        writes.append(len(data))
        gate.wait(5)
        if fail:
            raise OSError(28, "No space left on device")
        real(journal, data)

    monkeypatch.setattr(Journal, "append", append)
    return gate, writes


def counted_writes(monkeypatch: pytest.MonkeyPatch, fail: bool = False) -> list[int]:
    """Count commits (appends to the journal), none held back (each fails, if asked)."""
    gate, writes = gated_writes(monkeypatch, fail)
    gate.set()
    return writes


def on_disk(path: Path) -> dict[str, Any]:
    """What the database holds on disk: its file with its journal replayed (as a start)."""
    return replayed(path)


@pytest.fixture(params=["memory", "disk"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | None:
    """The embedded engine's tests run in memory and on a file."""
    return None if request.param == "memory" else tmp_path / "groups.db.json"


async def test_store_keeps_what_it_was_given(db: Path | None) -> None:
    store = TinyStore.open(db)
    await store.stage([Put(1, doc("A")), Members(1, frozenset({5, 6}))])
    await store.stage([Put(1, doc("B"))])
    assert store.committed.get(1) == doc("B")
    assert store.committed.members(1) == {5, 6}
    await store.stage([Drop(1)])
    assert store.committed.get(1) is None
    assert store.committed.members(1) == frozenset()
    await store.aclose()


async def test_everything_survives_a_reopen(path: Path) -> None:
    store = TinyStore.open(path)
    for uid, name in enumerate("ABC", start=1):
        await store.stage([Put(uid, doc(name))])
    await store.stage([Drop(2), Members(3, frozenset({9}))])
    await store.aclose()
    again = TinyStore.open(path)
    assert [uid for uid, _ in again.committed.items()] == [1, 3]
    assert again.committed.members(3) == {9}
    assert again.committed.named("STAFF") is None
    assert again.committed.named(" c ") == 3
    again.close()


async def test_uid_counter_survives_deleting_the_newest(path: Path) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Put(2, doc("B"))])
    await store.stage([Drop(2)])
    await store.aclose()
    again = TinyStore.open(path)
    assert again.working.last_uid == 2
    again.close()


async def test_file_is_plain_tinydb_with_the_uid_stored_once(path: Path) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Members(1, frozenset({42, 17}))])
    await store.aclose()
    data = json.loads(path.read_text())
    assert data == {
        "customergroups": {"1": doc("A")},
        "members": {"1": {"customers": [17, 42]}},
        "meta": {"1": {"last_uid": 1}},
        "events": {},
        "feed": {"1": {"last_position": 0}},
    }
    plain = TinyDB(path, access_mode="r")
    assert plain.table("customergroups").get(doc_id=1) == doc("A")
    plain.close()


async def test_a_write_is_on_disk_when_it_resolves(path: Path) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A"))])
    assert on_disk(path)["customergroups"]["1"]["name"] == "A"
    await store.aclose()


async def test_reads_do_not_see_a_change_before_it_is_on_disk(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    gate, _ = gated_writes(monkeypatch)
    durable = store.stage([Put(1, doc("A"))])
    await asyncio.sleep(0.05)
    assert store.working.get(1) == doc("A")  # the next check sees it ...
    assert store.committed.get(1) is None  # ... but no read does, yet
    gate.set()
    await durable
    assert store.committed.get(1) == doc("A")
    await store.aclose()


async def test_writes_that_arrive_together_share_one_commit(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    gate, writes = gated_writes(monkeypatch)
    first = store.stage([Put(1, doc("first"))])
    await asyncio.sleep(0.05)  # the first commit is in flight
    rest = [store.stage([Put(uid, doc(f"g{uid}"))]) for uid in range(2, 12)]
    gate.set()
    await asyncio.gather(first, *rest)
    assert len(writes) == 2
    assert len(on_disk(path)["customergroups"]) == 11
    await store.aclose()


async def test_failed_write_changes_nothing_on_disk_or_in_memory(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A"))])
    journal = path.with_name(path.name + ".journal")
    before = path.read_bytes(), journal.read_bytes()
    counted_writes(monkeypatch, fail=True)
    with pytest.raises(WriteFailed):
        await store.stage([Put(2, doc("B")), Members(1, frozenset({7}))])
    assert (path.read_bytes(), journal.read_bytes()) == before
    for state in (store.committed, store.working):
        assert list(state.items()) == [(1, doc("A"))]
        assert state.members(1) == frozenset()
        assert state.named("b") is None
    monkeypatch.undo()
    await store.stage([Put(2, doc("B"))])  # the service goes on
    assert store.committed.last_uid == 2
    await store.aclose()


async def test_writes_queued_behind_a_failed_one_fail_too(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    gate, _ = gated_writes(monkeypatch, fail=True)
    first = store.stage([Put(1, doc("A"))])
    await asyncio.sleep(0.05)
    second = store.stage([Put(2, doc("B"))])  # checked against a state that held A
    gate.set()
    results = await asyncio.gather(first, second, return_exceptions=True)
    assert [type(r) for r in results] == [WriteFailed, WriteFailed]
    assert store.working.last_uid == store.committed.last_uid == 0
    await store.aclose()


async def test_no_temporary_files_are_left_behind(path: Path) -> None:
    store = TinyStore.open(path)
    for uid in (1, 2):
        await store.stage([Put(uid, doc(str(uid)))])
    await store.aclose()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]


async def test_ten_thousand_members_are_one_write(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    writes = counted_writes(monkeypatch)
    await store.stage([Put(1, doc("A")), Members(1, frozenset(range(1, 10_001)))])
    assert len(writes) == 1
    assert on_disk(path)["members"]["1"]["customers"][:3] == [1, 2, 3]
    await store.aclose()


async def test_prefix_search_follows_renames_and_deletes(db: Path | None) -> None:
    store = TinyStore.open(db)
    await store.stage([Put(1, doc("Staff")), Put(2, doc("staff room")), Put(3, doc("Students"))])
    assert store.committed.prefixed("sta") == [1, 2]
    await store.stage([Put(1, doc("Alumni")), Drop(2)])
    assert store.committed.prefixed("sta") == []
    assert store.committed.prefixed("") == [1, 3]
    await store.aclose()


@pytest.mark.parametrize(
    "content",
    [
        b'{"customergroups": ',
        b"[1, 2]",
        b"",
        b'{"customergroups": {"x": 1}}',
        b'{"meta": 5}',
    ],
)
def test_unreadable_file_refuses_to_open_and_is_left_untouched(path: Path, content: bytes) -> None:
    path.write_bytes(content)
    with pytest.raises(StoreError, match=r"Left untouched\.$") as caught:
        TinyStore.open(path)
    assert path.name in str(caught.value)
    assert path.read_bytes() == content
    TinyStore.open(path.with_name("other.json")).close()


@pytest.mark.parametrize(
    ("table", "record", "read"),
    [("meta", {"other": 1}, "last_uid"), ("feed", {"other": 1}, "last_position")],
)
async def test_a_counter_record_without_its_number_opens_as_zero_like_no_record(
    path: Path, table: str, record: dict[str, int], read: str
) -> None:
    path.write_text(json.dumps({table: {"1": record}}))
    store = TinyStore.open(path)  # not a KeyError traceback at the start
    assert (store.committed.last_uid, store.committed.last_position) == (0, 0)
    assert (await store.create("A", "2014-01-16T14:14:18Z"))["uid"] == 1
    await store.aclose()
    assert on_disk(path)[table]["1"][read] == 1


@pytest.mark.parametrize("which", ["database", "journal"])
def test_a_fifo_in_place_of_the_database_or_its_journal_is_refused_not_waited_on(
    path: Path, which: str
) -> None:
    TinyStore.open(path).close()
    fifo = path if which == "database" else path.with_name(path.name + ".journal")
    fifo.unlink(missing_ok=True)
    os.mkfifo(fifo)
    outcome: list[BaseException] = []

    def start() -> None:
        try:
            TinyStore.open(path).close()
        except BaseException as exc:  # the outcome is what is checked
            outcome.append(exc)

    opening = threading.Thread(target=start, daemon=True)
    opening.start()
    opening.join(30)  # a read of the FIFO would wait here for a writer, forever
    if opening.is_alive():  # let the waiting read go, then fail
        with open(fifo, "wb"):
            pass
        opening.join(30)
        pytest.fail("the start waited on the FIFO")
    assert len(outcome) == 1
    assert isinstance(outcome[0], StoreError)
    assert f"{fifo} is not a regular file" in str(outcome[0])


def test_groups_that_are_one_name_open_both_listed_with_a_warning(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Written before invisible characters stopped making a name new: nothing is locked away."""
    groups = {"1": doc("Invisible"), "2": doc("Invisible\u200b"), "3": doc(" invisible ")}
    path.write_text(json.dumps({"customergroups": groups}))
    store = TinyStore.open(path)
    assert store.committed.prefixed("invis") == [1, 2, 3]
    assert store.committed.named("INVISIBLE") == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 2
    assert "customer groups 1 ('Invisible') and 2 ('Invisible\\u200b') are one name" in warnings[0]
    store.close()


def test_a_refused_file_releases_its_lock(path: Path) -> None:
    path.write_bytes(b"[]")
    with pytest.raises(StoreError):
        TinyStore.open(path)
    path.unlink()
    TinyStore.open(path).close()


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


# One database however it is named (issue 10, items 5 and 6).


@pytest.fixture
def linked(tmp_path: Path) -> tuple[Path, Path]:
    """``etc/db.json -> ../data/db.json``, the target not there yet; (link, target)."""
    (tmp_path / "etc").mkdir()
    (tmp_path / "data").mkdir()
    link = tmp_path / "etc" / "db.json"
    link.symlink_to(Path("..") / "data" / "db.json")
    return link, tmp_path / "data" / "db.json"


async def test_a_link_is_followed_the_target_written_and_locked(linked: tuple[Path, Path]) -> None:
    link, target = linked
    store = TinyStore.open(link)
    assert store.path == target.resolve()
    assert target.is_file()  # a dangling link's target is created at open
    await store.stage([Put(1, doc("A"))])
    await store.aclose()
    assert link.is_symlink()
    assert os.readlink(link) == os.path.join("..", "data", "db.json")
    assert json.loads(target.read_text())["customergroups"]["1"]["name"] == "A"
    assert sorted(p.name for p in link.parent.iterdir()) == ["db.json"]  # no lock, no temporary
    assert sorted(p.name for p in target.parent.iterdir()) == ["db.json", "db.json.lock"]


@pytest.mark.parametrize("order", ["link first", "target first"])
def test_a_second_store_through_the_other_name_is_refused(
    linked: tuple[Path, Path], order: str
) -> None:
    link, target = linked
    first, second = (link, target) if order == "link first" else (target, link)
    store = TinyStore.open(first)
    with pytest.raises(StoreError, match="in use by another"):
        TinyStore.open(second)
    with pytest.raises(StoreError, match="in use by another"):
        TinyStore.open(target.parent / ".." / "etc" / ".." / "data" / "db.json")
    store.close()
    TinyStore.open(second).close()


def test_a_loop_of_links_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a.json").symlink_to("b.json")
    (tmp_path / "b.json").symlink_to("a.json")
    with pytest.raises(StoreError, match="Cannot follow the links"):
        TinyStore.open(tmp_path / "a.json")


@pytest.mark.parametrize("tamper", ["removed", "replaced"])
async def test_a_second_store_is_refused_whatever_happened_to_the_lock_file(
    path: Path, tamper: str
) -> None:
    store = TinyStore.open(path)
    for uid in (1, 2, 3):  # each commit puts a new file in place: the lock goes with it
        await store.stage([Put(uid, doc(str(uid)))])
        lock_file = path.with_name(path.name + ".lock")
        lock_file.unlink()
        if tamper == "replaced":
            lock_file.write_bytes(b"")
        with pytest.raises(StoreError, match="in use by another"):
            TinyStore.open(path)
    await store.stage([Put(4, doc("4"))])  # the first store goes on writing
    await store.aclose()
    assert len(json.loads(path.read_text())["customergroups"]) == 4
    TinyStore.open(path).close()


async def test_a_file_put_in_place_of_the_database_is_never_overwritten(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A"))])
    other = path.with_name("other.json")
    other.write_bytes(b'{"customergroups": {}}')
    os.replace(other, path)
    with pytest.raises(WriteFailed):
        await store.stage([Put(2, doc("B"))])
    assert path.read_bytes() == b'{"customergroups": {}}'
    assert "was replaced by a file this server did not write" in caplog.text
    assert "Traceback" not in caplog.text
    assert store.committed.get(2) is None
    await store.aclose()


async def test_a_deleted_database_is_written_again_and_stays_locked(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A"))])
    path.unlink()
    await store.stage([Put(2, doc("B"))])
    assert sorted(on_disk(path)["customergroups"]) == ["1", "2"]
    assert "was deleted while this server ran" in caplog.text
    with pytest.raises(StoreError, match="in use by another"):
        TinyStore.open(path)
    await store.aclose()


# An empty member set (issue 17): no entry in the file, whichever way the set became empty.


def members_in_file(path: Path) -> dict[str, object]:
    members: dict[str, object] = on_disk(path)["members"]
    return members


async def test_clearing_a_groups_customers_leaves_no_members_entry_and_a_reopen_agrees(
    path: Path,
) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Put(2, doc("B")), Members(1, frozenset({5, 6}))])
    await store.stage([Members(2, frozenset({7}))])
    await store.stage([Members(1, frozenset())])
    assert members_in_file(path) == {"2": {"customers": [7]}}
    assert store.committed.members(1) == frozenset()
    await store.aclose()
    again = TinyStore.open(path)
    assert (again.committed.members(1), again.committed.members(2)) == (frozenset(), frozenset({7}))
    again.close()


async def test_deleting_a_group_with_customers_removes_its_members_entry(path: Path) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Put(2, doc("B")), Members(1, frozenset({5}))])
    await store.stage([Members(2, frozenset({5}))])
    await store.stage([Drop(1)])
    assert members_in_file(path) == {"2": {"customers": [5]}}
    await store.aclose()
    again = TinyStore.open(path)  # a members entry naming no group would refuse to open
    assert [uid for uid, _ in again.committed.items()] == [2]
    assert again.committed.members(2) == {5}
    again.close()


async def test_a_file_written_after_a_reopen_lists_only_groups_with_customers(
    path: Path,
) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Put(2, doc("B")), Members(2, frozenset({3, 1}))])
    await store.aclose()
    again = TinyStore.open(path)
    await again.stage([Put(3, doc("C"))])
    assert members_in_file(path) == {"2": {"customers": [1, 3]}}
    await again.aclose()


async def test_a_write_after_a_failed_one_writes_the_committed_members_only(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    await store.stage([Put(1, doc("A")), Put(2, doc("B")), Members(1, frozenset({4}))])
    counted_writes(monkeypatch, fail=True)
    with pytest.raises(WriteFailed):
        await store.stage([Members(2, frozenset({8})), Members(1, frozenset())])
    monkeypatch.undo()
    await store.stage([Put(3, doc("C"))])
    assert members_in_file(path) == {"1": {"customers": [4]}}
    await store.aclose()


# What the store answers inside a together() block, moves, its health and totals (issue 17).

AT, LATER = "2014-01-16T14:14:18Z", "2014-01-16T15:00:00Z"


@pytest.mark.parametrize("change", ["add", "remove", "move", "move all"])
async def test_a_change_of_many_customers_lets_waiting_requests_go_first(
    db: Path | None, change: str
) -> None:
    """Such a change hands the event loop over before it is checked and staged, so a read
    that came meanwhile is answered after a short turn, not after the whole change."""
    store = TinyStore.open(db)
    for name in ("A", "B"):
        await store.create(name, AT)
    many = frozenset(range(1, turns.MANY + 1))
    await store.add(1, many, AT)
    calls = {
        "add": lambda: store.add(1, frozenset(range(10**6, 10**6 + turns.MANY)), LATER),
        "remove": lambda: store.remove(1, many, LATER),
        "move": lambda: store.move(1, 2, sorted(many), LATER),
        "move all": lambda: store.move(1, 2, None, LATER),
    }
    write = asyncio.ensure_future(calls[change]())
    await asyncio.sleep(0)  # the write has started, and waits for its turn
    assert not write.done()
    assert store.working.count(1) == turns.MANY, "staged before others had their turn"
    assert (await store.get(1) or {}).get("version") == 2
    await write
    assert (await store.get(1) or {}).get("version") == 3
    await store.aclose()


async def test_moving_every_customer_of_a_small_group_takes_no_turn(db: Path | None) -> None:
    store = TinyStore.open(db)
    for name in ("A", "B"):
        await store.create(name, AT)
    await store.add(1, frozenset(range(1, turns.MANY)), AT)  # one fewer than MANY
    write = asyncio.ensure_future(store.move(1, 2, None, LATER))
    await asyncio.sleep(0)
    assert store.working.count(2) == turns.MANY - 1, "staged at once"
    assert await write == turns.MANY - 1
    await store.aclose()


async def test_concurrent_changes_of_many_customers_each_count_what_they_changed(
    db: Path | None,
) -> None:
    """Checked and staged in one step after their turn: of overlapping adds (removes) run
    together, each counts the customers it added (took out), so the counts sum to the whole,
    and each that changed something made one version."""
    store = TinyStore.open(db)
    await store.create("A", AT)
    starts = [i * turns.MANY // 2 + 1 for i in range(8)]
    ranges = [frozenset(range(start, start + turns.MANY)) for start in starts]
    everyone = frozenset().union(*ranges)
    added = await asyncio.gather(*(store.add(1, r, AT) for r in ranges))
    assert sum(added) == len(everyone) == (await store.get(1) or {}).get("customerCount")
    removed = await asyncio.gather(*(store.remove(1, r, LATER) for r in ranges))
    assert sum(removed) == len(everyone)
    group = await store.get(1) or {}
    assert group.get("customerCount") == 0
    changed = sum(n > 0 for n in added) + sum(n > 0 for n in removed)
    assert group.get("version") == 1 + changed
    await store.aclose()


async def test_customers_that_stay_catch_up_in_the_background_a_step_at_a_time(
    db: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a group's sorted customers lag by SETTLE_AT, they catch up SETTLE_STEP at a time,
    a turn between steps, not all at once on the next page read."""
    monkeypatch.setattr(tiny, "SETTLE_AT", 30)
    monkeypatch.setattr(tiny, "SETTLE_STEP", 10)
    steps: list[int] = []
    real = State.settle

    def settle(state: State, uid: int, most: int) -> int:
        steps.append(most)
        return real(state, uid, most)

    monkeypatch.setattr(State, "settle", settle)
    store = TinyStore.open(db)
    await store.create("A", AT)
    await store.add(1, frozenset(range(1, 21)), AT)  # 20 wait: under SETTLE_AT
    await asyncio.sleep(0.05)
    assert store.committed.waiting(1) == 20
    assert not steps
    await store.add(1, frozenset(range(21, 51)), LATER)  # 50 wait
    assert store.committed.waiting(1) >= 40, "more than one step before a turn"
    for _ in range(200):
        if not store.committed.waiting(1):
            break
        await asyncio.sleep(0.005)
    assert store.committed.waiting(1) == 0
    assert steps == [10] * len(steps)
    assert len(steps) >= 5
    assert await store.members(1, Page(offset=45, limit=None)) == [46, 47, 48, 49, 50]
    await store.aclose()


async def test_customers_added_and_taken_out_again_never_wait_for_the_chunks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Adds of a call's most (10,000), each taken out again by the next call (as figure 3 of
    make bench does): nothing waits, nothing is settled."""
    settled: list[int] = []

    def settle(state: State, uid: int, most: int) -> int:
        settled.append(uid)
        return 0

    monkeypatch.setattr(State, "settle", settle)
    store = TinyStore.open(None)
    await store.create("A", AT)
    await store.add(1, frozenset(range(1, 101)), AT)
    assert len(await store.members(1, Page()) or ()) == 100  # a page read: chunks catch up
    for first in range(1_000, 31_000, 10_000):
        customers = frozenset(range(first, first + 10_000))
        await store.add(1, customers, AT)
        await store.remove(1, customers, LATER)
    await asyncio.sleep(0.01)
    assert store.committed.waiting(1) == 0
    assert not settled
    await store.aclose()


async def test_a_get_inside_a_together_block_sees_the_writes_before_it(db: Path | None) -> None:
    store = TinyStore.open(db)
    await store.create("Before", AT)

    async def block() -> None:
        async with store.together():
            await store.create("Staff", AT)
            await store.add(2, frozenset({5, 6}), LATER)
            assert await store.get(2) == {
                "name": "Staff",
                "created": AT,
                "changed": LATER,
                "customerCount": 2,
                "uid": 2,
                "version": 2,
            }
            assert await store.get(3) is None

    await asyncio.wait_for(block(), 30)  # a failure, never a hang
    assert (await store.get(2) or {}).get("customerCount") == 2
    await store.aclose()


async def test_moving_changes_both_groups_but_not_a_target_that_holds_them_all(
    db: Path | None,
) -> None:
    store = TinyStore.open(db)
    for name in ("A", "B", "C"):
        await store.create(name, AT)
    await store.add(1, frozenset({1, 2}), AT)
    await store.add(3, frozenset({1, 2}), AT)
    assert await store.move(1, 2, None, LATER) == 2
    assert [(await store.get(uid) or {}).get("changed") for uid in (1, 2)] == [LATER, LATER]
    assert await store.members(2, Page()) == [1, 2]
    await store.add(1, frozenset({1}), AT)
    assert await store.move(1, 3, [1], LATER) == 1  # C holds 1 already: C is unchanged
    assert (await store.get(3) or {}).get("changed") == AT
    assert sorted(await store.get(3) or {}) == [
        "changed",
        "created",
        "customerCount",
        "name",
        "uid",
        "version",
    ]
    await store.aclose()


async def test_moving_every_customer_of_an_empty_group_moves_none_and_changes_nothing(
    db: Path | None,
) -> None:
    store = TinyStore.open(db)
    await store.create("A", AT)
    await store.create("B", AT)
    assert await store.move(1, 2, None, LATER) == 0
    assert [(await store.get(uid) or {}).get("changed") for uid in (1, 2)] == [AT, AT]
    await store.aclose()


async def test_the_embedded_store_is_always_healthy_and_counts_groups_and_memberships(
    db: Path | None,
) -> None:
    store = TinyStore.open(db)
    assert await store.ping() is True
    assert await store.totals() == (0, 0)
    for name in ("A", "B"):
        await store.create(name, AT)
    await store.add(1, frozenset({1, 2}), AT)
    await store.add(2, frozenset({2}), AT)
    assert await store.totals() == (2, 3)
    await store.aclose()


async def test_a_failed_write_says_the_change_could_not_be_written_to_disk(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    counted_writes(monkeypatch, fail=True)
    with pytest.raises(WriteFailed) as caught:
        await store.create("A", AT)
    assert re.fullmatch(r"The change could not be written to disk\.", str(caught.value))
    await store.aclose()


async def test_a_fold_that_fails_in_its_process_is_logged_with_what_the_process_said(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "1")
    store = TinyStore.open(path)
    with path.open("r+b") as same_file:  # the file this server holds, no longer JSON
        same_file.write(b"[")
    await store.stage([Put(1, doc("A"))])
    assert store._folder is not None
    await store._folder
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    said = f"Folding {path_of(path)} into {path} failed; it stays in the journal"
    assert error.getMessage() == said
    assert error.exc_info is not None
    assert "JSONDecodeError" in str(error.exc_info[1])  # the child's own words
    store.close()


async def test_after_a_failed_fold_the_next_waits_until_the_journal_holds_twice_as_much(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "1")
    store = TinyStore.open(path)
    with path.open("r+b") as same_file:  # no longer JSON: every fold fails
        same_file.write(b"[")
    await store.create("A" * 200, AT)
    failed = store._folder
    assert failed is not None
    await failed
    assert store._journal is not None
    held = store._journal.size
    await store.create("B", AT)  # much less than the journal held at the failure
    assert store._folder is failed
    while store._journal.size < 2 * held:
        await store.create(f"C{store._journal.size}", AT)
        if store._journal.size < 2 * held:
            assert store._folder is failed
    assert store._folder is not failed  # due again
    await store._folder
    store.close()


async def test_a_fold_is_due_when_the_journal_holds_exactly_its_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    trial = TinyStore.open(tmp_path / "trial.json")
    await trial.create("A", AT)
    assert trial._journal is not None
    size = trial._journal.size
    trial.close()
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", str(size))
    store = TinyStore.open(tmp_path / "groups.json")
    await store.create("A", AT)  # the same record: the journal holds exactly ``size``
    assert store._folder is not None
    await store._folder
    store.close()


async def test_a_fold_refused_because_the_database_was_replaced_is_logged_without_traceback(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "1")
    store = TinyStore.open(path)
    real = tiny._fold_in_child

    async def then_replaced(db: Path, journal: Path, upto: int, new: Path) -> None:
        await real(db, journal, upto, new)
        other = path.with_name("other.json")
        other.write_text("{}")
        os.replace(other, path)  # another file put in its place before the rename

    monkeypatch.setattr(tiny, "_fold_in_child", then_replaced)
    await store.create("A", AT)
    assert store._folder is not None
    await store._folder
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert error.exc_info is None
    assert error.getMessage().endswith(" The journal is not folded into it.")
    assert names(
        [str(path), "was replaced by a file this server did not write"], error.getMessage()
    )
    assert path.read_text() == "{}"
    assert sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")) == []
    store.close()


def names(parts: list[str], message: str) -> bool:
    """Whether a message names every part, each as words of its own."""
    return all(re.search(rf"(?<!\w){re.escape(part)}(?!\w)", message) for part in parts)


async def test_a_fold_that_fails_at_the_stop_is_logged_and_leaves_the_journal(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TinyStore.open(path)
    await store.create("A", AT)
    with path.open("r+b") as same_file:  # no longer JSON: the fold fails
        same_file.write(b"[")
    await store.aclose()
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    said = "Folding the journal at the stop failed; it is read at the next start"
    assert error.getMessage() == said
    assert error.exc_info is not None
    assert path_of(path).exists()


async def test_a_journal_that_broke_is_not_folded_at_the_stop(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    await store.create("A", AT)
    before = path.read_bytes()

    def fail(*_: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fdatasync", fail)
    monkeypatch.setattr(os, "ftruncate", fail)
    with pytest.raises(WriteFailed):
        await store.create("B", AT)
    monkeypatch.undo()
    await store.aclose()
    assert path_of(path).exists()  # left as it is, to be read at the next start
    assert path.read_bytes() == before


async def test_writes_that_arrive_while_a_commit_is_in_flight_share_the_next_one(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    gate, writes = gated_writes(monkeypatch)
    first = asyncio.ensure_future(store.create("A", AT))
    while not writes:  # the first commit is in flight, held at the gate
        await asyncio.sleep(0.01)
    later = [asyncio.ensure_future(store.create(name, AT)) for name in ("B", "C")]
    for _ in range(5):
        await asyncio.sleep(0)
    gate.set()
    await asyncio.wait_for(asyncio.gather(first, *later), 30)  # a failure, never a hang
    assert len(writes) == 2
    await store.aclose()


# Versions and the feed in the embedded store (issue 17).

DAY_LATER, TWO_DAYS_LATER = "2014-01-17T14:14:18Z", "2014-01-18T14:14:18Z"


@pytest.mark.parametrize("write", ["rename", "delete", "add", "remove", "move"])
async def test_every_kind_of_write_drops_the_events_older_than_retention_keeps(
    db: Path | None, write: str
) -> None:
    store = TinyStore.open(db, retention=Retention(keep=1000, max_age=timedelta(days=1)))
    for name in "ABC":
        await store.create(name, AT)  # two days old at the write below: dropped
    await store.add(1, frozenset({5}), DAY_LATER)  # a day old, to the second: kept
    writes: dict[str, Callable[[], Awaitable[object]]] = {
        "rename": lambda: store.rename(1, "Z", TWO_DAYS_LATER),
        "delete": lambda: store.delete(2, TWO_DAYS_LATER),
        "add": lambda: store.add(2, frozenset({6}), TWO_DAYS_LATER),
        "remove": lambda: store.remove(1, frozenset({5}), TWO_DAYS_LATER),
        "move": lambda: store.move(1, 2, None, TWO_DAYS_LATER),
    }
    await writes[write]()
    kept = await store.changes(0, None)
    assert ([e["position"] for e in kept.events], kept.horizon) == ([4, 5], 3)
    await store.aclose()


async def test_retention_by_count_lets_the_slack_pile_up_then_keeps_keep(
    db: Path | None,
) -> None:
    store = TinyStore.open(db, retention=Retention(keep=3, slack=2))
    for name in "ABCD":
        await store.create(name, AT)
    assert [e["position"] for e in (await store.changes(0, None)).events] == [1, 2, 3, 4]
    await store.create("E", AT)
    kept = await store.changes(0, None)
    assert ([e["position"] for e in kept.events], kept.horizon) == ([3, 4, 5], 2)
    await store.aclose()


async def test_a_new_group_is_stored_as_version_1(path: Path) -> None:
    store = TinyStore.open(path)
    await store.create("A", AT)
    stored = on_disk(path)["customergroups"]["1"]
    assert stored == {"name": "A", "created": AT, "changed": AT, "version": 1}
    await store.aclose()


async def test_after_a_fold_writes_go_on_fold_again_and_the_new_file_stays_locked(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "1")
    store = TinyStore.open(path)
    for name in ("A", "B"):
        await store.create(name, AT)  # each commit is due a fold
        assert store._folder is not None
        await store._folder
    assert sorted(json.loads(path.read_text())["customergroups"]) == ["1", "2"]  # both folded
    os.unlink(path.with_name(path.name + ".lock"))  # only the database file's lock is left
    with pytest.raises(StoreError, match="in use by another"):
        TinyStore.open(path)
    await store.aclose()


async def test_removing_customers_is_a_new_version_of_the_group(db: Path | None) -> None:
    store = TinyStore.open(db)
    await store.create("A", AT)
    await store.add(1, frozenset({5, 6}), AT)
    await store.remove(1, frozenset({5}), LATER)
    assert (await store.get(1) or {}).get("version") == 3
    await store.aclose()


@pytest.mark.parametrize("write", ["rename", "add", "remove", "move"])
async def test_a_group_stored_before_versions_is_version_1_and_its_next_write_2(
    path: Path, write: str
) -> None:
    groups = {"1": DOC, "2": doc("B")}  # no version: written before versions
    path.write_text(json.dumps({"customergroups": groups, "members": {"1": {"customers": [5]}}}))
    store = TinyStore.open(path)
    assert (await store.get(1) or {}).get("version") == 1
    writes: dict[str, Callable[[], Awaitable[object]]] = {
        "rename": lambda: store.rename(1, "Z", LATER),
        "add": lambda: store.add(1, frozenset({6}), LATER),
        "remove": lambda: store.remove(1, frozenset({5}), LATER),
        "move": lambda: store.move(1, 2, None, LATER),
    }
    await writes[write]()
    assert (await store.get(1) or {}).get("version") == 2
    store.close()


async def test_waiting_for_the_feed_ends_at_the_next_commit_not_before(db: Path | None) -> None:
    store = TinyStore.open(db)
    for name in ("A", "B"):  # at the first commit and at any later one
        waiting = asyncio.ensure_future(store.feed_wait(store.feed_tick()))
        for _ in range(5):
            await asyncio.sleep(0)
        assert not waiting.done()
        await store.create(name, AT)
        await asyncio.wait_for(waiting, 30)  # a failure, never a hang
    await store.aclose()


async def test_each_commit_tells_its_hook_how_long_it_took_and_how_many_writes_it_made_durable(
    db: Path | None,
) -> None:
    store = TinyStore.open(db)
    told: list[tuple[float, int]] = []
    store.on_commit = lambda seconds, writes: told.append((seconds, writes))
    before = time.perf_counter()
    await asyncio.gather(store.create("A", AT), store.create("B", AT))
    took = time.perf_counter() - before
    [(seconds, writes)] = told
    assert 0 <= seconds <= took
    assert writes == 2
    await store.aclose()


async def test_a_failed_write_is_logged_naming_the_file_and_that_nothing_was_kept(
    path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = TinyStore.open(path)
    counted_writes(monkeypatch, fail=True)
    with pytest.raises(WriteFailed):
        await store.create("A", AT)
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert error.getMessage() == f"Writing {path} failed; the changes in flight are undone"
    assert error.exc_info is not None  # an unexpected failure: with its traceback
    await store.aclose()


async def test_a_lost_lock_is_logged_saying_the_changes_in_flight_are_undone(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = TinyStore.open(path)
    other = path.with_name("other.json")
    other.write_text("{}")
    os.replace(other, path)
    with pytest.raises(WriteFailed):
        await store.create("A", AT)
    [error] = [r for r in caplog.records if r.levelname == "ERROR"]
    message = error.getMessage()
    assert message.startswith(f"{path} was replaced by a file this server did not write")
    assert message.endswith(". The changes in flight are undone.")
    await store.aclose()


# The start, the stop and the fold's size (issue 17, round 3).


def test_a_killed_writers_temporary_file_is_logged_by_name_when_removed(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    TinyStore.open(path).close()
    stale = path.with_name(f".{path.name}.4242.tmp")
    stale.write_bytes(b'{"half": ')
    TinyStore.open(path).close()
    [warning] = [r for r in caplog.records if r.levelname == "WARNING"]
    assert warning.getMessage() == f"Removed {stale.name}, left by a writer that was killed"
    assert warning.name == "customergroup_rpc.store.tiny"  # the store's own logger


def test_a_second_store_is_refused_naming_the_file(path: Path) -> None:
    first = TinyStore.open(path)
    with pytest.raises(StoreError) as caught:
        TinyStore.open(path)
    assert str(caught.value) == f"{path} is in use by another customergroup-rpc server."
    first.close()


def test_a_file_another_server_wrote_while_this_one_started_is_refused_naming_it(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def taken(*_: object, **__: object) -> None:  # the file this start would create: another's
        raise files.LockLost(f"{path} was replaced by a file this server did not write")

    monkeypatch.setattr(tiny, "write_atomic", taken)
    with pytest.raises(StoreError) as caught:
        TinyStore.open(path)
    assert str(caught.value) == f"{path} is in use by another customergroup-rpc server."
    monkeypatch.undo()
    TinyStore.open(path).close()  # the lock was let go


async def test_a_fold_waits_until_the_journal_holds_as_many_bytes_as_the_database_file(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    await asyncio.gather(*(store.create(f"group {n}", AT) for n in range(200)))
    await store.aclose()  # folded: a file of 200 groups, no journal
    monkeypatch.setenv("CUSTOMERGROUP_RPC_FOLD_BYTES", "1")
    again = TinyStore.open(path)
    await again.create("one more", AT)  # a record far smaller than the file
    assert again._journal is not None
    held, due = again._journal.size, again._folder
    await again.aclose()  # first, so that a fold started is waited for
    assert 0 < held < path.stat().st_size
    assert due is None


async def test_stopping_a_store_that_was_closed_already_does_nothing(path: Path) -> None:
    store = TinyStore.open(path)
    await store.create("A", AT)
    store.close()
    await store.aclose()
    store.close()
    again = TinyStore.open(path)  # the journal left by close() is read at the start
    assert (await again.get(1) or {}).get("name") == "A"
    again.close()


async def test_a_name_staged_by_a_write_queued_behind_a_commit_stays_taken_when_that_commit_ends(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    gates = [threading.Event(), threading.Event()]  # the first commit's, then the next ones'
    writes: list[int] = []
    real = Journal.append

    def append(journal: Journal, data: bytes) -> None:
        writes.append(len(data))
        gates[min(len(writes), 2) - 1].wait(30)
        real(journal, data)

    monkeypatch.setattr(Journal, "append", append)
    first = asyncio.ensure_future(store.create("A", AT))
    while not writes:  # A's commit is in flight
        await asyncio.sleep(0.01)
    queued = asyncio.ensure_future(store.create("B", AT))
    for _ in range(5):
        await asyncio.sleep(0)
    gates[0].set()
    await asyncio.wait_for(first, 30)  # A is committed; B waits for its own commit
    assert not queued.done()
    assert await store.named("b") == (2, "B")
    with pytest.raises(NameTaken):
        await store.create("B", AT)
    gates[1].set()
    await asyncio.wait_for(queued, 30)
    await store.aclose()


# A together() block (a batch's run of writes): one commit when it ends (issue 17, round 3).


async def test_the_writes_of_a_together_block_are_one_commit_when_it_ends_and_none_before(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    writes = counted_writes(monkeypatch)
    inside: list[object] = []

    async def block() -> None:
        async with store.together():
            for name in ("A", "B", "C"):
                await store.create(name, AT)
            for _ in range(5):
                await asyncio.sleep(0)
            inside.extend([len(writes), store.committed.last_uid])

    await asyncio.wait_for(block(), 30)  # a failure, never a hang
    assert inside == [0, 0]
    assert len(writes) == 1
    assert sorted(on_disk(path)["customergroups"]) == ["1", "2", "3"]
    await store.aclose()


async def test_blocks_open_in_two_tasks_commit_once_when_the_last_one_ends(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    writes = counted_writes(monkeypatch)
    second_open, first_may_end = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with store.together():
            await store.create("A", AT)
            second_open.set()
            await first_may_end.wait()

    async def second() -> None:
        await second_open.wait()
        async with store.together():
            await store.create("B", AT)

    one, two = asyncio.ensure_future(first()), asyncio.ensure_future(second())
    for _ in range(10):
        await asyncio.sleep(0)
    early = (two.done(), len(writes))  # seen before anything is asserted: no task left hanging
    first_may_end.set()
    await asyncio.wait_for(asyncio.gather(one, two), 30)
    assert early == (False, 0)  # its block ended, but not its commit: the first block is open
    assert len(writes) == 1
    await asyncio.wait_for(store.create("C", AT), 30)  # and writes go on after both
    assert len(writes) == 2
    await store.aclose()


async def test_a_write_that_fails_in_a_together_block_fails_the_block_with_its_error(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = TinyStore.open(path)
    counted_writes(monkeypatch, fail=True)

    async def block(name: str) -> None:
        async with store.together():
            await store.create(name, AT)

    with pytest.raises(WriteFailed):
        await asyncio.wait_for(block("A"), 30)
    assert store.committed.last_uid == store.working.last_uid == 0
    monkeypatch.undo()
    await asyncio.wait_for(block("B"), 30)
    assert (await store.get(1) or {}).get("name") == "B"
    await store.aclose()


async def test_by_default_the_journal_is_folded_once_it_holds_16_mib(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CUSTOMERGROUP_RPC_FOLD_BYTES", raising=False)
    store = TinyStore.open(path)
    await store.create("small", AT)
    assert store._folder is None
    await store.create("x" * (8 << 20), AT)  # the name twice (group, event): just over 16 MiB
    assert store._journal is not None
    assert 16 << 20 <= store._journal.size < 17 << 20
    assert store._folder is not None
    await store._folder
    await store.aclose()
