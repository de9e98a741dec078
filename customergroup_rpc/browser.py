"""What browsers get: the console with a strict content policy, and opt-in CORS on the endpoint.

Both are set up once in ``create_app`` and cost the RPC path nothing: the console's headers are
set by the page's handler and by a sub-application that only ``/console/`` requests reach, and
CORS adds a response hook only when an origin is configured.

>>> origin("HTTPS://Admin.Example.com:443/")
'https://admin.example.com'
>>> origin("*")
Traceback (most recent call last):
...
ValueError: '*' is not an origin; name each one as scheme://host[:port]
"""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

CONSOLE = Path(__file__).parent / "console"

# The console loads nothing from elsewhere: its scripts (ES modules too), styles and calls all
# come from this origin. 'self' in connect-src also covers ws:/wss: to this host and port in
# current browsers (CSP Level 3).
POLICY = "; ".join(
    (
        "default-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",  # the forms are handled by script; never submitted with a token
        "frame-ancestors 'none'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

# How long a browser may reuse a preflight answer (Chromium caps it at 7200 s).
PREFLIGHT_MAX_AGE = 600
_PLAIN_OPTIONS = {"Allow": "GET, POST, OPTIONS"}


def add_console(app: web.Application) -> None:
    """``GET /`` and ``/console/*``, each sent with ``SECURITY_HEADERS``."""
    app.router.add_get("/", _console_page)
    console = web.Application()
    console.router.add_static("/", CONSOLE, show_index=False, follow_symlinks=False)
    console.on_response_prepare.append(_secure)
    app.add_subapp("/console/", console)


async def _console_page(request: web.Request) -> web.FileResponse:
    """The API console: one page, its assets served from ``/console/`` (SPEC 11)."""
    return web.FileResponse(CONSOLE / "index.html", headers=SECURITY_HEADERS)


async def _secure(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.update(SECURITY_HEADERS)


def origin(text: str) -> str:
    """``text`` as a browser sends it in ``Origin``: scheme and host in lower case, no default
    port, no path; ``ValueError`` for anything else (``*``, ``null``, a path, a query)."""
    parts = urlsplit(text.strip())
    default_port = {"http": 80, "https": 443}.get(parts.scheme)
    extra = parts.path not in ("", "/") or parts.query or parts.fragment or parts.username
    try:
        port = parts.port
    except ValueError:  # no number, or out of range
        extra = True
    if default_port is None or not parts.hostname or extra:
        raise ValueError(f"{text!r} is not an origin; name each one as scheme://host[:port]")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    suffix = "" if port in (None, default_port) else f":{port}"
    return f"{parts.scheme}://{host}{suffix}"


class Cors:
    """CORS for the endpoint's paths: preflights answered, only allowed origins echoed.

    With no origin allowed a preflight is refused (403) and no response names an origin;
    an ``OPTIONS`` request that is no preflight gets ``204`` with ``Allow``. Credentials
    (cookies) are never allowed: tokens travel in ``auth`` or ``Authorization`` only.
    """

    def __init__(self, origins: Collection[str], paths: Collection[str]) -> None:
        self.origins = frozenset(origins)
        self.paths = frozenset(paths)

    def install(self, app: web.Application) -> None:
        """Sign the endpoint's answers (route ``OPTIONS`` on its paths to ``preflight``)."""
        if self.origins:  # no hook at all otherwise: the endpoint's hot path stays as it was
            app.on_response_prepare.append(self.sign)

    async def preflight(self, request: web.Request) -> web.Response:
        asking = request.headers.get("Origin")
        if asking is None or "Access-Control-Request-Method" not in request.headers:
            return web.Response(status=204, headers=_PLAIN_OPTIONS)
        if asking not in self.origins:
            # As aiohttp-cors does: a plain refusal a person with curl understands. A browser
            # fails the same way on a 403 as on a 204 without Access-Control-Allow-Origin.
            return web.Response(
                status=403,
                text="This origin may not call the service (see serve --cors-origin).\n",
                headers={"Vary": "Origin"},
            )
        headers = {
            "Access-Control-Allow-Origin": asking,
            "Access-Control-Allow-Methods": "POST",
            "Access-Control-Allow-Headers": "Content-Type, Authorization",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE),
            "Vary": "Origin",
        }
        return web.Response(status=204, headers=headers)

    async def sign(self, request: web.Request, response: web.StreamResponse) -> None:
        """Name an allowed origin on the endpoint's answers; say they vary by origin."""
        if request.path not in self.paths:
            return
        headers = response.headers
        vary = headers.get("Vary")
        if vary is None:
            headers["Vary"] = "Origin"
        elif "origin" not in vary.lower():
            headers["Vary"] = f"{vary}, Origin"
        asking = request.headers.get("Origin")
        if asking in self.origins:
            headers["Access-Control-Allow-Origin"] = asking
