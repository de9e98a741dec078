"""What any reply to any body must be, by the contract: the model shared by fuzz and soak.

Stateless: it knows the methods (harness/methods.py), the documented errors and the rules on
params, not the data. Every check raises ``Broken`` (an AssertionError) with what it found.

- HTTP 200 with ``application/json``, or 204 with an empty body when nothing is to be answered;
  413 (one -32600 error) only for a body over ``max_body``;
- a body that is not standard JSON is one -32700; a batch is answered member by member, in
  order, notifications left out; an empty batch, or one over ``max_batch``, is one -32600;
- each answer has ``"jsonrpc": "2.0"`` and its request's id, exactly; never -32603; every error
  has a code documented for its method, its message and the documented ``data``: none, a string
  (-32600, -32601), the current group (9004), where the feed's kept events are (9005), or a
  non-empty list of ``{"pointer", "message"}`` (-32602, 9003) whose
  RFC 6901 pointers point into the params or the patch;
- no token is 1004, a view token writing is 1006, an unknown method is -32601, and what the
  params alone make fail (``methods.verdict``) fails; a result is as ``methods.check_result``
  says.

>>> code_of({"jsonrpc": "2.0", "error": {"code": -32601, "message": "Method not found"}})
-32601
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .client import MAX_BATCH, Reply
from .methods import (
    INVALID_PARAMS,
    METHODS,
    NOT_FOUND,
    bound,
    check_group,
    check_problems,
    check_result,
    need,
    points_into,
    resolve,
    uid_ok,
    verdict,
)

PARSE, INVALID_REQUEST, NO_METHOD, INTERNAL = -32700, -32600, -32601, -32603
BAD_TOKEN, FORBIDDEN = 1004, 1006
CONFLICT, RESYNC = 9004, 9005
MESSAGES = {
    PARSE: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    NO_METHOD: "Method not found",
    INVALID_PARAMS: "Invalid params",
    BAD_TOKEN: "Bad auth token",
    FORBIDDEN: "Forbidden",
    NOT_FOUND: "Object not found",
    CONFLICT: "Conflict",
    RESYNC: "Resync needed",
}


def same(a: Any, b: Any) -> bool:
    """JSON equality with types: 1, 1.0 and true are three ids."""
    return type(a) is type(b) and a == b


# --- a body and its reply ---


@dataclass(frozen=True)
class Sent:
    """What a body is by the JSON standard, and whether the service may call it unparseable."""

    ok: bool
    doc: Any = None
    parse_error_allowed: bool = False


@dataclass
class Checked:
    """The answered members of a checked reply, with their answers, in order."""

    pairs: list[tuple[Any, dict[str, Any]]] = field(default_factory=list)
    writes: bool = False  # whether a member may have written anything


def check_reply(
    sent: Sent,
    reply: Reply,
    scope: str | None,
    *,
    size: int,
    max_body: int,
    max_batch: int = MAX_BATCH,
) -> Checked:
    """Check a reply to a body of ``size`` bytes sent with a token of ``scope``."""
    need(reply.status in (200, 204, 413), "HTTP", reply.status, reply.body[:300].decode("latin-1"))
    if reply.status == 413:
        need(size > max_body, "413 for a body within max_body")
        need(reply.json()["error"]["code"] == INVALID_REQUEST, "413 without -32600")
        return Checked()
    need(size <= max_body, f"{reply.status} for a body over max_body")
    answer = None
    if reply.status == 200:
        need(reply.content_type == "application/json", "content type", reply.content_type)
        answer = json.loads(reply.body, parse_constant=not_json)
    else:
        need(reply.body == b"", "a 204 with a body")
    if not sent.ok or (sent.parse_error_allowed and code_of(answer) == PARSE):
        need(
            answer
            == {"jsonrpc": "2.0", "error": {"code": PARSE, "message": "Parse error"}, "id": None},
            "expected one parse error, got",
            answer,
        )
        return Checked()
    need(code_of(answer) != PARSE, "a parse error for standard JSON")
    if sent.doc == [] or (isinstance(sent.doc, list) and len(sent.doc) > max_batch):
        need(isinstance(answer, dict), "an empty or too long batch gets one error object")
        check_error(answer, None, "Invalid Request")
        return Checked()
    if isinstance(sent.doc, list):
        need(isinstance(answer, list) or answer is None, "a batch answered by", answer)
        answers = answer or []
    else:
        answers = [] if answer is None else [answer]
    need(answers != [] or reply.status == 204, "an empty array for an answer")
    members = sent.doc if isinstance(sent.doc, list) else [sent.doc]
    return check_members(members, answers, scope)


def not_json(name: str) -> Any:
    """A ``parse_constant`` for ``json.loads``: NaN and Infinity are not JSON."""
    raise ValueError(f"{name} is not JSON")


def code_of(answer: Any) -> Any:
    """The error code of an answer; None for anything else."""
    error = answer.get("error") if isinstance(answer, dict) else None
    return error.get("code") if isinstance(error, dict) else None


def check_members(members: list[Any], answers: list[Any], scope: str | None) -> Checked:
    """Pair answers with the members that need one, in order."""
    answers, checked = list(answers), Checked()
    for member in members:
        valid = valid_request(member)
        if valid and "id" not in member:
            checked.writes = checked.writes or _writes(member, scope)  # answered by nothing
            continue
        need(bool(answers), "no answer for", member)
        answer = answers.pop(0)
        if not valid:
            check_error(answer, _id_or_none(member), "Invalid Request")
        else:
            check_answer(member, answer, scope)
            checked.writes = checked.writes or ("result" in answer and _writes(member, scope))
        checked.pairs.append((member, answer))
    need(not answers, "answers nobody asked for:", answers)
    return checked


def valid_request(member: Any) -> bool:
    """A JSON-RPC 2.0 request object (id optional: without one it is a notification)."""
    return (
        isinstance(member, dict)
        and member.keys() <= {"jsonrpc", "method", "params", "id"}
        and member.get("jsonrpc") == "2.0"
        and isinstance(member.get("method"), str)
        and isinstance(member.get("params", []), list | dict)
        and _valid_id(member.get("id"))
    )


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _id_or_none(member: Any) -> Any:
    if isinstance(member, dict) and _valid_id(member.get("id")):
        return member.get("id")
    return None


def _writes(member: dict[str, Any], scope: str | None) -> bool:
    method = METHODS.get(member["method"])
    return method is not None and method.scope == "manage" and scope == "manage"


# --- one answer ---


def check_answer(request: dict[str, Any], answer: Any, scope: str | None) -> None:
    """One answer to a valid request with an id."""
    need(isinstance(answer, dict) and answer.get("jsonrpc") == "2.0", "not an answer:", answer)
    need("id" in answer and same(answer["id"], request["id"]), "id", request["id"], "got", answer)
    name = request["method"]
    method = METHODS.get(name)
    if method is None:
        error = check_error(answer, request["id"], "Method not found")
        need(error.get("data") == name, "-32601 data is not the method:", error)
        return
    if scope is None:
        need(answer.get("error") == {"code": 1004, "message": "Bad auth token"}, "got", answer)
        return
    if method.scope == "manage" and scope != "manage":
        need(answer.get("error") == {"code": 1006, "message": "Forbidden"}, "got", answer)
        return
    params = request.get("params", [])
    given = bound(method, params)
    why = verdict(method, given)
    if "error" in answer:
        error = check_error(answer, request["id"])
        need(error["code"] in method.errors, name, "answered", error["code"], "undocumented")
        if error["code"] in (INVALID_PARAMS, NOT_FOUND):
            check_pointers(error, params, given)
        need(why is None or error["code"] in why.codes, why, error)
        return
    need(answer.keys() == {"jsonrpc", "result", "id"}, "extra members:", answer)
    if why is not None and name.endswith(".validate") and why.patch:
        need(bool(answer["result"]), "validate found nothing wrong, yet", why.reason)
    else:
        need(why is None, "succeeded, yet", why.reason if why else "")
    check_result(method, given, answer["result"])


def check_error(answer: Any, id_: Any, message: str | None = None) -> dict[str, Any]:
    """The documented shape of an error answer; returns its error object."""
    need(isinstance(answer, dict) and answer.keys() == {"jsonrpc", "error", "id"}, answer)
    need(answer["jsonrpc"] == "2.0", answer)
    need(answer["id"] is None or same(answer["id"], id_), "id", id_, "answered as", answer)
    error: dict[str, Any] = answer["error"]
    need(isinstance(error, dict) and type(error.get("code")) is int, "no error code:", answer)
    code = error["code"]
    need(code != INTERNAL, "an internal error:", answer)
    need(code in MESSAGES and error["message"] == MESSAGES[code], "undocumented error:", error)
    need(error.keys() <= {"code", "message", "data"}, "extra members:", error)
    if code in (PARSE, BAD_TOKEN, FORBIDDEN):
        need("data" not in error, "data in", error)
    elif code in (INVALID_REQUEST, NO_METHOD):
        need("data" not in error or isinstance(error["data"], str), "data not a string:", error)
    elif code == CONFLICT:  # the group as it is now
        need(isinstance(error.get("data"), dict) and error["data"].keys() == {"current"}, error)
        check_group(error["data"]["current"], {})
    elif code == RESYNC:  # where the kept events begin and end, and what to do
        data = error.get("data")
        need(
            isinstance(data, dict) and data.keys() == {"since", "oldest", "last", "message"}, error
        )
    else:
        check_problems(error.get("data"), allow_empty=False)
    need(message is None or error["message"] == message, "expected", message, "got", error)
    return error


def check_pointers(error: dict[str, Any], params: Any, given: dict[str, Any]) -> None:
    """Pointers point into the params (9003: at the uid itself), or into the patch."""
    for problem in error["data"]:
        pointer = problem["pointer"]
        if error["code"] == NOT_FOUND:
            found, uid = resolve(params, pointer)
            need(found and uid_ok(uid, nullable=False), "9003 points at", pointer, "in", params)
            need(problem["message"].endswith(f" {int(uid)}"), problem)
        else:
            need(
                points_into(params, pointer) or points_into(given.get("patch"), pointer),
                pointer,
                "points nowhere in",
                params,
            )


def feed_problems(result: Callable[[str, Any], Any]) -> list[str]:
    """What breaks "one event per committed change, none for another" between the change feed
    and the groups a server answers with (``result``: a call's result, e.g. ``Server.result``;
    the feed must keep every event, as it does under the default retention): positions that
    do not run on, or a group whose newest event does not carry its version."""
    events: list[dict[str, Any]] = []
    since = 0
    while page := result("Customergroup.changes", [since, 10_000])["events"]:
        events += page
        since = page[-1]["position"]
    problems = []
    positions = [event["position"] for event in events]
    if positions != list(range(1, len(events) + 1)):
        problems.append(f"positions do not run 1, 2, 3, ...: {positions[:5]}...{positions[-5:]}")
    newest: dict[int, int] = {}
    for event in events:
        newest[event["uid"]] = event["version"]
        if "toUid" in event:
            newest[event["toUid"]] = event["toVersion"]
    for group in result("Customergroup.list", [["uid", "version"]]):
        if newest.get(group["uid"]) != group["version"]:
            problems.append(
                f"group {group['uid']}: version {group['version']}, its newest "
                f"event says {newest.get(group['uid'])}"
            )
    return problems
