"""How a figure of bench/figures.py is measured and judged: rows, rounds, ratios.

A figure compares two sides (few groups and many, one worker and two, the service and a bare
handler) measured in rounds back to back, alternating which goes first; its ratio is the median
of the rounds' ratios, each side shown by its median run, and its row says whether the ratio
meets the figure's target. A figure is named by its ``Title``: what it measures and its target,
such as ``("durable `create` p50 latency, 1 connection", "≤ 1.5x")``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from report import ms, times  # bench/report.py, beside this script
from wrk import CREATE_LUA, FAILURES, POST_LUA, Bench, BenchError, Run, body

from harness.server import Server

SMALL = 100  # groups in the small databases, the baseline of most figures
PAGE = 20  # groups or members per page read
MANY = 32  # connections for the throughput figures
ROUNDS = 5  # rounds of the throughput and PostgreSQL figures (odd: a median round)
GET_BODY = body("get", [1, "name"])
Title = tuple[str, str]  # what a figure measures, and its target
T = TypeVar("T")


def call(server: Server, method: str, params: Any) -> Any:
    with server.client() as client:
        return client.call(method, params)


# -- rows ------------------------------------------------------------------------------------------


@dataclass
class Row:
    figure: str
    service: str = "—"
    baseline: str = "—"
    ratio: str = "—"
    target: str = "—"
    met: str = "—"

    @property
    def missed(self) -> bool:
        return self.met.startswith("**no")


def met(target: str, ratio: float) -> str:
    """Whether ``ratio`` meets a target such as ``≤ 1.5x`` or ``≥ 0.75x``: yes or **no**."""
    sign, limit = target.split()
    bound = float(limit.rstrip("x"))
    return "yes" if (ratio <= bound if sign == "≤" else ratio >= bound) else "**no**"


def judged(title: Title, service: str, baseline: str, ratio: float, said: str = "") -> Row:
    """A figure's row, its ratio (``said``, if not just the number) held to its target."""
    figure, target = title
    return Row(figure, service, baseline, said or times(ratio), target, met(target, ratio))


def failed(title: Title, exc: Exception) -> Row:
    message = " ".join(str(exc).split())[:300].replace("|", "/")
    figure, target = title
    return Row(figure, f"failed: {message}", target=target, met="**no** (not measured)")


def measured(title: Title, figure: Callable[[], Row]) -> Row:
    """A figure's row, or the failure that stopped it, said in the row."""
    try:
        return figure()
    except FAILURES as exc:
        return failed(title, exc)


def groups(n: int) -> str:
    return f"{n:,} groups"


def members(n: int) -> str:
    return f"a group of {n:,} customers"


def rate(run: Run) -> str:
    return f"{run.rate:,.0f}/s (p50 {ms(run.p50)}, p99 {ms(run.p99)})"


def latency(run: Run) -> str:
    return f"{ms(run.p50)} (p99 {ms(run.p99)}, {run.requests:,} requests)"


def told(found: list[float], of: str = "") -> str:
    """A median ratio, and every round's when there were several."""
    each = f" (rounds: {', '.join(f'{r:.2f}' for r in found)})" if len(found) > 1 else ""
    return times(statistics.median(found)) + of + each


# -- rounds of two sides or more -------------------------------------------------------------------

Side = Callable[[int], Run]  # one measured run in round i (its command line shown in round 0)
By = Literal["p50", "p99", "rate"]  # what a figure compares of two runs


def alternate(sides: dict[str, Callable[[int], T]], rounds: int) -> dict[str, list[T]]:
    """``rounds`` rounds of every side back to back, alternating which goes first."""
    runs: dict[str, list[T]] = {side: [] for side in sides}
    for round_ in range(rounds):
        for side in list(sides) if round_ % 2 == 0 else reversed(sides):
            runs[side].append(sides[side](round_))
    return runs


def middle(runs: list[Run], by: By) -> Run:
    """The median run (of an odd number) in ``by``."""
    return sorted(runs, key=lambda run: float(getattr(run, by)))[len(runs) // 2]


def ratios(above: list[Run], below: list[Run], by: By) -> list[float]:
    """Round by round, ``by`` of ``above`` over ``below``."""
    return [getattr(a, by) / getattr(b, by) for a, b in zip(above, below, strict=True)]


def compare(
    title: Title,
    runs: dict[str, list[Run]],
    above: tuple[str, str],
    below: tuple[str, str],
    by: By,
) -> Row:
    """A figure's row: the median of the rounds' ratios of side ``above`` to side
    ``below`` (each a side's name and its label) in ``by``, each side shown by its median run
    (of an odd number), held to the figure's target."""
    found = ratios(runs[above[0]], runs[below[0]], by)
    shown = rate if by == "rate" else latency
    service, baseline = (label + shown(middle(runs[name], by)) for name, label in (above, below))
    of = " of p99" if by == "p99" else ""
    return judged(title, service, baseline, statistics.median(found), told(found, of))


def post(bench: Bench, server: Server, text: str, connections: int, label: str) -> Side:
    """bench/post.lua with one body at ``server``, as a side of ``alternate``."""
    return lambda i: bench.measure(label if i == 0 else "", server, POST_LUA, [text], connections)


def creates(bench: Bench, server: Server, limit: int, label: str) -> Side:
    """bench/create.lua, one client, ``limit`` creates named after the round, each made."""

    def run(i: int) -> Run:
        before = call(server, "count", [{}])
        args = [f"Bench {i}", str(limit)]  # each database its own
        made = bench.measure(label if i == 0 else "", server, CREATE_LUA, args, 1)
        if call(server, "count", [{}]) - before < made.requests:
            raise BenchError(f"{made.requests} creates answered, fewer made ({label})")
        return made

    return run


def p50(title: Title, sides: list[tuple[str, Side]], rounds: int) -> Row:
    """p50 at one connection of the second side (many groups or members) against the first's
    (few), each side its label and its run."""
    (few, low), (many, high) = sides
    runs = alternate({"few": low, "many": high}, rounds)
    return compare(title, runs, ("many", f"{many}: "), ("few", f"{few}: "), "p50")


def gets(bench: Bench, sides: dict[str, tuple[Server, str]]) -> dict[str, list[Run]]:
    """``get(1, "name")`` at MANY connections on each side's server (its wrk label), ROUNDS
    rounds."""
    return alternate(
        {n: post(bench, s, GET_BODY, MANY, label) for n, (s, label) in sides.items()}, ROUNDS
    )
