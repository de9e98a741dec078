"""The soak's change feed: a subscriber over a WebSocket during the run, then the checks.

``Follower`` is a thread with an event loop of its own (aiohttp's WebSocket client): it
subscribes after the position the feed had before the clients started and keeps every event
pushed to it. Afterwards, with the clients stopped, ``feed_invariants`` reads the same events
with ``Customergroup.changes`` and holds the feed to the writes:

- positions run on without a gap from where the run began, and the subscriber saw exactly
  those events, each once, in that order (and with the same content);
- replaying the events of the groups created during the run gives every one of them: the
  final name and members of those alive, none of those deleted; each group's versions in its
  events run 1, 2, 3, ... and end at the version the group has now;
- every create a client saw acknowledged has its ``created`` event, every acknowledged delete
  its ``deleted`` event; every event names the token the clients wrote with.
"""

from __future__ import annotations

import asyncio
import collections
import json
import threading
from collections.abc import Sequence
from typing import Any

import aiohttp
from soak_checks import Groups, Invariant
from soak_load import Load, Target

from harness.client import Client

CATCH_UP = 60.0  # seconds the subscriber may take to receive the last event, at most


class Follower(threading.Thread):
    """Subscribes after ``since`` and keeps the pushed events until told where to stop."""

    def __init__(self, target: Target, since: int) -> None:
        super().__init__(name="soak-feed", daemon=True)
        self.target, self.since = target, since
        self.events: list[dict[str, Any]] = []
        self.error: str | None = None
        self.subscribed = threading.Event()
        self.last: int | None = None  # the position to stop at, once known

    @classmethod
    def started(cls, target: Target, since: int, timeout: float = 30.0) -> Follower:
        """A follower running, once it has subscribed (or failed to)."""
        follower = cls(target, since)
        follower.start()
        follower.subscribed.wait(timeout)
        return follower

    def run(self) -> None:
        try:
            asyncio.run(self._follow())
        except Exception as error:  # a bug or a lost server: reported, not hidden
            self.error = repr(error)
        finally:
            self.subscribed.set()

    def stop_after(self, last: int, timeout: float = CATCH_UP) -> None:
        """Stop once the event at ``last`` came, or after ``timeout``."""
        self.last = last
        self.join(timeout)

    async def _follow(self) -> None:
        target = self.target
        url = f"http://{target.host}:{target.port}{target.path}?auth={target.token}"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
            request = {"jsonrpc": "2.0", "method": "Customergroup.subscribe", "id": 1}
            await ws.send_json({**request, "params": [self.since]})
            answer = json.loads(await ws.receive_str(timeout=30))
            if "result" not in answer:
                self.error = f"subscribe answered {answer}"
                return
            self.subscribed.set()
            position = self.since
            while self.last is None or position < self.last:
                try:  # a short wait, to see soon that ``last`` came
                    message = await ws.receive(timeout=0.1)
                except TimeoutError:
                    continue
                note = json.loads(message.data) if message.type == aiohttp.WSMsgType.TEXT else {}
                if note.get("method") != "Customergroup.changed":
                    self.error = f"unexpected message {message.type.name} {message.data!r:.300}"
                    return
                self.events.append(note["params"])
                position = note["params"]["position"]


def head(client: Client) -> int:
    """The newest position of the feed now."""
    last: int = client.call("changes", [None, 0])["last"]
    return last


def read_feed(client: Client, since: int) -> list[dict[str, Any]]:
    """Every event after ``since``, page by page."""
    events: list[dict[str, Any]] = []
    while True:
        page = client.call("changes", [since, 10_000])
        events += page["events"]
        if not page["events"] or page["last"] == since:
            return events
        since = page["last"]


def feed_invariants(
    client: Client,
    follower: Follower,
    loads: Sequence[Load],
    *,
    final: Groups,
    members: dict[int, list[int]],
) -> list[Invariant]:
    start, end = follower.since, head(client)
    follower.stop_after(end)
    events = read_feed(client, start)
    return [
        _positions(events, start, end),
        _pushed(follower, events),
        _replayed(events, final, members),
        _acknowledged(events, loads),
    ]


def _positions(events: list[dict[str, Any]], start: int, end: int) -> Invariant:
    positions = [event["position"] for event in events]
    expected = list(range(start + 1, end + 1))
    return Invariant(
        "the feed's positions run on without a gap",
        positions == expected,
        f"{len(events)} events after position {start}, to {end}"
        + ("" if positions == expected else f"; got {positions[:5]}...{positions[-5:]}"),
    )


def _pushed(follower: Follower, events: list[dict[str, Any]]) -> Invariant:
    pushed = follower.events
    same = pushed == events
    where = next((i for i, (a, b) in enumerate(zip(pushed, events, strict=False)) if a != b), None)
    return Invariant(
        "the subscriber got every event once, in order, as changes reads them",
        same and follower.error is None,
        f"{len(pushed)} pushed, {len(events)} read"
        + ("" if same else f"; first difference at {where}")
        + (f"; {follower.error}" if follower.error else ""),
    )


class Replay:
    """The groups created during a run, as their events say they are."""

    def __init__(self, events: list[dict[str, Any]]) -> None:
        self.names: dict[int, str | None] = {}  # None: deleted
        self.held: dict[int, set[int]] = collections.defaultdict(set)
        self.versions: dict[int, list[int]] = collections.defaultdict(list)
        self.counted: set[int] = set()  # changed by an event that only counts the customers
        for event in events:
            if event["type"] == "created":
                self.names[event["uid"]] = event["name"]
            if event["uid"] in self.names:  # not a group from before the run
                self.apply(event)

    def apply(self, event: dict[str, Any]) -> None:
        uid, kind = event["uid"], event["type"]
        if kind != "deleted":  # a delete shows the version the group had
            self.versions[uid].append(event["version"])
        if kind in ("created", "renamed"):
            self.names[uid] = event["name"]
        elif kind == "deleted":
            self.names[uid] = None
        elif "customers" not in event:
            self.counted.update((uid, event.get("toUid", uid)))
        elif kind == "customersAdded":
            self.held[uid] |= set(event["customers"])
        elif kind == "customersRemoved":
            self.held[uid] -= set(event["customers"])
        else:
            self.held[uid] -= set(event["customers"])
            to = event["toUid"]
            self.held[to] |= set(event["customers"])
            if to in self.names and event["toVersion"] != (self.versions[to] or [0])[-1]:
                self.versions[to].append(event["toVersion"])

    def wrong(self, uid: int, group: dict[str, Any] | None, members: list[int]) -> str | None:
        """How the group as listed differs from its replay (None: alive as replayed)."""
        name, versions = self.names[uid], self.versions[uid]
        if name is None:
            return "deleted but listed" if group is not None else None
        if group is None or group["name"] != name:
            return f"name {name!r}, listed {group and group['name']!r}"
        if uid not in self.counted and set(members) != self.held[uid]:
            return "members differ"
        if versions != list(range(1, len(versions) + 1)):
            return f"versions {versions[:10]}"
        if group.get("version") != versions[-1]:
            return f"version {group.get('version')}, events {versions[-1]}"
        return None


def _replayed(
    events: list[dict[str, Any]], final: Groups, members: dict[int, list[int]]
) -> Invariant:
    replay = Replay(events)
    wrong = [
        (uid, why)
        for uid in replay.names
        if (why := replay.wrong(uid, final.get(uid), members.get(uid, [])))
    ]
    return Invariant(
        "replaying the feed gives the groups of the run as they are",
        not wrong,
        f"{len(replay.names)} groups created in the run; wrong {wrong[:5]}",
    )


def _acknowledged(events: list[dict[str, Any]], loads: Sequence[Load]) -> Invariant:
    created = {e["uid"] for e in events if e["type"] == "created"}
    deleted = {e["uid"] for e in events if e["type"] == "deleted"}
    creates = {uid for load in loads for uid, _, _ in load.model.creates}
    deletes = {uid for load in loads for uid in load.model.deleted}
    tokens = {json.dumps(e["token"], sort_keys=True) for e in events}
    problems = []
    if creates - created:
        problems.append(f"creates without an event: {sorted(creates - created)[:10]}")
    if deletes - deleted:
        problems.append(f"deletes without an event: {sorted(deletes - deleted)[:10]}")
    if len(tokens) > 1 or any(
        e["token"] is None or e["token"]["scope"] != "manage" for e in events
    ):
        problems.append(f"tokens {sorted(tokens)[:3]}")
    return Invariant(
        "every acknowledged create and delete has its event, by the clients' token",
        not problems,
        "; ".join([f"{len(creates)} creates, {len(deletes)} deletes", *problems]),
    )
