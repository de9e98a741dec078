"""The API console (SPEC 11) in a real browser: Debian's Chromium, driven by Playwright, against a
real ``serve`` process.

``make test`` installs Chromium first; without ``/usr/bin/chromium`` the module is skipped.
``UPDATE_CONSOLE_SCREENSHOT=1`` also writes the screenshot to ``docs/console.png``; otherwise it
goes to the test's temporary folder only, so a test run leaves the repository as it was.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .server_process import ADMIN_TOKEN, Server

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    pytest.skip(
        "the console test needs Debian's Chromium at /usr/bin/chromium (make test installs it)",
        allow_module_level=True,
    )

from playwright.sync_api import (  # noqa: E402
    Browser,
    Page,
    Playwright,
    Route,
    expect,
    sync_playwright,
)

ROOT = Path(__file__).parent.parent
SCREENSHOT = ROOT / "docs" / "console.png"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
TIMEOUT_MS = 5_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with Server(tmp_path_factory.mktemp("console")) as running:
        yield running


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


class Console:
    """One browser page on the console, with what it logged and every URL it asked for."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        page.on("request", lambda request: self.urls.append(request.url))

    def open(self) -> Console:
        self.page.goto(self.base + "/")
        return self.settle()

    def reload(self) -> Console:
        self.page.reload()
        return self.settle()

    def settle(self) -> Console:
        # The reference is loaded at start; wait for it (or its fallback).
        expect(self.page.locator("#reference .placeholder")).to_have_count(0)
        return self

    def paste_token(self, token: str = ADMIN_TOKEN) -> None:
        self.page.fill("#token", token)
        self.page.click("#token-save")
        expect(self.page.locator("#token-status")).to_contain_text("saved in this browser")

    def run(self, call: str, *, keyboard: bool = False) -> str:
        """Type ``call``, run it (the button, or Ctrl+Enter), the response panel's text."""
        self.page.fill("#call", call)
        if keyboard:
            self.page.press("#call", "Control+Enter")
        else:
            self.page.click("#run")
        expect(self.page.locator("#response .status")).to_be_visible()
        expect(self.page.locator("#response")).not_to_have_attribute("aria-busy", "true")
        return self.page.inner_text("#response")

    def result(self) -> Any:
        """The result shown, read back from the rendered, pretty-printed JSON."""
        return json.loads(self.page.inner_text("#response pre.json"))

    def history(self) -> list[str]:
        return self.page.locator("#history code").all_inner_texts()

    def check(self) -> None:
        """Nothing went wrong in the page, and nothing was fetched from elsewhere."""
        assert self.errors == []
        foreign = [u for u in self.urls if not u.startswith((self.base + "/", "data:", "blob:"))]
        assert foreign == []


@pytest.fixture
def console(browser: Browser, server: Server) -> Iterator[Console]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    try:
        yield Console(context.new_page(), f"http://127.0.0.1:{server.port}")
    finally:
        context.close()


def test_a_call_shows_its_pretty_printed_result(console: Console) -> None:
    console.open().paste_token()
    text = console.run('Customergroup.create({"name": "Students"}, ["uid", "name"])')
    assert "Result" in text
    group = console.result()
    assert group["name"] == "Students"
    assert isinstance(group["uid"], int)
    assert group.keys() == {"uid", "name"}
    # Ctrl+Enter runs too; the result is indented JSON.
    console.run(f'Customergroup.get({group["uid"]}, "name")', keyboard=True)
    assert console.result() == {"name": "Students"}
    assert '\n  "name": "Students"\n' in console.page.inner_text("#response pre.json")
    console.check()


def test_errors_show_code_message_and_pointers(console: Console) -> None:
    console.open().paste_token()
    text = console.run('Customergroup.get(999, "name")')
    assert "Error 9003" in text
    assert "Object not found" in text
    rows = console.page.locator("#response table.pointers tbody tr")
    expect(rows).to_have_count(1)
    assert rows.locator("td").all_inner_texts() == ["/0", "No customer group with uid 999"]

    text = console.run('Customergroup.set(null, {"name": "", "uid": 3})')
    assert "Error -32602" in text
    pointers = console.page.locator("#response table.pointers td code").all_inner_texts()
    assert sorted(pointers) == ["/name", "/uid"]

    # A notation error is found in the page, before anything is sent, with its place.
    before = len(console.urls)
    text = console.run("Customergroup.get(999, name)")
    assert "Notation error" in text
    assert "line 1, column 24" in text
    assert 'write a string in double quotes ("name")' in text
    assert console.page.inner_text("#response .snippet").endswith(" " * 23 + "^")
    assert len(console.urls) == before
    console.check()


def test_without_a_token_calls_answer_bad_auth_token(console: Console) -> None:
    console.open()
    expect(console.page.locator("#token-status")).to_contain_text("No token")
    assert "Error 1004" in console.run("Customergroup.count()")
    console.check()


def test_token_and_history_survive_a_reload(console: Console) -> None:
    console.open().paste_token()
    console.run("Customergroup.count()")
    console.run('Customergroup.get(999, "name")')
    console.run("Customergroup.count()")  # again: moves to the top, listed once
    console.reload()
    assert console.page.input_value("#token") == ADMIN_TOKEN
    assert console.history() == ["Customergroup.count()", 'Customergroup.get(999, "name")']
    badges = console.page.locator("#history .badge").all_inner_texts()
    assert badges == ["ok", "9003"]

    # A click puts the call back in the editor.
    console.page.locator("#history button", has_text="get(999").click()
    assert console.page.input_value("#call") == 'Customergroup.get(999, "name")'

    # Forget: gone from the page and from storage, also after a reload.
    console.page.click("#token-forget")
    assert console.page.input_value("#token") == ""
    console.reload()
    assert console.page.input_value("#token") == ""
    assert "Error 1004" in console.run("Customergroup.count()")
    console.check()


def test_the_reference_lists_every_method(console: Console) -> None:
    methods = json.loads((ROOT / "schemas" / "methods.json").read_text("utf-8"))["methods"]
    console.open()
    listed = console.page.locator("#method-list > li").evaluate_all(
        "items => items.map(item => item.dataset.method)"
    )
    assert set(methods) <= set(listed)
    assert set(listed) - set(methods) == {"rpc.discover"}
    get = console.page.locator('#method-list > li[data-method="Customergroup.get"]')
    assert "Fetch a customer group" in get.inner_text()

    # A click puts a template call in the editor, and the template runs.
    console.paste_token()
    console.run('Customergroup.create({"name": "Volunteers"})')
    get.locator("button.method-name").click()
    assert console.page.input_value("#call") == 'Customergroup.get(1, ["uid", "name"])'
    console.page.click("#run")
    expect(console.page.locator("#response .status")).to_contain_text("Result")

    # The raw OpenRPC document: shown as a response, and offered as a download.
    console.page.click("#openrpc-show")
    expect(console.page.locator("#response .status")).to_contain_text("rpc.discover")
    assert console.result()["openrpc"].startswith("1.")
    with console.page.expect_download() as download:
        console.page.click("#openrpc-download")
    assert download.value.suggested_filename == "openrpc.json"
    console.check()


def test_a_failed_discovery_leaves_a_readable_note(console: Console) -> None:
    def answer(route: Route) -> None:
        body = json.loads(route.request.post_data or "{}")
        if body.get("method") != "rpc.discover":
            route.continue_()
            return
        error = {"code": -32601, "message": "Method not found", "data": "rpc.discover"}
        payload = {"jsonrpc": "2.0", "error": error, "id": body.get("id")}
        route.fulfill(status=200, content_type="application/json", body=json.dumps(payload))

    console.page.route("**/backend/jsonrpc/v1/", answer)
    console.open()
    note = console.page.inner_text("#reference")
    assert "The method reference is not available" in note
    assert "-32601 Method not found" in note
    assert "Calls still work" in note
    console.check()


def test_the_notation_matches_the_command_line(console: Console) -> None:
    """The page reads tests/cases/notation.json as notation.py does: same calls, same places."""
    cases = json.loads((ROOT / "tests" / "cases" / "notation.json").read_text("utf-8"))["cases"]
    console.open()
    parsed = console.page.evaluate(
        """texts => texts.map(text => {
            try {
                const call = parseCall(text);
                return {method: call.method, params: call.params};
            } catch (error) {
                return {error: error.message, position: error.position, kind: error.name};
            }
        })""",
        [case["text"] for case in cases],
    )
    for case, got in zip(cases, parsed, strict=True):
        if "error" in case:
            assert got.get("kind") == "NotationError", (case, got)
            # Where the JSON decoders differ (browser and Python), only the failing value counts.
            if not case["error"].startswith("Bad JSON"):
                assert f"position {got['position']}" in case["error"], (case, got)
        else:
            assert got == {"method": case["method"], "params": case["params"]}, case
    console.check()


def test_screenshot(console: Console, server: Server, tmp_path: Path) -> None:
    for name in ("Staff", "Teachers", "Alumni", "Parents"):
        server.result("Customergroup.create", [{"name": name}])
    console.page.set_viewport_size({"width": 1280, "height": 900})
    console.open().paste_token()
    console.run('Customergroup.get(999, "name")')
    console.run('Customergroup.count({"/name": {"startsWith": "St"}})')
    console.run('Customergroup.list(["uid", "name"], {"limit": 4, "sort": "name"})')
    assert len(console.result()) == 4
    console.page.mouse.move(0, 0)
    path = tmp_path / "console.png"
    console.page.screenshot(path=path)
    assert path.read_bytes().startswith(b"\x89PNG")
    if os.environ.get("UPDATE_CONSOLE_SCREENSHOT") == "1":
        SCREENSHOT.parent.mkdir(exist_ok=True)
        SCREENSHOT.write_bytes(path.read_bytes())
    console.check()
