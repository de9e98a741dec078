"""What browsers get: the console's security headers and opt-in CORS on the endpoint."""

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from customergroup_rpc.app import Config, create_app
from customergroup_rpc.browser import PREFLIGHT_MAX_AGE, origin

from .conftest import ENDPOINT, MANAGE, req

Client = TestClient[Any, Any]
ADMIN_PAGE = "https://admin.example.com"
ELSEWHERE = "https://evil.example.net"
PREFLIGHT = {"Access-Control-Request-Method": "POST"}


async def client_for(aiohttp_client: Any, *origins: str) -> Client:
    config = Config(admin_token=MANAGE, cors_origins=frozenset(origins))
    client: Client = await aiohttp_client(create_app(config))
    return client


# --- the console (issue 10, item 12) ---


@pytest.mark.parametrize("path", ["/", "/console/console.js", "/console/console.css"])
async def test_console_files_forbid_framing_sniffing_and_foreign_content(
    aiohttp_client: Any, path: str
) -> None:
    client = await client_for(aiohttp_client)
    response = await client.get(path)
    assert response.status == 200
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    policy = dict(
        part.strip().split(" ", 1)
        for part in response.headers["Content-Security-Policy"].split(";")
    )
    assert policy["default-src"] == "'self'"  # scripts (modules too), styles, fetch, WebSocket
    assert policy["frame-ancestors"] == "'none'"
    assert "unsafe-inline" not in response.headers["Content-Security-Policy"]
    assert "script-src" not in policy  # so scripts fall back to 'self' alone


async def test_console_page_has_no_inline_script_the_policy_would_block(
    aiohttp_client: Any,
) -> None:
    client = await client_for(aiohttp_client)
    page = await (await client.get("/")).text()
    scripts = re.findall(r"<script\b([^>]*)>", page)
    assert scripts
    assert all(re.search(r"\ssrc=\"/console/", attributes) for attributes in scripts)
    assert not re.search(r"<[^>]*\s(on[a-z]+|style)\s*=", page)  # handlers, inline styles
    assert "javascript:" not in page


async def test_the_endpoint_and_health_carry_no_console_headers(aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client)
    for response in (
        await client.post(f"{ENDPOINT}?auth={MANAGE}", json=req("count")),
        await client.get("/health"),
    ):
        assert response.status == 200
        assert "Content-Security-Policy" not in response.headers


async def test_a_missing_console_file_is_404(aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client)
    assert (await client.get("/console/nothing.js")).status == 404
    assert (await client.get("/console/../app.py")).status in (403, 404)


# --- CORS (issue 10, cross-origin browser clients) ---


@pytest.mark.parametrize("path", ["/backend/jsonrpc/v1/", "/backend/jsonrpc/v1"])
async def test_preflight_from_an_allowed_origin_is_204_naming_it(
    aiohttp_client: Any, path: str
) -> None:
    client = await client_for(aiohttp_client, ADMIN_PAGE, "http://localhost:8000")
    headers = {
        "Origin": ADMIN_PAGE,
        **PREFLIGHT,
        "Access-Control-Request-Headers": "content-type,authorization",
    }
    response = await client.options(path, headers=headers)
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == ADMIN_PAGE
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    allowed = {
        h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")
    }
    assert allowed == {"content-type", "authorization"}
    assert response.headers["Access-Control-Max-Age"] == str(PREFLIGHT_MAX_AGE)
    assert response.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in response.headers


async def test_post_from_an_allowed_origin_echoes_it(aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client, ADMIN_PAGE)
    response = await client.post(
        ENDPOINT,
        json=req("count"),
        headers={"Origin": ADMIN_PAGE, "Authorization": f"Bearer {MANAGE}"},
    )
    assert (await response.json())["result"] == 0
    assert response.headers["Access-Control-Allow-Origin"] == ADMIN_PAGE
    assert response.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Credentials" not in response.headers
    notification = {"jsonrpc": "2.0", "method": "Customergroup.count"}
    quiet = await client.post(
        f"{ENDPOINT}?auth={MANAGE}", json=notification, headers={"Origin": ADMIN_PAGE}
    )
    assert quiet.status == 204
    assert quiet.headers["Access-Control-Allow-Origin"] == ADMIN_PAGE


async def test_another_origin_is_refused_and_never_named(aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client, ADMIN_PAGE)
    preflight = await client.options(ENDPOINT, headers={"Origin": ELSEWHERE, **PREFLIGHT})
    assert preflight.status == 403
    assert "Access-Control-Allow-Origin" not in preflight.headers
    post = await client.post(
        f"{ENDPOINT}?auth={MANAGE}", json=req("count"), headers={"Origin": ELSEWHERE}
    )
    assert (await post.json())["result"] == 0  # answered: only a browser withholds it
    assert "Access-Control-Allow-Origin" not in post.headers
    assert post.headers["Vary"] == "Origin"


async def test_without_configured_origins_no_response_names_an_origin(
    aiohttp_client: Any,
) -> None:
    client = await client_for(aiohttp_client)
    preflight = await client.options(ENDPOINT, headers={"Origin": ADMIN_PAGE, **PREFLIGHT})
    assert preflight.status == 403  # refused, no longer 405
    post = await client.post(
        f"{ENDPOINT}?auth={MANAGE}", json=req("count"), headers={"Origin": ADMIN_PAGE}
    )
    assert (await post.json())["result"] == 0
    for response in (preflight, post):
        assert not [h for h in response.headers if h.lower().startswith("access-control-")]
    assert "Vary" not in post.headers  # with CORS off the endpoint's answers are as before
    assert not client.app.on_response_prepare  # and no hook runs on them


async def test_options_that_is_no_preflight_says_what_is_allowed(aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client)
    response = await client.options(ENDPOINT)
    assert response.status == 204
    assert response.headers["Allow"] == "GET, POST, OPTIONS"


async def test_the_console_names_no_origin(aiohttp_client: Any) -> None:
    client = await client_for(aiohttp_client, ADMIN_PAGE)
    response = await client.get("/", headers={"Origin": ADMIN_PAGE})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://admin.example.com", "https://admin.example.com"),
        ("HTTPS://Admin.Example.COM/", "https://admin.example.com"),
        ("https://admin.example.com:443", "https://admin.example.com"),
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:8000", "http://localhost:8000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        (" http://127.0.0.1:3000 ", "http://127.0.0.1:3000"),
    ],
)
def test_origin_is_written_as_browsers_send_it(given: str, expected: str) -> None:
    assert origin(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        "*",
        "null",
        "admin.example.com",
        "ftp://admin.example.com",
        "https://admin.example.com/page",
        "https://admin.example.com?x=1",
        "https://user@admin.example.com",
        "https://admin.example.com:99999",
        "https://",
        "",
    ],
)
def test_anything_but_an_origin_is_refused(given: str) -> None:
    with pytest.raises(ValueError, match="is not an origin"):
        origin(given)
