"""How names compare: the one folding rule shared by uniqueness, filters and ordering.

Two names are one name when a person reads them the same (SPEC 3): ``fold`` drops the characters
nobody sees (default-ignorable code points and a few blank fillers), then applies NFKC and case
folding, and trims and collapses whitespace. What a name may hold at all is the object schema's
rule (``schemas/customergroup.json``); ``SPACES`` is the whitespace its pattern allows around a
name and the service trims, and ``tests/test_text.py`` holds the two in step.

>>> fold("  Staff   Room ") == fold("STAFF room") == fold("ｓｔａｆｆ ｒｏｏｍ")
True
>>> fold("Sta\\u200bff") == fold("Sta\\u00adff") == fold("\\ufeffstaff\\u2060") == "staff"
True
"""

from __future__ import annotations

import functools
import re
import unicodedata

# Unicode's White_Space property (PropList.txt): what trimming removes. Python's str.strip()
# also removes U+001C..U+001F, which are control characters a name may not hold, and
# JavaScript's trim() also removes U+FEFF and keeps U+0085: the set is spelled out so the
# service and the schema's pattern trim the same characters.
SPACES = (
    "\t\n\v\f\r \u0085\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

# Default_Ignorable_Code_Point, from Unicode's DerivedCoreProperties.txt (the same in Unicode 14,
# which Python 3.11's unicodedata has, and in 17). Python has no property for it, so the ranges
# are listed. NFKC maps only U+3164 and U+FFA0 of them, both to U+1160, itself in the list; no
# other character folds to one of them (tests/test_text.py checks every code point).
DEFAULT_IGNORABLE: tuple[tuple[int, int], ...] = (
    (0x00AD, 0x00AD),  # soft hyphen
    (0x034F, 0x034F),  # combining grapheme joiner
    (0x061C, 0x061C),  # Arabic letter mark (a bidirectional control)
    (0x115F, 0x1160),  # Hangul choseong and jungseong fillers
    (0x17B4, 0x17B5),  # Khmer inherent vowels
    (0x180B, 0x180F),  # Mongolian free variation selectors, vowel separator
    (0x200B, 0x200F),  # zero width space, ZWNJ, ZWJ, left-to-right and right-to-left marks
    (0x202A, 0x202E),  # bidirectional embeddings and overrides
    (0x2060, 0x206F),  # word joiner, invisible operators, bidirectional isolates, deprecated
    (0x3164, 0x3164),  # Hangul filler
    (0xFE00, 0xFE0F),  # variation selectors
    (0xFEFF, 0xFEFF),  # zero width no-break space (byte order mark)
    (0xFFA0, 0xFFA0),  # halfwidth Hangul filler
    (0xFFF0, 0xFFF8),  # unassigned, reserved as ignorable
    (0x1BCA0, 0x1BCA3),  # shorthand format controls
    (0x1D173, 0x1D17A),  # musical symbol formatting (begin beam, ...)
    (0xE0000, 0xE0FFF),  # tags, variation selectors supplement, reserved
)

# Not default-ignorable, yet drawn as nothing at all: the usual "invisible name" characters
# that are neither whitespace nor ignorable. U+3000 and U+00A0 are whitespace already.
FILLERS: tuple[tuple[int, int], ...] = (
    (0x2800, 0x2800),  # braille pattern blank
    (0x1D159, 0x1D159),  # musical symbol null notehead
)

INVISIBLE = DEFAULT_IGNORABLE + FILLERS
_SPACE_RUNS = re.compile(r"\s+")
# One character class: on a name without any of them (nearly all names) a search is one scan.
_INVISIBLE = re.compile("[" + "".join(f"{chr(a)}-{chr(b)}" for a, b in INVISIBLE) + "]+")


def visible(text: str) -> str:
    """``text`` without the characters a person does not see (``INVISIBLE``).

    >>> visible("Invis\\u00adible\\u200b\\U000e0041")
    'Invisible'
    """
    return _INVISIBLE.sub("", text)


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """The comparison key of a string: invisibles dropped, NFKC, case-folded, spaces collapsed.

    Two names are the same name when their keys are equal (SPEC 3).
    """
    # Invisibles go first: a combining grapheme joiner or a variation selector between two
    # characters would otherwise stop NFKC from composing them. No step after adds any back.
    # Case folding can leave text that is not NFKC any more: normalise again.
    if text.isascii():  # most names: nothing to drop or normalise, and lower() is casefold()
        return " ".join(text.lower().split())
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", visible(text)).casefold())
    return _SPACE_RUNS.sub(" ", folded).strip()


def successor(prefix: str) -> str | None:
    """The least string above every string that starts with ``prefix``, in code-point order;
    None when there is none (an empty prefix, or one of U+10FFFF only: every string not less
    than it starts with it). The name index and the SQL of ``startsWith`` both range by it.

    >>> successor("staff"), successor("a\U0010ffff"), successor("\ud7ff"), successor("")
    ('stafg', 'b', '\ue000', None)
    """
    stem = prefix.rstrip("\U0010ffff")
    if not stem:
        return None
    after = ord(stem[-1]) + 1
    # No text holds a surrogate (nor can one be bound): the next code point that can be is U+E000.
    return stem[:-1] + chr(0xE000 if 0xD800 <= after <= 0xDFFF else after)
