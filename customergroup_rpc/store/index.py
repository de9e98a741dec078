"""The in-memory indexes of the embedded store: a group's customers, and names by trigram.

``SortedInts`` holds one group's customers: a set for membership and set algebra, and the same
numbers in ascending chunks of about ``LOAD`` for pages by position. Adding k customers to a
group of n costs O(k log n) plus O(n / LOAD) to find the chunks too big; a page at any offset
costs O(n / LOAD + page). (``sortedcontainers.SortedList`` does the same per element in Python;
inserting each number here with the C ``bisect.insort`` is about four times faster, which is
what keeps an ``addCustomers`` of 10,000 to a group of 1,000,000 close to the same call on an
empty group.)

``Trigrams`` maps every three-character piece of a folded name to the groups whose folded name
holds it: the groups whose name contains a text of three or more characters are among those
that hold each of its trigrams, a handful for a rare text, found without folding any name.

>>> members = SortedInts([42, 17, 5])
>>> members.update([3, 99]); members.discard_all([17])
>>> members.page(1, 2, descending=False), members.page(0, 2, descending=True), len(members)
([5, 42], [99, 42], 4)
>>> grams = Trigrams()
>>> grams.add(1, "staff room"); grams.add(2, "stage")
>>> sorted(grams.candidates("sta") or ()), grams.candidates("roo"), grams.candidates("st")
([1, 2], {1}, None)
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator
from collections.abc import Set as AbstractSet

LOAD = 1_000  # numbers per chunk: a chunk is split in two beyond twice this
SYNC_AT = 100_000  # numbers waiting for the chunks that bring them up to date at once
GRAM = 3


class SortedInts:
    """A set of integers that also answers by position, ascending or descending."""

    __slots__ = ("_added", "_chunks", "_maxes", "_offsets", "_removed", "_set")

    def __init__(self, values: Iterable[int] = ()) -> None:
        ordered = sorted(values)  # one pass when they come ascending, as from the file
        self._set: set[int] = set(ordered)
        if len(self._set) != len(ordered):
            ordered = sorted(self._set)
        self._chunks: list[list[int]] = []
        self._maxes: list[int] = []
        self._offsets: list[int] | None = None  # where each chunk starts; built when asked
        # Numbers added to (removed from) the set and not yet to (from) the chunks: a change
        # costs a few set operations, and the chunks catch up on the next read by position,
        # step by step (settle: the store does it in the background), or at once when SYNC_AT
        # numbers wait. A number added, then removed again, never waits.
        self._added: set[int] = set()
        self._removed: set[int] = set()
        self._rebuild(ordered)

    def __len__(self) -> int:
        return len(self._set)

    def __contains__(self, value: object) -> bool:
        return value in self._set

    def __eq__(self, other: object) -> bool:
        if isinstance(other, SortedInts):
            return self._set == other._set
        return self._set == other if isinstance(other, set | frozenset) else NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"SortedInts({sorted(self._set)!r})"

    def __iter__(self) -> Iterator[int]:
        """Ascending."""
        self._sync()
        return itertools.chain.from_iterable(self._chunks)

    def as_set(self) -> set[int]:
        """The members as a set, for set algebra; the caller must not change it."""
        return self._set

    def update(self, values: Iterable[int], *, absent: bool = False) -> None:
        """Add numbers (those already here are ignored). With ``absent`` the caller knows that
        none is here (a committed ``Join``'s customers, a set), and they are not looked up
        first: in a set of 1,000,000 each lookup is a cache miss, and 10,000 take about 1 ms."""
        new = values if absent and isinstance(values, AbstractSet) else set(values) - self._set
        self._set |= new
        back = new & self._removed  # still in the chunks
        if back:
            self._removed -= back
            new = new - back
        self._added |= new
        self._sync_if_many()

    def discard_all(self, values: Iterable[int], *, present: bool = False) -> None:
        """Remove numbers (those not here are ignored). With ``present`` the caller knows that
        all are here (a committed ``Leave``'s customers, a set): they are not looked up first."""
        gone = (
            values
            if present and isinstance(values, AbstractSet)
            else self._set.intersection(values)
        )
        self._set -= gone
        never = gone & self._added  # not in the chunks yet
        if never:
            self._added -= never
            gone = frozenset() if len(never) == len(gone) else gone - never
        self._removed.update(gone)
        self._sync_if_many()

    def page(self, offset: int, limit: int | None, descending: bool) -> list[int]:
        """``limit`` numbers (None: all) from position ``offset``, in the order asked."""
        self._sync()
        size = len(self._set)
        end = size if limit is None else min(size, offset + limit)
        if offset >= end:
            return []
        if not descending:
            return self._slice(offset, end)
        found = self._slice(size - end, size - offset)
        found.reverse()
        return found

    def _slice(self, start: int, stop: int) -> list[int]:
        """The numbers at ascending positions [start, stop)."""
        if self._offsets is None:
            self._offsets = [0, *itertools.accumulate(len(c) for c in self._chunks)]
        i = bisect.bisect_right(self._offsets, start) - 1
        found: list[int] = []
        at = start - self._offsets[i]
        while len(found) < stop - start:
            found += self._chunks[i][at : at + stop - start - len(found)]
            i, at = i + 1, 0
        return found

    def waiting(self) -> int:
        """How many numbers the chunks have yet to take in, or to give up."""
        return len(self._added) + len(self._removed)

    def settle(self, most: int) -> int:
        """Bring up to ``most`` waiting numbers into (or out of) the chunks, one at a time:
        O(most x log n), however many wait. Returns how many still wait. Reads see no
        difference: the set is always current, and a page brings the chunks up to date first.
        """
        removed = _taken(self._removed, most)
        added = _taken(self._added, most - len(removed))
        if removed or added:
            self._offsets = None
            self._place(added, removed)
        return self.waiting()

    def _sync_if_many(self) -> None:
        if self.waiting() >= SYNC_AT:
            self._sync()

    def _sync(self) -> None:
        """Bring the chunks up to date: O(waiting x log n), or one merge of two sorted runs,
        O(n + waiting x log waiting), when that is less."""
        if not self._added and not self._removed:
            return
        added, removed = sorted(self._added), sorted(self._removed)
        self._added, self._removed, self._offsets = set(), set(), None
        if (len(added) + len(removed)) * 16 >= len(self._set):
            ordered = list(itertools.chain.from_iterable(self._chunks))
            if removed:
                ordered = list(itertools.filterfalse(set(removed).__contains__, ordered))
            ordered += added
            ordered.sort()  # two ascending runs: one merge
            self._rebuild(ordered)
            return
        self._place(added, removed)

    def _place(self, added: list[int], removed: list[int]) -> None:
        """Numbers into and out of the chunks, one at a time (each list ascending)."""
        chunks, maxes, find = self._chunks, self._maxes, bisect.bisect_left
        for value in removed:
            i = find(maxes, value)
            chunk = chunks[i]
            del chunk[find(chunk, value)]
            if not chunk:
                del chunks[i], maxes[i]
            else:
                maxes[i] = chunk[-1]
        for value in added:
            i = find(maxes, value)
            if i == len(maxes):  # above every number in the chunks
                if not chunks:
                    chunks.append([])
                    maxes.append(value)
                chunks[-1].append(value)
                maxes[-1] = value
            else:
                bisect.insort(chunks[i], value)
        self._split()

    def _rebuild(self, ordered: list[int]) -> None:
        self._chunks = [ordered[i : i + LOAD] for i in range(0, len(ordered), LOAD)]
        self._maxes = [chunk[-1] for chunk in self._chunks]
        self._offsets = None

    def _split(self) -> None:
        """Cut the chunks that grew beyond twice ``LOAD`` into chunks of ``LOAD``."""
        chunks, maxes = self._chunks, self._maxes
        for i in range(len(chunks) - 1, -1, -1):
            chunk = chunks[i]
            if len(chunk) > 2 * LOAD:
                pieces = [chunk[j : j + LOAD] for j in range(0, len(chunk), LOAD)]
                chunks[i : i + 1] = pieces
                maxes[i : i + 1] = [piece[-1] for piece in pieces]


def _taken(numbers: set[int], most: int) -> list[int]:
    """Up to ``most`` numbers taken out of a set, ascending."""
    return sorted(numbers.pop() for _ in range(min(most, len(numbers))))


def trigrams(folded: str) -> set[str]:
    """The three-character pieces of a folded name."""
    return {folded[i : i + GRAM] for i in range(len(folded) - GRAM + 1)}


class Trigrams:
    """Trigram -> the uids of the groups whose folded name holds it."""

    __slots__ = ("_postings",)

    def __init__(self) -> None:
        self._postings: dict[str, set[int]] = {}

    def add(self, uid: int, folded: str) -> None:
        postings = self._postings
        for gram in trigrams(folded):
            holders = postings.get(gram)
            if holders is None:
                postings[gram] = {uid}
            else:
                holders.add(uid)

    def remove(self, uid: int, folded: str) -> None:
        for gram in trigrams(folded):
            holders = self._postings.get(gram)
            if holders is not None:
                holders.discard(uid)
                if not holders:
                    del self._postings[gram]

    def candidates(self, text: str) -> set[int] | None:
        """The uids whose folded name may contain ``text`` (folded); None when ``text`` is too
        short to narrow anything (fewer than three characters)."""
        grams = trigrams(text)
        if not grams:
            return None
        postings = sorted((self._postings.get(gram, set()) for gram in grams), key=len)
        return postings[0].intersection(*postings[1:])
