"""The bare aiohttp baseline for ``bench/figures.py``: one JSON handler and nothing else.

Usage: .venv/bin/python bench/baseline.py [--host 127.0.0.1] [--port 18080] [--workers 1]

``POST /`` reads the body, parses it as JSON and answers a small JSON-RPC-shaped object, the
least any JSON-over-HTTP handler does. No access log, no middleware, no JSON-RPC dispatch: the
ratio of the service's requests per second to this server's, both measured by wrk in the same
run on the same core, is how close the service gets to what aiohttp itself allows here.
``GET /health`` answers as the service's does, so harness.Server can start it. ``--workers N``
runs N processes on one port as ``serve --workers`` does (customergroup_rpc/workers.py): what
a second process adds to a bare handler on this machine, beside what it adds to the service.
``--db postgresql://...`` makes the answer the name of group ``params[0]``, read from that
database with one statement (bench/rows.py): what a second process adds to the least handler
backed by PostgreSQL, on a machine whose cores PostgreSQL shares.
"""

from __future__ import annotations

import argparse
import functools
import json
import socket
import sys
from collections.abc import AsyncIterator, Callable, Sequence

from aiohttp import web
from rows import Names

from customergroup_rpc import workers

ANSWER = {"jsonrpc": "2.0", "result": {"name": "Students"}, "id": 1}
NAMES = web.AppKey("names", Names)
POOL = 10  # connections to PostgreSQL per process, as serve's default --pool-size


async def answer(request: web.Request) -> web.Response:
    """Parse the request body as JSON, then answer a small JSON object."""
    json.loads(await request.read())
    return web.json_response(ANSWER)


async def answer_read(request: web.Request) -> web.Response:
    """Parse the request body as JSON, read the name of group ``params[0]``, answer it."""
    call = json.loads(await request.read())
    name = await request.app[NAMES].name(call["params"][0])
    return web.json_response({"jsonrpc": "2.0", "result": {"name": name}, "id": call["id"]})


async def health(request: web.Request) -> web.Response:
    """What harness.Server waits for before it calls the server started."""
    return web.json_response({"status": "ok"})


def create_app(db: str | None = None) -> web.Application:
    app = web.Application()
    app.router.add_post("/", answer if db is None else answer_read)
    app.router.add_get("/health", health)
    if db is not None:
        app.cleanup_ctx.append(lambda app: _names(app, db))
    return app


async def _names(app: web.Application, db: str) -> AsyncIterator[None]:
    app[NAMES] = await Names.open(db, POOL)
    yield
    await app[NAMES].close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=18080, help="port to listen on (18080)")
    parser.add_argument("--workers", type=int, default=1, help="processes on the port (1)")
    parser.add_argument("--db", help="answer group params[0]'s name, read from this PostgreSQL")
    args = parser.parse_args(argv)
    if args.workers == 1:
        app = create_app(args.db)
        web.run_app(app, host=args.host, port=args.port, access_log=None, print=None)
        return
    worker = functools.partial(serve, db=args.db)
    sys.exit(workers.run(args.workers, workers.listen(args.host, args.port), worker))


def serve(sock: socket.socket, ready: Callable[[], None], db: str | None = None) -> None:
    """One worker, on the shared socket as the service's (``serve --workers``)."""

    async def started(app: web.Application) -> None:
        ready()

    app = create_app(db)
    app.on_startup.append(started)
    web.run_app(app, sock=sock, access_log=None, print=None, backlog=workers.ACCEPT_BATCH)


if __name__ == "__main__":
    main()
