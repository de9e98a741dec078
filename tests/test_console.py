"""The API console (SPEC 11) in a real browser: Debian's Chromium, driven by Playwright, against a
real ``serve`` process, with the page under a strict Content-Security-Policy.

The browser tests look for Chromium as ``$CHROMIUM`` (default ``chromium``) on the PATH and are
skipped, saying how to get it, when it is missing; ``make test`` installs it when run as root.
``UPDATE_CONSOLE_SCREENSHOT=1`` also writes the screenshot of the list test to
``docs/console.png``; otherwise the test run leaves the repository as it was.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Playwright,
    Request,
    Route,
    expect,
    sync_playwright,
)

from .server_process import ADMIN_TOKEN, Server

ROOT = Path(__file__).parent.parent
SCREENSHOT = ROOT / "docs" / "console.png"
CHROMIUM_NAME = os.environ.get("CHROMIUM") or "chromium"
CHROMIUM = shutil.which(CHROMIUM_NAME)
if CHROMIUM is None:
    pytest.skip(
        f"Chromium not found (CHROMIUM={CHROMIUM_NAME}): the console's browser tests need "
        "Debian's chromium; install it (apt-get install chromium, or make test as root) or set "
        "CHROMIUM to its path",
        allow_module_level=True,
    )
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # The tests serve the page through Playwright's router (to add the policy), which leaves
    # the page without an address space; Chromium's local network access checks then block
    # its WebSocket to 127.0.0.1, which a page loaded from the server itself may open.
    "--disable-features=LocalNetworkAccessChecks",
]
TIMEOUT_MS = 5_000
# The policy the console must work under; the server sends it (browser.POLICY), and the test
# adds it to any page or asset served without one.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "frame-ancestors 'none'"
)
# Runs before the page's own scripts (injected by the browser, so the policy does not apply).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
    window.__violations.push(`${event.effectiveDirective} ${event.blockedURI}`);
});
"""


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
    assert CHROMIUM is not None
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield chromium
    finally:
        chromium.close()


def with_policy(route: Route) -> None:
    """The server's answer, with POLICY added when the server sent no policy of its own."""
    response = route.fetch()
    headers = dict(response.headers)
    headers.setdefault("content-security-policy", POLICY)
    route.fulfill(response=response, headers=headers)


class Console:
    """One browser page on the console, with what it logged, asked for and posted."""

    def __init__(self, page: Page, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        self.urls: list[str] = []
        self.posted: list[str] = []  # the methods of the JSON-RPC requests the page sent
        page.on("pageerror", lambda error: self.errors.append(f"page error: {error}"))
        page.on(
            "console",
            lambda message: (
                self.errors.append(f"console {message.type}: {message.text}")
                if message.type in ("error", "warning")
                else None
            ),
        )
        page.on("request", self._request)

    def _request(self, request: Request) -> None:
        self.urls.append(request.url)
        if request.method == "POST":
            self.posted.append(json.loads(request.post_data or "{}").get("method"))

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

    def start(self, call: str, *, keyboard: bool = False) -> None:
        """Type ``call`` and run it with the button, or with Ctrl+Enter."""
        self.page.fill("#call", call)
        if keyboard:
            self.page.press("#call", "Control+Enter")
        else:
            self.page.click("#run")

    def answer(self) -> str:
        """The response panel's text, once the call running has its answer."""
        expect(self.page.locator("#response .status")).to_be_visible()
        expect(self.page.locator("#response")).not_to_have_attribute("aria-busy", "true")
        return self.page.inner_text("#response")

    def run(self, call: str, *, keyboard: bool = False) -> str:
        self.start(call, keyboard=keyboard)
        return self.answer()

    def question(self) -> str:
        """The question the page asks before a call; Cancel has the focus."""
        expect(self.page.locator("#confirm")).to_be_visible()
        expect(self.page.locator("#confirm-cancel")).to_be_focused()
        return self.page.inner_text("#confirm-question")

    def result(self) -> Any:
        """The result shown, read back from the rendered, pretty-printed JSON."""
        return json.loads(self.page.inner_text("#response pre.json"))

    def history(self) -> list[str]:
        return self.page.locator("#history code").all_inner_texts()

    def check(self) -> None:
        """Nothing went wrong in the page, nothing broke the policy, nothing came from elsewhere."""
        assert self.page.evaluate("window.__violations") == []
        assert self.errors == []
        foreign = [u for u in self.urls if not u.startswith((self.base + "/", "blob:"))]
        assert foreign == []


@pytest.fixture
def console(browser: Browser, server: Server) -> Iterator[Console]:
    base = f"http://127.0.0.1:{server.port}"
    context: BrowserContext = browser.new_context(viewport={"width": 1280, "height": 800})
    context.set_default_timeout(TIMEOUT_MS)
    context.add_init_script(RECORD_VIOLATIONS)
    context.route(f"{base}/", with_policy)
    context.route(f"{base}/console/**", with_policy)
    try:
        yield Console(context.new_page(), base)
    finally:
        context.close()


def new_group(server: Server, name: str, customers: list[int] | None = None) -> int:
    """A group made through the API (with these customers); its uid."""
    uid: int = server.result("Customergroup.create", [{"name": name}, ["uid"]])["uid"]
    if customers:
        server.result("Customergroup.addCustomers", [uid, customers])
    return uid


def exists(server: Server, uid: int) -> bool:
    answer = server.call("Customergroup.get", [uid, ["uid"]])
    if "error" in answer:
        assert answer["error"]["code"] == 9003, answer
        return False
    return True


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


def test_a_list_shows_the_groups_asked_for_in_order(console: Console, server: Server) -> None:
    for name in ("Staff", "Teachers", "Alumni", "Parents"):
        new_group(server, name)
    console.page.set_viewport_size({"width": 1280, "height": 900})
    console.open().paste_token()
    console.run('Customergroup.get(999, "name")')
    console.run('Customergroup.count({"/name": {"startsWith": "St"}})')
    console.run('Customergroup.list(["uid", "name"], {"limit": 4, "sort": "name"})')
    names = [group["name"] for group in console.result()]
    assert len(names) == 4
    assert names == sorted(names, key=str.casefold)
    assert names[0] == "Alumni"
    if os.environ.get("UPDATE_CONSOLE_SCREENSHOT") == "1":
        console.page.mouse.move(0, 0)
        SCREENSHOT.parent.mkdir(exist_ok=True)
        console.page.screenshot(path=SCREENSHOT)
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
    before = len(console.posted)
    text = console.run("Customergroup.get(999, name)")
    assert "Notation error" in text
    assert "line 1, column 24" in text
    assert 'write name as a string in double quotes ("name")' in text
    assert console.page.inner_text("#response .snippet").endswith(" " * 23 + "^")
    # Also deep inside a value, pointing at the line and column of the bracket left open.
    text = console.run('Customergroup.list(\n  ["uid",\n   "name"}, {})')
    assert "line 3, column 10" in text
    assert 'expected "," or "]" to close the "[" at line 2, column 3, found "}"' in text
    assert len(console.posted) == before
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


def test_the_language_switch_words_answers_and_the_fields_of_a_group(console: Console) -> None:
    console.open()
    # Without a token getSchema cannot be read: the fields come from discovery, in English.
    console.page.select_option("#language", "sv")
    expect(console.page.locator("#object-title")).to_have_text("Customer group")
    expect(console.page.locator("#object-reference")).to_contain_text("save a token")
    console.page.click("#object-reference summary")  # unfold the fields
    console.paste_token()
    expect(console.page.locator("#object-title")).to_have_text("Kundgrupp")
    name = console.page.locator('#object-reference dt[data-property="name"]')
    expect(name).to_be_visible()  # still unfolded
    expect(name).to_contain_text("Namn")
    assert console.page.get_attribute("#object-reference", "lang") == "sv"

    text = console.run('Customergroup.get(999, "name")')
    assert "Object not found" in text  # the platform's name of the error stays English
    rows = console.page.locator("#response table.pointers tbody tr")
    assert rows.locator("td").all_inner_texts() == ["/0", "Det finns ingen kundgrupp med uid 999"]
    assert any(url.endswith("/backend/jsonrpc/v1/?language=sv") for url in console.urls)

    # The choice is kept in this browser.
    console.reload()
    assert console.page.input_value("#language") == "sv"
    expect(console.page.locator("#object-title")).to_have_text("Kundgrupp")
    console.page.select_option("#language", "da")
    expect(console.page.locator("#object-title")).to_have_text("Kundegruppe")

    # Automatic sends no language: the browser's Accept-Language (English here) decides.
    console.page.select_option("#language", "")
    expect(console.page.locator("#object-title")).to_have_text("Customer group")
    console.run('Customergroup.get(999, "name")')
    assert rows.locator("td").all_inner_texts() == ["/0", "No customer group with uid 999"]
    console.check()


def test_the_reference_lists_every_method(console: Console, server: Server) -> None:
    doc = json.loads((ROOT / "schemas" / "methods.json").read_text("utf-8"))
    methods = {**doc["methods"], **doc["websocketMethods"]}  # subscribe: over a WebSocket
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
    if not exists(server, 1):
        new_group(server, "Volunteers")
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
        """async texts => {
            const { parseCall } = await import("/console/notation.js");
            return texts.map(text => {
                try {
                    const call = parseCall(text);
                    return {method: call.method, params: call.params};
                } catch (error) {
                    return {error: error.message, position: error.position, kind: error.name};
                }
            });
        }""",
        [case["text"] for case in cases],
    )
    for case, got in zip(cases, parsed, strict=True):
        if "error" not in case:
            assert got == {"method": case["method"], "params": case["params"]}, case
            continue
        assert got.get("kind") == "NotationError", (case, got)
        if f"position {got['position']}" not in case["error"]:
            # Python points at the argument holding NaN or Infinity; the page at the word itself.
            assert case["error"].startswith("Bad JSON"), (case, got)
            assert "JSON has no NaN or Infinity" in got["error"], (case, got)
    console.check()


def test_delete_asks_first_and_cancel_runs_nothing(console: Console, server: Server) -> None:
    uid = new_group(server, "Keep me")
    console.open().paste_token()
    console.start(f"Customergroup.delete({uid})", keyboard=True)
    assert console.question() == f"Delete customer group {uid}?"
    assert console.page.inner_text("#confirm-run") == "Delete"
    console.page.click("#confirm-cancel")
    expect(console.page.locator("#confirm")).to_be_hidden()
    expect(console.page.locator("#run-state")).to_have_text("Not run: cancelled.")
    # Escape is a cancel too.
    console.page.click("#run")
    console.question()
    console.page.keyboard.press("Escape")
    expect(console.page.locator("#confirm")).to_be_hidden()

    assert exists(server, uid)
    assert "Customergroup.delete" not in console.posted
    assert console.history() == []
    console.check()


def test_delete_runs_once_confirmed(console: Console, server: Server) -> None:
    uid = new_group(server, "Delete me")
    console.open().paste_token()
    console.start(f"Customergroup.delete({uid})")
    console.question()
    console.page.click("#confirm-run")
    assert "Result" in console.answer()
    assert console.result() is True
    assert not exists(server, uid)
    assert console.history() == [f"Customergroup.delete({uid})"]
    console.check()


def test_a_delete_template_from_the_reference_asks_too(console: Console) -> None:
    console.open().paste_token()
    console.page.locator(
        '#method-list > li[data-method="Customergroup.delete"] button.method-name'
    ).click()
    assert console.page.input_value("#call") == "Customergroup.delete(1)"
    console.page.press("#call", "Control+Enter")
    assert console.question() == "Delete customer group 1?"
    console.page.click("#confirm-cancel")
    expect(console.page.locator("#confirm")).to_be_hidden()
    assert "Customergroup.delete" not in console.posted
    console.check()


def test_removing_and_moving_customers_ask_naming_what_changes(
    console: Console, server: Server
) -> None:
    source = new_group(server, "Move from", [17, 42, 99])
    target = new_group(server, "Move to")
    console.open().paste_token()

    console.start(f"Customergroup.moveCustomers({source}, {target}, null)")
    assert console.question() == f"Move all customers of group {source} to group {target}?"
    console.page.click("#confirm-cancel")
    console.start(f"Customergroup.moveCustomers({source}, {target}, [42])")
    assert console.question() == f"Move 1 customer from group {source} to group {target}?"
    assert "Customers: 42." in console.page.inner_text("#confirm-detail")
    console.page.click("#confirm-cancel")
    console.start(f"Customergroup.removeCustomers({source}, [17, 42, 99])")
    assert console.question() == f"Remove 3 customers from group {source}?"
    console.page.click("#confirm-cancel")
    expect(console.page.locator("#confirm")).to_be_hidden()
    assert server.result("Customergroup.listCustomers", [source]) == [17, 42, 99]
    assert server.result("Customergroup.listCustomers", [target]) == []

    console.start(f"Customergroup.removeCustomers({source}, [17, 99])")
    assert console.question() == f"Remove 2 customers from group {source}?"
    console.page.click("#confirm-run")
    console.answer()
    assert console.result() == 2
    assert server.result("Customergroup.listCustomers", [source]) == [42]
    assert console.posted.count("Customergroup.removeCustomers") == 1
    assert "Customergroup.moveCustomers" not in console.posted
    console.check()


def test_an_empty_editor_runs_nothing(console: Console) -> None:
    console.open().paste_token()
    assert console.page.input_value("#call") == ""
    console.page.click("#run")
    expect(console.page.locator("#run-state")).to_contain_text("Type a call first")
    console.start("  \n\t", keyboard=True)
    expect(console.page.locator("#run-state")).to_contain_text("Type a call first")
    expect(console.page.locator("#response .placeholder")).to_be_visible()
    # Only what the reference reads by itself: the methods, and the object's texts.
    assert {"rpc.discover"} <= set(console.posted) <= {"rpc.discover", "Customergroup.getSchema"}
    assert console.history() == []
    console.check()


def test_the_page_runs_as_modules_under_the_content_policy(console: Console) -> None:
    response = console.page.goto(console.base + "/")
    assert response is not None
    own = response.headers["content-security-policy"]  # the server's, not the test's
    assert "default-src 'self'" in own
    assert "frame-ancestors 'none'" in own
    assert "'unsafe-inline'" not in own
    assert "data:" not in own
    console.settle()
    scripts = console.page.locator("script").evaluate_all(
        "nodes => nodes.map(node => [node.type, node.getAttribute('src'), node.text])"
    )
    assert scripts == [["module", "/console/console.js", ""]]
    console.paste_token()
    assert "Result" in console.run("Customergroup.count()")
    console.check()

    # The policy is in force and a breach is seen: an inline script is refused and reported.
    console.page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__inline = true";
            document.head.append(script);
        }"""
    )
    console.page.wait_for_function("window.__violations.length > 0")
    assert console.page.evaluate("window.__inline") is None
    violations = console.page.evaluate("window.__violations")
    assert [v.split()[0] for v in violations] == ["script-src-elem"]


def test_the_live_feed_shows_each_change_as_it_commits(console: Console, server: Server) -> None:
    console.open()
    console.paste_token()
    console.page.click("#feed-toggle")
    expect(console.page.locator("#feed-status")).to_contain_text("Following")
    uid = new_group(server, "Live feed group", [17])
    newest = console.page.locator("#feed li").first
    expect(newest).to_contain_text(f"group {uid} added customer 17 (v2) by token env-")
    expect(console.page.locator("#feed")).to_contain_text(f"group {uid} created “Live feed group”")
    console.page.click("#feed-toggle")
    expect(console.page.locator("#feed-status")).to_have_text("Stopped.")
    console.check()
