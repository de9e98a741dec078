"""How names compare: the one folding rule shared by uniqueness, filters and ordering."""

from __future__ import annotations

import functools
import re
import unicodedata

_SPACES = re.compile(r"\s+")


@functools.lru_cache(maxsize=65536)
def fold(text: str) -> str:
    """The comparison key of a string: NFKC, case-folded, whitespace trimmed and collapsed.

    Two names are the same name when their keys are equal (SPEC 3).

    >>> fold("  Staff   Room ") == fold("STAFF room") == fold("ｓｔａｆｆ ｒｏｏｍ")
    True
    """
    # Case folding can leave text that is not NFKC any more: normalise again.
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    return _SPACES.sub(" ", folded).strip()
