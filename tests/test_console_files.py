"""The console's files as the service serves them, without a browser: a page that a strict
Content-Security-Policy accepts, and module scripts with a JavaScript content type.
"""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

from customergroup_rpc.app import Config, create_app
from customergroup_rpc.browser import CONSOLE


class _Inline(HTMLParser):
    """What in a page a strict policy refuses or must be trusted with: inline code and styles."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        self.found += [f"{tag} {n}" for n in names if n == "style" or n.startswith("on")]
        if tag == "style" or (tag == "script" and "src" not in names):
            self.found.append(f"inline {tag}")
        for name in ("href", "src"):
            if (names.get(name) or "").startswith(("data:", "javascript:", "http:", "https:")):
                self.found.append(f"{tag} {name}={names[name]}")


def test_the_page_has_no_inline_code_styles_or_foreign_urls() -> None:
    page = _Inline()
    page.feed((CONSOLE / "index.html").read_text("utf-8"))
    assert page.found == []


async def test_console_scripts_are_served_as_javascript(aiohttp_client: Any) -> None:
    """Browsers run a module script only with a JavaScript content type."""
    client = await aiohttp_client(create_app(Config()))
    modules = sorted(path.name for path in CONSOLE.glob("*.js"))
    assert "console.js" in modules
    for name in modules:
        response = await client.get(f"/console/{name}")
        assert response.status == 200, name
        assert response.content_type in ("text/javascript", "application/javascript"), name
