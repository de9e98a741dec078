"""What ``GET /metrics`` shows, in Prometheus' text format (the only module importing
prometheus-client).

A request records its calls in its ``rpc.Context`` (method, outcome, when it started and
ended); ``finished`` tallies them in plain Python numbers, a few hundred nanoseconds a call,
and ``fold`` moves the tallies into prometheus-client's metrics, whose every update takes a
lock (several µs a request, 5% of a ``get``): at each scrape, and with ``serve --workers``
every ``FOLD_EVERY`` seconds as well. A method label is a known method's name or
``unknown``: clients cannot grow the label set. The groups and memberships of each shop are
asked of the store at scrape time (``scrape``), never on a request's path.

With ``serve --workers N`` every worker keeps its values in files of a folder the parent made
(``shared_between_processes``; prometheus-client's multi-process mode), and a scrape answered
by any worker adds up all of them, those of workers that have exited included: what another
worker counted shows at most ``FOLD_EVERY`` seconds late.

>>> metrics = Metrics(["Customergroup.get"])
>>> metrics.started()
>>> metrics.finished(["Customergroup.get", "Nope.nope"], [(None, 0.0, 0.001), (-32601, 0.0, 0.0)])
>>> text = metrics.scrape({1: (3, 7)}).decode()
>>> 'customergroup_rpc_calls_total{method="unknown",outcome="-32601"} 1.0' in text
True
>>> 'customergroup_rpc_memberships{shop="1"} 7.0' in text
True
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import tempfile
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.metrics_core import GaugeMetricFamily, Metric

from . import __version__

OK = "ok"
UNKNOWN = "unknown"
CONTENT_TYPE = CONTENT_TYPE_LATEST
FOLD_EVERY = 1.0  # seconds, with serve --workers
# One call: its outcome (None: a result; else the error code), when it started and ended
# (time.perf_counter()).
Timing = tuple[int | None, float, float]
# Groups and memberships of each shop, by shop id.
Totals = Mapping[int, tuple[int, int]]

# Seconds: a get answers in a fraction of a millisecond; a durable write in a few.
_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
_BATCH = (1, 2, 5, 10, 20, 50, 100, 200, 500)
_WRITES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
_MULTIPROC = "PROMETHEUS_MULTIPROC_DIR"


class _Tally:
    """Observations of one histogram (child) not yet folded into it."""

    __slots__ = ("bounds", "buckets", "child", "sum")

    def __init__(self, child: Histogram, bounds: Sequence[float]) -> None:
        self.child, self.bounds = child, bounds
        self.sum = 0.0
        self.buckets = [0] * (len(bounds) + 1)  # each bucket on its own; the last is +Inf

    def observe(self, value: float) -> None:
        self.sum += value
        self.buckets[bisect_left(self.bounds, value)] += 1  # the first bound >= value

    def fold(self) -> None:
        # prometheus-client has no public way to add to a bucket: its children keep one value
        # per bucket (_buckets, each on its own) and the sum (_sum), as observe() updates them.
        for i, count in enumerate(self.buckets):
            if count:
                self.child._buckets[i].inc(count)
                self.buckets[i] = 0
        if self.sum:
            self.child._sum.inc(self.sum)
            self.sum = 0.0


class _Calls:
    """Calls of one method label and outcome not yet folded, and that method's durations."""

    __slots__ = ("child", "count", "durations")

    def __init__(self, child: Counter, durations: _Tally) -> None:
        self.child, self.durations = child, durations
        self.count = 0


class Metrics:
    """The metrics of one app (and, with ``shared``, of every worker writing to that folder).

    ``methods`` are the method names that get a label of their own.
    """

    def __init__(self, methods: Iterable[str], *, shared: str | None = None) -> None:
        self._known = frozenset(methods)
        self._shared = shared
        self.registry = registry = CollectorRegistry()
        self._calls = Counter(
            "customergroup_rpc_calls",
            "JSON-RPC calls answered, by method and outcome (ok, or the error code).",
            ["method", "outcome"],
            registry=registry,
        )
        self._durations = Histogram(
            "customergroup_rpc_call_duration_seconds",
            "Time a JSON-RPC call took, from dispatch to its answer (a write's commit included).",
            ["method"],
            buckets=_SECONDS,
            registry=registry,
        )
        self._in_flight = Gauge(
            "customergroup_rpc_requests_in_flight",
            "JSON-RPC requests (HTTP bodies and WebSocket messages) being answered now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._sockets = Gauge(
            "customergroup_rpc_websockets_open",
            "WebSocket connections open now.",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._subscriptions = Gauge(
            "customergroup_rpc_subscriptions",
            "WebSockets following the change feed now (Customergroup.subscribe).",
            registry=registry,
            multiprocess_mode="livesum",
        )
        self._batches = self._histogram(
            "customergroup_rpc_batch_size", "Requests in each batch request.", _BATCH
        )
        self._commits = self._histogram(
            "customergroup_rpc_commit_duration_seconds",
            "Time each commit of the store took to become durable.",
            _SECONDS,
        )
        self._writes = self._histogram(
            "customergroup_rpc_commit_writes",
            "Writes each commit acknowledged (more than 1: group commit at work).",
            _WRITES,
        )
        self.in_flight = self.sockets = self.subscriptions = 0
        self._snapshot = _Snapshot()
        if shared is None:
            registry.register(self._snapshot)
            ProcessCollector(registry=registry)  # reads /proc of this process: one process only
        self._tallies: dict[tuple[str, int | None], _Calls] = {}
        self._timed: dict[str, _Tally] = {}
        for name in self._known:  # every known method shows from the start, at 0
            self._tally(name, None)

    # --- on a request's path: plain numbers ---

    def started(self) -> None:
        """A JSON-RPC request is being answered."""
        self.in_flight += 1

    def finished(self, methods: Sequence[str], timings: Sequence[Timing], batch: int = 0) -> None:
        """The request ``started`` announced was answered: its calls (``methods`` and their
        ``timings``, in order) and, for a batch, its size."""
        self.in_flight -= 1
        tallies = self._tallies
        for name, (outcome, began, ended) in zip(methods, timings, strict=False):
            calls = tallies.get((name, outcome)) or self._tally(name, outcome)
            calls.count += 1
            took, durations = ended - began, calls.durations
            durations.sum += took  # _Tally.observe, inline: this runs for every call
            durations.buckets[bisect_left(durations.bounds, took)] += 1
        if batch:
            self._batches.observe(batch)

    def opened(self) -> None:
        self.sockets += 1

    def closed(self) -> None:
        self.sockets -= 1

    def following(self, change: int) -> None:
        """A socket began (+1) or stopped (-1) following the change feed."""
        self.subscriptions += change

    def committed(self, seconds: float, writes: int) -> None:
        """The store made ``writes`` writes durable in one commit of ``seconds``."""
        self._commits.observe(seconds)
        self._writes.observe(writes)

    # --- off it ---

    def fold(self) -> None:
        """Move what was tallied into prometheus-client's metrics (and, with several
        workers, its files)."""
        for calls in self._tallies.values():
            if calls.count:
                calls.child.inc(calls.count)
                calls.count = 0
        for tally in (*self._timed.values(), self._batches, self._commits, self._writes):
            tally.fold()
        self._in_flight.set(self.in_flight)
        self._sockets.set(self.sockets)
        self._subscriptions.set(self.subscriptions)

    def scrape(self, totals: Totals) -> bytes:
        """The text a scrape gets; ``totals`` are each shop's groups and memberships now."""
        self.fold()
        self._snapshot.totals = totals
        if self._shared is None:
            return generate_latest(self.registry)
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=self._shared)  # type: ignore[no-untyped-call]
        registry.register(self._snapshot)
        return generate_latest(registry)

    @property
    def shared(self) -> bool:
        """Whether the values are shared with other workers (then fold them often)."""
        return self._shared is not None

    def _histogram(self, name: str, text: str, bounds: Sequence[float]) -> _Tally:
        return _Tally(Histogram(name, text, buckets=bounds, registry=self.registry), bounds)

    def _tally(self, name: str, outcome: int | None) -> _Calls:
        """The tally of a method and outcome, made once per label (an unknown name: the
        ``unknown`` label's, not kept under that name)."""
        label = name if name in self._known else UNKNOWN
        calls = self._tallies.get((label, outcome))
        if calls is None:
            durations = self._timed.get(label)
            if durations is None:
                child = self._durations.labels(label)
                durations = self._timed[label] = _Tally(child, _SECONDS)
            counter = self._calls.labels(label, OK if outcome is None else str(outcome))
            calls = self._tallies[(label, outcome)] = _Calls(counter, durations)
        return calls


class _Snapshot:
    """A collector of what is read at scrape time: each shop's totals, and the build."""

    def __init__(self) -> None:
        self.totals: Totals = {}

    def collect(self) -> Iterator[Metric]:
        build = GaugeMetricFamily(
            "customergroup_rpc_build_info",
            "The running version of customergroup-rpc and of Python; always 1.",
            labels=["version", "python"],
        )
        build.add_metric([__version__, platform.python_version()], 1)
        groups = GaugeMetricFamily(
            "customergroup_rpc_groups", "Customer groups, by shop.", labels=["shop"]
        )
        members = GaugeMetricFamily(
            "customergroup_rpc_memberships",
            "Memberships (a customer in a group), by shop.",
            labels=["shop"],
        )
        for shop, (count, memberships) in sorted(self.totals.items()):
            groups.add_metric([str(shop)], count)
            members.add_metric([str(shop)], memberships)
        return iter((build, groups, members))


@contextlib.contextmanager
def shared_between_processes() -> Iterator[str]:
    """A private folder where every metric made from now on, in this process and the ones it
    forks, keeps its values (``serve --workers``); removed at the end.

    prometheus-client picks its multi-process mode from ``PROMETHEUS_MULTIPROC_DIR`` when it
    is imported, long before ``serve`` knows how many workers it runs: so the choice it made
    then is replaced here, before any metric exists.
    """
    directory = tempfile.mkdtemp(prefix="customergroup-rpc-metrics-")  # mode 0700
    before, value_class = os.environ.get(_MULTIPROC), values.ValueClass
    os.environ[_MULTIPROC] = directory
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    try:
        yield directory
    finally:
        values.ValueClass = value_class
        if before is None:
            os.environ.pop(_MULTIPROC, None)
        else:
            os.environ[_MULTIPROC] = before
        shutil.rmtree(directory, ignore_errors=True)


def process_gone(pid: int, directory: str) -> None:
    """A worker exited: its gauges no longer count (its counters and histograms still do)."""
    multiprocess.mark_process_dead(pid, directory)  # type: ignore[no-untyped-call]
