"""The bare aiohttp baseline for ``bench/figures.py``: one JSON handler and nothing else.

Usage: .venv/bin/python bench/baseline.py [--host 127.0.0.1] [--port 18080]

``POST /`` reads the body, parses it as JSON and answers a small JSON-RPC-shaped object, the
least any JSON-over-HTTP handler does. No access log, no middleware, no JSON-RPC dispatch: the
ratio of the service's requests per second to this server's, both measured by wrk in the same
run on the same core, is how close the service gets to what aiohttp itself allows here.
``GET /health`` answers as the service's does, so harness.Server can start it.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

from aiohttp import web

ANSWER = {"jsonrpc": "2.0", "result": {"name": "Students"}, "id": 1}


async def answer(request: web.Request) -> web.Response:
    """Parse the request body as JSON, then answer a small JSON object."""
    json.loads(await request.read())
    return web.json_response(ANSWER)


async def health(request: web.Request) -> web.Response:
    """What harness.Server waits for before it calls the server started."""
    return web.json_response({"status": "ok"})


def create_app() -> web.Application:
    app = web.Application()
    app.router.add_post("/", answer)
    app.router.add_get("/health", health)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=18080, help="port to listen on (18080)")
    args = parser.parse_args(argv)
    web.run_app(create_app(), host=args.host, port=args.port, access_log=None, print=None)


if __name__ == "__main__":
    main()
