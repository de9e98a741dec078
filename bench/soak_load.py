"""The load driver: one soak client, a thread with its own keep-alive connection.

Until the deadline it takes steps from its ``Mix``, sends them (by name one time in five, the
token as ``?auth=`` or a Bearer header), holds every reply to the contract and every answer to
the model's prediction, and counts what it saw in ``Stats``. A broken prediction is a problem
(counted, the first few kept with their text); what the call touched is unknown from then on.
"""

from __future__ import annotations

import collections
import http.client
import itertools
import json
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from soak_bad import MAX_BODY, Raw
from soak_mix import Batch, Mix, Step
from soak_model import Call, Owned, Registry

from harness import contract
from harness.client import DEFAULT, NO_PARAMS, Client, Reply
from harness.methods import METHODS, Broken, short

MAX_OPS = 10_000_000  # per client, besides the deadline
KEEP_PROBLEMS = 25  # problems kept with their text, per client


@dataclass
class Target:
    """Where the clients send: a host, port and path, and the tokens to send."""

    host: str
    port: int
    path: str
    token: str
    view_token: str | None

    def client(self) -> Client:
        return Client(self.port, self.token, host=self.host, path=self.path)


@dataclass
class Stats:
    """What clients saw; ``merge`` adds another's."""

    requests: int = 0
    unanswered: int = 0
    problems: int = 0
    calls: collections.Counter[str] = field(default_factory=collections.Counter)
    ok: collections.Counter[str] = field(default_factory=collections.Counter)
    http: collections.Counter[int] = field(default_factory=collections.Counter)
    errors: dict[str, collections.Counter[int]] = field(
        default_factory=lambda: collections.defaultdict(collections.Counter)
    )
    latency: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    problem_texts: list[str] = field(default_factory=list)

    def merge(self, other: Stats) -> None:
        self.requests += other.requests
        self.unanswered += other.unanswered
        self.problems += other.problems
        self.calls.update(other.calls)
        self.ok.update(other.ok)
        self.http.update(other.http)
        for label, codes in other.errors.items():
            self.errors[label].update(codes)
        for label, times in other.latency.items():
            self.latency[label].extend(times)
        self.problem_texts.extend(other.problem_texts)


class Load(threading.Thread):
    """One client: its model, its mix, its connection and its figures."""

    def __init__(
        self, cid: int, target: Target, *, run: str, deadline: float, seed: int, registry: Registry
    ) -> None:
        super().__init__(name=f"soak-{cid}", daemon=True)
        self.cid, self.target, self.deadline = cid, target, deadline
        self.rng = random.Random(seed)
        self.model = Owned(f"Soak {run} c{cid}:", self.rng, registry)
        self.mix = Mix(self.model, run, target.view_token)
        self.stats = Stats()
        self.ids = itertools.count(1)
        self.connection = target.client()
        self.stopping = threading.Event()
        self.error: str | None = None

    def run(self) -> None:
        try:
            for _ in range(MAX_OPS):
                if self.stopping.is_set() or time.monotonic() >= self.deadline:
                    break
                self.take(self.mix.step())
        except Exception as error:  # a bug in the soak itself: report it, do not hide it
            self.error = f"client {self.cid} stopped: {error!r}"
            raise
        finally:
            self.connection.close()

    def take(self, step: Step) -> None:
        """Send one step: a call (its params by name one time in five), a batch, or a body."""
        if isinstance(step, Call):
            if step.params is not NO_PARAMS and self.rng.random() < 0.2:
                step.names = METHODS[f"Customergroup.{step.method}"].names
            self.send([step], step.token, label=step.method)
        elif isinstance(step, Batch):
            self.send(step.calls, DEFAULT, label="batch", notify=step.notify)
        elif isinstance(step, Raw):
            self.raw(step)

    def problem(self, text: str) -> None:
        self.stats.problems += 1
        if len(self.stats.problem_texts) < KEEP_PROBLEMS:
            self.stats.problem_texts.append(f"client {self.cid}: {text}")

    def post(
        self, body: bytes, label: str, token: Any, client: Client | None = None
    ) -> Reply | None:
        """Send a body and time it; None (and a problem) when no answer came."""
        client = client or self.connection
        self.stats.requests += 1
        self.model.sent, started = time.monotonic(), time.perf_counter()
        try:
            reply = client.send(body, token, bearer=self.rng.random() < 0.2)
        except (OSError, http.client.HTTPException) as error:
            self.stats.unanswered += 1
            self.problem(f"{label}: no answer ({error!r})")
            return None
        self.model.answered = time.monotonic()
        self.stats.latency[label].append((time.perf_counter() - started) * 1000)
        self.stats.http[reply.status] += 1
        return reply

    def account(self, label: str, answer: Any) -> None:
        self.stats.calls[label] += 1
        error = answer.get("error") if isinstance(answer, dict) else None
        if isinstance(error, dict):
            self.stats.errors[label][error["code"]] += 1
        elif answer is not None:
            self.stats.ok[label] += 1

    def check(
        self, sent: Any, body: bytes, reply: Reply, token: Any, label: str
    ) -> list[tuple[Any, dict[str, Any]]] | None:
        """The answered members (member, answer) by the contract; None if it was broken."""
        token = self.target.token if token is DEFAULT else token
        scopes = {self.target.token: "manage", self.target.view_token: "view"}
        # No token has no scope, also when there is no view token (whose key is then None).
        scope = None if token is None else scopes.get(token)
        try:
            doc = contract.Sent(ok=sent is not None, doc=sent)
            checked = contract.check_reply(doc, reply, scope, size=len(body), max_body=MAX_BODY)
        except (Broken, ValueError, KeyError, TypeError) as broken:
            self.problem(f"{label}: {broken}")
            return None
        return checked.pairs

    def send(self, calls: list[Call], token: Any, label: str, notify: Sequence[Call] = ()) -> None:
        """Calls in one request (a batch of them, with ``label`` "batch"), judged in order."""
        sent = [call.request(self.next_id()) for call in calls]
        for call in notify:
            request = call.request(None)
            del request["id"]
            sent.insert(self.rng.randrange(len(sent) + 1), request)
        doc: Any = sent if label == "batch" else sent[0]
        body = json.dumps(doc).encode()
        reply = self.post(body, label, token)
        pairs = None if reply is None else self.check(doc, body, reply, token, label)
        if pairs is None:
            for call in calls:
                self.model.lost(call)
            return
        if label == "batch":
            self.account("batch", {})
        for call, (_, answer) in zip(calls, pairs, strict=True):
            self.account(call.method, answer)
            try:
                call.judge(answer)
            except Broken as broken:
                self.problem(f"{call.method}{short_params(call)}: {broken}")
                self.model.lost(call)

    def raw(self, raw: Raw) -> None:
        """A body wrong as a whole: what the contract allows, with the error code it must have."""
        with self.target.client() as alone:  # connects only when used: for the 413
            reply = self.post(raw.body, raw.label, DEFAULT, alone if raw.alone else None)
        sent = json.loads(raw.body) if raw.json else None
        if reply is None or self.check(sent, raw.body, reply, DEFAULT, raw.label) is None:
            return
        answer = reply.json()
        self.account(raw.label, answer)
        if contract.code_of(answer) != raw.code:
            self.problem(f"{raw.label}: expected error {raw.code}, got {short(answer)}")

    def next_id(self) -> Any:
        n = next(self.ids)
        return f"c{self.cid} call {n}" if self.rng.random() < 0.2 else n


def short_params(call: Call) -> str:
    return "(" + short(call.params, 120)[1:-1] + ")" if isinstance(call.params, list) else ""
