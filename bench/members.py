"""Benchmark customer memberships (SPEC 10) in process: no HTTP, the service over TinyStore.

Usage: .venv/bin/python bench/members.py [--groups 10000] [--runs 20] [--budget 20] [--dir DIR]

a. On a durable store in a temporary folder: adding 10,000 customers to a group in one call,
   its time and how many durable writes (appends to the journal) it caused, against adding
   one customer, and against adding 10,000 customers one call each (as many as fit in
   ``--budget`` seconds, then extrapolated per customer if that was fewer than 10,000).
b. With ``--groups`` groups of varied member counts (written once as a database file, in the
   store's documented format, then opened with ``TinyStore.open``): the median time of
   ``select(Selection(sort=..., limit=50))`` for ``customerCount`` against ``uid`` and ``name``.
   customerCount is derived from each group's member set (``len``), so sorting by it should cost
   about what sorting by name does: no re-counting of members.

Prints a Markdown table (figure, value, baseline, ratio) and the machine. Takes at most about
``--budget`` + 10 seconds. The temporary folder is made in ``--dir`` (default: the system's
temporary folder); durable-write timings depend on that file system's fsync.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

from report import machine, ms, table, times  # bench/report.py, beside this script

from customergroup_rpc import files, filters
from customergroup_rpc.schemas import Schemas
from customergroup_rpc.service import Customergroups, Selection
from customergroup_rpc.store.journal import Journal
from customergroup_rpc.store.tiny import TinyStore

BULK = 10_000  # customer uids in one call: the most SPEC 10 allows
SINGLES = 20  # one-customer calls whose median is the baseline
ROUNDS = 5  # calls of BULK customers whose median is reported
LIMIT = 50  # groups per page in part b
MOMENT = "2024-01-01T00:00:00Z"

Row = tuple[str, str, str, str]  # figure, value, baseline, ratio


def measure(action: Callable[[], Any]) -> tuple[float, Any, int]:
    """Milliseconds an action took, its result, and the durable writes (journal appends) it
    made."""
    with mock.patch.object(Journal, "append", autospec=True, side_effect=Journal.append) as spy:
        start = time.perf_counter()
        result = action()
        elapsed = (time.perf_counter() - start) * 1000
    return elapsed, result, spy.call_count


@contextmanager
def service(path: Path) -> Iterator[tuple[Customergroups, asyncio.AbstractEventLoop]]:
    """The service on a TinyStore at ``path``, and an event loop of its own to run its calls
    (coroutines, each to its end: a write to its commit), closed after."""
    loop = asyncio.new_event_loop()
    store = TinyStore.open(path)
    try:
        yield Customergroups(store, Schemas.load()), loop
    finally:
        loop.run_until_complete(store.aclose())
        loop.close()


# -- a. one call of 10,000 against one customer and against one call per customer ---------------


def bulk_adds(folder: Path, budget: float) -> list[Row]:
    """Part a on a durable store in ``folder``."""
    with service(folder / "bench.db.json") as (groups, loop):

        def run(call: Callable[[], Awaitable[Any]]) -> Callable[[], Any]:
            return lambda: loop.run_until_complete(call())

        def singles(uid: int, customers: range) -> tuple[float, float]:
            """Median milliseconds of one customer per call, and writes per call."""
            found = [measure(run(partial(groups.add_customers, uid, [c]))) for c in customers]
            assert all(added == 1 for _, added, _ in found)
            return statistics.median(t for t, _, _ in found), sum(w for *_, w in found) / len(found)

        names = ("Bulk", "Single", "One by one")
        bulk, single, one_by_one = (
            run(partial(groups.set, None, {"name": n}))()["uid"] for n in names
        )
        single_ms, single_writes = singles(single, range(1, SINGLES + 1))

        # One call per customer, as many of BULK as fit in the budget (at least 100).
        deadline, calls = time.perf_counter() + budget, 0

        def loop_adds() -> None:
            nonlocal calls
            while calls < BULK and (calls < 100 or time.perf_counter() < deadline):
                calls += 1
                loop.run_until_complete(groups.add_customers(one_by_one, [calls]))

        loop_ms, _, loop_writes = measure(loop_adds)
        assert loop.run_until_complete(groups.get(one_by_one))["customerCount"] == calls

        # BULK customers in one call, the same again (nothing to write), then all removed.
        customers = list(range(1_000_001, 1_000_001 + BULK))
        random.Random(7).shuffle(customers)
        add_all = run(lambda: groups.add_customers(bulk, customers))
        remove_all = run(lambda: groups.remove_customers(bulk, customers))
        rounds: dict[str, list[tuple[float, int]]] = {"add": [], "again": [], "remove": []}
        for _ in range(ROUNDS):
            for step, action, expected in (
                ("add", add_all, BULK),
                ("again", add_all, 0),
                ("remove", remove_all, BULK),
            ):
                elapsed, changed, made = measure(action)
                assert changed == expected
                rounds[step].append((elapsed, made))
        (bulk_ms, bulk_writes), (again_ms, again_writes), (remove_ms, remove_writes) = (
            (statistics.median(t for t, _ in found), max(w for _, w in found))
            for found in rounds.values()
        )
        add_all()
        assert loop.run_until_complete(groups.get(bulk))["customerCount"] == BULK
        after_ms, _ = singles(single, range(SINGLES + 1, 2 * SINGLES + 1))
        move = run(lambda: groups.move_customers(bulk, one_by_one, None))
        move_ms, moved, move_writes = measure(move)
        assert moved == BULK
    size = (folder / "bench.db.json").stat().st_size  # the journal folded into it at the stop

    per_bulk, per_call = bulk_ms / BULK, loop_ms / calls
    extrapolated = "" if calls == BULK else f" (extrapolated from {calls:,})"
    return [
        (
            f"add {BULK:,} customers in one call (median of {ROUNDS})",
            ms(bulk_ms),
            f"add 1 customer: {ms(single_ms)} (median of {SINGLES})",
            times(bulk_ms / single_ms),
        ),
        (
            f"durable writes: add {BULK:,} in one call (most of {ROUNDS})",
            str(bulk_writes),
            f"add 1 customer: {single_writes:g} per call",
            times(bulk_writes / single_writes),
        ),
        (
            "time per customer: in one call",
            ms(per_bulk),
            f"one call each ({calls:,} calls): {ms(per_call)}",
            times(per_bulk / per_call),
        ),
        (
            f"{BULK:,} customers one call each{extrapolated}",
            ms(per_call * BULK),
            f"in one call: {ms(bulk_ms)}",
            times(per_call * BULK / bulk_ms),
        ),
        (
            "durable writes per customer: in one call",
            f"{bulk_writes / BULK:g}",
            f"one call each: {loop_writes / calls:g}",
            times((bulk_writes / BULK) / (loop_writes / calls)),
        ),
        (
            f"add the same {BULK:,} again (no change)",
            f"{ms(again_ms)}, {again_writes} writes",
            f"first add: {ms(bulk_ms)}, {bulk_writes} write",
            times(again_ms / bulk_ms),
        ),
        (
            f"add 1 customer, file holding {BULK + calls + SINGLES:,} memberships",
            ms(after_ms),
            f"file holding {SINGLES:,}: {ms(single_ms)}",
            times(after_ms / single_ms),
        ),
        (
            f"moveCustomers(all {BULK:,}) / removeCustomers({BULK:,})",
            f"{ms(move_ms)} / {ms(remove_ms)}",
            f"writes: {move_writes} / {remove_writes}",
            "",
        ),
        ("database file at the end", f"{size:,} bytes", "", ""),
    ]


# -- b. sorting 10,000 groups by customerCount against uid and name -----------------------------


def build_database(path: Path, count: int, rng: random.Random) -> int:
    """Write ``count`` groups of varied member counts as one database file; total members."""
    names: set[str] = set()
    while len(names) < count:  # random names, so the name ordering is not the uid ordering
        names.add(f"Group {rng.getrandbits(48):012x}")
    groups: dict[str, Any] = {}
    members: dict[str, Any] = {}
    for uid, name in enumerate(sorted(names, key=lambda _: rng.random()), start=1):
        groups[str(uid)] = {"name": name, "created": MOMENT, "changed": MOMENT}
        size = min(int(rng.lognormvariate(2.5, 1.5)), 5_000)  # many small groups, a few large
        if size:
            members[str(uid)] = {"customers": sorted(rng.sample(range(1, 1_000_000), size))}
    data = {"customergroups": groups, "members": members, "meta": {"1": {"last_uid": count}}}
    files.write_atomic(path, json.dumps(data, separators=(",", ":")).encode())
    return sum(len(doc["customers"]) for doc in members.values())


def sorting(folder: Path, count: int, runs: int) -> list[Row]:
    path = folder / "groups.db.json"
    total = build_database(path, count, random.Random(11))
    with service(path) as (groups, loop):
        sync = loop.run_until_complete
        assert sync(groups.count(filters.MATCH_ALL)) == count
        samples: dict[str, list[float]] = {"uid": [], "name": [], "customerCount": []}
        for _ in range(runs):  # interleaved, so drift hits every ordering alike
            for sort, found in samples.items():
                selection = Selection(sort=sort, limit=LIMIT)
                elapsed, page, _ = measure(lambda: sync(groups.select(selection)))  # noqa: B023
                assert len(page) == LIMIT
                found.append(elapsed)
        top = sync(groups.select(Selection(sort="customerCount", limit=count, descending=True)))
        keys = [(g["customerCount"], g["uid"]) for g in top]
        assert keys == sorted(keys, reverse=True)
        assert sum(g["customerCount"] for g in top) == total
        biggest = top[0]["customerCount"]
    median = {sort: statistics.median(found) for sort, found in samples.items()}
    by_count = median["customerCount"]
    label = f"{count:,} groups, {total:,} memberships, largest {biggest:,}"
    return [
        (f"select sort=customerCount limit={LIMIT} ({label})", ms(by_count), "", ""),
        *(
            (
                f"select sort=customerCount / sort={other}",
                ms(by_count),
                f"sort={other}: {ms(median[other])}",
                times(by_count / median[other]),
            )
            for other in ("uid", "name")
        ),
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000, help="groups in part b (10000)")
    parser.add_argument("--runs", type=int, default=20, help="select runs per ordering (20)")
    parser.add_argument("--budget", type=float, default=20.0, help="seconds for the adds (20)")
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temp folder")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-members-", dir=args.dir) as tmp:
        folder = Path(tmp)
        (folder / "a").mkdir()
        (folder / "b").mkdir()
        rows = bulk_adds(folder / "a", args.budget)
        rows += sorting(folder / "b", args.groups, args.runs)
        said = (
            f"{machine(folder)} ({folder.parent}); whole run {time.perf_counter() - started:.1f} s."
        )
    print(table(["figure", "value", "baseline", "ratio"], rows), "", said, sep="\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
