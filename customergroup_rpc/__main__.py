"""Command line: ``customergroup-rpc serve``, ``token create|list|revoke``, ``shop
create|list`` and ``call``.

Also ``python -m customergroup_rpc``. Messages for people go to standard error; standard output
carries only what scripts capture (a new token, the token list, the result of a call).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import gc
import logging
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from aiohttp import web

from . import call, metrics, workers
from .accesslog import JsonFormatter
from .app import AccessLogger, Config, MiB, begin_drain, create_app
from .browser import origin
from .pg_tokens import PgTokenAdmin
from .redact import log_to
from .shops import LANGUAGES, ShopError, ShopFile, shop_file, shop_id
from .store import Retention, StoreError
from .store.postgres import is_url, shown
from .tokens import SCOPES, TokenError, Tokens, environment_problem, token_path

if TYPE_CHECKING:  # an optional dependency: imported by serve --tracing only
    from .tracing import Tracing

DEFAULT_DB = "./customergroups.db.json"
MEMORY = ":memory:"
log = logging.getLogger("customergroup_rpc")


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (StoreError, TokenError, ShopError) as exc:
        print(f"customergroup-rpc: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # a file beside the database that cannot be made (no such folder)
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"customergroup-rpc: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    return code


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="customergroup-rpc", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")
    serve = commands.add_parser("serve", help="run the JSON-RPC service")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    serve.add_argument("--port", type=_port, default=8080, help="port to listen on (8080)")
    _db_option(serve)
    serve.add_argument(
        "--workers",
        type=_positive,
        default=1,
        help="worker processes answering on the port (1); more than 1 needs PostgreSQL",
    )
    serve.add_argument(
        "--pool-size",
        type=_positive,
        default=10,
        help="connections to PostgreSQL each worker keeps (10)",
    )
    serve.add_argument("--max-body", type=_positive, default=MiB, help="largest body in bytes")
    serve.add_argument("--max-batch", type=_positive, default=100, help="most requests a batch")
    serve.add_argument(
        "--read-timeout", type=_seconds, default=30.0, help="seconds a request body may take"
    )
    serve.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=30.0,
        help="seconds a connection may sit idle or spend sending headers",
    )
    serve.add_argument(
        "--cors-origin",
        action="append",
        type=_origin,
        metavar="ORIGIN",
        help="a browser origin (https://host[:port]) that may call the endpoint; repeatable; "
        "CUSTOMERGROUP_RPC_CORS_ORIGINS, comma-separated (none)",
    )
    serve.add_argument(
        "--keep-changes",
        type=_positive,
        default=Retention.keep,
        metavar="COUNT",
        help=f"events of the change feed kept, at least ({Retention.keep:,})",
    )
    serve.add_argument(
        "--keep-changes-days",
        type=_days,
        default=None,
        metavar="DAYS",
        help="events older than this many days are dropped (none: kept by count alone)",
    )
    _operations(serve)
    serve.set_defaults(run=_serve)

    token = commands.add_parser("token", help="create, list or revoke API tokens")
    actions = token.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="create a token; prints it once on stdout")
    create.add_argument("--scope", choices=SCOPES, default="manage")
    create.add_argument(
        "--label", default="", help="a name for people: who or what uses it (token list shows it)"
    )
    where = create.add_mutually_exclusive_group()
    where.add_argument(
        "--shop",
        action="append",
        type=_shop_id,
        metavar="ID",
        help="a shop the token opens; repeatable (needed when the database has several shops)",
    )
    where.add_argument(
        "--all-shops", action="store_true", help="the token opens every shop, later ones too"
    )
    actions.add_parser("list", help="list tokens (never the tokens themselves)")
    revoke = actions.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("id", help="the id shown by 'token list'")
    for action, run in ((create, _token_create), (actions.choices["list"], _token_list)):
        _db_option(action)
        action.set_defaults(run=run)
    _db_option(revoke)
    revoke.set_defaults(run=_token_revoke)
    _shop_parser(commands)
    _call_parser(commands)
    return parser


def _shop_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    shop = commands.add_parser("shop", help="create or list the shops of a database")
    actions = shop.add_subparsers(required=True, metavar="ACTION")
    create = actions.add_parser("create", help="add a shop (webshop=ID selects it)")
    create.add_argument("id", type=_shop_id, help="the shop's id, a positive integer")
    create.add_argument("--name", required=True, help="the shop's name")
    create.add_argument(
        "--language", choices=LANGUAGES, default="en", help="the shop's default language (en)"
    )
    create.set_defaults(run=_shop_create)
    listing = actions.add_parser("list", help="list the shops: id, language, name")
    listing.set_defaults(run=_shop_list)
    for action in (create, listing):
        _db_option(action)


def _operations(serve: argparse.ArgumentParser) -> None:
    """serve's options for operating it: metrics, the drain, log format, tracing."""
    serve.add_argument(
        "--metrics",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="serve Prometheus metrics at GET /metrics (on; --no-metrics: off)",
    )
    serve.add_argument(
        "--drain-seconds",
        type=_drain,
        default=3.0,
        metavar="SECONDS",
        help="on SIGTERM, answer /readyz 503 and go on serving this long before stopping "
        "(3; 0: stop at once)",
    )
    serve.add_argument(
        "--log-format",
        choices=("text", "json"),
        default="text",
        help="log lines as text, or one JSON object each (text)",
    )
    serve.add_argument(
        "--tracing",
        action="store_true",
        help="OpenTelemetry spans for each request and call, configured by the OTEL_* "
        "variables (off; needs customergroup-rpc[tracing])",
    )


def _call_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    call_ = commands.add_parser(
        "call",
        usage="%(prog)s [-h] [--url URL] [--token TOKEN] (CALL | --batch FILE)",
        help="call a running service in the console notation",
        description="Call a running service: CALL is written as in the API console, "
        'Customergroup.list(["name"], {"limit": 2}). The result is printed as JSON; an error '
        "goes to standard error with exit code 1 (2: CALL is not valid notation).",
    )
    what = call_.add_mutually_exclusive_group(required=True)
    what.add_argument("text", nargs="?", metavar="CALL", help="METHOD(JSON, ...)")
    what.add_argument(
        "--batch", metavar="FILE", help="one call per line, sent as one batch (-: stdin)"
    )
    url = os.environ.get("CUSTOMERGROUP_RPC_URL") or call.DEFAULT_URL
    call_.add_argument("--url", default=url, help=f"the endpoint; CUSTOMERGROUP_RPC_URL ({url})")
    call_.add_argument(
        "--token",
        default=os.environ.get("CUSTOMERGROUP_RPC_TOKEN") or None,
        help="API token, sent as a Bearer header; CUSTOMERGROUP_RPC_TOKEN (safer than this flag)",
    )
    call_.set_defaults(run=_call)


def _call(args: argparse.Namespace) -> int:
    problem = call.check_url(args.url)
    if problem:
        print(f"customergroup-rpc: {problem}", file=sys.stderr)
        return call.USAGE
    token = args.token.strip() if args.token else None  # read from a file with its line end
    problem = None if token is None else call.check_token(token)
    if problem:
        print(f"customergroup-rpc: {problem}", file=sys.stderr)
        return call.USAGE
    client = call.Client(args.url, token)
    if args.text is not None:
        return call.call(client, args.text, sys.stdout, sys.stderr)
    try:
        if args.batch == "-":
            lines = sys.stdin.read().splitlines()
        else:
            lines = Path(args.batch).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"customergroup-rpc: cannot read {args.batch}: {exc}", file=sys.stderr)
        return call.USAGE
    return call.batch(client, lines, sys.stdout, sys.stderr)


def _db_option(parser: argparse.ArgumentParser) -> None:
    default = os.environ.get("CUSTOMERGROUP_RPC_DB", DEFAULT_DB)
    parser.add_argument("--db", default=default, help=f"database file, or {MEMORY} ({default})")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError("a port is a number from 0 to 65535")
    return value


def _shop_id(text: str) -> int:
    found = shop_id(text)
    if found is None:
        raise argparse.ArgumentTypeError("a shop id is a positive integer, such as 22222")
    return found


def _seconds(text: str) -> float:
    value = float(text)
    if not 0 < value < 86400:
        raise argparse.ArgumentTypeError("must be between 0 and 86400 seconds")
    return value


def _drain(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 3600:
        raise argparse.ArgumentTypeError("must be between 0 and 3600 seconds")
    return value


def _days(text: str) -> float:
    value = float(text)
    if not 0 < value <= 36500:
        raise argparse.ArgumentTypeError("must be more than 0 and at most 36500 days")
    return value


def _origin(text: str) -> str:
    try:
        return origin(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cors_origins(args: argparse.Namespace) -> frozenset[str]:
    """``--cors-origin`` if given, else ``CUSTOMERGROUP_RPC_CORS_ORIGINS`` (comma-separated)."""
    if args.cors_origin is not None:
        return frozenset(args.cors_origin)
    listed = os.environ.get("CUSTOMERGROUP_RPC_CORS_ORIGINS", "").split(",")
    try:
        return frozenset(origin(item) for item in listed if item.strip())
    except ValueError as exc:
        raise SystemExit(f"customergroup-rpc: CUSTOMERGROUP_RPC_CORS_ORIGINS: {exc}") from None


def _serve(args: argparse.Namespace) -> int:
    if args.workers > 1 and not is_url(args.db):
        print(
            f"customergroup-rpc: --workers {args.workers} needs a PostgreSQL database "
            "(--db postgresql://...): a database file or :memory: is kept by one process",
            file=sys.stderr,
        )
        return 2
    json_logs = args.log_format == "json"
    # Every logger, aiohttp's too, through one handler that redacts tokens.
    log_to(sys.stderr, formatter=JsonFormatter() if json_logs else None)
    admin_token = os.environ.get("CUSTOMERGROUP_RPC_ADMIN_TOKEN") or None
    if admin_token and (problem := environment_problem(admin_token)):
        print(f"customergroup-rpc: {problem}", file=sys.stderr)
        return 1
    config = Config(
        db=_database(args.db),
        pool_size=args.pool_size,
        max_body=args.max_body,
        max_batch=args.max_batch,
        read_timeout=args.read_timeout,
        admin_token=admin_token,
        announce=_announce,
        access_log=sys.stderr.buffer,
        cors_origins=_cors_origins(args),
        metrics=args.metrics,
        log_json=json_logs,
        retention=Retention(
            keep=args.keep_changes,
            max_age=None if args.keep_changes_days is None else timedelta(args.keep_changes_days),
        ),
    )
    many = f" ({args.workers} workers)" if args.workers > 1 else ""
    db = shown(args.db) if is_url(args.db) else args.db
    banner = f"customergroup-rpc on http://{args.host}:{args.port}/ db {db}{many}"
    if json_logs:
        log.info("%s", banner)
    else:
        print(banner, file=sys.stderr)
    try:  # before the database is opened: a port taken or a host unknown changes nothing
        listening = workers.listen(args.host, args.port)
    except OSError as exc:
        print(
            f"customergroup-rpc: cannot listen on {args.host}:{args.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    if args.workers > 1:
        with _shared_metrics(config) as (config, gone):
            return workers.run(
                args.workers,
                listening,
                lambda sock, ready: _worker(args, config, sock, ready),
                reaped=gone,
            )
    _run(args, config, listening)
    return 0


@contextlib.contextmanager
def _shared_metrics(config: Config) -> Iterator[tuple[Config, Callable[[int], None]]]:
    """With metrics on, a folder the workers keep them in, so one scrape sees them all."""
    if not config.metrics:
        yield config, lambda pid: None
        return
    with metrics.shared_between_processes() as directory:
        yield (
            dataclasses.replace(config, metrics_dir=directory),
            lambda pid: metrics.process_gone(pid, directory),
        )


def _worker(
    args: argparse.Namespace, config: Config, sock: socket.socket, ready: Callable[[], None]
) -> None:
    """One of ``serve --workers``: a database it cannot open is said as ``main`` says it."""
    try:
        _run(args, config, sock, ready)
    except (StoreError, TokenError) as exc:
        # One write: the workers that fail together do not mix their lines.
        sys.stderr.write(f"customergroup-rpc: {exc}\n")
        sys.stderr.flush()
        raise SystemExit(1) from None


def _run(
    args: argparse.Namespace,
    config: Config,
    sock: socket.socket | None = None,
    ready: Callable[[], None] | None = None,
) -> None:
    """Serve until stopped: on host and port, or on a socket ``serve`` has bound (one that
    ``serve --workers`` shares when ``ready`` is given)."""
    if args.tracing:
        config = dataclasses.replace(config, tracing=_tracing())
    app = create_app(config)
    app.on_startup.append(_freeze_loaded)  # runs after the store has loaded
    app.on_startup.append(_Stops(app, args.drain_seconds).install)
    if ready is not None:
        app.on_startup.append(_ready_hook(ready))
    web.run_app(
        app,
        host=None if sock else args.host,
        port=None if sock else args.port,
        sock=sock,
        access_log_class=AccessLogger.of(app),
        access_log=logging.getLogger("customergroup_rpc.access"),
        print=None,
        handle_signals=ready is None,  # until the app has started (then _Stops)
        shutdown_timeout=10,
        keepalive_timeout=args.idle_timeout,
        backlog=workers.ACCEPT_BATCH if ready is not None else 128,
    )


class _Stops:
    """How a started server stops: SIGTERM drains, then stops; SIGINT stops at once (during
    a drain too). Stopping finishes the requests in flight (aiohttp's ``shutdown_timeout``).

    A drain fails ``/readyz`` and closes WebSockets with 1001 at once (``app.begin_drain``),
    goes on answering HTTP for ``seconds`` so that a load balancer polling ``/readyz`` stops
    sending here, then stops as SIGINT does.

    A worker (``serve --workers``) takes both signals only once its app has started; before,
    the default action ends it at once: a worker still opening the database has nothing to
    finish, and one that failed to open it must not meet the stop (sent to every worker when
    one fails) in the moment its closing event loop has closed its signal pipe and still
    catches the signal, when Python reports a traceback.
    """

    def __init__(self, app: web.Application, seconds: float) -> None:
        self.app, self.seconds = app, seconds
        self.draining = self.stopping = False
        self.closing: asyncio.Task[None] | None = None  # kept: the loop holds tasks weakly

    async def install(self, app: web.Application) -> None:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.drain)
        loop.add_signal_handler(signal.SIGINT, self.stop)

    def drain(self) -> None:
        if self.draining or self.stopping:
            return
        self.draining = True
        self.closing = begin_drain(self.app)
        if self.seconds <= 0:
            self.stop()
            return
        log.info("Draining: /readyz answers 503; stopping in %g s", self.seconds)
        asyncio.get_running_loop().call_later(self.seconds, self.stop)

    def stop(self) -> None:
        if not self.stopping:
            self.stopping = True
            raise web.GracefulExit


def _tracing() -> Tracing:
    """``--tracing``: OpenTelemetry as the OTEL_* variables configure it."""
    try:
        from .tracing import Tracing, TracingError  # noqa: PLC0415  (an optional dependency)
    except ImportError:
        print(
            "customergroup-rpc: --tracing needs OpenTelemetry: "
            "pip install 'customergroup-rpc[tracing]'",
            file=sys.stderr,
        )
        raise SystemExit(1) from None
    try:
        return Tracing.from_environment()
    except TracingError as exc:
        print(f"customergroup-rpc: --tracing: {exc}", file=sys.stderr)
        raise SystemExit(1) from None


def _ready_hook(ready: Callable[[], None]) -> Callable[[web.Application], Awaitable[None]]:
    async def hook(app: web.Application) -> None:
        ready()

    return hook


async def _freeze_loaded(app: web.Application) -> None:
    """Keep the collector's full passes off the loaded database: they cost milliseconds each
    at 10,000 groups and land on whichever request is running."""
    gc.freeze()


def _announce(token: str) -> None:
    print(
        "First start: created a token with scope manage. It is shown only this once:\n"
        f"\n    {token}\n\n"
        "More: customergroup-rpc token create --scope manage|view",
        file=sys.stderr,
        flush=True,
    )


def _database(db: str) -> Path | str | None:
    """What ``--db`` names: memory, a PostgreSQL URL, or a file."""
    if db == MEMORY:
        return None
    return db if is_url(db) else Path(db)


def _tokens(args: argparse.Namespace) -> Tokens | PgTokenAdmin:
    if is_url(args.db):
        return PgTokenAdmin(args.db)
    if args.db == MEMORY:
        raise SystemExit("customergroup-rpc: an in-memory database keeps no tokens; use --db FILE")
    return Tokens(token_path(Path(args.db)))


def _shops(args: argparse.Namespace) -> ShopFile | PgTokenAdmin:
    if is_url(args.db):
        return PgTokenAdmin(args.db)
    if args.db == MEMORY:
        raise SystemExit("customergroup-rpc: an in-memory database keeps no shops; use --db FILE")
    return ShopFile(shop_file(Path(args.db)))


def _shop_create(args: argparse.Namespace) -> int:
    shops = _shops(args)
    shop = shops.create_shop(args.id, args.name, args.language)
    shops.settle()  # a running server serves it from the next request on
    print(f"Created shop {shop.id} ({shop.name}, {shop.language}).", file=sys.stderr)
    return 0


def _shop_list(args: argparse.Namespace) -> int:
    for shop in _shops(args).list_shops():
        print(f"{shop.id}  {shop.language}  {shop.name}")
    return 0


def _token_shops(args: argparse.Namespace) -> list[int] | None:
    """The shops a new token opens (None: every shop): those named, which must exist; with
    neither flag, every shop of a one-shop database (as tokens made before shops open)."""
    if args.all_shops:
        return None
    known = {shop.id for shop in _shops(args).list_shops()}
    if args.shop:
        unknown = [str(shop) for shop in args.shop if shop not in known]
        if unknown:
            raise ShopError(f"No shop {', '.join(unknown)} in this database; see shop list.")
        return list(args.shop)
    if len(known) > 1:
        raise ShopError(
            "The database has several shops: name those the token opens with --shop ID "
            "(repeatable), or give --all-shops."
        )
    return None


def _token_create(args: argparse.Namespace) -> int:
    tokens = _tokens(args)
    shops = _token_shops(args)
    try:
        record, token = tokens.create(args.scope, shops=shops, label=args.label)
    except ValueError as exc:
        print(f"customergroup-rpc: {exc}", file=sys.stderr)
        return 2
    tokens.settle()  # a running server takes it from the next request on
    print(
        f"Created token {record.id} with scope {record.scope} for {_shops_of(record.shops)}.",
        file=sys.stderr,
    )
    print(token)
    return 0


def _shops_of(shops: tuple[int, ...] | None) -> str:
    """How ``token create`` and ``token list`` name the shops a token opens."""
    if shops is None:
        return "every shop"
    return ("shop " if len(shops) == 1 else "shops ") + ",".join(map(str, shops))


def _token_list(args: argparse.Namespace) -> int:
    records = _tokens(args).list()
    for r in records:
        print(f"{r.id}  {r.scope:<6}  {r.created}  {_shops_of(r.shops)}  {r.label}".rstrip())
    if not records:
        print("No tokens yet.", file=sys.stderr)
    return 0


def _token_revoke(args: argparse.Namespace) -> int:
    tokens = _tokens(args)
    if tokens.revoke(args.id):
        tokens.settle()  # a running server refuses it from the next request on
        print(f"Revoked token {args.id}.", file=sys.stderr)
        return 0
    print(f"customergroup-rpc: no token with id {args.id}", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
