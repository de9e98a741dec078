"""The README stays true: every method, error code, flag and Makefile target it must show."""

from __future__ import annotations

import re
from pathlib import Path

from customergroup_rpc import errors
from customergroup_rpc.__main__ import _parser
from customergroup_rpc.errors import ERRORS
from customergroup_rpc.schemas import Schemas

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_lists_every_method() -> None:
    for name in Schemas.load().methods:
        assert f"| `{name}` |" in README, name


def test_readme_error_table_is_made_from_the_error_classes() -> None:
    assert errors.table() in README
    assert {error.code for error in ERRORS} >= {-32700, -32600, -32601, -32602, -32603}


def test_readme_shows_every_serve_flag() -> None:
    commands = _parser()._subparsers
    assert commands is not None
    (subparsers,) = commands._group_actions
    assert isinstance(subparsers.choices, dict)
    serve = subparsers.choices["serve"]
    for action in serve._actions:
        for flag in action.option_strings:
            assert flag in README or flag in ("-h", "--help"), flag


def test_readme_commands_are_makefile_targets() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    for target in ("serve", "test"):
        assert f"make {target}" in README
        assert re.search(rf"^{target}:", makefile, re.MULTILINE)
