"""The change feed as both engines keep it: who wrote, what an event holds, what is kept.

Every committed change is one event, written by the store in the commit of the change: a group
``created``, ``renamed`` (old and new name), ``deleted``, ``customersAdded``,
``customersRemoved`` (the customer uids, or only their ``count`` past ``BOUND``) and
``customersMoved`` (from ``uid`` to ``toUid``). An event is stored without its position (the
position is the key the engine stores it under) and shown with it, first
(``shown``). Positions are 1, 2, 3, ... in commit order, never reused; retention drops the
oldest events only, so the kept ones are always a run ``horizon + 1 .. last``.

>>> who = Actor("ab12cd34", "manage")
>>> event = renamed(3, "2014-01-16T14:14:18Z", who, version=2, name="Gold", old="Silver")
>>> shown(12, event)  # doctest: +NORMALIZE_WHITESPACE
{'position': 12, 'type': 'renamed', 'uid': 3, 'at': '2014-01-16T14:14:18Z', 'version': 2,
 'token': {'id': 'ab12cd34', 'scope': 'manage'}, 'name': 'Gold', 'oldName': 'Silver'}
>>> members("customersAdded", 3, "x", None, version=3, customers=range(1, 1002))["count"]
1001
>>> Retention(keep=100).cut(first=1, last=101), Retention(keep=100).cut(first=1, last=100)
(1, None)
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

Fields = dict[str, Any]
"""An event as stored: ``type``, ``uid``, ``at``, ``version``, ``token``, then what changed."""

BOUND = 1000
"""An event lists the customer uids of a membership change of at most this many; past it, only
their ``count`` (every event has the count)."""


@dataclass(frozen=True)
class Actor:
    """Who makes a write: the id and scope of the caller's token (never the token itself)."""

    token: str
    scope: str

    def fields(self) -> dict[str, str]:
        return _token(self.token, self.scope)


@lru_cache(maxsize=4096)
def _token(token: str, scope: str) -> dict[str, str]:
    """One dict per token, shared by its events (never changed): a feed keeps 100,000 events
    in memory, and most are made by a few tokens."""
    return {"id": token, "scope": scope}


@dataclass(frozen=True)
class Changes:
    """A read of the feed: the events after a position, the newest position, the horizon.

    ``horizon`` is the position up to which events are no longer kept (0: none dropped yet):
    a reader following from a position below it has missed events.
    """

    events: list[Fields]
    last: int
    horizon: int
    cut: bool = False  # whether ``limit`` stopped the read before the newest event


@dataclass(frozen=True)
class Retention:
    """How many events a feed keeps, and for how long (``serve --keep-changes``, ...).

    Events past the bounds go a batch at a time (``slack``: a hundredth of ``keep``), so a
    feed holds at least ``keep`` events (those young enough) and at most ``keep + slack``.
    """

    keep: int = 100_000
    max_age: timedelta | None = None
    slack: int = field(default=0)

    def __post_init__(self) -> None:
        if self.keep < 1:
            raise ValueError("A feed keeps at least one event.")
        if not self.slack:
            object.__setattr__(self, "slack", max(1, self.keep // 100))

    def cut(self, first: int, last: int) -> int | None:
        """Up to which position to drop the kept events ``first .. last`` for their count:
        None until ``slack`` more than ``keep`` are kept, then down to ``keep``."""
        return last - self.keep if last - first + 1 >= self.keep + self.slack else None

    def cutoff(self, now: str) -> str | None:
        """Events before this moment are too old (``max_age`` before ``now``); None: no
        limit. The engines drop them from the oldest on, so the kept ones stay a run."""
        if self.max_age is None:
            return None
        moment = datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        return (moment - self.max_age).strftime("%Y-%m-%dT%H:%M:%SZ")


# The order of an event's keys, whatever order an engine kept them in (jsonb sorts them).
_ORDER = ("type", "uid", "at", "version", "token", "name", "oldName")
_ORDER_MEMBERS = ("toUid", "toVersion", "count", "customers")


def shown(position: int, event: Fields) -> Fields:
    """An event as clients see it: its position first, then its keys in one order."""
    keys = (*_ORDER, *_ORDER_MEMBERS)
    return {"position": position, **{key: event[key] for key in keys if key in event}}


def compact(event: Fields) -> Fields:
    """An event read from a database, sharing its token and moment with the others in memory."""
    made = event.get("token")
    if isinstance(made, dict) and isinstance(made.get("id"), str):
        event["token"] = _token(made["id"], str(made.get("scope")))
    if isinstance(event.get("at"), str):
        event["at"] = sys.intern(event["at"])
    return event


def _event(kind: str, uid: int, at: str, actor: Actor | None, version: int) -> Fields:
    return {
        "type": kind,
        "uid": uid,
        "at": sys.intern(at),  # the writes of one second share it
        "version": version,
        "token": None if actor is None else actor.fields(),
    }


def created(uid: int, at: str, actor: Actor | None, *, name: str) -> Fields:
    return {**_event("created", uid, at, actor, 1), "name": name}


def renamed(uid: int, at: str, actor: Actor | None, *, version: int, name: str, old: str) -> Fields:
    return {**_event("renamed", uid, at, actor, version), "name": name, "oldName": old}


def deleted(uid: int, at: str, actor: Actor | None, *, version: int, name: str) -> Fields:
    """``version`` is the last the group had."""
    return {**_event("deleted", uid, at, actor, version), "name": name}


def members(
    kind: str,
    uid: int,
    at: str,
    actor: Actor | None,
    *,
    version: int,
    customers: Collection[int],
    to: tuple[int, int] | None = None,
) -> Fields:
    """A membership event; ``to`` is the target of a move and its version after it."""
    event = _event(kind, uid, at, actor, version)
    if to is not None:
        event["toUid"], event["toVersion"] = to
    event["count"] = len(customers)
    if len(customers) <= BOUND:
        event["customers"] = sorted(customers)
    return event


def concerned(event: Fields) -> tuple[int, ...]:
    """The groups an event concerns: its own, and for a move the group moved to."""
    to = event.get("toUid")
    return (event["uid"],) if to is None else (event["uid"], to)


def made_with(event: Fields) -> str | None:
    """The id of the token an event was made with (None: made without one)."""
    made = event.get("token")
    return made.get("id") if isinstance(made, dict) else None


def matches(event: Fields, uid: int | None, token: str | None) -> bool:
    """Whether an event concerns group ``uid`` (either side of a move) and was made with the
    token ``token`` (None: any)."""
    return (uid is None or uid in concerned(event)) and (token is None or made_with(event) == token)
