"""Move every customer from one customer group to another.

Usage: python examples/move_customers.py [--url URL] [--token TOKEN] [--dry-run] [--by-name] FROM TO

FROM and TO are groups, each given by its uid (``12``) or by its exact name (``Staff``; the
service's ``{"equals": NAME}`` filter, so case matters). An argument made only of digits is a
uid; ``--by-name`` reads both as names, for groups called ``2024``. The script shows both groups
with their customerCount, calls ``Customergroup.moveCustomers(FROM, TO, null)`` (all or
nothing, on the server) and shows how many moved and both counts after. With ``--dry-run`` it
lists FROM's customers and shows what would move, changing nothing.

The URL and token default to the environment variables CUSTOMERGROUP_RPC_URL (else
http://127.0.0.1:8080/backend/jsonrpc/v1/) and CUSTOMERGROUP_RPC_TOKEN; moving needs a token with
scope ``manage``, a dry run only ``view``. JSON-RPC errors are printed with their code, message
and pointers, and the exit code is 1. Only the standard library is used.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8080/backend/jsonrpc/v1/"
FIELDS = ["uid", "name", "customerCount"]
PAGE = 10_000  # customer uids per listCustomers call
SHOWN = 10  # customer uids a dry run prints


class RpcError(Exception):
    """A JSON-RPC error response, or a transport failure, in a form fit to print."""

    def __init__(self, what: str, code: int | None, message: str, data: Any = None) -> None:
        super().__init__(message)
        self.what, self.code, self.message, self.data = what, code, message, data

    def __str__(self) -> str:
        code = "" if self.code is None else f" {self.code}"
        lines = [f"{self.what}: error{code}: {self.message}"]
        if isinstance(self.data, list):
            for item in self.data:
                if isinstance(item, dict):
                    lines.append(f"  {item.get('pointer', '')}: {item.get('message', item)}")
                else:
                    lines.append(f"  {item}")
        elif self.data is not None:
            lines.append(f"  {self.data}")
        return "\n".join(lines)


class Client:
    """Calls ``Customergroup.*`` methods over HTTP with a Bearer token (urllib only)."""

    def __init__(self, url: str, token: str, timeout: float = 30.0) -> None:
        self.url, self.token, self.timeout = url, token, timeout
        self._ids = itertools.count(1)

    def call(self, method: str, *params: Any) -> Any:
        """One call with positional params; its result, or ``RpcError``."""
        name = f"Customergroup.{method}"
        id_ = next(self._ids)
        body = {"jsonrpc": "2.0", "method": name, "params": list(params), "id": id_}
        answer = self._post(name, body)
        if not isinstance(answer, dict) or answer.get("id") != id_:
            raise RpcError(name, None, "the service did not answer with one response")
        error = answer.get("error")
        if isinstance(error, dict):
            code = error.get("code")
            raise RpcError(
                name,
                code if isinstance(code, int) else None,
                str(error.get("message", "unknown error")),
                error.get("data"),
            )
        if "result" not in answer:
            raise RpcError(name, None, "the answer has neither a result nor an error")
        return answer["result"]

    def _post(self, name: str, payload: object) -> Any:
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
                raise RpcError(
                    name, None, f"HTTP {exc.code} {exc.reason} from {self.url}"
                ) from None
        except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, "reason", exc)
            raise RpcError(name, None, f"cannot reach {self.url} ({reason})") from None
        except ValueError:
            raise RpcError(name, None, "the answer is not JSON") from None


class NotFound(Exception):
    """A group named on the command line does not exist."""


def find_group(client: Client, ref: str, by_name: bool) -> dict[str, Any]:
    """The group a command-line argument names: uid, name and customerCount."""
    if ref.isdigit() and not by_name:
        try:
            group: dict[str, Any] = client.call("get", int(ref), FIELDS)
        except RpcError as exc:
            if exc.code == 9003:
                raise NotFound(f"No customer group has uid {ref}.") from None
            raise
        return group
    found: list[dict[str, Any]] = client.call(
        "list", FIELDS, {"filters": {"/name": {"equals": ref}}, "limit": 2}
    )
    if len(found) == 1:
        return found[0]
    if found:  # names are unique; more than one match would be a server bug
        raise RpcError("Customergroup.list", None, f"several groups are named {ref!r}")
    message = f"No customer group is named {ref!r} (names match exactly, case included)."
    similar: list[dict[str, Any]] = client.call(
        "list", ["uid", "name"], {"filters": {"/name": {"contains": ref}}, "limit": 5}
    )
    if similar:
        message += " Similar: " + ", ".join(describe(g) for g in similar) + "."
    raise NotFound(message)


def customers_of(client: Client, uid: int) -> list[int]:
    """Every customer uid in a group, ascending, fetched a page at a time."""
    customers: list[int] = []
    while True:
        page = client.call("listCustomers", uid, {"limit": PAGE, "offset": len(customers)})
        customers += page
        if len(page) < PAGE:
            return customers


def describe(group: dict[str, Any]) -> str:
    return f"{group['name']} (uid {group['uid']})"


def plural(count: int) -> str:
    return f"{count} customer" + ("" if count == 1 else "s")


def show(label: str, group: dict[str, Any]) -> None:
    print(f"{label:<6} {describe(group)}: {plural(group['customerCount'])}")


def dry_run(client: Client, source: dict[str, Any], target: dict[str, Any]) -> None:
    moving = customers_of(client, source["uid"])
    staying = set(customers_of(client, target["uid"]))
    shown = ", ".join(str(c) for c in moving[:SHOWN]) + (", ..." if len(moving) > SHOWN else "")
    print(f"Dry run: would move {plural(len(moving))}" + (f" ({shown})" if moving else "") + ".")
    already = sum(1 for c in moving if c in staying)
    if already:
        print(f"{plural(already)} of them {'is' if already == 1 else 'are'} in both groups.")
    after = len(staying | set(moving))
    print(
        f"After a move {describe(source)} would have 0 customers "
        f"and {describe(target)} {plural(after)}. Nothing was changed."
    )


def move(client: Client, source: dict[str, Any], target: dict[str, Any]) -> None:
    moved: int = client.call("moveCustomers", source["uid"], target["uid"], None)
    print(f"Moved {plural(moved)} from {describe(source)} to {describe(target)}.")
    show("from", client.call("get", source["uid"], FIELDS))
    show("to", client.call("get", target["uid"], FIELDS))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("source", metavar="FROM", help="the group to empty: a uid or a name")
    parser.add_argument("target", metavar="TO", help="the group to fill: a uid or a name")
    url = os.environ.get("CUSTOMERGROUP_RPC_URL") or DEFAULT_URL
    parser.add_argument("--url", default=url, help=f"the JSON-RPC endpoint ({url})")
    token = os.environ.get("CUSTOMERGROUP_RPC_TOKEN")
    parser.add_argument("--token", default=token, help="an API token with scope manage")
    parser.add_argument("--dry-run", action="store_true", help="show what would move, move nothing")
    parser.add_argument("--by-name", action="store_true", help="FROM and TO are names, never uids")
    args = parser.parse_args(argv)
    if not args.token:
        parser.error("give an API token with --token or CUSTOMERGROUP_RPC_TOKEN")

    client = Client(args.url, args.token)
    try:
        source = find_group(client, args.source, args.by_name)
        target = find_group(client, args.target, args.by_name)
        show("from", source)
        show("to", target)
        if source["uid"] == target["uid"]:
            print(f"FROM and TO are the same group, {describe(source)}.", file=sys.stderr)
            return 1
        if args.dry_run:
            dry_run(client, source, target)
        else:
            move(client, source, target)
    except NotFound as exc:
        print(exc, file=sys.stderr)
        return 1
    except RpcError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
