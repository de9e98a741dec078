"""The error tree: every error a client can see, each class carrying its JSON-RPC code.

    RpcError                      (code, message, data)
    ├── ParseError        -32700  the body is not JSON
    ├── InvalidRequest    -32600  not a JSON-RPC 2.0 request; empty or oversized batch
    ├── MethodNotFound    -32601  unknown method
    ├── InvalidParams     -32602  bad params, query, filter or selection: pointers into params
    │   └── PatchInvalid  -32602  a patch that fails validation: pointers into the patch
    ├── InternalError     -32603  a bug; never carries data
    ├── StoreUnavailable  -32000  the database cannot be reached (PostgreSQL)
    ├── WebshopMissing      1001  several shops, and the request names none
    ├── InvalidWebshop      1002  the request names a shop that is not there
    ├── InvalidLanguage     1003  the language parameter names no language the service has
    ├── BadAuthToken        1004  missing, unknown or revoked token
    ├── Forbidden           1006  the token lacks the scope, or does not open the shop
    ├── ObjectNotFound      9003  no customer group with that uid
    ├── Conflict            9004  the group's version is not the expected one (ifVersion)
    └── ResyncNeeded        9005  a feed position whose events are no longer kept

Every error object a client receives is built by ``RpcError.response``, from these classes;
``rpc.py`` is the one place exceptions become responses (``app.py`` answers the HTTP-level
refusals with ``InvalidRequest`` and a bug outside dispatch with ``InternalError``). The README's
error table and the OpenRPC document list ``ERRORS``, and tests hold them equal.

The service and the stores raise ``DomainError``s, which speak of the data, not of the
request (``GroupMissing``, ``NameTaken``, ``NotMembers``, ``SameGroup``, ``VersionConflict``,
``FeedGone``); ``rpc.py`` turns
each into its ``RpcError`` with ``DomainError.rpc``, giving it the pointers of the params.

Bad-input errors carry a list of
``Problem`` dicts, each a JSON Pointer and a ``Message`` a person can act on: at most ``LIMIT``
of them, then one saying how many more were found, so that no request is answered with many
times its own size in problems (``Problems``). Messages are values (``i18n``), put into words in
the request's language only when an answer is made (``RpcError.response``, ``worded``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar, TypedDict

from .i18n import ENGLISH, LANGUAGES, N_, Arg, Message, N_plural, render

LIMIT = 100
"""The most problems the answers to one request list; one more then says how many were left
out. A problem is at most a few hundred bytes, so problems add at most some 30 KB to an answer."""


class Problem(TypedDict):
    """One thing wrong with the input: where (RFC 6901 pointer) and what to do about it."""

    pointer: str
    message: Message


class Worded(TypedDict):
    """A problem as an answer shows it: its message in words."""

    pointer: str
    message: str


def worded(problems: Iterable[Problem], language: str = ENGLISH) -> list[Worded]:
    """Problems with their messages in words, in ``language``.

    >>> worded([Problem(pointer="/1/0", message=N_("The batch is empty."))], "sv")
    [{'pointer': '/1/0', 'message': 'Batchen är tom.'}]
    """
    return [Worded(pointer=p["pointer"], message=render(p["message"], language)) for p in problems]


def words(data: object, language: str = ENGLISH) -> object:
    """An error's ``data`` with its messages in words: a message, or a list of problems."""
    if isinstance(data, Message):
        return render(data, language)
    if isinstance(data, list):
        return worded(data, language)
    if isinstance(data, dict):  # an object with a message in it (9005)
        return {key: words(value, language) for key, value in data.items()}
    return data


def escape(token: str | int) -> str:
    """Escape one reference token for a JSON Pointer (RFC 6901).

    >>> escape("/name")
    '~1name'
    """
    return str(token).replace("~", "~0").replace("/", "~1")


def join(base: str, *tokens: str | int) -> str:
    """Append reference tokens to a JSON Pointer.

    >>> join("/1/filters", "/name", "startsWith")
    '/1/filters/~1name/startsWith'
    """
    return base + "".join("/" + escape(t) for t in tokens)


def parent(a: str, b: str) -> str:
    """The deepest JSON Pointer that holds both pointers (whole reference tokens).

    >>> parent("/0/~1uid/in/7", "/0/~1uid/in/12"), parent("/0/a", "/1"), parent("/0", "/0/x")
    ('/0/~1uid/in', '', '/0')
    """
    if b == a or b.startswith(a + "/"):  # the usual case: the same array again
        return a
    if a.startswith(b + "/"):
        return b
    tokens = a.split("/")
    same = 0
    for mine, theirs in zip(tokens, b.split("/"), strict=False):
        if mine != theirs:
            break
        same += 1
    return "/".join(tokens[:same])


class Problems(list[Problem]):
    """Problems as they are found: a list, plus a count of those past ``LIMIT`` not kept.

    Long loops over client arrays ask ``full`` and then only ``skip``: past the limit a bad
    value costs a count, not a message and a pointer. ``listed`` is what an answer shows.

    >>> found = Problems()
    >>> for i in range(250):
    ...     found.add(f"/0/{i}", N_("Give a uid."))
    >>> shown = found.listed()
    >>> len(shown), shown[-1]["pointer"]
    (101, '/0')
    >>> str(shown[-1]["message"])
    '150 more problems here are not listed: the answers to a request list at most 100.'
    """

    def __init__(self, found: Iterable[Problem] = ()) -> None:
        super().__init__(found)
        self.more = 0  # problems found and not kept
        self.rest: str | None = None  # a pointer that holds every problem not kept

    @property
    def full(self) -> bool:
        """Whether another problem would only be counted."""
        return len(self) >= LIMIT

    def add(self, pointer: str, message: Message) -> None:
        """Keep a problem, or only count it once ``LIMIT`` are kept."""
        if len(self) < LIMIT:
            self.append(Problem(pointer=pointer, message=message))
        else:
            self.skip(pointer)

    def skip(self, pointer: str, count: int = 1) -> None:
        """Count ``count`` problems at (or under) ``pointer`` without keeping them."""
        self.more += count
        self.rest = pointer if self.rest is None else parent(self.rest, pointer)

    def merge(self, other: Iterable[Problem]) -> None:
        """Take in another list's problems, and the count of those it did not keep."""
        for problem in other:
            self.add(problem["pointer"], problem["message"])
        if isinstance(other, Problems) and other.more:
            self.skip(other.rest or "", other.more)

    @property
    def total(self) -> int:
        """How many problems were found, kept or not."""
        return len(self) + self.more

    def listed(self, limit: int = LIMIT) -> list[Problem]:
        """The first ``limit`` problems, then one saying how many more there are, if any."""
        if len(self) <= limit and not self.more:
            return list(self)
        shown, rest = list(self[:limit]), self.rest
        for problem in self[limit:]:
            rest = problem["pointer"] if rest is None else parent(rest, problem["pointer"])
        more = self.total - len(shown)
        if shown:
            message = N_plural(
                "{n} more problem here is not listed: "
                "the answers to a request list at most {limit}.",
                "{n} more problems here are not listed: "
                "the answers to a request list at most {limit}.",
                more,
                limit=LIMIT,
            )
        else:
            message = N_plural(
                "{n} problem here is not listed: the answers to a request list at most {limit}.",
                "{n} problems here are not listed: the answers to a request list at most {limit}.",
                more,
                limit=LIMIT,
            )
        return [*shown, Problem(pointer=rest or "", message=message)]


# JSON's literals (null, true, false) read as themselves in every language.
_KINDS: dict[type, Arg] = {
    str: N_("a string"),
    list: N_("an array"),
    dict: N_("an object"),
    type(None): "null",
}


def describe(value: object) -> Arg:
    """How a JSON value reads in a message, without echoing long input.

    >>> [str(describe(v)) for v in ("x" * 99, None, False, 5, 1.5, 10**40)]
    ['a string', 'null', 'false', 'the number 5', 'the number 1.5', 'a number']
    >>> str(describe([1])), str(describe({}))
    ('an array', 'an object')
    """
    kind = _KINDS.get(type(value))  # not json.dumps: half a million bad values may pass here
    if kind is not None:
        return kind
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float) and -(10**20) < value < 10**20:
        return N_("the number {number}", number=repr(value))  # a number's repr is its JSON
    return N_("a number") if isinstance(value, int | float) else N_("a value")


def quote(text: str) -> str:
    """Client text quoted for a message, controls escaped, cut short so hostile input stays
    small in answers and out of logs.

    >>> quote("Staff"), quote("a\\nb"), quote("x" * 50)
    ("'Staff'", "'a\\\\nb'", "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx...'")
    """
    return repr(text if len(text) <= 40 else text[:37] + "...")


class RpcError(Exception):
    """Base class: an error answered to the client as a JSON-RPC error object.

    ``when`` says when a client gets it and ``shows`` what its ``data`` holds: the README's
    table of errors is ``table()`` and the OpenRPC document lists the same.
    """

    code: ClassVar[int]
    message: ClassVar[str]
    when: ClassVar[str]
    shows: ClassVar[str] = "none"

    def __init__(self, data: object = None) -> None:
        super().__init__(self.message)
        self.data = data

    def response(self, id_: Any = None, language: str = ENGLISH) -> dict[str, Any]:
        """The JSON-RPC response object carrying this error, its data's texts in ``language``
        (the ``message`` stays the platform's English name of the error).

        >>> MethodNotFound("Customergroup.nope").response(7)["error"]
        {'code': -32601, 'message': 'Method not found', 'data': 'Customergroup.nope'}
        >>> InvalidRequest(N_("The batch is empty.")).response(None, "da")["error"]
        {'code': -32600, 'message': 'Invalid Request', 'data': 'Batchen er tom.'}
        """
        return response(id_, self.code, self.message, words(self.data, language))


def response(id_: Any, code: int, message: str, data: object = None) -> dict[str, Any]:
    """A JSON-RPC error response object: the one place they are built (``data`` None: none)."""
    error: dict[str, Any] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "error": error, "id": id_}


class ParseError(RpcError):
    code = -32700
    message = "Parse error"
    when = "the body is not JSON (also `NaN`, or nesting too deep to parse)"


class InvalidRequest(RpcError):
    code = -32600
    message = "Invalid Request"
    when = "not a JSON-RPC 2.0 request; an empty batch; a batch over `--max-batch`"
    shows = "the reason"

    def __init__(self, reason: Message) -> None:
        super().__init__(reason)


class MethodNotFound(RpcError):
    code = -32601
    message = "Method not found"
    when = "unknown method"
    shows = "the method name"

    def __init__(self, name: str) -> None:
        super().__init__(name)


class InvalidParams(RpcError):
    """Bad params; ``data`` is a non-empty list of problems with pointers into the params.

    Every list of problems a client sees as an error passes here, so here it is capped:
    ``problems`` (and ``data``) hold at most ``LIMIT`` and then one saying how many more.

    >>> error = InvalidParams([Problem(pointer=f"/{i}", message=N_("No.")) for i in range(500)])
    >>> last = error.problems[-1]
    >>> len(error.problems), last["pointer"], str(last["message"])[:30]
    (101, '', '400 more problems here are not')
    """

    code = -32602
    message = "Invalid params"
    when = "bad params, query, filter or selection; a patch that fails validation"
    shows = "pointers into the params, or into the patch for patch problems (at most 100)"

    def __init__(self, problems: Iterable[Problem]) -> None:
        found = problems if isinstance(problems, Problems) else Problems(problems)
        self.problems: list[Problem] = found.listed()
        super().__init__(self.problems)
        self.found = found  # all of them, for an answer that may show fewer (rpc.py)

    @classmethod
    def at(cls, pointer: str, message: Message) -> InvalidParams:
        """One problem at one place.

        >>> worded(InvalidParams.at("/0", N_("Give a uid.")).problems)
        [{'pointer': '/0', 'message': 'Give a uid.'}]
        """
        return cls([Problem(pointer=pointer, message=message)])


class PatchInvalid(InvalidParams):
    """A patch that fails validation; pointers are into the patch, as ``validate`` returns."""


class InternalError(RpcError):
    code = -32603
    message = "Internal error"
    when = "a bug (logged on the server), or a write whose commit could not reach the disk"
    shows = "none: never exception text, paths or traces"


class StoreUnavailable(RpcError):
    code = -32000
    message = "Storage unavailable"
    when = (
        "the database cannot be reached (PostgreSQL stopped, restarting or unreachable; a "
        "shop's file another process holds); retry: a write cut off this way may or may not "
        "have been applied"
    )
    shows = "what to do"

    def __init__(self) -> None:
        super().__init__(N_("The database cannot be reached right now; try again shortly."))


class InvalidLanguage(RpcError):
    code = 1003
    message = "Invalid language"
    when = (
        "the `language` query parameter names a language the service does not have "
        "(it has `da`, `en`, `nb`, `sv`)"
    )
    shows = "the languages there are"

    def __init__(self) -> None:
        languages = ", ".join(LANGUAGES)
        message = N_(
            "There is no such language here; use one of: {languages}.", languages=languages
        )
        super().__init__(message)


class WebshopMissing(RpcError):
    code = 1001
    message = "Webshop missing"
    when = (
        "the deployment has several shops and the request names none (`webshop` in the query "
        "string or a cookie)"
    )


class InvalidWebshop(RpcError):
    code = 1002
    message = "Invalid webshop"
    when = "`webshop` is not a shop of the deployment (unknown, or not a positive integer)"


class BadAuthToken(RpcError):
    code = 1004
    message = "Bad auth token"
    when = "no token, or an unknown or revoked one"


class Forbidden(RpcError):
    code = 1006
    message = "Forbidden"
    when = "the token's scope does not allow the method, or the token does not open the shop"


class ObjectNotFound(RpcError):
    code = 9003
    message = "Object not found"
    when = "no customer group with that uid"
    shows = '`[{"pointer": "/0", "message": "No customer group with uid 7"}]`'

    def __init__(self, uid: int, pointer: str = "/0") -> None:
        message = N_("No customer group with uid {uid}", uid=uid)
        super().__init__([Problem(pointer=pointer, message=message)])
        self.uid = uid


class Conflict(RpcError):
    code = 9004
    message = "Conflict"
    when = "`ifVersion` is not the group's version: it changed since it was read; nothing changed"
    shows = '`{"current": {...}}`: the whole group as it is now, to merge and retry'

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__({"current": current})


class ResyncNeeded(RpcError):
    code = 9005
    message = "Resync needed"
    when = (
        "`changes` or `subscribe` from a position whose events are no longer kept (retention), "
        "or past the newest one (another or a new database)"
    )
    shows = '`{"since", "oldest", "last", "message"}`: read the groups again with `list`'

    def __init__(self, since: int, horizon: int, last: int) -> None:
        if since > last:
            message = N_(
                "Position {since} is past the newest event ({last}): this is another feed. "
                "Read every customer group again with Customergroup.list, then follow the "
                "changes after position {last}.",
                since=since,
                last=last,
            )
        else:
            message = N_(
                "The events after position {since} are no longer kept (kept: after {horizon}). "
                "Read every customer group again with Customergroup.list, then follow the "
                "changes after position {last}.",
                since=since,
                horizon=horizon,
                last=last,
            )
        data = {"since": since, "oldest": horizon + 1, "last": last, "message": message}
        super().__init__(data)


class DomainError(Exception):
    """Something about the data that stops an operation; ``rpc`` makes it a client's error."""

    def rpc(self, at: Callable[[str], str]) -> RpcError:
        """The error to answer, with ``at(param)`` the pointer of a param of the call."""
        raise NotImplementedError


class GroupMissing(DomainError):
    """No group with this uid; ``param`` names the param that gave it."""

    def __init__(self, uid: int, param: str = "uid") -> None:
        super().__init__(f"No customer group with uid {uid}")
        self.uid, self.param = uid, param

    def rpc(self, at: Callable[[str], str]) -> RpcError:
        return ObjectNotFound(self.uid, at(self.param))


class NameTaken(DomainError):
    """The name is another group's, as a person reads it."""

    def __init__(self, uid: int, name: str) -> None:
        super().__init__(f"The name is taken by customer group {uid}")
        self.uid, self.name = uid, name

    def problem(self) -> Problem:
        message = N_(
            "The name is taken: customer group {uid} is called {name}.",
            uid=self.uid,
            name=self.name,
        )
        return Problem(pointer="/name", message=message)

    def rpc(self, at: Callable[[str], str]) -> RpcError:
        return PatchInvalid([self.problem()])


class NotMembers(DomainError):
    """Listed customers that are not in the group: (position in the list, customer uid)."""

    def __init__(self, uid: int, strangers: Sequence[tuple[int, int]]) -> None:
        super().__init__(f"Customers not in customer group {uid}")
        self.uid, self.strangers = uid, strangers

    def rpc(self, at: Callable[[str], str]) -> RpcError:
        found = Problems()
        for index, customer in self.strangers:
            if found.full:  # past the limit: counted, not worded
                found.skip(at("customers"), len(self.strangers) - len(found))
                break
            message = N_(
                "Customer {customer} is not in customer group {uid}.",
                customer=customer,
                uid=self.uid,
            )
            found.add(join(at("customers"), index), message)
        return InvalidParams(found)


class Unavailable(DomainError):
    """The store cannot reach its database; it reconnects by itself."""

    def rpc(self, at: Callable[[str], str]) -> RpcError:
        return StoreUnavailable()


class VersionConflict(DomainError):
    """The group's version is not the one the write expected; ``current`` is the group."""

    def __init__(self, current: dict[str, Any]) -> None:
        super().__init__(f"Customer group {current['uid']} has version {current['version']}")
        self.current = current

    def rpc(self, at: Callable[[str], str]) -> RpcError:
        return Conflict(self.current)


class FeedGone(DomainError):
    """A feed position whose following events are not all kept, or past the newest."""

    def __init__(self, since: int, horizon: int, last: int) -> None:
        super().__init__(f"No events kept after position {since}")
        self.since, self.horizon, self.last = since, horizon, last

    def rpc(self, at: Callable[[str], str]) -> RpcError:
        return ResyncNeeded(self.since, self.horizon, self.last)


class SameGroup(DomainError):
    """A move from a group to itself."""

    def rpc(self, at: Callable[[str], str]) -> RpcError:
        message = N_("A group cannot move customers to itself; name another.")
        return InvalidParams.at(at("toUid"), message)


ERRORS: tuple[type[RpcError], ...] = (
    ParseError,
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    StoreUnavailable,
    WebshopMissing,
    InvalidWebshop,
    InvalidLanguage,
    BadAuthToken,
    Forbidden,
    ObjectNotFound,
    Conflict,
    ResyncNeeded,
)
"""Every error a client can receive, in the order the README and OpenRPC list them."""


def table() -> str:
    """The README's table of errors, made from ``ERRORS``.

    >>> print(table().splitlines()[-5])
    | 1004 | Bad auth token | no token, or an unknown or revoked one | none |
    """
    rows = [f"| {e.code} | {e.message} | {e.when} | {e.shows} |" for e in ERRORS]
    return "\n".join(["| code | message | when | data |", "|---|---|---|---|", *rows])
