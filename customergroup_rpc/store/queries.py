"""Reads over one in-memory ``State``: groups as clients see them, counted and selected.

A name prefix (``startsWith``) narrows the candidates through the name index, and name order
comes from it; the other orderings sort the matches by their key, ties by uid.

>>> from .state import Members, Put
>>> state = State()
>>> for uid, name in enumerate(["Staff", "Students", "Gold"], start=1):
...     state.apply(Put(uid, {"name": name, "created": "x", "changed": "x"}))
>>> state.apply(Members(3, frozenset({17})))
>>> where = filters.parse({"/name": {"startsWith": "st"}}, {"/name": filters.FieldType.STRING}, "")
>>> count(state, where), [g["uid"] for g in select(state, Selection(sort="name"))]
(2, [3, 1, 2])
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from .. import filters
from . import Group, Page, Selection, group
from .feed import Changes, matches, shown
from .state import State

# Orderings other than uid and name, which come ordered from the indexes: the sort key of a
# uid in a state. Each ends with the uid, so pages never overlap.
ORDERINGS: Mapping[str, Callable[[State], Callable[[int], tuple[Any, ...]]]] = {
    "created": lambda state: lambda uid: (state.groups[uid]["created"], uid),
    "changed": lambda state: lambda uid: (state.groups[uid]["changed"], uid),
    "customerCount": lambda state: lambda uid: (len(state.members(uid)), uid),
}


def group_of(state: State, uid: int) -> Group | None:
    """A group as clients see it, or None."""
    fields = state.get(uid)
    return None if fields is None else group(uid, fields, len(state.members(uid)))


def count(state: State, where: filters.Filter) -> int:
    """How many groups match a filter."""
    prefix, answered = filters.prefix(where, "name")
    if answered:
        return state.count_prefixed(prefix or "")
    return sum(1 for _ in _matching(state, where, "uid"))


def select(state: State, selection: Selection) -> list[Group]:
    """The groups a selection picks, ordered and paged."""
    end = _end(selection.offset, selection.limit)
    if selection.sort == "uid":  # already in order: stop as soon as the page is full
        found = _matching(state, selection.where, "uid", selection.descending)
        return [_group(state, uid) for uid in itertools.islice(found, selection.offset, end)]
    uids = list(_matching(state, selection.where, selection.sort))
    if selection.sort in ORDERINGS:
        uids.sort(key=ORDERINGS[selection.sort](state))
    if selection.descending:
        uids.reverse()
    return [_group(state, uid) for uid in uids[selection.offset : end]]


def members(state: State, uid: int, page: Page) -> list[int]:
    """A page of a group's customer uids, ascending unless the page says descending."""
    ordered = sorted(state.members(uid), reverse=page.descending)
    return ordered[page.offset : _end(page.offset, page.limit)]


def changes(
    state: State, since: int, limit: int | None, uid: int | None, token: str | None
) -> Changes:
    """The kept events after ``since``, oldest first: at most ``limit`` of those that match.
    ``last`` is the last one's position when there are ``limit``, else the newest position."""
    if limit == 0:
        return Changes([], state.last_position, state.horizon)
    found: list[dict[str, Any]] = []
    for position in range(max(since, state.horizon) + 1, state.last_position + 1):
        event = state.events[position]
        if matches(event, uid, token):
            found.append(shown(position, event))
            if len(found) == limit:
                return Changes(found, position, state.horizon, cut=True)
    return Changes(found, state.last_position, state.horizon)


def _matching(
    state: State, where: filters.Filter, sort: str, descending: bool = False
) -> Iterator[int]:
    """The uids a filter holds for, lazily: in name order for ``sort="name"``, else by uid.

    A name prefix narrows the candidates through the name index when that is the cheaper
    way: when few names have it. When most do, walking groups in uid order finds a page
    sooner than sorting every match would.
    """
    prefix, answered = filters.prefix(where, "name")
    if sort == "name":
        uids: Iterable[int] = state.prefixed(prefix or "")
    elif prefix is not None and state.count_prefixed(prefix) * 8 < len(state.groups):
        uids = sorted(state.prefixed(prefix), reverse=descending)
    else:
        uids, answered = (reversed(state.groups) if descending else iter(state.groups)), False
    if answered or where == filters.MATCH_ALL:
        return iter(uids)
    test = filters.compile_filter(where)
    return (uid for uid in uids if test(_record(state, uid)))


def _group(state: State, uid: int) -> Group:
    return group(uid, state.groups[uid], len(state.members(uid)))


def _record(state: State, uid: int) -> dict[str, Any]:
    """What filters see of a group: the object and its customers, which results never show."""
    return {**_group(state, uid), "customers": state.members(uid)}


def _end(offset: int, limit: int | None) -> int | None:
    return None if limit is None else offset + limit
