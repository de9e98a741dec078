"""The schemas: one object schema for getSchema and for validation, readable messages."""

from __future__ import annotations

import asyncio
import json
import random
import shutil
import subprocess
import unicodedata
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft7Validator

from customergroup_rpc.errors import worded
from customergroup_rpc.schemas import Schemas, schema_dir
from customergroup_rpc.service import Customergroups
from customergroup_rpc.store import open_store
from customergroup_rpc.text import SPACES, fold


@pytest.fixture(scope="module")
def schemas() -> Schemas:
    return Schemas.load()


def test_schema_files_are_valid_draft_07() -> None:
    for name in ("customergroup.json", "methods.json"):
        schema = json.loads((schema_dir() / name).read_text())
        assert schema["$schema"] == "http://json-schema.org/draft-07/schema#"
        Draft7Validator.check_schema(schema)


def test_get_schema_marks_read_only_properties(schemas: Schemas) -> None:
    props = schemas.object_for(new=True)["properties"]
    assert {k for k, v in props.items() if v.get("readOnly")} == {
        "uid",
        "created",
        "changed",
        "customerCount",
        "version",
    }
    # 255 counts the trimmed name (a pattern); maxLength bounds the name as sent.
    assert props["name"]["maxLength"] == 1024
    assert all("title" in v and "description" in v for v in props.values())


def test_object_for_returns_a_copy(schemas: Schemas) -> None:
    schemas.object_for(new=True)["properties"].clear()
    assert "name" in schemas.object_for(new=True)["properties"]


@pytest.mark.parametrize(
    ("patch", "expected"),
    [
        ({"name": 5}, [("/name", "name must be a string, not the number 5.")]),
        ({"name": ""}, [("/name", "name must not be empty.")]),
        (
            {"name": "x" * 300},
            [
                (
                    "/name",
                    "The name must be at most 255 characters long once the whitespace around it"
                    " is trimmed.",
                )
            ],
        ),
        (
            {"name": "a\tb"},
            [
                (
                    "/name",
                    "The name must not contain control characters (such as line breaks or tabs),"
                    " except in the whitespace around it.",
                )
            ],
        ),
        (
            {"name": " \u200b "},
            [
                (
                    "/name",
                    "The name must contain at least one visible character: whitespace and"
                    " invisible characters alone are no name.",
                )
            ],
        ),
        (
            {"name": "a\u202eb"},
            [
                (
                    "/name",
                    "The name must not contain bidirectional controls (U+061C, U+200E, U+200F,"
                    " U+202A to U+202E, U+2066 to U+2069): they make text read differently from"
                    " how it is stored.",
                )
            ],
        ),
        (
            {"uid": "7"},
            [("/name", "name is required."), ("/uid", "uid is read-only: the server sets it.")],
        ),
        (
            {"name": "A", "a/b": 1},
            [
                (
                    "/a~1b",
                    "Unknown key 'a/b'. A patch may set: name.",
                )
            ],
        ),
    ],
)
def test_patch_problems_are_sentences_at_exact_pointers(
    schemas: Schemas, patch: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    found = [(p["pointer"], p["message"]) for p in worded(schemas.check_patch(patch, new=True))]
    assert found == expected


@pytest.mark.parametrize("name", ["\ud83d", "Gold \ud83c", "\udc00x", "a\ud800\tb"])
def test_half_a_character_is_named_as_such_not_as_a_control_character(
    schemas: Schemas, name: str
) -> None:
    # A name cut in the middle of an emoji by a client's UTF-16 string slicing holds a lone
    # surrogate: "must not contain control characters" sent its author looking for a tab.
    expected = (
        "The name must not contain half a character (a lone surrogate, U+D800 to U+DFFF, as"
        " left when text is cut inside an emoji): send whole characters."
    )
    assert worded(schemas.check_patch({"name": name}, new=True)) == [
        {"pointer": "/name", "message": expected}
    ]
    for language in ("sv", "nb", "da"):
        [problem] = worded(schemas.check_patch({"name": name}, new=True), language)
        assert "U+D800" in problem["message"]


def test_client_side_validation_agrees_with_the_server(schemas: Schemas) -> None:
    """A front end validating with getSchema's schema rejects what the server rejects."""
    client = Draft7Validator(schemas.object_for(new=True))
    refused: tuple[dict[str, Any], ...] = ({"name": 5}, {"name": ""}, {"name": "x" * 256})
    refused += ({"name": "a\nb"}, {}, {"x": 1})
    for patch in refused:
        assert not client.is_valid(patch)
        assert schemas.check_patch(patch, new=True)
    assert client.is_valid({"name": "Staff"})
    assert schemas.check_patch({"name": "Staff"}, new=True) == []


def test_every_method_has_a_scope_summary_and_result(schemas: Schemas) -> None:
    for method in schemas.methods.values():
        assert method.scope in {"manage", "view"}
        assert method.summary.endswith(".")
        assert method.result["schema"]


def test_param_problems_point_into_the_params(schemas: Schemas) -> None:
    get = schemas.methods["Customergroup.get"]
    assert worded(schemas.check_param(get.params[0], "12a", "/0")) == [
        {
            "pointer": "/0",
            "message": 'A uid is an integer or a string of digits, such as 123 or "123".',
        }
    ]
    selection = schemas.methods["Customergroup.list"].params[1]
    found = schemas.check_param(selection, {"limit": -1, "sort": "size", "page": 2}, "/1")
    assert [p["pointer"] for p in found] == ["/1/limit", "/1/page", "/1/sort"]


def test_no_param_is_refused_with_the_words_kept_for_a_rule_no_schema_has(
    schemas: Schemas,
) -> None:
    # A pattern has no wording of ours: without the schema's errorMessage for it, changes'
    # uid "x" was refused with "uid does not fit the schema.", which says nothing to act on.
    values: list[Any] = ["x", "12a", " 1", "", "1" * 40, -1, 1.5, [], {}]
    for method in schemas.methods.values():
        for at, param in enumerate(method.params):
            for value in values:
                for problem in worded(schemas.check_param(param, value, f"/{at}")):
                    assert "does not fit the schema" not in problem["message"], (
                        method.name,
                        param.name,
                        value,
                    )
    changes = schemas.methods["Customergroup.changes"]
    assert worded(schemas.check_param(changes.params[2], "x", "/2")) == [
        {
            "pointer": "/2",
            "message": 'A uid is an integer or a string of digits, such as 123 or "123".',
        }
    ]


@pytest.mark.parametrize(
    ("method", "at", "keys"),
    [
        ("Customergroup.list", 1, "descending, filters, limit, offset, sort"),
        ("Customergroup.listCustomers", 1, "descending, limit, offset"),
    ],
)
def test_an_unknown_key_of_a_selection_is_named_as_one_not_as_a_patch_key(
    schemas: Schemas, method: str, at: int, keys: str
) -> None:
    param = schemas.methods[method].params[at]
    found = schemas.check_param(param, {"page": 2}, f"/{at}")
    message = f"Unknown key 'page' in selection; it may have: {keys}."
    assert worded(found) == [{"pointer": f"/{at}/page", "message": message}]
    for language in ("sv", "nb", "da"):
        [problem] = worded(found, language)
        assert "patch" not in problem["message"]
        assert "'page'" in problem["message"]
        assert keys in problem["message"]
    assert worded(schemas.check_patch({"colour": "red"}, new=False)) == [  # a patch says so
        {"pointer": "/colour", "message": "Unknown key 'colour'. A patch may set: name."}
    ]


# --- getSchema and the server agree on names (issue 10, item 11) ---

# Characters where the name rule has an edge: whitespace, controls, bidirectional controls,
# invisibles, lone surrogates, astral and combining characters.
EDGE_CHARS = [
    *SPACES,
    *"\x00\x08\x1c\x1f\x7f\x9f\ud800\udfff",
    *"\u061c\u200e\u200f\u202a\u202e\u2066\u2069",
    *"\u00ad\u034f\u115f\u180e\u200b\u200d\u2060\u2064\u3164\ufe0f\ufeff\uffa0\ufff8\u2800",
    *"\U0001bca0\U0001d159\U0001d173\U000e0001\U000e0041\U000e0fff",
    *"aZ0é\u0301Ｓß😀\U0010ffff\U0010fffe\ue000\u00a8",
]
LONG_FILLS = ["x", "😀", "x ", "x\u200b", "\u200bx", "x\x00", "x\u202e", " "]


def surrounded(core: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    around = st.text(st.sampled_from([*SPACES, "\u200b", "\x00", "\x1c"]), max_size=3)
    return st.builds(lambda before, text, after: before + text + after, around, core, around)


NAMES = surrounded(
    st.one_of(
        st.text(st.one_of(st.sampled_from(EDGE_CHARS), st.characters(exclude_categories=()))),
        st.builds(
            lambda fill, length, tail: (fill * length)[:length] + tail,
            st.sampled_from(LONG_FILLS),
            st.integers(250, 258),
            st.sampled_from(["", " ", "y", "\u200b", " y"]),
        ),
        # 1024 characters as sent is the most, whatever the trimmed length.
        st.builds(lambda n: " " * n + "x", st.integers(1020, 1026)),
    )
)


@pytest.fixture(scope="module")
def groups() -> Customergroups:
    """The service on an empty store: uniqueness never speaks."""
    return Customergroups(open_store(None), Schemas.load())


def server_accepts(groups: Customergroups, name: str) -> bool:
    problems = asyncio.run(groups.validate(None, {"name": name}))
    return not any(p["pointer"] == "/name" for p in problems)


def the_rule_accepts(name: str) -> bool:
    """SPEC 3 in plain Python: trimmed, 1 to 255 characters, one visible, no controls."""
    trimmed = name.strip(SPACES)
    controls = any(unicodedata.category(c) in {"Cc", "Cs", "Zl", "Zp"} for c in trimmed)
    # Embeddings, overrides and isolates by their bidirectional class; the three marks have
    # the class of a letter (L, R, AL), so they are named.
    bidi = any(
        unicodedata.bidirectional(c)
        in {"LRE", "RLE", "LRO", "RLO", "PDF", "LRI", "RLI", "FSI", "PDI"}
        or c in "\u200e\u200f\u061c"
        for c in trimmed
    )
    short = 1 <= len(trimmed) <= 255 and len(name) <= 1024
    return short and not controls and not bidi and fold(trimmed) != ""


@given(name=NAMES)
def test_get_schema_and_validate_agree_on_every_name(groups: Customergroups, name: str) -> None:
    """A front end running getSchema's schema with a stock validator judges names as the server."""
    client = Draft7Validator(asyncio.run(groups.schema(None)))
    assert client.is_valid({"name": name}) == server_accepts(groups, name)


@given(name=NAMES)
def test_the_schema_says_what_the_name_rule_says(groups: Customergroups, name: str) -> None:
    assert server_accepts(groups, name) == the_rule_accepts(name)


def samples() -> list[str]:
    """Names for a JavaScript engine to judge: every edge character in every place, long ones."""
    found = ["", "Staff", "\tStaff\n", "  ", " " + "x" * 255 + "  ", "x" * 256]
    found += [" " * 769 + "x" * 255, " " * 770 + "x" * 255]  # 1024 and 1025 as sent
    for c in EDGE_CHARS:
        found += [c, "a" + c, c + "a", "a" + c + "b", " " + c + " ", c * 3]
    for fill in LONG_FILLS:
        for length in range(252, 259):
            core = (fill * length)[:length]
            found += [core, f" {core} ", f"\u3000{core}\n", core + "\u200b", core + " y"]
    chosen = random.Random(11)
    pool = [*EDGE_CHARS, *(chr(c) for c in chosen.sample(range(0x110000), 2000))]
    found += ["".join(chosen.choices(pool, k=chosen.randint(1, 12))) for _ in range(3000)]
    # What a JSON text can carry: a high and a low surrogate side by side are one character.
    return [json.loads(json.dumps(name)) for name in found]


JUDGE = """
const {schema, names} = JSON.parse(require("fs").readFileSync(0, "utf8"));
const patterns = schema.allOf.map(rule => new RegExp(rule.pattern, "u"));
const length = name => [...name].length;
const short = name => length(name) >= schema.minLength && length(name) <= schema.maxLength;
const valid = name => short(name) && patterns.every(p => p.test(name));
console.log(JSON.stringify(names.map(valid)));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_a_browser_regex_engine_judges_names_as_the_server(groups: Customergroups) -> None:
    """The patterns are ECMA-262 with the u flag, as front ends run them."""
    name_schema = asyncio.run(groups.schema(None))["properties"]["name"]
    keywords = {"type", "title", "description", "minLength", "maxLength", "errorMessage", "allOf"}
    assert set(name_schema) == keywords
    assert all(
        set(rule) == {"$comment", "pattern", "errorMessage"} for rule in name_schema["allOf"]
    )
    names = samples()
    request = json.dumps({"schema": name_schema, "names": names})
    done = subprocess.run(
        ["node", "-e", JUDGE],
        input=request,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    judged = json.loads(done.stdout)
    disagree = [n for n, ok in zip(names, judged, strict=True) if ok != server_accepts(groups, n)]
    assert disagree == []
