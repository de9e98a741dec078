"""What any answer to any request must be, by the contract: the model shared by fuzz and soak.

Stateless: it knows the methods (schemas/methods.json), the documented errors and the rules
on params, not the data. Every check raises ``Broken`` (an AssertionError) with what it found.

- HTTP 200 with ``application/json``, or 204 with an empty body when nothing is to be answered;
  413 (one -32600 error) only for a body over ``max_body``;
- a body that is not standard JSON is one -32700; a batch is answered member by member, in
  order, notifications left out; an empty batch, or one over ``max_batch``, is one -32600;
- each answer has ``"jsonrpc": "2.0"`` and its request's id, exactly; never -32603; every error
  has a code documented for its method, its message and the documented ``data``: none, a string
  (-32600, -32601), or a non-empty list of ``{"pointer", "message"}`` (-32602, 9003) whose
  RFC 6901 pointers point into the params or the patch;
- no token is 1004, a view token writing is 1006, an unknown method is -32601, a bad uid,
  customer uid or patch is -32602 (``verdict``);
- a result validates against its method's result schema, groups with exactly the keys their
  query selects, in property order.

>>> selected({"query": ["uid", "name"]}) == {"uid", "name"}
True
>>> verdict(METHODS["Customergroup.get"], {"uid": " 1"}).codes
frozenset({-32602})
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from jsonschema import Draft7Validator

from customergroup_rpc.schemas import Method, Schemas
from customergroup_rpc.text import SPACES, fold

from .client import MAX_BATCH, Reply

SCHEMAS = Schemas.load()
METHODS = SCHEMAS.methods
PROPERTIES = tuple(SCHEMAS.properties())
FORMATS = Draft7Validator.FORMAT_CHECKER
# Results are checked with plain draft-07, where readOnly is an annotation (enforced on writes).
GROUP = Draft7Validator(SCHEMAS.object_for(new=False), format_checker=FORMATS)
RESULTS = {
    name: Draft7Validator(method.result["schema"], format_checker=FORMATS)
    for name, method in METHODS.items()
}
PARSE, INVALID_REQUEST, NO_METHOD, INVALID_PARAMS, INTERNAL = -32700, -32600, -32601, -32602, -32603
BAD_TOKEN, FORBIDDEN, NOT_FOUND = 1004, 1006, 9003
MESSAGES = {
    PARSE: "Parse error",
    INVALID_REQUEST: "Invalid Request",
    NO_METHOD: "Method not found",
    INVALID_PARAMS: "Invalid params",
    BAD_TOKEN: "Bad auth token",
    FORBIDDEN: "Forbidden",
    NOT_FOUND: "Object not found",
}
UID_PARAMS = frozenset({"uid", "fromUid", "toUid"})
MAX_UID = 2**53 - 1
POINTER = re.compile(r"(/([^~/]|~[01])*)*")
CONTROL = re.compile("[\u0000-\u001f\u007f-\u009f\u2028\u2029\ud800-\udfff]")
BIDI = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Broken(AssertionError):
    """An answer the contract (or a model of the data) does not allow."""


def need(ok: object, *why: Any) -> None:
    """Raise Broken with ``why`` (formatted only then) unless ``ok``."""
    if not ok:
        raise Broken(" ".join(w if isinstance(w, str) else short(w) for w in why))


def short(value: Any, limit: int = 300) -> str:
    """A value as JSON text for a message, cut at ``limit`` characters."""
    text = json.dumps(value, ensure_ascii=False, default=repr)
    return text if len(text) <= limit else text[:limit] + "..."


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
        answer = json.loads(reply.body, parse_constant=_not_json)
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


def _not_json(name: str) -> Any:
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
    else:
        check_problems(error.get("data"), allow_empty=False)
    need(message is None or error["message"] == message, "expected", message, "got", error)
    return error


def check_problems(data: Any, allow_empty: bool) -> None:
    """A list of ``{"pointer", "message"}``, each pointer well-formed, each message words."""
    need(isinstance(data, list) and (allow_empty or data), "no list of problems:", data)
    for problem in data:
        need(isinstance(problem, dict) and problem.keys() == {"pointer", "message"}, problem)
        need(isinstance(problem["pointer"], str) and POINTER.fullmatch(problem["pointer"]), problem)
        need(isinstance(problem["message"], str) and problem["message"].strip(), problem)


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


def resolve(doc: Any, pointer: str) -> tuple[bool, Any]:
    """Follow an RFC 6901 pointer; (found, value)."""
    if pointer == "":
        return True, doc
    for token in pointer[1:].split("/"):
        key = token.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict) and key in doc:
            doc = doc[key]
        elif isinstance(doc, list) and re.fullmatch(r"0|[1-9][0-9]*", key) and int(key) < len(doc):
            doc = doc[int(key)]
        else:
            return False, None
    return True, doc


def points_into(doc: Any, pointer: str) -> bool:
    """The pointer finds a value, or names a missing key or position of a container."""
    if resolve(doc, pointer)[0]:
        return True
    parent = pointer[: pointer.rfind("/")] if pointer else None
    found, value = resolve(doc, parent) if parent is not None else (False, None)
    return found and isinstance(value, dict | list)


def bound(method: Method, params: Any) -> dict[str, Any]:
    """The params a call gave, by name."""
    names = [p.name for p in method.params]
    if isinstance(params, dict):
        return {k: v for k, v in params.items() if k in names}
    return dict(zip(names, params, strict=False))


# --- the contract's verdicts on params ---


@dataclass(frozen=True)
class Verdict:
    reason: str
    codes: frozenset[int]
    patch: bool = False  # a problem of the patch: validate lists it rather than failing


def verdict(method: Method, given: dict[str, Any]) -> Verdict | None:
    """Why the contract says this call cannot succeed, if it says so."""
    for param in method.params:
        if param.name not in given:
            if param.required:
                return Verdict(f"{param.name} is missing", frozenset({INVALID_PARAMS}))
            continue
        value = given[param.name]
        nullable = "null" in param.schema.get("type", [])
        if param.name in UID_PARAMS and not uid_ok(value, nullable):
            return Verdict(f"{param.name} {value!r} is not a uid", frozenset({INVALID_PARAMS}))
        if param.name == "customers" and isinstance(value, list) and not customers_ok(value):
            return Verdict("a customer uid is not a positive integer", frozenset({INVALID_PARAMS}))
        if param.name == "patch":
            reason = patch_problem(value, new=given.get("uid") is None)
            if reason:
                codes = frozenset({INVALID_PARAMS, NOT_FOUND})
                return Verdict(reason, codes, patch=isinstance(value, dict))
    return None


def uid_ok(value: Any, nullable: bool) -> bool:
    """An integer or a string of ASCII digits (SPEC 4), or null where a new group is meant."""
    if value is None:
        return nullable
    if isinstance(value, str):
        return re.fullmatch(r"[0-9]+", value, re.ASCII) is not None
    if isinstance(value, float):
        return value.is_integer()  # 5.0 is an integer to JSON Schema
    return isinstance(value, int) and not isinstance(value, bool)


def customers_ok(values: list[Any]) -> bool:
    return all(_customer_ok(value) for value in values)


def _customer_ok(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    return value >= 1 and (isinstance(value, int) or value.is_integer())


def patch_problem(patch: Any, new: bool) -> str | None:
    if not isinstance(patch, dict):
        return "the patch is not an object"
    extra = sorted(set(patch) - {"name"})
    if extra:
        return f"the patch has keys other than name: {extra!r}"
    if "name" not in patch:
        return "a new group needs a name" if new else None
    name = patch["name"]
    if not isinstance(name, str):
        return "the name is not a string"
    trimmed = name.strip(SPACES)
    if not 1 <= len(trimmed) <= 255:
        return f"the trimmed name has {len(trimmed)} characters"
    if CONTROL.search(trimmed):
        return "the name holds a control character or a lone surrogate"
    if BIDI.search(trimmed):
        return "the name holds a bidirectional control"
    if not fold(trimmed):
        return "the name has no visible character"
    return None


# --- results ---


def selected(given: dict[str, Any]) -> set[str] | None:
    """The keys a well-formed query selects, when that is plain to see."""
    if "query" not in given:
        return set(PROPERTIES)
    query = given["query"]
    if query is True or query is None or (isinstance(query, dict) and not query):
        return set(PROPERTIES)
    if isinstance(query, str):
        return {query}
    if isinstance(query, list) and all(isinstance(q, str) for q in query):
        return set(query)
    if isinstance(query, dict) and all(isinstance(v, bool) for v in query.values()):
        return {k for k, v in query.items() if v}
    return None


def check_group(group: Any, given: dict[str, Any]) -> None:
    """A group valid by the object schema, its keys those the query selects, in property order."""
    problems = [e.message for e in GROUP.iter_errors(group)]
    need(not problems, group, "breaks the object schema:", problems)
    need(list(group) == [p for p in PROPERTIES if p in group], "not in property order:", group)
    keys = selected(given)
    need(keys is None or set(group) == keys, "keys", sorted(group), "selected", sorted(keys or ()))


def check_result(method: Method, given: dict[str, Any], result: Any) -> None:
    problems = [e.message for e in RESULTS[method.name].iter_errors(result)]
    need(not problems, method.name, "result", result, "breaks its schema:", problems)
    name = method.name.split(".", 1)[1]
    if name in ("get", "create", "set"):
        check_group(result, given)
    if name in ("create", "set") and "name" in result and "name" in given["patch"]:
        need(result["name"] == given["patch"]["name"].strip(), "stored", result, "sent", given)
    if name == "list":
        check_list(given, result)
    if name == "getSchema":
        need(result == SCHEMAS.object_for(new=given.get("uid") is None), "another schema")
    if name == "validate":
        check_problems(result, allow_empty=True)
        pointers = {p["pointer"] for p in result}
        for pointer in pointers:
            need(points_into(given["patch"], pointer), pointer, "is not in the patch")
        for key in set(given["patch"]) - {"name"}:
            pointer = "/" + key.replace("~", "~0").replace("/", "~1")
            need(pointer in pointers, "validate does not point at", pointer, result)
    if name == "listCustomers":
        selection = given.get("selection")
        descending = isinstance(selection, dict) and selection.get("descending") is True
        need(result == sorted(set(result), reverse=descending), "not in order:", result)
        _within_limit(selection, result)


def check_list(given: dict[str, Any], result: list[Any]) -> None:
    for group in result:
        check_group(group, given)
    selection = given.get("selection")
    selection = selection if isinstance(selection, dict) else {}
    _within_limit(selection, result)
    uids = [group["uid"] for group in result if "uid" in group]
    if selection.get("sort", "uid") == "uid" and len(uids) == len(result):
        need(uids == sorted(uids, reverse=selection.get("descending") is True), "order:", uids)
    need(len(set(uids)) == len(uids), "a group listed twice")


def _within_limit(selection: Any, result: list[Any]) -> None:
    if isinstance(selection, dict) and isinstance(selection.get("limit"), int):
        need(len(result) <= selection["limit"], len(result), "over the limit", selection)
