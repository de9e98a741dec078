"""The probes a load balancer or orchestrator asks, and the drain that SIGTERM begins.

- ``GET /livez``: the process answers. It never asks the database, so a database that is
  down does not get every instance restarted (which would not bring it back).
- ``GET /readyz``: send requests here. 503 while the store does not answer
  (``Store.ping``) and from the moment a drain begins; ``{"status": "ok"}`` otherwise.
- ``GET /health`` (``app.py``) stays as it was: the process and its database.

A drain (``serve`` on SIGTERM, see ``__main__``) fails ``/readyz`` at once, while the server
goes on answering everything else for ``--drain-seconds``: long enough for a load balancer
polling ``/readyz`` to stop sending new requests here before the port closes.

>>> readiness = Readiness()
>>> readiness.draining
False
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web


class Readiness:
    """Whether this instance takes requests: its store answers, and it is not draining."""

    def __init__(self) -> None:
        self.draining = False
        # The store's ping, set once the store is open (``app.py``).
        self.ping: Callable[[], Awaitable[bool]] | None = None


READINESS = web.AppKey("readiness", Readiness)


def add_probes(app: web.Application) -> Readiness:
    """Route ``/livez`` and ``/readyz``; the ``Readiness`` they answer from."""
    readiness = app[READINESS] = Readiness()
    app.router.add_get("/livez", _livez)
    app.router.add_get("/readyz", _readyz)
    return readiness


async def _livez(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def _readyz(request: web.Request) -> web.Response:
    readiness = request.app[READINESS]
    if readiness.draining:
        return _draining()
    if readiness.ping is None or not await readiness.ping():
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    if readiness.draining:  # it began while the store was asked
        return _draining()
    return web.json_response({"status": "ok"})


def _draining() -> web.Response:
    return web.json_response({"status": "draining"}, status=503)
