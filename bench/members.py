"""Benchmark customer memberships (SPEC 10) in process: no HTTP, the service over TinyStore.

Usage: .venv/bin/python bench/members.py [--groups 10000] [--runs 20] [--budget 20] [--dir DIR]

a. On a durable store in a temporary folder: adding 10,000 customers to a group in one call,
   its time and how many durable file writes (``write_atomic`` calls) it caused, against adding
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
import functools
import json
import os
import platform
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from unittest import mock

from machine import cpu_model, file_system  # bench/machine.py, beside this script

from customergroup_rpc import files, filters
from customergroup_rpc.schemas import Schemas
from customergroup_rpc.service import Customergroups, Selection
from customergroup_rpc.store.tiny import TinyStore

BULK = 10_000  # customer uids in one call: the most SPEC 10 allows
SINGLES = 20  # one-customer calls whose median is the baseline
ROUNDS = 5  # calls of BULK customers whose median is reported
LIMIT = 50  # groups per page in part b
MOMENT = "2024-01-01T00:00:00Z"


@dataclass
class Row:
    figure: str
    value: str
    baseline: str = ""
    ratio: str = ""


@dataclass
class Counter:
    """How many durable file writes happened inside ``writes()``."""

    count: int = 0


@contextmanager
def writes() -> Iterator[Counter]:
    """Count calls of ``files.write_atomic`` made by the store (the real function still runs)."""
    counter = Counter()
    with mock.patch("customergroup_rpc.store.write_atomic", wraps=files.write_atomic) as spy:
        yield counter
    counter.count = spy.call_count


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    """Milliseconds an action took, and its result."""
    start = time.perf_counter()
    result = action()
    return (time.perf_counter() - start) * 1000, result


def ms(value: float) -> str:
    if value < 0.1:
        return f"{value * 1000:,.2f} µs"
    return f"{value:,.3f} ms" if value < 10 else f"{value:,.1f} ms"


def times(value: float) -> str:
    """A ratio: ``5.32x``, or ``1/2,044`` when it is far below one."""
    if value < 0.1:
        return f"1/{1 / value:,.0f}" if value else "0"
    return f"{value:,.2f}x" if value < 100 else f"{value:,.0f}x"


# -- a. one call of 10,000 against one customer and against one call per customer ---------------


@dataclass
class Durable:
    """Part a's figures: milliseconds and durable writes."""

    single_ms: float = 0.0  # one customer per call, median of SINGLES calls
    single_writes: float = 0.0  # per call
    one_by_one: int = 0  # one-customer calls made within the budget
    loop_ms: float = 0.0  # all of them together
    loop_writes: int = 0
    bulk_ms: float = 0.0  # BULK customers in one call
    bulk_writes: int = 0
    again_ms: float = 0.0  # the same BULK again: nothing changes
    again_writes: int = 0
    single_after_ms: float = 0.0  # one customer, the file holding the BULK memberships too
    move_ms: float = 0.0  # moveCustomers(all BULK)
    move_writes: int = 0
    remove_ms: float = 0.0  # removeCustomers(BULK), all members
    remove_writes: int = 0
    size: int = 0  # bytes of the database file at the end


def measure(action: Callable[[], Any]) -> tuple[float, Any, int]:
    """Milliseconds an action took, its result, and the durable writes it caused."""
    with writes() as counted:
        elapsed, result = timed(action)
    return elapsed, result, counted.count


def median_of(samples: list[tuple[float, int]]) -> tuple[float, int]:
    """The median milliseconds and the most writes of several measurements."""
    return statistics.median(t for t, _ in samples), max(w for _, w in samples)


def median_single_adds(
    loop: asyncio.AbstractEventLoop, groups: Customergroups, uid: int, customers: range
) -> tuple[float, float]:
    """The median milliseconds of adding one customer per call, and writes per call."""
    elapsed, total_writes = [], 0
    for customer in customers:
        call = functools.partial(groups.add_customers, uid, [customer])
        took, added, made = measure(functools.partial(loop.run_until_complete, call()))
        assert added == 1
        elapsed.append(took)
        total_writes += made
    return statistics.median(elapsed), total_writes / len(customers)


def bulk_adds(folder: Path, budget: float) -> Durable:
    """Part a on a durable store in ``folder``."""
    found = Durable()
    loop = asyncio.new_event_loop()  # writes are coroutines; each call runs to its commit
    store = TinyStore.open(folder / "bench.db.json")
    try:
        groups = Customergroups(store, Schemas.load())
        bulk = loop.run_until_complete(groups.set(None, {"name": "Bulk"}))["uid"]
        single = loop.run_until_complete(groups.set(None, {"name": "Single"}))["uid"]
        singles = loop.run_until_complete(groups.set(None, {"name": "One by one"}))["uid"]

        # Baseline: one customer per call.
        found.single_ms, found.single_writes = median_single_adds(
            loop, groups, single, range(1, SINGLES + 1)
        )

        # One call per customer, as many of BULK as fit in the time budget (at least 100).
        deadline = time.perf_counter() + budget
        with writes() as counted:
            start = time.perf_counter()
            while found.one_by_one < BULK and (
                found.one_by_one < 100 or time.perf_counter() < deadline
            ):
                found.one_by_one += 1
                loop.run_until_complete(groups.add_customers(singles, [found.one_by_one]))
            found.loop_ms = (time.perf_counter() - start) * 1000
        found.loop_writes = counted.count
        assert groups.get(singles)["customerCount"] == found.one_by_one

        # BULK customers in one call, the same again (a no-op: nothing to write), and removing
        # them in one call; ROUNDS times, for medians.
        customers = list(range(1_000_001, 1_000_001 + BULK))
        random.Random(7).shuffle(customers)

        def add_all() -> int:
            return loop.run_until_complete(groups.add_customers(bulk, customers))

        def remove_all() -> int:
            return loop.run_until_complete(groups.remove_customers(bulk, customers))

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
        found.bulk_ms, found.bulk_writes = median_of(rounds["add"])
        found.again_ms, found.again_writes = median_of(rounds["again"])
        found.remove_ms, found.remove_writes = median_of(rounds["remove"])
        add_all()
        assert groups.get(bulk)["customerCount"] == BULK

        # One customer per call again, now that the file holds the BULK memberships too.
        found.single_after_ms, _ = median_single_adds(
            loop, groups, single, range(SINGLES + 1, 2 * SINGLES + 1)
        )

        # Moving all BULK (null) to another group.
        move = groups.move_customers(bulk, singles, None, ("/0", "/1", "/2"))
        found.move_ms, moved, found.move_writes = measure(lambda: loop.run_until_complete(move))
        assert moved == BULK
        found.size = (folder / "bench.db.json").stat().st_size
    finally:
        loop.run_until_complete(store.aclose())
        loop.close()
    return found


def durable_rows(f: Durable) -> list[Row]:
    per_bulk = f.bulk_ms / BULK
    per_loop = f.loop_ms / f.one_by_one
    loop_label = "" if f.one_by_one == BULK else f" (extrapolated from {f.one_by_one:,})"
    return [
        Row(
            f"add {BULK:,} customers in one call (median of {ROUNDS})",
            ms(f.bulk_ms),
            f"add 1 customer: {ms(f.single_ms)} (median of {SINGLES})",
            times(f.bulk_ms / f.single_ms),
        ),
        Row(
            f"durable writes: add {BULK:,} in one call (most of {ROUNDS})",
            str(f.bulk_writes),
            f"add 1 customer: {f.single_writes:g} per call",
            times(f.bulk_writes / f.single_writes),
        ),
        Row(
            "time per customer: in one call",
            ms(per_bulk),
            f"one call each ({f.one_by_one:,} calls): {ms(per_loop)}",
            times(per_bulk / per_loop),
        ),
        Row(
            f"{BULK:,} customers one call each{loop_label}",
            ms(per_loop * BULK),
            f"in one call: {ms(f.bulk_ms)}",
            times(per_loop * BULK / f.bulk_ms),
        ),
        Row(
            "durable writes per customer: in one call",
            f"{f.bulk_writes / BULK:g}",
            f"one call each: {f.loop_writes / f.one_by_one:g}",
            times((f.bulk_writes / BULK) / (f.loop_writes / f.one_by_one)),
        ),
        Row(
            f"add the same {BULK:,} again (no change)",
            f"{ms(f.again_ms)}, {f.again_writes} writes",
            f"first add: {ms(f.bulk_ms)}, {f.bulk_writes} write",
            times(f.again_ms / f.bulk_ms),
        ),
        Row(
            f"add 1 customer, file holding {BULK + f.one_by_one + SINGLES:,} memberships",
            ms(f.single_after_ms),
            f"file holding {SINGLES:,}: {ms(f.single_ms)}",
            times(f.single_after_ms / f.single_ms),
        ),
        Row(
            f"moveCustomers(all {BULK:,}) / removeCustomers({BULK:,})",
            f"{ms(f.move_ms)} / {ms(f.remove_ms)}",
            f"writes: {f.move_writes} / {f.remove_writes}",
        ),
        Row("database file at the end", f"{f.size:,} bytes"),
    ]


# -- b. sorting 10,000 groups by customerCount against uid and name -----------------------------


def build_database(path: Path, count: int, rng: random.Random) -> int:
    """Write ``count`` groups of varied member counts as one database file; total members."""
    names: set[str] = set()
    while len(names) < count:  # random names, so the name ordering is not the uid ordering
        names.add(f"Group {rng.getrandbits(48):012x}")
    groups: dict[str, Any] = {}
    members: dict[str, Any] = {}
    total = 0
    for uid, name in enumerate(sorted(names, key=lambda _: rng.random()), start=1):
        groups[str(uid)] = {"name": name, "created": MOMENT, "changed": MOMENT}
        size = min(int(rng.lognormvariate(2.5, 1.5)), 5_000)  # many small groups, a few large
        if size:
            members[str(uid)] = {"customers": sorted(rng.sample(range(1, 1_000_000), size))}
            total += size
    data = {"customergroups": groups, "members": members, "meta": {"1": {"last_uid": count}}}
    files.write_atomic(path, json.dumps(data, separators=(",", ":")).encode())
    return total


def sorting(folder: Path, count: int, runs: int) -> list[Row]:
    path = folder / "groups.db.json"
    total = build_database(path, count, random.Random(11))
    store = TinyStore.open(path)
    try:
        groups = Customergroups(store, Schemas.load())
        assert groups.count(filters.MATCH_ALL) == count
        samples: dict[str, list[float]] = {"uid": [], "name": [], "customerCount": []}
        for _ in range(runs):  # interleaved, so drift hits every ordering alike
            for sort, found in samples.items():
                elapsed, page = timed(
                    functools.partial(groups.select, Selection(sort=sort, limit=LIMIT))
                )
                assert len(page) == LIMIT
                found.append(elapsed)
        top = groups.select(Selection(sort="customerCount", limit=count, descending=True))
        keys = [(g["customerCount"], g["uid"]) for g in top]
        assert keys == sorted(keys, reverse=True)
        assert sum(g["customerCount"] for g in top) == total
        biggest = top[0]["customerCount"]
    finally:
        store.close()

    median = {sort: statistics.median(found) for sort, found in samples.items()}
    by_count = median["customerCount"]
    label = f"{count:,} groups, {total:,} memberships, largest {biggest:,}"
    return [
        Row(f"select sort=customerCount limit={LIMIT} ({label})", ms(by_count)),
        Row(
            "select sort=customerCount / sort=uid",
            ms(by_count),
            f"sort=uid: {ms(median['uid'])}",
            times(by_count / median["uid"]),
        ),
        Row(
            "select sort=customerCount / sort=name",
            ms(by_count),
            f"sort=name: {ms(median['name'])}",
            times(by_count / median["name"]),
        ),
    ]


# -- output ---------------------------------------------------------------------------------------


def table(rows: Sequence[Row]) -> str:
    lines = ["| figure | value | baseline | ratio |", "|---|---|---|---|"]
    lines += [f"| {r.figure} | {r.value} | {r.baseline} | {r.ratio} |" for r in rows]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--groups", type=int, default=10_000, help="groups in part b (10000)")
    parser.add_argument("--runs", type=int, default=20, help="select runs per ordering (20)")
    parser.add_argument(
        "--budget", type=float, default=20.0, help="seconds for the one-call-each adds (20)"
    )
    parser.add_argument("--dir", type=Path, default=None, help="where to make the temp folder")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-members-", dir=args.dir) as tmp:
        folder = Path(tmp)
        (folder / "a").mkdir()
        (folder / "b").mkdir()
        rows = durable_rows(bulk_adds(folder / "a", args.budget))
        where = file_system(folder)
        rows += sorting(folder / "b", args.groups, args.runs)

    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(table(rows))
    print()
    print(
        f"Machine: {cpu_model()}, nproc {nproc}, Python {platform.python_version()} "
        f"({platform.python_implementation()}), {platform.system()} {platform.release()}; "
        f"database files in {args.dir or tempfile.gettempdir()} ({where}); "
        f"whole run {time.perf_counter() - started:.1f} s."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
