"""SQL for reads of customer groups: a parsed filter, an ordering and a page as statement text
and bound parameters, for the PostgreSQL layout (``customergroups g``, ``memberships m``).

No client value is ever part of the text: each is a parameter (``$1, $2, ...`` as asyncpg
numbers them), and the text depends only on the filter's shape. ``$1`` is always the shop, and
every statement starts its condition with ``g.shop = $1``. Each operator's SQL is its entry in
``filters.OPERATORS``; this module says where each field is and how results are ordered. The
rows come as ``uid, name, created, changed, customer_count, version``, ``created`` and
``changed`` as timestamptz.

>>> from customergroup_rpc.filters import FieldType, parse
>>> where = parse({"/name": {"contains": "50%"}}, {"/name": FieldType.STRING}, "")
>>> query = select(1, where, sort="name", descending=True, limit=10)
>>> print(query.text)  # doctest: +NORMALIZE_WHITESPACE
SELECT g.uid, g.name, g.created, g.changed, g.customer_count, g.version FROM customergroups g
WHERE g.shop = $1 AND g.name_key LIKE $2::text ESCAPE E'\\\\'
ORDER BY g.name_key COLLATE "C" DESC, g.uid DESC LIMIT $3::bigint OFFSET $4::bigint
>>> query.params
[1, '%50\\\\%%', 10, 0]
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .. import filters
from ..filters import Column, FieldType

COLUMNS: Mapping[str, Column] = {
    "uid": Column(FieldType.INTEGER, "g.uid"),
    "name": Column(FieldType.STRING, "g.name", folded="g.name_key"),
    "created": Column(FieldType.DATETIME, "g.created"),
    "changed": Column(FieldType.DATETIME, "g.changed"),
    "customerCount": Column(FieldType.INTEGER, "g.customer_count"),
    "version": Column(FieldType.INTEGER, "g.version"),
    # Uncorrelated, so the planner reads the customers through memberships (shop, customer)
    # once: a semi-join at the top of a filter, a hashed subplan under ``not``.
    "customers": Column(
        FieldType.UID_SET,
        "g.uid",
        members="SELECT m.group_uid FROM memberships m WHERE m.shop = $1 AND m.customer = ANY({})",
    ),
}
"""Where each filterable property of a group is."""

ORDERINGS: Mapping[str, str] = {
    "uid": "g.uid",
    # Code-point order of the folded name, as Python's sorted() of text.fold keys.
    "name": 'g.name_key COLLATE "C"',
    "created": "g.created",
    "changed": "g.changed",
    "customerCount": "g.customer_count",
}
"""The sort key of each ordering; ties go by uid, in the same direction."""

GROUP = "g.uid, g.name, g.created, g.changed, g.customer_count, g.version"
"""What a selected row holds."""


@dataclass
class Query:
    """Statement text and its parameters; ``$1`` is the shop."""

    text: str = ""
    params: list[Any] = field(default_factory=list)

    def bind(self, value: Any, cast: str) -> str:
        """Add a parameter; its placeholder, with the SQL type it is read as."""
        self.params.append(value)
        return f"${len(self.params)}::{cast}"


def _where(query: Query, where: filters.Filter) -> str:
    """The condition of a filter in the shop bound as ``$1``."""
    conditions = ["g.shop = $1"]
    for clause in where.clauses:  # AND of ANDs: no parentheses needed
        conditions.append(filters.sql_condition(clause.condition, COLUMNS[clause.prop], query.bind))
    return " AND ".join(conditions)


def count(shop: int, where: filters.Filter) -> Query:
    """How many groups of the shop match the filter: one row, one column."""
    query = Query(params=[shop])
    query.text = f"SELECT count(*) FROM customergroups g WHERE {_where(query, where)}"
    return query


def select(
    shop: int,
    where: filters.Filter,
    *,
    sort: str = "uid",
    descending: bool = False,
    limit: int | None = None,
    offset: int = 0,
) -> Query:
    """The groups of the shop that match the filter, ordered by ``sort`` (ties by uid, both
    reversed when descending) and paged; ``limit`` None is no limit."""
    query = Query(params=[shop])
    condition = _where(query, where)
    direction = " DESC" if descending else ""
    order = f"g.uid{direction}"
    if sort != "uid":
        order = f"{ORDERINGS[sort]}{direction}, {order}"
    page = f"LIMIT {query.bind(limit, 'bigint')} OFFSET {query.bind(offset, 'bigint')}"
    query.text = f"SELECT {GROUP} FROM customergroups g WHERE {condition} ORDER BY {order} {page}"
    return query
