"""DISPATCH: JSON-RPC 2.0 over the service; the one place exceptions become error responses.

jsonrpcserver calls the methods (its ``Request``, ``call`` and ``Success``/``Error`` results)
and tells notifications apart. We parse the body, split batches and check each member
ourselves, because the library rejects a whole batch for one bad member, has no batch limit,
and copies exception text into responses (SPEC 1, 7); and we skip the parts of its dispatch
that cost every request several µs and do nothing for us (see ``_one`` and ``_response``).

>>> import asyncio
>>> from customergroup_rpc.schemas import Schemas
>>> from customergroup_rpc.service import Customergroups
>>> from customergroup_rpc.store import open_store
>>> rpc = Dispatcher(Customergroups(open_store(None), Schemas.load()), Schemas.load())
>>> body = b'{"jsonrpc": "2.0", "method": "Customergroup.count", "id": 1}'
>>> asyncio.run(rpc.handle(body, Context(scope="view")))
b'{"jsonrpc":"2.0","result":0,"id":1}'

Writes pass the caller's token (its id and scope: ``Context.actor``) to the service, which
has the store record it in the change feed. ``Customergroup.subscribe`` and ``unsubscribe``
need the ``Follower`` of a WebSocket (``Context.feed``, set by ``app.py``); over HTTP they are
-32600.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from jsonrpcserver import Error, Success
from jsonrpcserver.async_dispatcher import call
from jsonrpcserver.dispatcher import create_request, not_notification
from jsonrpcserver.result import (  # type: ignore[attr-defined]  # exported, not in __all__
    NODATA,
    Left,
    Result,
)

from . import i18n, openrpc, query
from .codec import dumps, loads
from .errors import (
    LIMIT,
    BadAuthToken,
    DomainError,
    Forbidden,
    InternalError,
    InvalidLanguage,
    InvalidParams,
    InvalidRequest,
    MethodNotFound,
    ParseError,
    Problems,
    RpcError,
    StoreUnavailable,
    Unavailable,
    VersionConflict,
    Worded,
    response,
    words,
)
from .i18n import N_, Message
from .params import Args, Binder
from .schemas import Method, Schemas
from .service import Actor, Customergroups
from .store import WriteFailed
from .tokens import GRANTS
from .turns import LARGE_BODY, take_turn

log = logging.getLogger("customergroup_rpc")
_MEMBERS = frozenset({"jsonrpc", "method", "params", "id"})
# Problems a request may be answered with, in bytes: four times its size, and at least this.
PROBLEM_BYTES = 2048


class Follower(Protocol):
    """A WebSocket's subscription to the change feed (``follow.py``)."""

    def subscribe(self, groups: Customergroups, since: int) -> None:
        """Follow the feed after ``since`` once the answer is sent; ``InvalidRequest`` if the
        socket follows it already."""

    async def unsubscribe(self) -> bool:
        """Stop following; whether the socket followed the feed."""


@dataclass(slots=True)
class Context:
    """One HTTP request's caller: the scope of its token (None: no valid token), and the
    customer groups of the shop it selected (``webshop``), or the error every method call of
    the request gets instead (1001, 1002, 1006 for a shop the token does not open; -32000), as
    each gets 1004 for a bad token; None: the dispatcher's own (a deployment of one shop); and
    the language its answers are in; the id of its token (for the change feed) and, on a
    WebSocket, the socket's ``Follower``."""

    scope: str | None
    shop: Customergroups | RpcError | None = None
    shop_id: int | None = None  # the shop it works on, once selected and opened to its token
    language: i18n.Language = i18n.DEFAULT
    token: str | None = None
    feed: Follower | None = None
    methods: list[str] = field(default_factory=list)
    # Each call's outcome (None: a result; else its error code) and when it started and ended
    # (perf_counter), in the order of ``methods``: for metrics, logs and traces.
    timings: list[tuple[int | None, float, float]] = field(default_factory=list)
    # The members of a batch request (0: a single request).
    batch: int = 0
    # How many more problems the answers to this request may list, and in how many bytes: a
    # batch shares them, so a batch of a hundred bad members is not answered with a hundred
    # times the limit, and no request gets back more than a few times its size in problems.
    problems_left: int = LIMIT
    problem_bytes: int = PROBLEM_BYTES
    # rpc.discover is answered once per request: a batch of them would amplify 500 times.
    discovered: bool = False

    def authorize(self, needed: str) -> None:
        self.check_language()
        if self.scope is None:
            raise BadAuthToken
        if isinstance(self.shop, RpcError):
            raise self.shop.with_traceback(None)  # one error for every call of the request
        if needed not in GRANTS[self.scope]:
            raise Forbidden

    @property
    def actor(self) -> Actor | None:
        """Who writes, for the change feed."""
        return None if self.scope is None or self.token is None else Actor(self.token, self.scope)

    def groups(self, default: Customergroups) -> Customergroups:
        """The customer groups this request works on (``default`` if it selected no shop)."""
        return self.shop if isinstance(self.shop, Customergroups) else default

    def check_language(self) -> None:
        """1003 when the request's ``language`` parameter names no language the service has:
        the context of a call is checked before its token, as the platform reads it first."""
        if not self.language.valid:
            raise InvalidLanguage

    def refused(self, code: int, started: float) -> None:
        """A request or batch member answered with an error before any method ran."""
        self.methods.append("-")
        self.timings.append((code, started, time.perf_counter()))

    def lost(self, since: int, code: int) -> None:
        """The calls from ``since`` on failed after all: their writes were not committed."""
        timings = self.timings
        for i in range(since, len(timings)):
            outcome, started, ended = timings[i]
            if outcome is None:
                timings[i] = (code, started, ended)

    def share(self, found: Problems) -> list[Worded]:
        """The problems one answer lists, out of what is left for this request, in words:
        their size is that of the words in the request's language, in UTF-8 as answered."""
        language = self.language.code
        shown: list[Worded] = []
        for problem in found[: self.problems_left]:
            text = i18n.render(problem["message"], language)
            size = _utf8_size(problem["pointer"]) + _utf8_size(text) + 32  # with its JSON
            if size > self.problem_bytes:
                break
            self.problem_bytes -= size
            shown.append(Worded(pointer=problem["pointer"], message=text))
        self.problems_left -= len(shown)
        rest = found.listed(len(shown))[len(shown) :]  # at most one: how many are not listed
        return shown + [
            Worded(pointer=p["pointer"], message=i18n.render(p["message"], language)) for p in rest
        ]


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


Call = Callable[[Customergroups, Args, Context], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class _Texts:
    """A result whose texts for people (a schema's) are answered in the request's language."""

    schema: Any


async def _count(groups: Customergroups, args: Args, context: Context) -> Any:
    return await groups.count(args.filters("filters"))


async def _get(groups: Customergroups, args: Args, context: Context) -> Any:
    shape = args.query("query")
    return query.apply(shape, await groups.get(args.uid("uid")))


async def _get_schema(groups: Customergroups, args: Args, context: Context) -> Any:
    return _Texts(await groups.schema(args.uid_or_none("uid")))


async def _list(groups: Customergroups, args: Args, context: Context) -> Any:
    shape, selection = args.query("query"), args.selection("selection")
    return [query.apply(shape, group) for group in await groups.select(selection)]


async def _validate(groups: Customergroups, args: Args, context: Context) -> Any:
    # A Problems result is capped like an error's problems (Context.share).
    return Problems(await groups.validate(args.uid_or_none("uid"), args.raw("patch")))


async def _list_customers(groups: Customergroups, args: Args, context: Context) -> Any:
    return await groups.list_customers(args.uid("uid"), args.page("selection"))


# How many events one changes call answers when it does not say (methods.json: 10,000 at most).
EVENTS = 1_000


async def _changes(groups: Customergroups, args: Args, context: Context) -> Any:
    limit = args.integer("limit")
    found = await groups.changes(
        args.integer("since"),
        EVENTS if limit is None else limit,
        args.uid_or_none("uid"),
        args.raw("token"),
    )
    return {"events": found.events, "last": found.last}


async def _create(groups: Customergroups, args: Args, context: Context) -> Any:
    shape = args.query("query")
    return query.apply(shape, await groups.set(None, args.raw("patch"), actor=context.actor))


async def _delete(groups: Customergroups, args: Args, context: Context) -> Any:
    await groups.delete(args.uid("uid"), actor=context.actor, expected=args.integer("ifVersion"))
    return True


async def _set(groups: Customergroups, args: Args, context: Context) -> Any:
    shape, uid, expected = args.query("query"), args.uid_or_none("uid"), args.integer("ifVersion")
    if uid is None and expected is not None:
        message = N_("ifVersion is for an existing group; leave it out (or null) to create one.")
        raise InvalidParams.at(args.at("ifVersion"), message)
    group = await groups.set(uid, args.raw("patch"), actor=context.actor, expected=expected)
    return query.apply(shape, group)


async def _add_customers(groups: Customergroups, args: Args, context: Context) -> Any:
    return await groups.add_customers(
        args.uid("uid"),
        args.customers("customers"),
        actor=context.actor,
        expected=args.integer("ifVersion"),
    )


async def _remove_customers(groups: Customergroups, args: Args, context: Context) -> Any:
    return await groups.remove_customers(
        args.uid("uid"),
        args.customers("customers"),
        actor=context.actor,
        expected=args.integer("ifVersion"),
    )


async def _move_customers(groups: Customergroups, args: Args, context: Context) -> Any:
    source, target = args.uid("fromUid"), args.uid("toUid")
    return await groups.move_customers(
        source,
        target,
        args.customers_or_none("customers"),
        actor=context.actor,
        expected=args.integer("ifVersion"),
    )


async def _subscribe(groups: Customergroups, args: Args, context: Context) -> Any:
    if context.feed is None:
        raise InvalidRequest(_socket_only("Customergroup.subscribe"))
    since = args.integer("since") or 0
    head = await groups.changes(since, 0)  # FeedGone now, rather than in the first read
    context.feed.subscribe(groups, since)
    return {"since": since, "last": head.last}


async def _unsubscribe(groups: Customergroups, args: Args, context: Context) -> Any:
    if context.feed is None:
        raise InvalidRequest(_socket_only("Customergroup.unsubscribe"))
    return await context.feed.unsubscribe()


def _socket_only(method: str) -> Message:
    return N_(
        "{method} works over a WebSocket: open one on this endpoint and send it there.",
        method=method,
    )


READS: Mapping[str, Call] = {
    "Customergroup.changes": _changes,
    "Customergroup.count": _count,
    "Customergroup.get": _get,
    "Customergroup.getSchema": _get_schema,
    "Customergroup.list": _list,
    "Customergroup.listCustomers": _list_customers,
    "Customergroup.validate": _validate,
}
WRITES: Mapping[str, Call] = {
    "Customergroup.addCustomers": _add_customers,
    "Customergroup.create": _create,
    "Customergroup.delete": _delete,
    "Customergroup.moveCustomers": _move_customers,
    "Customergroup.removeCustomers": _remove_customers,
    "Customergroup.set": _set,
}
# Over a WebSocket only (methods.json's websocketMethods).
SOCKET: Mapping[str, Call] = {
    "Customergroup.subscribe": _subscribe,
    "Customergroup.unsubscribe": _unsubscribe,
}
# Every method a client can call, rpc.discover included.
KNOWN_METHODS = frozenset({*READS, *WRITES, *SOCKET, openrpc.DISCOVER})


class Dispatcher:
    """Answers request bodies: parse, split batches, check members, dispatch, serialise."""

    def __init__(self, groups: Customergroups, schemas: Schemas, max_batch: int = 100) -> None:
        if {*READS, *WRITES} != set(schemas.methods) or set(SOCKET) != set(schemas.socket_methods):
            raise RuntimeError("methods.json and rpc.READS, rpc.WRITES, rpc.SOCKET disagree")
        self.max_batch = max_batch
        self._binder = Binder(schemas)
        self._groups = groups
        self._methods = {
            name: self._method(schemas.methods[name], run)
            for name, run in [*READS.items(), *WRITES.items()]
        }
        for name, run in SOCKET.items():
            self._methods[name] = self._method(schemas.socket_methods[name], run)
        # Not in methods.json: it needs no token and no service (SPEC 11).
        self._methods[openrpc.DISCOVER] = _discover(openrpc.document(schemas))

    async def handle(self, body: bytes, context: Context) -> bytes | None:
        """The response body for a request body; None when nothing is to be answered."""
        started = time.perf_counter()
        context.problem_bytes = max(PROBLEM_BYTES, 4 * len(body))
        language = context.language.code
        try:
            doc = loads(body)
        except (ValueError, RecursionError):
            context.refused(ParseError.code, started)
            return _dump(ParseError().response())
        if len(body) >= LARGE_BODY:  # parsing it took a while: the others' turn
            await take_turn()
        if not isinstance(doc, list):
            answer = await self._one(doc, context)
            return None if answer is None else _dump(answer)
        context.batch = len(doc)
        if not doc:
            context.refused(InvalidRequest.code, started)
            return _dump(InvalidRequest(N_("The batch is empty.")).response(None, language))
        if len(doc) > self.max_batch:
            context.refused(InvalidRequest.code, started)
            too_many = N_("A batch may hold at most {limit} requests.", limit=self.max_batch)
            return _dump(InvalidRequest(too_many).response(None, language))
        answers = [a for a in await self._batch(doc, context) if a is not None]
        return _dump(answers) if answers else None

    async def _batch(self, members: list[Any], context: Context) -> list[dict[str, Any] | None]:
        """Answer members in order, as if they ran one after another; each run of writes is
        committed together, before the reads after it run.

        If that commit fails, nothing of the run was kept, and its writes are answered
        -32603 (the store logged why); if the database went away at the commit, they are
        answered -32000, as a single write cut off that way is.
        """
        answers: list[dict[str, Any] | None] = []
        for run in _runs(members, self._writes):
            if not self._writes(run[0]):
                answers += [await self._one(member, context) for member in run]
                continue
            done: list[dict[str, Any] | None] = []
            since = len(context.timings)
            try:
                async with context.groups(self._groups).writes_together():
                    for member in run:
                        done.append(await self._one(member, context))
            except WriteFailed:
                done = [_lost(answer, context) for answer in done]
                context.lost(since, InternalError.code)
            except Unavailable:  # the database went away at the commit: kept or not, unknown
                done = [_lost(answer, context, StoreUnavailable()) for answer in done]
                context.lost(since, StoreUnavailable.code)
            answers += done
        return answers

    def _writes(self, member: Any) -> bool:
        name = member.get("method") if isinstance(member, dict) else None
        return isinstance(name, str) and name in WRITES  # a list or object name is no key

    async def _one(self, member: Any, context: Context) -> dict[str, Any] | None:
        started = time.perf_counter()
        problem = _problem(member)
        if problem:
            context.refused(InvalidRequest.code, started)
            return InvalidRequest(problem).response(_id_of(member), context.language.code)
        name = member["method"]
        context.methods.append(name)
        # The library's dispatch_request for one request, less two costs: the asyncio.gather
        # (a task and two turns of the event loop) it wraps even a single request in, and its
        # signature check (validate_args), which our methods, taking any params, always pass:
        # their params are bound and checked in params.py, with pointers.
        request = create_request(member)
        method = self._methods.get(name)
        if method is None:
            result = _error(MethodNotFound(name), context)
        else:
            result = await call(request, context, method)
        outcome = result._error.code if isinstance(result, Left) else None
        context.timings.append((outcome, started, time.perf_counter()))
        if not not_notification((request, result)):
            return None
        return _response(request.id, result)

    # jsonrpcserver calls method(context, *params) or method(context, **params); a method
    # returns its Result, turning every exception into an error (SPEC 7: no text leaks).

    def _method(self, spec: Method, run: Call) -> Any:
        """A method for jsonrpcserver: authorize, bind, run (a write awaits its commit)."""
        binder, groups, scope = self._binder, self._groups, spec.scope

        async def method(context: Context, /, *params: Any, **named: Any) -> Any:
            try:
                context.authorize(scope)
                args = binder.bind(spec, named or params)
                result = await run(context.groups(groups), args, context)
                if isinstance(result, Problems):
                    result = context.share(result)
                elif isinstance(result, _Texts):
                    result = i18n.localise(result.schema, context.language.code)
                return Success(result)
            except VersionConflict as exc:  # the group shown as get shows it
                whole = query.apply(binder.query(None, ""), exc.current)
                return _failed(spec, VersionConflict(whole).rpc(args.at), context)
            except DomainError as exc:  # about the data: the params say where
                return _failed(spec, exc.rpc(args.at), context)
            except Exception as exc:
                return _failed(spec, exc, context)

        return method


def _failed(spec: Method, exc: Exception, context: Context) -> Result:
    """The one catch: a method's exception as an error result; a bug is logged, never shown."""
    if isinstance(exc, InvalidParams):
        return Error(exc.code, exc.message, context.share(exc.found))  # a batch shares LIMIT
    if isinstance(exc, RpcError):
        return _error(exc, context)
    if isinstance(exc, RecursionError):  # a value nested deeper than the checks can follow
        message = N_(
            "The params nest too deeply to be checked; this API's params nest a few levels."
        )
        return _error(InvalidParams.at("", message), context)
    if not isinstance(exc, WriteFailed):  # the store logged that one
        log.error("%s failed", spec.name, exc_info=exc)
    return _error(InternalError(), context)


def _error(error: RpcError, context: Context) -> Result:
    """An error result, its data's texts in the request's language."""
    data = NODATA if error.data is None else words(error.data, context.language.code)
    return Error(error.code, error.message, data)


def _discover(document: dict[str, Any]) -> Any:
    """``rpc.discover``: the OpenRPC document, built once, for any caller."""

    async def method(context: Context, /, *args: Any, **kwargs: Any) -> Any:
        if not context.language.valid:
            return _error(InvalidLanguage(), context)
        if args or kwargs:
            # One problem for all of them: the params may be half a million zeros, and this
            # method needs no token.
            message = N_(
                "{method} takes no params: send none, [] or {{}}.", method=openrpc.DISCOVER
            )
            return _error(InvalidParams.at("", message), context)
        if context.discovered:
            message = N_("{method} is answered once per request.", method=openrpc.DISCOVER)
            return _error(InvalidRequest(message), context)
        context.discovered = True
        return Success(document)

    return method


def _response(id_: Any, result: Result) -> dict[str, Any]:
    """A jsonrpcserver Result as a response object, as its to_response and to_serializable
    make it, without their namedtuple copies and generic type checks (a third of a ``get``)."""
    if isinstance(result, Left):
        error = result._error
        data = None if error.data is NODATA else error.data
        return response(id_, error.code, error.message, data)
    return {"jsonrpc": "2.0", "result": result._value.result, "id": id_}


def _runs(members: list[Any], writes: Callable[[Any], bool]) -> list[list[Any]]:
    """Consecutive members split into runs of writes and runs of everything else."""
    runs: list[list[Any]] = []
    for member in members:
        if runs and writes(runs[-1][0]) == writes(member):
            runs[-1].append(member)
        else:
            runs.append([member])
    return runs


def _lost(
    answer: dict[str, Any] | None, context: Context, error: RpcError | None = None
) -> dict[str, Any] | None:
    """A write's answer once its commit failed: an error stays, a result becomes ``error``
    (-32603 unless given)."""
    if answer is None or "error" in answer:
        return answer
    return (error or InternalError()).response(answer["id"], context.language.code)


def _problem(member: Any) -> Message | None:
    """Why a batch member or body is not a JSON-RPC 2.0 request, or None."""
    if not isinstance(member, dict):
        return N_("A request must be a JSON object.")
    if (
        member.keys() <= _MEMBERS
        and member.get("jsonrpc") == "2.0"
        and type(member.get("method")) is str
        and type(member.get("params", [])) in (list, dict)
        and type(member.get("id")) in (int, str)
    ):
        return None  # the usual request, checked in one go (bool is no int for type())
    if member.get("jsonrpc") != "2.0":
        return N_('The "jsonrpc" member must be the string "2.0".')
    if not isinstance(member.get("method"), str):
        return N_('The "method" member must be a string.')
    if "params" in member and not isinstance(member["params"], list | dict):
        return N_('The "params" member must be an array or an object.')
    if "id" in member and not _valid_id(member["id"]):
        return N_('The "id" member must be a string, a number or null.')
    extra = sorted(member.keys() - _MEMBERS)
    if extra:
        return N_(
            "Unknown members: {names}. A request has jsonrpc, method, params, id.",
            names=", ".join(extra),
        )
    return None


def _valid_id(value: Any) -> bool:
    return value is None or (isinstance(value, str | int | float) and not isinstance(value, bool))


def _id_of(member: Any) -> Any:
    if isinstance(member, dict) and _valid_id(member.get("id")):
        return member.get("id")
    return None


def _dump(answer: Any) -> bytes:
    return dumps(answer)
