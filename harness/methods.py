"""What each method takes and gives (schemas/methods.json, SPEC): the lower half of the contract.

``verdict`` says why a call cannot succeed, when the params alone say so (a uid that is no
uid, a customer uid below 1, a patch the object schema refuses); ``check_result`` holds a
result to its method's result schema and to the query that shaped it. Every check raises
``Broken`` (an AssertionError) with what it found; ``need`` is the one way to raise it.

>>> selected({"query": ["uid", "name"]}) == {"uid", "name"}
True
>>> verdict(METHODS["Customergroup.get"], {"uid": " 1"}).codes
frozenset({-32602})
>>> points_into([1, {"a": 2}], "/1/b"), points_into([1], "/1/b")
(True, False)
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from jsonschema import Draft7Validator

from customergroup_rpc.schemas import Method, Schemas
from customergroup_rpc.text import SPACES, fold

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
INVALID_PARAMS, NOT_FOUND = -32602, 9003
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


# --- pointers and problems ---


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


def check_problems(data: Any, allow_empty: bool) -> None:
    """A list of ``{"pointer", "message"}``, each pointer well-formed, each message words."""
    need(isinstance(data, list) and (allow_empty or data), "no list of problems:", data)
    for problem in data:
        need(isinstance(problem, dict) and problem.keys() == {"pointer", "message"}, problem)
        need(isinstance(problem["pointer"], str) and POINTER.fullmatch(problem["pointer"]), problem)
        need(isinstance(problem["message"], str) and problem["message"].strip(), problem)


def bound(method: Method, params: Any) -> dict[str, Any]:
    """The params a call gave, by name."""
    names = [p.name for p in method.params]
    if isinstance(params, dict):
        return {k: v for k, v in params.items() if k in names}
    return dict(zip(names, params, strict=False))


# --- verdicts on params ---


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
    """Every value a number that is a uid (as above), at least 1."""
    return all(not isinstance(v, str) and uid_ok(v, False) and v >= 1 for v in values)


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
