"""Turns on the event loop: a request that brings much work lets the others go first.

The service answers on one event loop, and whatever a request does between two awaits, every
other request waits for. A request that brings much work takes a turn where it can: after its
body is parsed, when that body is ``LARGE_BODY`` bytes or more (rpc.py), and before a change
of ``MANY`` customers or more is checked and staged (store/tiny.py). The requests that came
meanwhile are then answered first, for up to ``TURN`` seconds. ``asyncio.sleep(0)`` would not
do: the task that yields is ahead of theirs in the loop's queue, and would run first again.

An ``addCustomers`` of 10,000 to a group of 1,000,000 holds the loop for a few ms in all, in
pieces of about 1 ms with these turns (README, figure 3 of ``make bench``).

>>> import asyncio
>>> async def demo():
...     order = []
...     async def big():
...         await take_turn()
...         order.append("big")
...     async def small():
...         order.append("small")
...     await asyncio.gather(big(), small())
...     return order
>>> asyncio.run(demo())
['small', 'big']
"""

from __future__ import annotations

import asyncio

TURN = 0.001  # seconds
LARGE_BODY = 64 * 1024  # bytes
MANY = 1_000  # customers


async def take_turn() -> None:
    """Let the requests that are waiting go first (for up to ``TURN`` seconds)."""
    await asyncio.sleep(TURN)


async def before_change(customers: int) -> None:
    """Before a change of ``customers`` is checked and staged: a turn when they are ``MANY``
    or more."""
    if customers >= MANY:
        await take_turn()
