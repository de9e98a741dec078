"""The error tree: every error a client can see, each class carrying its JSON-RPC code.

    RpcError                      (code, message, data)
    ├── InvalidRequest    -32600  not a JSON-RPC 2.0 request; empty or oversized batch
    ├── MethodNotFound    -32601  unknown method
    ├── InvalidParams     -32602  bad params, query, filter or selection: pointers into params
    │   └── PatchInvalid  -32602  a patch that fails validation: pointers into the patch
    ├── InternalError     -32603  a bug; never carries data
    ├── BadAuthToken        1004  missing, unknown or revoked token
    ├── Forbidden           1006  the token lacks the scope
    └── ObjectNotFound      9003  no customer group with that uid

Only ``rpc.py`` turns these into responses. Bad-input errors carry a list of
``Problem`` dicts, each a JSON Pointer and a sentence a person can act on: at most ``LIMIT`` of
them, then one saying how many more were found, so that no request is answered with many times
its own size in problems (``Problems``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, TypedDict

LIMIT = 100
"""The most problems the answers to one request list; one more then says how many were left
out. A problem is at most a few hundred bytes, so problems add at most some 30 KB to an answer."""


class Problem(TypedDict):
    """One thing wrong with the input: where (RFC 6901 pointer) and what to do about it."""

    pointer: str
    message: str


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
    ...     found.add(f"/0/{i}", "Give a uid.")
    >>> shown = found.listed()
    >>> len(shown), shown[-1]["pointer"]
    (101, '/0')
    >>> shown[-1]["message"]
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

    def add(self, pointer: str, message: str) -> None:
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
        what = "problem here is" if more == 1 else "problems here are"
        what = f"more {what}" if shown else what
        message = f"{more:,} {what} not listed: the answers to a request list at most {LIMIT}."
        return [*shown, Problem(pointer=rest or "", message=message)]


class RpcError(Exception):
    """Base class: an error answered to the client as a JSON-RPC error object."""

    code: ClassVar[int]
    message: ClassVar[str]

    def __init__(self, data: object = None) -> None:
        super().__init__(self.message)
        self.data = data


class InvalidRequest(RpcError):
    code = -32600
    message = "Invalid Request"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)


class MethodNotFound(RpcError):
    code = -32601
    message = "Method not found"


class InvalidParams(RpcError):
    """Bad params; ``data`` is a non-empty list of problems with pointers into the params.

    Every list of problems a client sees as an error passes here, so here it is capped:
    ``problems`` (and ``data``) hold at most ``LIMIT`` and then one saying how many more.

    >>> error = InvalidParams([Problem(pointer=f"/{i}", message="No.") for i in range(500)])
    >>> len(error.problems), error.problems[-1]["pointer"], error.problems[-1]["message"][:30]
    (101, '', '400 more problems here are not')
    """

    code = -32602
    message = "Invalid params"

    def __init__(self, problems: Iterable[Problem]) -> None:
        found = problems if isinstance(problems, Problems) else Problems(problems)
        self.problems: list[Problem] = found.listed()
        super().__init__(self.problems)
        self.found = found  # all of them, for an answer that may show fewer (rpc.py)

    @classmethod
    def at(cls, pointer: str, message: str) -> InvalidParams:
        """One problem at one place.

        >>> InvalidParams.at("/0", "Give a uid.").problems
        [{'pointer': '/0', 'message': 'Give a uid.'}]
        """
        return cls([Problem(pointer=pointer, message=message)])


class PatchInvalid(InvalidParams):
    """A patch that fails validation; pointers are into the patch, as ``validate`` returns."""


class InternalError(RpcError):
    code = -32603
    message = "Internal error"


class BadAuthToken(RpcError):
    code = 1004
    message = "Bad auth token"


class Forbidden(RpcError):
    code = 1006
    message = "Forbidden"


class ObjectNotFound(RpcError):
    code = 9003
    message = "Object not found"

    def __init__(self, uid: int, pointer: str = "/0") -> None:
        super().__init__([Problem(pointer=pointer, message=f"No customer group with uid {uid}")])
        self.uid = uid


ERRORS: tuple[type[RpcError], ...] = (
    InvalidRequest,
    MethodNotFound,
    InvalidParams,
    InternalError,
    BadAuthToken,
    Forbidden,
    ObjectNotFound,
)
"""Every code a client can receive (besides -32700, which has no class: it is never raised)."""
