"""The name fold: invisible characters never make a new name; the tables match Unicode's."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import unicodedata

import pytest

from customergroup_rpc.text import DEFAULT_IGNORABLE, INVISIBLE, SPACES, fold, successor, visible

CODE_POINTS = [c for c in range(sys.maxunicode + 1) if not 0xD800 <= c <= 0xDFFF]


def code_points(ranges: tuple[tuple[int, int], ...]) -> set[int]:
    return {c for first, last in ranges for c in range(first, last + 1)}


@pytest.mark.parametrize(
    "lookalike",
    [
        "Invisible\u200b",  # zero width space
        "\u200bInvisible",
        "Invis\u00adible",  # soft hyphen
        "Invisible\ufeff",  # byte order mark
        "\u200eInvisible",  # left-to-right mark
        "Invisible\u2060",  # word joiner
        "Invisible\u3164",  # Hangul filler
        "Invisible\uffa0",  # halfwidth Hangul filler
        "Invis\u200dible",  # zero width joiner
        "Invis\u200cible",  # zero width non-joiner
        "\u202eInvisible",  # right-to-left override
        "\u2066Invisible\u2069",  # bidirectional isolate
        "Invisible\ufe0f",  # variation selector 16
        "Invisible\U000e0100",  # variation selector 17
        "Invisible\U000e0041\U000e007f",  # tag characters
        "Invis\u034fible",  # combining grapheme joiner
        "\u180eInvisible",  # Mongolian vowel separator
        "Invisible\U0001bca0",  # shorthand format letter overlap
        "Invisible\U0001d173",  # musical symbol begin beam
        "Invisible\u2800",  # braille pattern blank
        "Invisible\U0001d159",  # musical symbol null notehead
        "\u200b I\u200bNVISIBLE \u2060",
    ],
)
def test_invisible_characters_do_not_make_a_new_name(lookalike: str) -> None:
    assert fold(lookalike) == fold("Invisible") == "invisible"


def test_a_joiner_between_letter_and_accent_does_not_stop_composition() -> None:
    assert fold("Cafe\u034f\u0301") == fold("Café") == fold("CAFE\u0301")


def test_a_name_of_invisible_characters_folds_to_nothing() -> None:
    assert fold("\u200b") == fold(" \u200b\u3164 \ufeff ") == fold("\u2800") == ""


def test_visible_keeps_everything_else_as_it_is() -> None:
    assert visible("👩\u200d💻 Grüße\ufe0f") == "👩💻 Grüße"
    assert visible("Staff \t Room") == "Staff \t Room"


def test_whitespace_runs_inside_a_name_collapse_to_one_space_beyond_ascii() -> None:
    assert fold("Grüße \u3000\t Room") == fold("GRÜSSE ROOM") == "grüsse room"
    assert fold("Caf\u00e9\u00a0\u00a0\u2003Bar") == "café bar"


def test_only_unicode_s_ignorables_and_two_blank_fillers_are_invisible() -> None:
    """Every other character, ``X`` and the fillers' neighbours included, stays in a name."""
    dropped = {c for c in CODE_POINTS if visible(chr(c)) == ""}
    assert dropped - code_points(DEFAULT_IGNORABLE) == {0x2800, 0x1D159}
    assert visible("Xylophone \u2801\U0001d15a") == "Xylophone \u2801\U0001d15a"


def test_the_ascii_shortcut_folds_as_the_general_path_does() -> None:
    def general(text: str) -> str:
        folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
        return re.sub(r"\s+", " ", folded).strip()

    for c in range(128):
        for text in (chr(c), f"a{chr(c)}B", f" {chr(c) * 3} x ", f"Staff{chr(c)}  Room\t"):
            assert fold(text) == general(text), repr(text)


def test_spaces_are_unicode_white_space() -> None:
    """Python's isspace() is White_Space plus the four information separators U+001C..U+001F."""
    expected = {chr(c) for c in CODE_POINTS if chr(c).isspace()} - set("\x1c\x1d\x1e\x1f")
    assert set(SPACES) == expected
    assert len(SPACES) == len(set(SPACES)) == 25


def test_no_character_folds_to_an_invisible_one() -> None:
    """So dropping invisibles once, before NFKC, is enough; checked on every code point."""
    invisible = {chr(c) for c in code_points(INVISIBLE)}
    for c in CODE_POINTS:
        char = chr(c)
        if char in invisible or (unicodedata.normalize("NFKC", char) == char == char.casefold()):
            continue  # unchanged by NFKC and case folding: nothing new can appear
        assert not invisible & set(fold(char)), f"U+{c:04X}"


def test_only_whitespace_invisibles_and_separators_fold_to_nothing() -> None:
    """Every other character keeps a name non-empty (the schema's visible-character rule)."""
    nothing = code_points(INVISIBLE) | {ord(c) for c in SPACES} | {0x1C, 0x1D, 0x1E, 0x1F}
    changed = [
        c
        for c in CODE_POINTS
        if unicodedata.normalize("NFKC", chr(c)) != chr(c) or chr(c).casefold() != chr(c)
    ]
    assert [c for c in changed if c not in nothing and fold(chr(c)) == ""] == []
    assert all(fold(chr(c)) == "" for c in nothing)


NODE_SCRIPT = """
const tables = {};
for (const name of ["Default_Ignorable_Code_Point", "White_Space"]) {
  const property = new RegExp(`\\\\p{${name}}`, "u");
  const ranges = [];
  for (let c = 0; c <= 0x10ffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff || !property.test(String.fromCodePoint(c))) continue;
    const last = ranges[ranges.length - 1];
    if (last && last[1] === c - 1) last[1] = c; else ranges.push([c, c]);
  }
  tables[name] = ranges;
}
console.log(JSON.stringify({unicode: process.versions.unicode, ...tables}));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")
def test_tables_match_the_unicode_properties_of_a_javascript_engine() -> None:
    """A second source for the hand-written tables: V8's own Unicode data (16+ here)."""
    done = subprocess.run(
        ["node", "-e", NODE_SCRIPT], capture_output=True, text=True, timeout=60, check=True
    )
    found = json.loads(done.stdout)
    merged = sorted(code_points(DEFAULT_IGNORABLE))
    assert [tuple(r) for r in found["Default_Ignorable_Code_Point"]] == _ranges(merged)
    assert {c for first, last in found["White_Space"] for c in range(first, last + 1)} == {
        ord(c) for c in SPACES
    }


def _ranges(points: list[int]) -> list[tuple[int, int]]:
    ranges: list[tuple[int, int]] = []
    for c in points:
        if ranges and ranges[-1][1] == c - 1:
            ranges[-1] = (ranges[-1][0], c)
        else:
            ranges.append((c, c))
    return ranges


# successor: the upper bound of a startsWith range (the name index, the SQL).


def test_the_successor_trims_only_the_top_code_point_then_raises_the_last_character() -> None:
    assert successor("TAX") == "TAY"
    assert successor("aX\U0010ffff\U0010ffff") == "aY"


@pytest.mark.parametrize("last", [0xD7FF, 0xDFFE, 0xDFFF])
def test_the_successor_steps_over_the_surrogates_to_u_e000(last: int) -> None:
    # No text holds a surrogate, so the next string that can be stored starts at U+E000.
    assert successor("a" + chr(last)) == "a\ue000"
