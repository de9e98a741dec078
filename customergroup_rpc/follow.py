"""Following the change feed over a WebSocket: ``Customergroup.subscribe`` and ``unsubscribe``.

A ``Follower`` belongs to one socket. ``subscribe`` (called by the method, in ``rpc.py``)
notes where to start; ``begin`` (called by ``app.py`` once the method's answer is sent) starts
the pump, so the answer always comes before the first notification. The pump reads the
committed events after its cursor (the store's events are the truth), sends each as a
``Customergroup.changed`` notification whose params are the event, moves the cursor to its
position, and when it has read everything waits until the store says events may have
committed (``feed_tick``, ``feed_wait``), or ``POLL`` seconds. Events come in position order,
which is commit order, and the cursor only moves past an event once it was sent: no gaps, no
duplicates; a client that reconnects subscribes again from the last position it saw.

The pump ends with a ``Customergroup.unsubscribed`` notification, saying why, when its cursor
fell behind the events kept (error 9005: resync) or its token was revoked (1004); quietly when
the socket closes or the client unsubscribes.

>>> NOTIFICATION.format(method="Customergroup.changed", params='{"position":1}')
'{"jsonrpc":"2.0","method":"Customergroup.changed","params":{"position":1}}'
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from .codec import dumps
from .errors import BadAuthToken, FeedGone, InternalError, InvalidRequest, RpcError, Unavailable
from .i18n import N_
from .service import Customergroups

log = logging.getLogger(__name__)
NOTIFICATION = '{{"jsonrpc":"2.0","method":"{method}","params":{params}}}'
CHANGED, ENDED = "Customergroup.changed", "Customergroup.unsubscribed"
# Events read at a time; seconds between reads when no wake-up comes (a lost NOTIFY).
PAGE, POLL = 500, 5.0
# What a closed socket raises when the pump sends on it.
_CLOSED = (ConnectionError, RuntimeError)


class Follower:
    """One socket's subscription to the feed: ``send`` writes a text message to the socket,
    ``allowed`` says whether its token is still valid."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        allowed: Callable[[], bool] = lambda: True,
        poll: float = POLL,
        counted: Callable[[int], None] = lambda change: None,
    ) -> None:
        self._send, self._allowed, self._poll = send, allowed, poll
        self._counted = counted  # told +1 when a subscription starts, -1 when it ends
        self._pending: tuple[Customergroups, int] | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def following(self) -> bool:
        return self._pending is not None or (self._pump is not None and not self._pump.done())

    def subscribe(self, groups: Customergroups, since: int) -> None:
        if self.following:
            raise InvalidRequest(
                N_(
                    "This WebSocket follows the change feed already: unsubscribe first, or "
                    "open another one."
                )
            )
        self._pending = (groups, since)

    def begin(self) -> None:
        """Start the subscription the last message asked for, if any (its answer is sent)."""
        if self._pending is not None:
            groups, since = self._pending
            self._pending = None
            self._pump = asyncio.get_running_loop().create_task(self._follow(groups, since))

    async def unsubscribe(self) -> bool:
        following = self.following
        self._pending = None
        await self.close()
        return following

    async def close(self) -> None:
        """Stop the pump (the socket closes, or the client unsubscribed)."""
        pump, self._pump = self._pump, None
        if pump is not None and not pump.done():
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump

    async def _follow(self, groups: Customergroups, cursor: int) -> None:
        self._counted(1)
        try:
            await self._events(groups, cursor)
        except _CLOSED:
            return  # the socket closed under a send: nobody to tell
        except FeedGone as gone:
            await self._end(gone.rpc(str))
        except BadAuthToken as refused:
            await self._end(refused)
        except Exception:
            log.exception("Following the change feed failed")
            await self._end(InternalError())
        finally:
            self._counted(-1)

    async def _events(self, groups: Customergroups, cursor: int) -> None:
        while True:
            if not self._allowed():
                raise BadAuthToken
            tick = groups.feed_tick()  # before the read: a commit after it wakes the wait
            try:
                page = await groups.changes(cursor, PAGE)
            except Unavailable:  # the database is down: the next poll reads again
                page = None
            for event in page.events if page else ():
                await self._send(_changed(event))
                cursor = event["position"]
            if page is not None and page.cut:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll):
                    await groups.feed_wait(tick)

    async def _end(self, error: RpcError) -> None:
        ended = {"error": error.response()["error"]}
        with contextlib.suppress(*_CLOSED):
            await self._send(NOTIFICATION.format(method=ENDED, params=dumps(ended).decode()))


def _changed(event: dict[str, Any]) -> str:
    return NOTIFICATION.format(method=CHANGED, params=dumps(event).decode())
