"""The TinyDB file of a store and its journal: read and checked at open, changes journaled.

The file is an ordinary TinyDB database with these tables::

    {"customergroups": {"1": {"name": "Staff", "created": "...", "changed": "...",
                              "version": 2}},
     "members": {"1": {"customers": [17, 42]}},
     "meta": {"1": {"last_uid": 1}},
     "events": {"1": {"type": "created", "uid": 1, ...}, "2": {...}},
     "feed": {"1": {"last_position": 2}}}

The change feed's events are documents of their own (their id is their position), and
``feed`` keeps the newest position, so that positions are not reused when retention dropped
every event. A file written before versions and the feed has neither table, and groups without
``version`` (read as 1).

A group's uid is its TinyDB id, stored once; its customers are one ascending list; ``last_uid``
keeps uids from being reused. Commits go to the journal beside it (``journal.py``) as
operations on these documents, a membership change as the customers that joined or left; the
journal is folded into the file in the background, and at a clean stop. At open, the file is
read with TinyDB, after the journal's records are applied to it.

>>> from .state import Join, Put
>>> state = State()
>>> operations(state, Put(1, {"name": "Staff", "created": "x", "changed": "x"}))[1]
['put', 'meta', '1', {'last_uid': 1}]
>>> operations(state, Join(1, frozenset({42, 17})))
[['add', 'members', '1', 'customers', [17, 42]]]
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from tinydb import TinyDB
from tinydb.storages import Storage

from ..codec import dumps
from ..files import Lock, write_atomic
from . import StoreError
from .feed import compact
from .journal import Corrupt, Op, path_of, replay, scan
from .overlay import View
from .state import Change, Drop, Event, Forget, Join, Leave, Members, Put, State

log = logging.getLogger(__name__)
TABLE, MEMBERS, META = "customergroups", "members", "meta"
EVENTS, FEED = "events", "feed"


class AtomicStorage(Storage):
    """A TinyDB storage over a parsed document; ``write`` replaces the file atomically."""

    def __init__(self, path: Path | None, data: dict[str, Any], lock: Lock | None = None) -> None:
        self.path, self._data, self.lock = path, data, lock

    def read(self) -> dict[str, Any]:
        return self._data

    def write(self, data: dict[str, Any]) -> None:
        if self.path is not None:
            write_atomic(self.path, dumps(data), lock=self.lock)


def load(path: Path | None, lock: Lock | None) -> tuple[State, int]:
    """Read and check the database file and its journal (or start empty): the state, and
    where the journal's last whole record ends (0: no journal). Anything odd raises
    ``StoreError`` and leaves both files untouched."""
    data = _read(path)
    if path is None:
        return _load(TinyDB(storage=lambda: AtomicStorage(None, data)), path), 0
    records, end = _journal(path)
    if records:
        if not path.exists():
            raise StoreError(
                f"{path_of(path)} holds changes, but {path}, the database they belong to, is "
                "missing. Left untouched."
            )
        data = replay(data, records)
        problem = _shape_problem(data)
        if problem:
            raise StoreError(
                f"{path} with its journal {path_of(path).name} is not a customergroup-rpc "
                f"database: {problem}. Left untouched."
            )
    storage = AtomicStorage(path, data, lock)
    return _load(TinyDB(storage=lambda: storage), path), end


def _read(path: Path | None) -> dict[str, Any]:
    """Read and check the database file; anything odd stops the start, the file untouched."""
    if path is None or not path.exists():
        return {}
    _regular(path)
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise StoreError(f"Cannot read {path}: {exc.strerror}.") from None
    except (ValueError, RecursionError):
        raise StoreError(
            f"{path} is not a valid database file (not JSON). Left untouched."
        ) from None
    problem = _shape_problem(data)
    if problem:
        raise StoreError(f"{path} is not a customergroup-rpc database: {problem}. Left untouched.")
    return dict(data)


def _regular(path: Path) -> None:
    """Refuse a FIFO, a socket or a device: reading a FIFO waits for a writer forever (a
    directory is refused by the read itself, saying so)."""
    if not path.is_file() and not path.is_dir():
        raise StoreError(f"{path} is not a regular file. Left untouched.")


def _journal(path: Path) -> tuple[list[list[Op]], int]:
    journal = path_of(path)
    try:
        if journal.exists():
            _regular(journal)
        data = journal.read_bytes()
    except FileNotFoundError:
        return [], 0
    except OSError as exc:
        raise StoreError(f"Cannot read {journal}: {exc.strerror}.") from None
    try:
        return scan(data)
    except Corrupt as exc:
        raise StoreError(
            f"{journal} is damaged: {exc}. The server did not start and changed nothing; "
            "keep a copy of the database and its journal, and see the README (the journal)."
        ) from None


def _load(db: TinyDB, path: Path | None) -> State:
    """The state a TinyDB database holds."""
    state = State()
    for doc in sorted(db.table(TABLE).all(), key=lambda d: d.doc_id):
        other = state.named(doc["name"])
        if other is not None:
            # Written by hand, or before names compared as they do now (invisible characters
            # were once part of a name): refusing to start would lock the data away. Both are
            # kept and listed; the name stays taken until one of them is renamed.
            log.warning(
                "%s: customer groups %d (%r) and %d (%r) are one name; rename one of them",
                path or "the database",
                other,
                state.groups[other]["name"],
                doc.doc_id,
                doc["name"],
            )
        state.apply(Put(doc.doc_id, dict(doc)))
    for doc in db.table(MEMBERS).all():
        if doc["customers"]:
            state.load(doc.doc_id, doc["customers"])
    meta = db.table(META).get(doc_id=1)
    # As the shape check reads them: a record without the number is 0 (as no record is).
    state.last_uid = max(state.last_uid, meta.get("last_uid", 0) if meta else 0)
    for doc in sorted(db.table(EVENTS).all(), key=lambda d: d.doc_id):
        state.apply(Event(doc.doc_id, compact(dict(doc))))
    feed = db.table(FEED).get(doc_id=1)
    state.last_position = max(state.last_position, feed.get("last_position", 0) if feed else 0)
    return state


def document(state: State) -> dict[str, Any]:
    """The TinyDB document of a state, as written to the file."""
    groups = {str(uid): fields for uid, fields in state.items()}
    members = {str(uid): {"customers": list(state.members(uid))} for uid, _ in state.items()}
    return {
        TABLE: groups,
        MEMBERS: {k: v for k, v in members.items() if v["customers"]},
        META: {"1": {"last_uid": state.last_uid}},
        EVENTS: {str(position): event for position, event in state.events.items()},
        FEED: {"1": {"last_position": state.last_position}},
    }


def operations(view: View, change: Change) -> list[Op]:
    """The journal's operations for a change, staged next on ``view`` (not yet applied)."""
    if isinstance(change, Event):
        return [
            ["put", EVENTS, str(change.position), change.fields],
            ["put", FEED, "1", {"last_position": change.position}],
        ]
    if isinstance(change, Forget):
        return [["delete", EVENTS, str(p)] for p in range(change.first, change.upto + 1)]
    key = str(change.uid)
    if isinstance(change, Put):
        ops: list[Op] = [["put", TABLE, key, change.fields]]
        if change.uid > view.last_uid:
            ops.append(["put", META, "1", {"last_uid": change.uid}])
        return ops
    if isinstance(change, Drop):
        return [["delete", TABLE, key], ["delete", MEMBERS, key]]
    if isinstance(change, Members):
        if not change.customers:
            return [["delete", MEMBERS, key]]
        return [["put", MEMBERS, key, {"customers": sorted(change.customers)}]]
    if not change.customers:
        return []
    if isinstance(change, Join):
        return [["add", MEMBERS, key, "customers", sorted(change.customers)]]
    assert isinstance(change, Leave)
    if view.count(change.uid) == len(change.customers):  # none left: no entry, as in a fold
        return [["delete", MEMBERS, key]]
    return [["remove", MEMBERS, key, "customers", sorted(change.customers)]]


def _feed_problem(data: dict[str, Any]) -> str | None:
    """What is wrong with the feed's tables, if anything."""
    events, feed = data.get(EVENTS, {}), data.get(FEED, {})
    if not isinstance(events, dict) or not isinstance(feed, dict):
        return f"{EVENTS} or {FEED} is not a table"
    for key, event in events.items():
        if (
            not key.isdigit()
            or not isinstance(event, dict)
            or not isinstance(event.get("type"), str)
            or not _is_int(event.get("uid"))
            or not _is_int(event.get("toUid", 0))
        ):
            return f"entry {key!r} of {EVENTS} is malformed"
    record = feed.get("1", {})
    last = record.get("last_position", 0) if isinstance(record, dict) else None
    if not _is_int(last):
        return "feed.last_position is not an integer"
    return None


def _shape_problem(data: Any) -> str | None:
    if not isinstance(data, dict):
        return "the top level is not an object"
    groups, members, meta = (data.get(name, {}) for name in (TABLE, MEMBERS, META))
    if not all(isinstance(table, dict) for table in (groups, members, meta)):
        return f"{TABLE}, {MEMBERS} or {META} is not a table"
    for key, doc in groups.items():
        if not key.isdigit() or not isinstance(doc, dict):
            return f"entry {key!r} of {TABLE} is malformed"
        if not all(isinstance(doc.get(p), str) for p in ("name", "created", "changed")):
            return f"customer group {key} lacks name, created or changed"
        version = doc.get("version", 1)
        if not _is_int(version) or version < 1:
            return f"the version of customer group {key} is not a positive integer"
    for key, doc in members.items():
        customers = doc.get("customers") if isinstance(doc, dict) else None
        if key not in groups or not isinstance(customers, list):
            return f"entry {key!r} of {MEMBERS} is malformed or names no group"
        if not all(type(c) is int and c > 0 for c in customers):
            return f"the customers of group {key} are not all positive integers"
    last = meta.get("1", {}).get("last_uid", 0) if isinstance(meta.get("1", {}), dict) else None
    if not _is_int(last):
        return "meta.last_uid is not an integer"
    return _feed_problem(data)


def _is_int(value: Any) -> bool:
    """An integer, as JSON has them (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)
