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
``Problem`` dicts, each a JSON Pointer and a sentence a person can act on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, TypedDict


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
    """Bad params; ``data`` is a non-empty list of problems with pointers into the params."""

    code = -32602
    message = "Invalid params"

    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__(list(problems))
        self.problems: list[Problem] = list(problems)

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
