"""Reads over one in-memory ``State``: groups as clients see them, counted and selected.

The indexes narrow the candidates before the filter's predicate (``filters.compile_filter``,
the one definition of what matches) tests them: a name prefix (``startsWith``) through the
ordered names, a text of three or more characters in ``contains`` or ``endsWith`` through the
trigrams. Name order comes from the ordered names, walked lazily and cut at the page; uid
order from the groups themselves. The other orderings sort the matches by their key.

A scan that remains (a filter no index narrows) hands the event loop back every ``CHUNK``
groups, so a long read never holds up the others; a commit between two chunks may show in
the rest of the scan, never a change that is not durable.

>>> import asyncio
>>> from .state import Join, Put
>>> state = State()
>>> for uid, name in enumerate(["Staff", "Students", "Gold"], start=1):
...     state.apply(Put(uid, {"name": name, "created": "x", "changed": "x"}))
>>> state.apply(Join(3, frozenset({17})))
>>> fields = {"/name": filters.FieldType.STRING}
>>> where = filters.parse({"/name": {"startsWith": "st"}}, fields, "")
>>> by_name = asyncio.run(select(state, Selection(sort="name")))
>>> asyncio.run(count(state, where)), [g["uid"] for g in by_name]
(2, [3, 1, 2])
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from bisect import bisect_right
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import Any

from .. import filters
from . import Group, Page, Selection, group
from .feed import Changes, matches, shown
from .state import State

CHUNK = 2_000  # groups tested between two turns of the event loop
# Text operators whose folded operand is part of every matching folded name.
_INSIDE: Mapping[str, Callable[[str, str], bool]] = {
    "contains": str.__contains__,
    "endsWith": str.endswith,
}

# The sort key of a uid in a state, for each ordering. Each ends with the uid, so pages never
# overlap. (Scans give uid and name in order already, from the indexes.)
ORDERINGS: Mapping[str, Callable[[State], Callable[[int], tuple[Any, ...]]]] = {
    "created": lambda state: lambda uid: (state.groups[uid]["created"], uid),
    "changed": lambda state: lambda uid: (state.groups[uid]["changed"], uid),
    "customerCount": lambda state: lambda uid: (state.count(uid), uid),
    "uid": lambda state: lambda uid: (uid,),
    "name": lambda state: lambda uid: (state.folded[uid], uid),
}


def group_of(state: State, uid: int) -> Group | None:
    """A group as clients see it, or None."""
    fields = state.get(uid)
    return None if fields is None else group(uid, fields, state.count(uid))


async def count(state: State, where: filters.Filter) -> int:
    """How many groups match a filter."""
    prefix, answered = filters.prefix(where, "name")
    if answered:
        return state.count_prefixed(prefix or "")
    inside = _inside(where)
    if inside is not None:  # the filter is one contains or endsWith: the folded names answer
        test, text = inside
        candidates = state.name_candidates(text)
        folded = state.folded
        if candidates is not None:
            return sum(1 for uid in candidates if test(folded[uid], text))
        return sum(1 for key in list(folded.values()) if test(key, text))
    found = 0
    async for _ in _matching(state, where, "uid"):
        found += 1
    return found


async def select(state: State, selection: Selection) -> list[Group]:
    """The groups a selection picks, ordered and paged."""
    position = state.last_position  # every commit adds an event: it moves when one comes
    end = _end(selection.offset, selection.limit)
    found = _matching(state, selection.where, selection.sort, selection.descending)
    if selection.sort in ("uid", "name"):  # already in order: stop once the page is full
        uids = [uid async for uid in _cut(found, selection.offset, end)]
    else:
        matches = [uid async for uid in found]
        # The scan handed the loop back between chunks: a group it found may be gone since.
        matches = [uid for uid in matches if uid in state.groups]
        key = ORDERINGS[selection.sort](state)
        if end is not None and end * 8 < len(matches):  # a page far shorter than the matches
            pick = heapq.nlargest if selection.descending else heapq.nsmallest
            uids = pick(end, matches, key=key)[selection.offset :]
        else:
            matches.sort(key=key, reverse=selection.descending)
            uids = matches[selection.offset : end]
    if state.last_position != position:
        uids = _as_now(state, selection, uids)
    return [_group(state, uid) for uid in uids if uid in state.groups]


def _as_now(state: State, selection: Selection, uids: list[int]) -> list[int]:
    """A page found while commits came between the scan's chunks, as the groups are now:
    those that still exist and match, in the order of their values now (a group changed
    meanwhile may no longer match, or sort elsewhere). Only the page is tested again."""
    test = filters.compile_filter(selection.where)
    kept = [uid for uid in uids if uid in state.groups and test(_record(state, uid))]
    return sorted(kept, key=ORDERINGS[selection.sort](state), reverse=selection.descending)


def members(state: State, uid: int, page: Page) -> list[int]:
    """A page of a group's customer uids, ascending unless the page says descending."""
    found = state.members(uid)
    if not found:
        return []
    return found.page(page.offset, page.limit, page.descending)  # type: ignore[union-attr]


async def _cut(found: AsyncIterator[int], start: int, end: int | None) -> AsyncIterator[int]:
    at = 0
    async for uid in found:
        if end is not None and at >= end:
            return
        if at >= start:
            yield uid
        at += 1


async def changes(
    state: State, since: int, limit: int | None, uid: int | None, token: str | None
) -> Changes:
    """The kept events after ``since``, oldest first: at most ``limit`` of those that match.
    ``last`` is the last one's position when there are ``limit``, else the newest position
    when the read began (or the position read up to, when retention dropped the next ones
    meanwhile). A read filtered by ``uid`` or ``token`` reads only the events indexed under
    it (``State.positions``); any read hands the event loop back every ``CHUNK`` events."""
    if limit == 0:
        return Changes([], state.last_position, state.horizon)
    found: list[dict[str, Any]] = []
    start, end = max(since, state.horizon), state.last_position
    indexed = state.positions(uid, token)
    todo: Sequence[int] = (
        range(start + 1, end + 1)
        if indexed is None
        else indexed[bisect_right(indexed, start) : bisect_right(indexed, end)]
    )
    for first in range(0, len(todo), CHUNK):
        if first:
            await asyncio.sleep(0)
            if state.horizon > todo[first - 1]:
                # Retention dropped events not yet read: answer those read, up to where they
                # run without a gap, so the next read from there is told to resync (9005).
                return Changes(found, todo[first - 1], state.horizon, cut=True)
        for at in todo[first : first + CHUNK]:
            event = state.event(at)
            if event is not None and matches(event, uid, token):
                found.append(shown(at, event))
                if len(found) == limit:
                    return Changes(found, at, state.horizon, cut=True)
    return Changes(found, end, state.horizon)


async def _matching(
    state: State, where: filters.Filter, sort: str, descending: bool = False
) -> AsyncIterator[int]:
    """The uids a filter holds for, lazily: in name order for ``sort="name"``, in uid order
    for ``sort="uid"`` (else in any order)."""
    prefix, answered = filters.prefix(where, "name")
    uids, answered = _candidates(state, where, sort, descending, answered)
    if answered or where == filters.MATCH_ALL:
        for uid in uids if uids is not None else state.by_name(prefix or "", descending):
            yield uid
        return
    test = filters.compile_filter(where)
    if uids is None:  # walked from the name index, chunk by chunk
        after = None
        while keys := state.name_keys(prefix or "", descending, after, CHUNK):
            for _, uid in keys:
                if test(_record(state, uid)):
                    yield uid
            after = keys[-1]
            await asyncio.sleep(0)
        return
    iterator = iter(uids)
    while chunk := list(itertools.islice(iterator, CHUNK)):
        for uid in chunk:
            if uid in state.groups and test(_record(state, uid)):
                yield uid
        await asyncio.sleep(0)


def _candidates(
    state: State, where: filters.Filter, sort: str, descending: bool, answered: bool
) -> tuple[Iterable[int] | None, bool]:
    """The uids that may match, in the order asked, and whether they all do; None: the
    name index's range of the filter's prefix, in name order (walked lazily).

    A name prefix narrows the candidates through the name index when that is the cheaper way:
    when few names have it. When most do, walking groups in uid order finds a page sooner than
    sorting every match would.
    """
    prefix = filters.prefix(where, "name")[0]
    narrowed = _by_trigrams(state, where)
    if narrowed is not None and (prefix is None or sort != "name"):
        if sort == "name":
            folded = state.folded
            return sorted(narrowed, key=lambda u: (folded[u], u), reverse=descending), False
        return sorted(narrowed, reverse=descending), False
    if sort == "name":
        return None, answered
    if prefix is not None and state.count_prefixed(prefix) * 8 < len(state.groups):
        return sorted(state.prefixed(prefix), reverse=descending), answered
    every = list(state.groups)  # a copy: commits may come between two chunks
    return (every[::-1] if descending else every), False


def _by_trigrams(state: State, where: filters.Filter) -> set[int] | None:
    """The groups whose folded name holds every text a ``contains`` or ``endsWith`` of the
    filter asks for (None: no such text of three characters or more)."""
    found: set[int] | None = None
    for clause in where.clauses:
        if clause.prop != "name":
            continue
        for term in clause.condition.terms:
            if term.op in _INSIDE:
                narrowed = state.name_candidates(str(term.operand))
                if narrowed is not None:
                    found = narrowed if found is None else found & narrowed
    return found


def _inside(where: filters.Filter) -> tuple[Callable[[str, str], bool], str] | None:
    """The test and folded text when the filter is one ``contains`` or ``endsWith`` of the
    name and nothing else."""
    if len(where.clauses) != 1 or where.clauses[0].prop != "name":
        return None
    terms = where.clauses[0].condition.terms
    if len(terms) != 1 or terms[0].op not in _INSIDE:
        return None
    return _INSIDE[terms[0].op], str(terms[0].operand)


def _group(state: State, uid: int) -> Group:
    return group(uid, state.groups[uid], state.count(uid))


def _record(state: State, uid: int) -> dict[str, Any]:
    """What filters see of a group: the object and its customers, which results never show."""
    found = state.members(uid)
    customers = found if isinstance(found, frozenset) else found.as_set()
    return {**_group(state, uid), "customers": customers}


def _end(offset: int, limit: int | None) -> int | None:
    return None if limit is None else offset + limit
