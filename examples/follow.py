"""Follow the change feed over a WebSocket: one line per committed change, as it commits.

    CUSTOMERGROUP_RPC_TOKEN=<token> python examples/follow.py [--cursor FILE] [--count N]

It subscribes after the position kept in FILE (0 when there is none), prints each event and
writes its position to FILE, so a run stopped (or a server restarted) goes on where it left
off, without a gap or a repeat. Error 9005 means the events after that position are no longer
kept: read every group again with Customergroup.list, then follow from the ``last`` the error
gives. CUSTOMERGROUP_RPC_URL defaults to http://127.0.0.1:8080/backend/jsonrpc/v1/.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

import aiohttp

URL = "http://127.0.0.1:8080/backend/jsonrpc/v1/"


def line(event: dict[str, Any]) -> str:
    """An event for people: position, moment, group, what changed, by which token."""
    what = {k: v for k, v in event.items() if k not in ("position", "at", "uid", "type", "token")}
    who = event["token"]["id"] if event["token"] else "-"
    return f"{event['position']:>6} {event['at']} group {event['uid']} {event['type']} {who} {what}"


async def follow(url: str, token: str, cursor: Path | None, count: int | None) -> int:
    since = int(cursor.read_text()) if cursor and cursor.exists() else 0
    async with aiohttp.ClientSession() as session, session.ws_connect(f"{url}?auth={token}") as ws:
        await ws.send_json(
            {"jsonrpc": "2.0", "method": "Customergroup.subscribe", "params": [since], "id": 1}
        )
        seen = 0
        async for message in ws:
            note = json.loads(message.data)
            if "error" in note or note.get("method") == "Customergroup.unsubscribed":
                print(json.dumps(note), file=sys.stderr)
                return 1
            if note.get("method") != "Customergroup.changed":
                continue  # the answer to subscribe
            print(line(note["params"]), flush=True)
            if cursor:
                cursor.write_text(str(note["params"]["position"]))
            seen += 1
            if count is not None and seen >= count:
                return 0
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cursor", type=Path, help="a file that keeps the last position seen")
    parser.add_argument("--count", type=int, help="stop after this many events")
    args = parser.parse_args()
    token = os.environ.get("CUSTOMERGROUP_RPC_TOKEN")
    if not token:
        print("follow.py: set CUSTOMERGROUP_RPC_TOKEN to an API token", file=sys.stderr)
        return 2
    url = os.environ.get("CUSTOMERGROUP_RPC_URL") or URL
    try:
        return asyncio.run(follow(url, token, args.cursor, args.count))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
