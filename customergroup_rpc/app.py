"""TRANSPORT: the aiohttp application: routes, the token of each request, the access log.

>>> app = create_app(Config(db=None))
>>> sorted({r.resource.canonical for r in app.router.routes()})  # doctest: +NORMALIZE_WHITESPACE
['/', '/backend/jsonrpc/v1', '/backend/jsonrpc/v1/', '/console', '/health', '/livez',
 '/metrics', '/readyz']
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, ClassVar, cast

from aiohttp import WSCloseCode, web
from aiohttp.abc import AbstractAccessLogger
from yarl import URL  # aiohttp's URLs: request.query is yarl's parse of the query string

from . import i18n
from .accesslog import LineBuffer
from .browser import Cors, add_console
from .codec import dumps
from .errors import Forbidden, InternalError, InvalidRequest, RpcError, Unavailable
from .follow import Follower
from .i18n import N_, Message
from .metrics import CONTENT_TYPE, FOLD_EVERY, UNKNOWN, Metrics
from .pg_tokens import PgTokens
from .probes import READINESS, add_probes
from .redact import hide, redact
from .requestid import HEADER, Ids, kept
from .rpc import KNOWN_METHODS, Context, Dispatcher
from .schemas import Schemas
from .service import Clock, Customergroups, utc_now
from .shops import FIRST, Deployment, ShopFile, shop_file
from .store import Retention, Store, open_store, shop_path
from .store.postgres import PgStore, is_url
from .tokens import Registry, Tokens, token_path

if TYPE_CHECKING:  # an optional dependency: imported by serve --tracing only
    from .tracing import Tracing

log = logging.getLogger("customergroup_rpc")
ENDPOINTS = ("/backend/jsonrpc/v1/", "/backend/jsonrpc/v1")
MiB = 1024 * 1024


@dataclass(frozen=True)
class Config:
    """How one app is set up; ``db=None`` keeps data and tokens in memory."""

    # A database file, a PostgreSQL URL (postgresql://...), or None for memory.
    db: Path | str | None = None
    # Connections to PostgreSQL a process keeps (ignored for a file).
    pool_size: int = 10
    max_body: int = MiB
    max_batch: int = 100
    # A request body must arrive within this many seconds (slow clients get 408).
    read_timeout: float = 30.0
    admin_token: str | None = None
    # Told the token created on a first start (serve prints it); None: create none.
    announce: Callable[[str], None] | None = None
    # Where access lines go (serve: standard error); None: nowhere.
    access_log: IO[bytes] | None = None
    clock: Clock = utc_now
    # Browser origins (scheme://host[:port], see browser.origin) that may call the endpoint.
    cors_origins: frozenset[str] = field(default_factory=frozenset)
    # GET /metrics; with metrics_dir, the folder every worker keeps its values in.
    metrics: bool = True
    metrics_dir: str | None = None
    # Access lines as JSON objects (serve --log-format json) rather than text.
    log_json: bool = False
    # A span per HTTP request and per call (serve --tracing); None: no tracing at all.
    tracing: Tracing | None = None
    # How many events of the change feed are kept, and for how long.
    retention: Retention = field(default_factory=Retention)


# Seconds a WebSocket client may take to take what is sent to it before it is cut off (its
# connection aborted): a client that reads nothing holds a send, and with it the socket's
# answers, for good. Once the server stops, a send under way gets STOP_GRACE more, as does
# the going-away close: a client that reads nothing cannot hold the stop either.
SEND_TIMEOUT = 10.0
STOP_GRACE = 1.0


class Sockets:
    """The app's open WebSockets; when the server stops, each is closed with 1001 (going
    away), a socket that is answering a message once its answer is sent; sends are bounded
    (``send``)."""

    def __init__(self) -> None:
        self.open: set[web.WebSocketResponse] = set()
        self.busy: set[web.WebSocketResponse] = set()
        self.sending: dict[web.WebSocketResponse, asyncio.Timeout] = {}
        self.closing = False

    async def send(
        self, socket: web.WebSocketResponse, text: str, transport: asyncio.Transport | None
    ) -> None:
        """Send ``text`` within ``SEND_TIMEOUT`` (``STOP_GRACE`` once stopping), else abort
        the connection and raise ConnectionResetError, as for a client gone."""
        loop = asyncio.get_running_loop()
        began, limit = loop.time(), STOP_GRACE if self.closing else SEND_TIMEOUT
        try:
            async with asyncio.timeout(limit) as timeout:
                self.sending[socket] = timeout
                try:
                    await socket.send_str(text)
                finally:
                    del self.sending[socket]
        except TimeoutError:
            waited = loop.time() - began
            log.warning(
                "Cut off a WebSocket client that took nothing sent to it for %.1f s", waited
            )
            if transport is not None:
                transport.abort()
            raise ConnectionResetError("the WebSocket client read nothing") from None

    async def close_all(self, app: web.Application) -> None:
        self.closing = True
        deadline = asyncio.get_running_loop().time() + STOP_GRACE
        for timeout in self.sending.values():
            when = timeout.when()
            if when is None or when > deadline:
                timeout.reschedule(deadline)
        idle = [socket for socket in self.open if socket not in self.busy]
        await asyncio.gather(*(_going_away(socket) for socket in idle))


async def _going_away(socket: web.WebSocketResponse) -> None:
    """Close with 1001; a client that does not take the close within ``STOP_GRACE`` has its
    connection closed under it (aiohttp's own wait for its reply is 10 s)."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(STOP_GRACE):
            await socket.close(code=WSCloseCode.GOING_AWAY, message=b"The server is stopping.")


CONFIG = web.AppKey("config", Config)
ACCESS = web.AppKey("access", LineBuffer)
TOKENS = web.AppKey("tokens", Registry)
STORE = web.AppKey("store", Store)  # shop 1's (/health)
SHOPS = web.AppKey("shops", Deployment[Customergroups])
DISPATCHER = web.AppKey("dispatcher", Dispatcher)
SOCKETS = web.AppKey("sockets", Sockets)
METRICS = web.AppKey("metrics", Metrics)
IDS = web.AppKey("request_ids", Ids)
# The calls of a JSON-RPC request (for its access line), and its request id.
CONTEXT = web.RequestKey("rpc_context", Context)
REQUEST_ID = web.RequestKey("request_id", str)

_INTERNAL = dumps(InternalError().response())


def create_app(config: Config | None = None) -> web.Application:
    """The service as an aiohttp application; storage opens when the app starts."""
    config = config or Config()
    if config.admin_token:  # any text: only knowing it keeps it out of every log line
        hide(config.admin_token)
    middlewares = [] if config.tracing is None else [_traced(config.tracing)]
    app = web.Application(client_max_size=config.max_body, middlewares=middlewares)
    app[CONFIG] = config
    app[IDS] = Ids()
    if config.access_log is not None:
        app[ACCESS] = LineBuffer(config.access_log, json=config.log_json)
        app.on_cleanup.append(_close_access_log)
    if config.metrics:
        app[METRICS] = Metrics(KNOWN_METHODS, shared=config.metrics_dir)
        app.router.add_get("/metrics", _metrics)
        if app[METRICS].shared:
            app.cleanup_ctx.append(_fold_often)
    if config.tracing is not None:
        app.on_cleanup.append(_close_tracing)
    add_probes(app)
    app.cleanup_ctx.append(_state)
    app[SOCKETS] = Sockets()
    app.on_shutdown.append(app[SOCKETS].close_all)
    cors = Cors(config.cors_origins, ENDPOINTS)
    for path in ENDPOINTS:
        app.router.add_post(path, _rpc)
        app.router.add_get(path, _websocket)
        app.router.add_route("OPTIONS", path, cors.preflight)
        app.router.add_route("*", path, _not_allowed)  # PUT, DELETE, ...: matched last
    cors.install(app)
    app.router.add_get("/health", _health)
    add_console(app)
    return app


def _traced(tracing: Tracing) -> Any:
    """A middleware giving every request its span (``serve --tracing`` only)."""

    @web.middleware
    async def traced(request: web.Request, handler: Any) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = None if resource is None else resource.canonical
        with tracing.request(request.method, route, request.headers, request.remote) as answered:
            try:
                response: web.StreamResponse = await handler(request)
            except web.HTTPException as exc:
                answered(exc.status)
                raise
            answered(response.status)
            return response

    return traced


async def _state(app: web.Application) -> AsyncIterator[None]:
    """Open the store and tokens at start; close them after the last request finished."""
    config = app[CONFIG]
    schemas = Schemas.load()
    i18n.load()  # a catalogue missing stops the start, not an answer

    def serve(store: Store) -> Customergroups:
        if METRICS in app:  # every shop's commits, shops made while serving too
            store.on_commit = app[METRICS].committed
        return Customergroups(store, schemas, config.clock)

    if is_url(config.db):
        async with _postgres(str(config.db), config) as (pool, tokens):
            shops = Deployment(tokens, lambda shop: pool.for_shop(shop.id), serve)
            try:
                shops.open_all()
                _serve_with(app, shops, tokens, schemas)
                yield
            finally:
                await shops.aclose()
        return
    db = None if config.db is None else Path(config.db)
    # One file per shop: shop 1's is the database file (see store.shop_path).
    shops = Deployment(
        ShopFile(None if db is None else shop_file(db)),
        lambda shop: open_store(None if db is None else shop_path(db, shop.id), config.retention),
        serve,
    )
    try:
        shops.open_all()  # shop 1 first: its lock is the database's
        file_tokens = Tokens(None if db is None else token_path(db))
        _first_tokens(file_tokens, config)
        _serve_with(app, shops, file_tokens, schemas)
        yield
    finally:
        await shops.aclose()


@contextlib.asynccontextmanager
async def _postgres(url: str, config: Config) -> AsyncIterator[tuple[PgStore, PgTokens]]:
    store = await PgStore.open(url, pool_size=config.pool_size, retention=config.retention)
    try:
        tokens = await PgTokens.open(url)
        try:
            if config.admin_token:
                await tokens.from_environment(config.admin_token)
            elif config.announce and (secret := await tokens.first()):
                config.announce(secret)
            yield store, tokens
        finally:
            await tokens.aclose()
    finally:
        await store.aclose()


def _serve_with(
    app: web.Application, shops: Deployment[Customergroups], tokens: Registry, schemas: Schemas
) -> None:
    config = app[CONFIG]
    app[SHOPS] = shops
    app[STORE] = shops.store(FIRST)
    app[TOKENS] = tokens
    app[READINESS].ping = app[STORE].ping
    app[DISPATCHER] = Dispatcher(shops.served(FIRST), schemas, config.max_batch)


async def _close_access_log(app: web.Application) -> None:
    app[ACCESS].close()


async def _close_tracing(app: web.Application) -> None:
    tracing = app[CONFIG].tracing
    if tracing is not None:
        tracing.close()


def begin_drain(app: web.Application) -> asyncio.Task[None]:
    """A drain begins (``serve`` on SIGTERM): ``/readyz`` fails from now on, and every
    WebSocket is closed with 1001 (one answering a message once its answer is sent); HTTP
    requests are answered as before, on connections closed after each answer. The task
    closing the sockets is returned: keep it until it is done."""
    app[READINESS].draining = True
    return asyncio.create_task(app[SOCKETS].close_all(app))


def _first_tokens(tokens: Tokens, config: Config) -> None:
    if config.admin_token:
        tokens.from_environment(config.admin_token)  # replaces the one it named before
    elif config.announce and not tokens.list():
        _, secret = tokens.create("manage")
        config.announce(secret)


async def _rpc(request: web.Request) -> web.Response:
    """The endpoint; a bug is logged with its traceback and answered -32603 without details.

    (A handler-level try rather than a middleware: the endpoint is the only route that can
    fail, and a middleware layer costs every request about 6 µs.)
    """
    app = request.app
    context = request[CONTEXT] = Context(scope=None)
    request_id = request[REQUEST_ID] = _request_id(request, app)
    metrics = app.get(METRICS)
    if metrics is not None:
        metrics.started()
    try:
        response = await _answer(request, app, context)
    except web.HTTPException:
        raise
    except Exception:
        log.exception("Unexpected error on %s %s (%s)", request.method, request.path, request_id)
        response = web.Response(body=_INTERNAL, content_type="application/json")
    finally:
        if metrics is not None:
            metrics.finished(context.methods, context.timings, context.batch)
    response.headers[HEADER] = request_id
    if app[READINESS].draining:  # clients reconnect, through the balancer, elsewhere
        response.force_close()
    tracing = app[CONFIG].tracing
    if tracing is not None:
        tracing.calls(context.methods, context.timings)
    return response


def _request_id(request: web.Request, app: web.Application) -> str:
    """The client's ``X-Request-Id`` made safe (``requestid.kept``), or a new one. One that
    is, or looks like, a token is replaced: it would land in the logs. (``app`` is the
    request's: ``request.app`` is two calls deep, so handlers look it up once.)"""
    sent = request.headers.get(HEADER)
    if sent is not None:
        given = kept(sent)
        if given is not None and redact(given) == given:
            tokens = app.get(TOKENS)
            if tokens is None or tokens.scope_of(given) is None:
                return given
    return app[IDS].new()


async def _answer(request: web.Request, app: web.Application, context: Context) -> web.Response:
    config = app[CONFIG]
    try:
        if request.content.is_eof():  # the whole body is here: take it, with no timer
            # (read() would gather it chunk by chunk, two awaits and two copies; a payload
            # that failed to decode raises here as there.)
            body = request.content.read_nowait()
            if len(body) > config.max_body:  # as read() refuses it
                return _too_large(request)
        elif (request.content_length or 0) > config.max_body:
            return _too_large(request)  # refused before it is read
        else:
            async with asyncio.timeout(config.read_timeout):
                body = await request.read()
    except web.HTTPRequestEntityTooLarge:
        return _too_large(request)
    except TimeoutError:
        seconds = f"{config.read_timeout:g}"
        message = N_(
            "The request body did not arrive within {seconds} s; nothing was processed.",
            seconds=seconds,
        )
        return _refused(request, 408, message)
    except web.RequestPayloadError:  # a body that does not decode (Content-Encoding: gzip)
        request.content.feed_eof()  # read no more of it (aiohttp would, and log the error again)
        message = N_("The request body could not be decoded; nothing was processed.")
        return _refused(request, 400, message)
    except ConnectionResetError:  # the client left while sending: no one to answer
        return _refused(request, 400, N_("The connection closed before the body arrived."))
    _identify(request, context, _token(request), _webshop(request))
    answer = await app[DISPATCHER].handle(body, context)
    if answer is None:
        return web.Response(status=204)
    return web.Response(body=answer, content_type="application/json")


@dataclass(frozen=True, slots=True)
class _Asked:
    """The query parameters a request is answered by (None: not given)."""

    auth: str | None
    webshop: str | None
    language: str | None


@functools.lru_cache(maxsize=256)
def _parameters(query_string: str) -> _Asked:
    """The parameters of a query string as sent (``auth=...&webshop=2``), read as
    ``request.query`` reads them (yarl's parse, the first of repeated names).

    Cached: parsing a query string costs a busy server a few µs a request, and clients send
    the same few URLs again and again. A pure function of the string, so nothing to
    invalidate; bounded, as ``tokens.digest``'s cache of the same tokens is.
    """
    query = URL.build(query_string=query_string, encoded=True).query
    return _Asked(query.get("auth"), query.get("webshop"), query.get("language"))


def _query(request: web.BaseRequest) -> _Asked:
    return _parameters(request.rel_url.raw_query_string)


def _token(request: web.Request) -> str | None:
    """The ``auth`` query parameter (the platform's convention) or a Bearer token."""
    token = _query(request).auth
    if token is not None:
        return token
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def _webshop(request: web.Request) -> str | None:
    """The shop a request names: ``webshop`` in the query string, else a ``webshop`` cookie."""
    webshop = _query(request).webshop
    if webshop is None and "Cookie" in request.headers:  # parsing cookies costs every request
        return request.cookies.get("webshop")
    return webshop


def _identify(
    request: web.Request,
    context: Context,
    token: str | None,
    webshop: str | None,
    feed: Follower | None = None,
) -> None:
    """Who calls (its token's scope and id), on which shop (its groups, or why it has none),
    in which language its answers are, and a WebSocket's follower of the change feed.

    The shop is looked at only for a valid token: a caller without one learns nothing of the
    shops (1004 comes first). Its default language applies only where the token opens it."""
    app = request.app
    grant = app[TOKENS].grant_of(token) if token else None
    default = i18n.ENGLISH
    context.feed = feed
    if grant is not None:
        context.scope, context.token = grant.scope, grant.token or None
        try:
            shop, groups = app[SHOPS].select(webshop)
        except RpcError as exc:
            context.shop = exc
        else:
            if grant.opens(shop.id):
                context.shop, context.shop_id, default = groups, shop.id, shop.language
            else:
                context.shop = Forbidden()
    context.language = _language(request, default)


def _language(request: web.Request, default: str = i18n.ENGLISH) -> i18n.Language:
    """The language of a request's answers (SPEC 12): its ``language`` query parameter, its
    ``Accept-Language`` header, then ``default`` (the shop's language; English)."""
    return i18n.choose(_query(request).language, request.headers.get("Accept-Language"), default)


def _too_large(request: web.Request) -> web.Response:
    limit = request.app[CONFIG].max_body
    message = N_(
        "The request body is larger than {limit} bytes; nothing was processed.", limit=limit
    )
    return _refused(request, 413, message)


def _refused(request: web.Request, status: int, reason: Message) -> web.Response:
    """An HTTP-level refusal, still with a JSON-RPC error body; the connection is closed."""
    body = dumps(InvalidRequest(reason).response(None, _language(request).code))
    response = web.Response(status=status, body=body, content_type="application/json")
    response.force_close()
    return response


async def _not_allowed(request: web.Request) -> web.Response:
    """A method the endpoint does not take (a plain GET, PUT, DELETE, ...): 405, with a
    JSON-RPC error body as every other refusal, rather than aiohttp's plain text."""
    response = _refused(request, 405, N_("Send requests with POST, or open a WebSocket here."))
    response.headers["Allow"] = "GET, OPTIONS, POST"
    return response


async def _websocket(request: web.Request) -> web.StreamResponse:
    """The endpoint over a WebSocket: each text message a request or batch, answered alike.

    The token comes from the upgrade request and is checked again for every message, so a
    revoked token stops working at once. Messages over ``max_body`` close the socket (1009).
    When the server stops, the socket is closed with 1001 (going away) after any answer it
    is sending (``Sockets``). ``Customergroup.subscribe`` makes the socket follow the change
    feed (``follow.py``): its notifications and the answers share the socket, one message at
    a time.
    """
    socket = web.WebSocketResponse(max_msg_size=request.app[CONFIG].max_body, heartbeat=30.0)
    if not socket.can_prepare(request).ok:
        return await _not_allowed(request)
    sockets = request.app[SOCKETS]
    if sockets.closing:
        return _refused(request, 503, N_("The server is stopping."))
    request_id = request[REQUEST_ID] = _request_id(request, request.app)
    socket.headers[HEADER] = request_id
    await socket.prepare(request)
    sockets.open.add(socket)
    metrics = request.app.get(METRICS)
    if metrics is not None:
        metrics.opened()
    token, webshop = _token(request), _webshop(request)
    sending, transport = asyncio.Lock(), request.transport

    async def send(text: str) -> None:
        async with sending:  # an answer and a notification never interleave their frames
            await sockets.send(socket, text, transport)

    tokens = request.app[TOKENS]
    follower = Follower(
        send,
        lambda: token is not None and tokens.scope_of(token) is not None,
        counted=metrics.following if metrics is not None else lambda change: None,
    )
    try:
        async for message in socket:
            if message.type not in (web.WSMsgType.TEXT, web.WSMsgType.BINARY):
                continue
            sockets.busy.add(socket)
            try:
                await _ws_answer(request, send, (token, webshop, follower), message.data)
                follower.begin()  # after the answer to subscribe, if that was asked
            finally:
                sockets.busy.discard(socket)
            if sockets.closing:  # the server began stopping while this message was answered
                await _going_away(socket)
    finally:
        sockets.open.discard(socket)
        if metrics is not None:
            metrics.closed()
        await follower.close()
    return socket


async def _ws_answer(
    request: web.Request,
    send: Callable[[str], Awaitable[None]],
    caller: tuple[str | None, str | None, Follower],
    data: Any,
) -> None:
    """Answer one message; ``caller`` is the upgrade request's token and webshop, looked at
    again for every message (a token revoked, a shop made meanwhile), and the socket's
    follower of the change feed."""
    started = time.perf_counter()
    app = request.app
    context = Context(scope=None)
    _identify(request, context, *caller)
    body = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    metrics = app.get(METRICS)
    if metrics is not None:
        metrics.started()
    try:
        answer = await app[DISPATCHER].handle(body, context)
    finally:
        if metrics is not None:
            metrics.finished(context.methods, context.timings, context.batch)
    if answer is not None:
        # A client gone before its answer is no error of ours (aiohttp would log a traceback).
        with contextlib.suppress(ConnectionError):
            await send(answer.decode("utf-8"))
    tracing = app[CONFIG].tracing
    if tracing is not None:
        tracing.calls(context.methods, context.timings)
    access = app.get(ACCESS)
    if access is not None:
        took = time.perf_counter() - started
        remote = str(request.remote)
        if access.json:
            asked = ("WS", _route(request), request.get(REQUEST_ID))
            access.add(_record, remote, asked, context, None, took)
        else:
            access.add(_line, remote, ("WS", request.path), context.methods, "-", took)


async def _health(request: web.Request) -> web.Response:
    """``{"status": "ok"}``; 503 and ``"database": "down"`` when the database cannot be reached."""
    if await request.app[STORE].ping():
        return web.json_response({"status": "ok"})
    return web.json_response({"status": "unavailable", "database": "down"}, status=503)


async def _fold_often(app: web.Application) -> AsyncIterator[None]:
    """With several workers, what this one counted reaches the shared files every
    ``FOLD_EVERY`` seconds, and a last time as it stops."""
    metrics = app[METRICS]

    async def fold() -> None:
        while True:
            await asyncio.sleep(FOLD_EVERY)
            metrics.fold()

    folding = asyncio.create_task(fold())
    yield
    folding.cancel()
    metrics.fold()


def _shops(app: web.Application) -> dict[int, Store]:
    """The store of each shop the server has opened (every shop it serves, once asked)."""
    return app[SHOPS].stores()


async def _metrics(request: web.Request) -> web.Response:
    """Prometheus' text format; each shop's groups and memberships are counted now."""
    totals: dict[int, tuple[int, int]] = {}
    for shop, store in _shops(request.app).items():
        with contextlib.suppress(Unavailable):  # the store said so; the rest still counts
            totals[shop] = await store.totals()
    body = request.app[METRICS].scrape(totals)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


# Names and paths come from clients: keep log lines one line each, free of quotes and controls.
_UNSAFE = re.compile(r"[^\w.\-\[\]]")
_UNSAFE_PATH = re.compile(r"[^\w./\-~%\[\]]")
_KNOWN_PATHS = frozenset({*ENDPOINTS, "/health", "/livez", "/readyz", "/metrics"})
_SAFE_NAME = re.compile(r"[\w.\-]{1,64}", re.ASCII)


def _safe_name(name: str) -> str:
    if name in KNOWN_METHODS:
        return name
    # redact: a client may send its token as a method name; it must not reach the log. First,
    # before anything is replaced or cut, so no part of a token is left either.
    return redact(name) if _SAFE_NAME.fullmatch(name) else _UNSAFE.sub("?", redact(name))[:64]


def _safe_path(path: str) -> str:
    return path if path in _KNOWN_PATHS else _UNSAFE_PATH.sub("?", redact(path))[:200]


def _names(names: list[str]) -> str:
    """The methods of a request for its access line: at most 20, then ``+N`` for the rest."""
    if len(names) == 1 and names[0] in KNOWN_METHODS:  # most requests: one known method
        return names[0]
    more = f"+{len(names) - 20}" if len(names) > 20 else ""
    return (",".join(map(_safe_name, names[:20])) or "-") + more


def _line(
    remote: str, asked: tuple[str, str], names: list[str], status: int | str, took: float
) -> str:
    """An access line, made when the log is written (``LineBuffer.add``); ``asked`` is the
    HTTP method and path."""
    method, path = asked
    return f'{remote} "{method} {_safe_path(path)}" {_names(names)} {status} {took * 1000:.1f}ms'


def _route(request: web.BaseRequest) -> str | None:
    """The route a request took (``/console/{filename}``), None when none matched."""
    try:
        resource = cast(web.Request, request).match_info.route.resource
    except (AttributeError, AssertionError):  # a request refused while parsing has no match
        return None
    return None if resource is None else resource.canonical


def _record(
    remote: str,
    asked: tuple[str, str | None, str | None],
    context: Context | None,
    status: int | None,
    took: float,
) -> dict[str, Any]:
    """An access line's fields for ``--log-format json``: as ``_line``, with each call's
    outcome, the request id and, for JSON-RPC requests, the shop. ``asked`` is the HTTP
    method, the route (``_route``: never the path as sent, which may hold anything, a token
    too) and the request id."""
    method, route, request_id = asked
    record: dict[str, Any] = {
        "event": "request",
        "client": remote,
        "http_method": method,
        "route": route,
    }
    if status is not None:
        record["status"] = status
    record["duration_ms"] = round(took * 1000, 3)
    if request_id is not None:
        record["request_id"] = request_id
    if context is not None:
        record["shop"] = context.shop_id
        # A name that is none of ours is logged as "unknown", as metrics label it: whatever a
        # client sends there (a token too) stays out of the log.
        record["methods"] = [n if n in KNOWN_METHODS else UNKNOWN for n in context.methods]
        record["outcomes"] = ["ok" if o is None else str(o) for o, _, _ in context.timings]
    return record


class AccessLogger(AbstractAccessLogger):
    """One line per request: client, path without query (tokens stay out), RPC methods, status.

    Lines go to an app's ``Config.access_log`` through its ``LineBuffer``, which formats them
    when it writes them. Pass ``AccessLogger.of(app)`` to aiohttp as ``access_log_class``: it
    knows the app's log from the start, so a request refused before it reached the app (one
    aiohttp could not parse: no route, no app) gets its line too. aiohttp makes one logger per
    connection, so the client's address is looked up once per connection.
    """

    sink: ClassVar[LineBuffer | None] = None
    _remote: str | None = None

    @classmethod
    def of(cls, app: web.Application) -> type[AccessLogger]:
        """The access logger class that writes to ``app``'s access log (none: writes nothing)."""
        return cast(type[AccessLogger], type(cls.__name__, (cls,), {"sink": app.get(ACCESS)}))

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        sink = self.sink
        if sink is None:
            return
        if self._remote is None:
            self._remote = str(request.remote)
        context = request.get(CONTEXT)
        if sink.json:
            asked = (request.method, _route(request), request.get(REQUEST_ID))
            sink.add(_record, self._remote, asked, context, response.status, time)
            return
        names = context.methods if context is not None else []
        sink.add(_line, self._remote, (request.method, request.path), names, response.status, time)

    @property
    def enabled(self) -> bool:
        return self.sink is not None
