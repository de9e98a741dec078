"""Soak the service: many clients doing every method over loopback for a bounded time, then check.

By default it starts its own server (harness.server: ``serve`` on 127.0.0.1 and a free port, a
database in a temporary folder, a fresh admin token, a ``view`` token made with ``token
create``) and stops it by its PID at the end; ``--db PATH`` uses that database file instead,
``--db postgresql://...`` that PostgreSQL database, and ``--workers N`` runs N worker processes.
``--url`` and ``--token`` target a server that is already running (``--view-token`` adds the
scope checks).

The modules, each a thing a reader can hold:

    soak_model.py    what each client knows (the groups it owns) and the answers it predicts
    soak_mix.py      what each client sends: every method, batches
    soak_bad.py      the calls it gets wrong on purpose, and the error each must get
    soak_load.py     the load driver: a thread per client, contract and model checks, figures
    soak_checks.py   the invariants checked afterwards, with the clients stopped
    soak_feed.py     a subscriber to the change feed during the run, and the feed's invariants

Every reply is held to the contract (harness/contract.py and methods.py: envelope, ids,
documented errors with pointers, verdicts on bad params, results valid and shaped by their
query), and every answer to its client's prediction.

Prints requests, requests/s, errors by code and p50/p99 latency per method, then the invariants;
``--json PATH`` also writes the summary as JSON (``-`` for standard output). Exits 1 when an
invariant broke, 2 when the server could not be started.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
import secrets
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from soak_checks import NAMES, STOP_TIMEOUT, Invariant, final_checks, own_server_invariants
from soak_feed import Follower, feed_invariants, head
from soak_load import Load, Stats, Target
from soak_model import Registry

from customergroup_rpc.store.postgres import is_url
from harness.client import ENDPOINT
from harness.server import Server, cli

REQUEST_TIMEOUT = 30.0
START_TIMEOUT = 30.0


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of unsorted values (0 for none)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))]


def run_clients(
    target: Target, args: argparse.Namespace, seed: int, before: set[int]
) -> tuple[list[Load], Stats, float]:
    """Run the clients to the deadline (or Ctrl-C); them, their merged figures, the time taken."""
    run = f"{seed:08x}"[-4:] + secrets.token_hex(2)  # in every name: runs on one file do not meet
    registry = Registry(sorted(before))
    started = time.monotonic()
    deadline = started + args.seconds
    loads = [
        Load(cid, target, run=run, deadline=deadline, seed=seed + cid, registry=registry)
        for cid in range(args.clients)
    ]
    try:
        for load in loads:
            load.start()
        for load in loads:
            load.join(max(0.1, deadline + REQUEST_TIMEOUT + 5 - time.monotonic()))
    except KeyboardInterrupt:  # or SIGTERM
        print("soak: interrupted; stopping the clients", file=sys.stderr)
        for load in loads:
            load.stopping.set()
        for load in loads:
            load.join(REQUEST_TIMEOUT + 5)
    elapsed = time.monotonic() - started
    stats = Stats()
    for load in loads:
        if load.is_alive() and load.error is None:
            load.error = f"client {load.cid} still running after the deadline"
        stats.merge(load.stats)
    return loads, stats, elapsed


def soak(args: argparse.Namespace) -> int:
    seed = args.seed if args.seed is not None else secrets.randbits(32)
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    server: Server | None = None
    try:
        if args.url:
            target, where = given_target(args)
        else:
            server = Server(
                folder,
                own_db(args, folder),
                admin_token="cgr_soak_" + secrets.token_urlsafe(24),
                args=["--workers", str(args.workers)],
            )
            try:
                server.start(START_TIMEOUT)
            except AssertionError as error:
                print(f"soak: could not start the server: {error}", file=sys.stderr)
                return 2
            target, where = own_target(server, folder)
        with target.client() as client:
            before = {group["uid"] for group in client.call("list", [["uid"]])}
            follower = Follower.started(target, head(client))  # the feed, over a WebSocket
        loads, stats, elapsed = run_clients(target, args, seed, before)
        with target.client() as client:
            invariants, final, members = final_checks(client, loads, stats, before)
            invariants += feed_invariants(client, follower, loads, final=final, members=members)
        if server is not None:
            invariants += own_server_invariants(server, folder, final, members)
        setup = {"clients": args.clients, "seed": seed, "server": where}
        report = summary(stats, elapsed, invariants, setup)
        print(table(report))
        if args.json == "-":
            print(json.dumps(report, indent=2, ensure_ascii=False))
        elif args.json:
            Path(args.json).write_text(json.dumps(report, indent=2, ensure_ascii=False), "utf-8")
        return 0 if report["ok"] else 1
    finally:
        if server is not None:
            server.stop(timeout=STOP_TIMEOUT)
        if args.keep:
            print(f"soak: kept {folder}", file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)


def given_target(args: argparse.Namespace) -> tuple[Target, str]:
    """The running server ``--url`` names."""
    parts = urlsplit(args.url)
    if parts.scheme != "http" or not parts.hostname:
        raise SystemExit(f"--url must be an http:// URL, not {args.url!r}")
    path = parts.path or ENDPOINT
    return Target(parts.hostname, parts.port or 80, path, args.token, args.view_token), args.url


def own_db(args: argparse.Namespace, folder: Path) -> str:
    """The database of the soak's own server: ``--db`` (a file or a URL), else a new file."""
    db = str(args.db or folder / "soak.db.json")
    return db if is_url(db) else str(Path(db).resolve())


def own_target(server: Server, folder: Path) -> tuple[Target, str]:
    """The soak's own server, with a ``view`` token made by ``token create`` for it."""
    made = cli(
        "token", "create", "--scope", "view", "--db", str(server.db), cwd=folder,
        admin_token=server.token,
    )  # fmt: skip
    view = made.stdout.strip() if made.returncode == 0 else None
    target = Target("127.0.0.1", server.port, ENDPOINT, server.token or "", view or None)
    pid = server.process.pid if server.process else "?"
    return target, f"own, pid {pid}, db {server.db}"


# -- report -----------------------------------------------------------------------------------


def summary(
    stats: Stats, seconds: float, invariants: Sequence[Invariant], setup: dict[str, Any]
) -> dict[str, Any]:
    """The figures and the invariants, as ``--json`` writes them."""
    others = sorted({*stats.calls, *stats.latency} - {*NAMES, "batch"})
    methods: dict[str, Any] = {}
    for label in [*NAMES, "batch", *others]:
        times = stats.latency.get(label, [])
        methods[label] = {
            "calls": stats.calls[label],
            "ok": stats.ok[label],
            "errors": keyed(stats.errors.get(label, {})),
            "requests": len(times),
            "p50_ms": round(percentile(times, 0.50), 3),
            "p99_ms": round(percentile(times, 0.99), 3),
        }
    return {
        **setup,
        "seconds": round(seconds, 3),
        "requests": stats.requests,
        "requests_per_second": round(stats.requests / seconds, 1) if seconds else 0.0,
        "calls": sum(stats.calls.values()),
        "http_statuses": keyed(stats.http),
        "errors_by_code": keyed(sum(stats.errors.values(), collections.Counter[int]())),
        "methods": methods,
        "invariants": [dataclasses.asdict(invariant) for invariant in invariants],
        "ok": all(invariant.ok for invariant in invariants),
    }


def keyed(counts: Mapping[int, int]) -> dict[str, int]:
    """Counts with their keys as text, in key order (as JSON has them)."""
    return {str(key): n for key, n in sorted(counts.items())}


def table(report: dict[str, Any]) -> str:
    lines = [
        f"soak: {report['clients']} clients, {report['seconds']:.1f} s, seed {report['seed']}, "
        f"server {report['server']}",
        f"requests {report['requests']:,} ({report['requests_per_second']:,.0f}/s), "
        f"calls {report['calls']:,} (batch members and bad calls included), "
        f"HTTP {report['http_statuses']}",
        "",
        f"| {'method':<16} | {'requests':>8} | {'calls':>7} | {'ok':>7} | {'errors by code':<36} "
        f"| {'p50 ms':>7} | {'p99 ms':>7} |",
        f"|{'-' * 18}|{'-' * 9}:|{'-' * 8}:|{'-' * 8}:|{'-' * 38}|{'-' * 8}:|{'-' * 8}:|",
    ]
    for label, row in report["methods"].items():
        codes = ", ".join(f"{code}: {n}" for code, n in row["errors"].items()) or "-"
        lines.append(
            f"| {label:<16} | {row['requests']:>8,} | {row['calls']:>7,} | {row['ok']:>7,} "
            f"| {codes:<36} | {row['p50_ms']:>7.2f} | {row['p99_ms']:>7.2f} |"
        )
    total = ", ".join(f"{code}: {n:,}" for code, n in report["errors_by_code"].items())
    lines += ["", f"errors by code: {total or 'none'}", "", "invariants:"]
    for invariant in report["invariants"]:
        mark = "ok    " if invariant["ok"] else "BROKEN"
        lines.append(f"  {mark} {invariant['name']}: {invariant['detail']}")
    lines += ["", "all invariants hold" if report["ok"] else "INVARIANTS BROKEN"]
    return "\n".join(lines)


# -- main -------------------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--clients", type=int, default=32, help="concurrent clients (32)")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long they run (30)")
    parser.add_argument("--seed", type=int, default=None, help="random seed (a fresh one)")
    parser.add_argument("--url", help="a running server's endpoint URL, instead of starting one")
    parser.add_argument("--token", help="a manage token for --url")
    parser.add_argument("--view-token", help="a view token for --url (scope checks)")
    parser.add_argument("--db", help="database (file or postgresql:// URL) of its own server")
    parser.add_argument("--workers", type=int, default=1, help="its own server's workers (1)")
    parser.add_argument("--json", help="also write the summary as JSON to this file (- = stdout)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = parser.parse_args(argv)
    if args.url and not args.token:
        parser.error("--url needs --token")
    if args.url and args.db:
        parser.error("--url and --db exclude each other")
    if args.clients < 1 or not 0 < args.seconds <= 3600:
        parser.error("--clients must be at least 1 and --seconds in (0, 3600]")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop as Ctrl-C does
    try:
        return soak(args)
    except KeyboardInterrupt:
        print("soak: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
