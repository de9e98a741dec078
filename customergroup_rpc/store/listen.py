"""Wake-ups for followers of the change feed on PostgreSQL: LISTEN on a connection of its own.

Every write transaction NOTIFYs ``CHANNEL`` with its shop (``postgres.py``); PostgreSQL
delivers that at the commit, to every process listening. A ``Listener`` counts the
notifications of its shop (``tick``); a follower notes the tick, reads the events table (the
truth), and when it found nothing new waits for the tick to move on (``wait``). A notification
is only a wake-up: one lost while the connection was down costs nothing, because the tick also
moves on at every (re)connection, and followers read again. The connection is made when the
first follower asks, and made again a second after it is lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

log = logging.getLogger(__name__)
CHANNEL = "customergroup_rpc_feed"
RETRY = 1.0
CONNECT_TIMEOUT = 10.0


class Listener:
    """The notifications of one shop's feed, as a tick that moves on."""

    def __init__(self, url: str, shop: int) -> None:
        self._url, self._shop = url, str(shop)
        self._tick = 0
        self._moved = asyncio.Event()
        self._keeper: asyncio.Task[None] | None = None

    def tick(self) -> int:
        """The current tick; the first call starts listening."""
        if self._keeper is None:
            self._keeper = asyncio.get_running_loop().create_task(self._keep())
        return self._tick

    async def wait(self, tick: int) -> None:
        """Return once the tick is no longer ``tick``."""
        while self._tick == tick:
            await self._moved.wait()

    async def aclose(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keeper

    def _move(self) -> None:
        self._tick += 1
        self._moved.set()
        self._moved = asyncio.Event()

    def _notified(self, connection: Any, pid: int, channel: str, payload: object) -> None:
        if payload == self._shop:
            self._move()

    async def _keep(self) -> None:
        """Stay connected and listening; each (re)connection is a tick (anything may have
        been missed)."""
        said = False
        while True:
            lost = asyncio.Event()
            try:
                connection = await asyncpg.connect(self._url, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                if not said:
                    log.warning("The change feed's listener cannot reach PostgreSQL: %s", exc)
                    said = True
                await asyncio.sleep(RETRY)
                continue
            try:
                connection.add_termination_listener(lambda _, lost=lost: lost.set())
                await connection.add_listener(CHANNEL, self._notified)
                said = False
                self._move()
                await lost.wait()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                pass
            finally:
                with contextlib.suppress(Exception):
                    await asyncio.shield(connection.close(timeout=2))
            self._move()
            await asyncio.sleep(RETRY)
