"""Make sure some customer groups exist, then print a table of all groups.

Usage: python examples/client.py [--url URL] [--token TOKEN] [NAME ...]

The URL and token default to the environment variables CUSTOMERGROUP_RPC_URL and
CUSTOMERGROUP_RPC_TOKEN; the names default to Staff, Students and Wholesale. Names that exist
already (compared as the service compares them: case, width and spacing ignored) are left alone.
The missing ones are all validated first, in one batch, and created only if every one is valid.
Errors are printed with their pointers, and the exit code is 1.

jsonrpcclient builds the requests and parses the responses; urllib (standard library) sends them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import unicodedata
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

from jsonrpcclient import Error, Ok, parse, request

DEFAULT_URL = "http://127.0.0.1:8080/backend/jsonrpc/v1/"
DEFAULT_NAMES = ("Staff", "Students", "Wholesale")
PAGE = 100  # groups per list call
BATCH = 100  # requests per batch: the service's default limit


class RpcError(Exception):
    """A JSON-RPC error response, or a transport failure, in a form fit to print."""

    def __init__(self, what: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.what, self.code, self.message, self.data = what, code, message, data

    def __str__(self) -> str:
        code = "" if self.code is None else f" {self.code}"
        lines = [f"{self.what}: error{code}: {self.message}"]
        if isinstance(self.data, list):
            lines += [f"  {p.get('pointer', '')}: {p.get('message', p)}" for p in self.data]
        elif self.data is not None:
            lines.append(f"  {self.data}")
        return "\n".join(lines)


class Client:
    """Calls ``Customergroup.*`` methods over HTTP with a Bearer token."""

    def __init__(self, url: str, token: str, timeout: float = 10.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout

    def call(self, method: str, *params: Any) -> Any:
        """One call; its result, or ``RpcError``."""
        name = f"Customergroup.{method}"
        match parse(self._post(request(name, params=params))):
            case Ok(result, _):
                return result
            case Error(code, message, data, _):
                raise RpcError(name, code, message, data)
        raise RpcError(name, None, "the service did not answer with one response")

    def batch(self, method: str, calls: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Several calls of one method, sent as batches; their results in order, or ``RpcError``."""
        name = f"Customergroup.{method}"
        results: list[Any] = []
        for start in range(0, len(calls), BATCH):
            requests = [request(name, params=params) for params in calls[start : start + BATCH]]
            answers = parse(self._post(requests))
            if isinstance(answers, Error):  # the batch as a whole was refused
                raise RpcError(name, answers.code, answers.message, answers.data)
            if isinstance(answers, Ok):
                raise RpcError(name, None, "the service answered a batch with one response")
            by_id = {answer.id: answer for answer in answers}
            for req in requests:
                match by_id.get(req["id"]):
                    case Ok(result, _):
                        results.append(result)
                    case Error(code, message, data, _):
                        raise RpcError(name, code, message, data)
                    case _:
                        raise RpcError(name, None, f"no response to request {req['id']}")
        return results

    def _post(self, payload: object) -> Any:
        http = urllib.request.Request(
            self.url,
            data=json.dumps(payload).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(http, timeout=self.timeout) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            with exc:
                raise RpcError(self.url, None, f"HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, TimeoutError) as exc:
            raise RpcError(
                self.url, None, f"cannot reach the service ({getattr(exc, 'reason', exc)})"
            ) from None
        except ValueError:
            raise RpcError(self.url, None, "the answer is not JSON") from None


def name_key(name: str) -> str:
    """Close to how the service compares names: format characters (zero width, soft hyphen,
    bidirectional marks) dropped, NFKC, case-folded, whitespace trimmed and collapsed.

    Only a guess for matching names before any call; ``validate`` has the last word.
    """
    shown = "".join(c for c in name if unicodedata.category(c) != "Cf")
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", shown).casefold())
    return " ".join(folded.split())


def all_groups(client: Client) -> list[dict[str, Any]]:
    """Every group (uid, name, created), ordered by name, fetched a page at a time."""
    groups: list[dict[str, Any]] = []
    while True:
        page = client.call(
            "list",
            ["uid", "name", "created"],
            {"sort": "name", "limit": PAGE, "offset": len(groups)},
        )
        groups += page
        if len(page) < PAGE:
            return groups


def ensure_groups(client: Client, names: Sequence[str]) -> bool:
    """Create the groups of ``names`` that do not exist yet; False if a name is not valid."""
    existing = {name_key(g["name"]): g for g in all_groups(client)}
    wanted: dict[str, str] = {}
    for name in names:
        wanted.setdefault(name_key(name), name)
    missing: list[str] = []
    for key, name in wanted.items():
        if key in existing:
            print(f"exists   {existing[key]['name']} (uid {existing[key]['uid']})")
        else:
            missing.append(name)

    problems = client.batch("validate", [(None, {"name": name}) for name in missing])
    if any(problems):
        for name, found in zip(missing, problems, strict=True):
            for problem in found:
                print(
                    f"invalid  {name!r}: {problem['pointer']}: {problem['message']}",
                    file=sys.stderr,
                )
        print("Nothing was created.", file=sys.stderr)
        return False

    for name in missing:
        group = client.call("create", {"name": name}, ["uid", "name"])
        print(f"created  {group['name']} (uid {group['uid']})")
    return True


def print_table(groups: Sequence[dict[str, Any]]) -> None:
    rows = [("uid", "name", "created")] + [(str(g["uid"]), g["name"], g["created"]) for g in groups]
    uid_width = max(len(row[0]) for row in rows)
    name_width = max(len(row[1]) for row in rows)
    print()
    for uid, name, created in rows:
        print(f"{uid:>{uid_width}}  {name:<{name_width}}  {created}")
    print(f"{len(groups)} groups")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "names", nargs="*", metavar="NAME", help=f"group names (default: {' '.join(DEFAULT_NAMES)})"
    )
    url = os.environ.get("CUSTOMERGROUP_RPC_URL", DEFAULT_URL)
    parser.add_argument("--url", default=url, help=f"the JSON-RPC endpoint ({url})")
    token = os.environ.get("CUSTOMERGROUP_RPC_TOKEN")
    parser.add_argument("--token", default=token, help="an API token with scope manage")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give an API token with --token or CUSTOMERGROUP_RPC_TOKEN")

    client = Client(args.url, args.token)
    try:
        if not ensure_groups(client, args.names or DEFAULT_NAMES):
            return 1
        print_table(all_groups(client))
    except RpcError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
