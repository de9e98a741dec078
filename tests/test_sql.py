"""The SQL compiler of filters, orderings and pages (customergroup_rpc/store/sql.py and the
``sql`` of each operator in filters.py).

Two halves: the text's shape (every client value a bound parameter, never part of the text),
without a database; and, on a throwaway PostgreSQL, the key property: for any filter, data,
ordering and page, the SQL selects exactly the groups, in exactly the order, that the Python
predicate and the service's orderings do.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import pytest
from hypothesis import currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from customergroup_rpc.filters import (
    MAX_DEPTH,
    OPERATORS,
    FieldType,
    Filter,
    compile_filter,
    parse,
)
from customergroup_rpc.params import Binder
from customergroup_rpc.schemas import Schemas
from customergroup_rpc.store import sql
from customergroup_rpc.store.migrate import migrate
from customergroup_rpc.text import fold
from harness.postgres import Cluster

FIELDS = Binder(Schemas.load()).fields  # the filterable pointers, as the service has them
CASES = json.loads((Path(__file__).parent / "cases" / "filters.json").read_text(encoding="utf-8"))
RESULTS = [case for case in CASES["cases"] if "result" in case]
SORTS = tuple(sql.ORDERINGS)
SHOP = 1
T = TypeVar("T")

# Characters that break naive SQL (quotes, LIKE wildcards, the escape character), fold
# surprises (long s, Kelvin sign, sharp s, dotted I, final sigma, ligatures, fullwidth,
# combining marks, invisibles) and code points at the ends of UTF-8.
HOSTILE = (
    *"aAbsSkK '\"%_\\-;()$:",
    *"ßẞſKİıΣσςﬀﬁＳｓ％＿＼é",
    "e\u0301",
    "\u00ad",
    "\u200b",
    "\u3000",
    "\t",
    "😀",
    "\U0010ffff",
    "\ud7ff",
    "\ue000",
    "--",
    "/*",
    "$1",
    "E'\\'",
)
hostile_text = st.lists(st.sampled_from(HOSTILE), max_size=6).map("".join)
# Some names of few characters, wildcards among them: then a LIKE operand taken from one name,
# were its % or _ not escaped, would match another.
few = st.lists(st.sampled_from("ab_%\\"), min_size=1, max_size=4).map("".join)
hostile_names = st.one_of(
    few, few, st.lists(st.sampled_from(HOSTILE), min_size=1, max_size=6).map("".join)
)


def compile_select(raw: object, **page: Any) -> sql.Query:
    return sql.select(SHOP, parse(raw, FIELDS, ""), **page)


# --- the text's shape -------------------------------------------------------------------------

# Everything the compiler may write: keywords, the layout's names, placeholders with casts, and
# the LIKE escape literal. A client value pasted in would be some other token (a quote, a digit).
VOCABULARY = frozenset(
    {
        *["SELECT", "FROM", "WHERE", "AND", "NOT", "IN", "ANY", "LIKE", "ESCAPE", "TRUE", "FALSE"],
        *["ORDER", "BY", "COLLATE", "DESC", "LIMIT", "OFFSET", "GROUP BY 1", "HAVING", "count"],
        *["customergroups", "memberships", "g", "m", "g.shop", "m.shop", "m.group_uid"],
        *["g.uid", "g.name", "g.name_key", "g.created", "g.changed", "g.customer_count"],
        "g.version",
        *["m.customer", '"C"', "E'\\\\'", "(", ")", ",", "=", ">=", "<=", "<", "*"],
    }
)
TOKEN = re.compile(
    r"\$(\d+)(?:::(?:bigint|text|timestamptz)(?:\[\])?)?|E'\\\\'|\"C\"|GROUP BY 1|[\w.]+|[<>=]+|\S"
)


def tokens(text: str) -> Iterator[str]:
    """The text's tokens, each placeholder as ``$``."""
    for match in TOKEN.finditer(text):
        yield "$" if match[1] else match[0]


def placeholders(text: str) -> set[int]:
    return {int(n) for n in re.findall(r"\$(\d+)", text)}


def assert_well_bound(query: sql.Query) -> None:
    """Only known tokens in the text; the placeholders are exactly $1..$n; no null bound
    (but a select's missing limit)."""
    unknown = {t for t in tokens(query.text) if t != "$" and t not in VOCABULARY}
    assert not unknown, query.text
    assert placeholders(query.text) == set(range(1, len(query.params) + 1)), query.text
    operands = query.params[:-2] if "LIMIT" in query.text else query.params
    assert None not in operands
    assert not any(isinstance(p, list) and None in p for p in operands)


@dataclass(frozen=True)
class Operand:
    """An operator, a raw operand and the field it fits: one case of the shape test."""

    field: str
    op: str
    raw: Any


SHAPE_CASES = [
    Operand("/name", "equals", "O'Brien; DROP TABLE customergroups; --"),
    Operand("/name", "in", ["a'b", "50%", None, "x_y", "back\\slash"]),
    Operand("/name", "startsWith", "'%_\\"),
    Operand("/name", "endsWith", "ſtraße ＿％"),
    Operand("/name", "contains", "$1::text"),
    Operand("/uid", "equals", 2**62),
    Operand("/uid", "in", [1, 2.0, 3]),
    Operand("/uid", "min", 7),
    Operand("/customerCount", "max", 9),
    Operand("/created", "min", "2014-01-16T15:14:18.000001+01:00"),
    Operand("/changed", "in", ["2014-01-16", "2014-01-17T00:00:00Z"]),
    Operand("/customers", "containsAny", [17, 42]),
    Operand("/customers", "containsAll", [17, 42, 2**53 - 1]),
    Operand("/created", "equals", "2014-01-16t14:14:18z"),
    Operand("/changed", "max", "0001-01-01T00:00:00+23:59"),
    Operand("/uid", "not", {"not": {"in": [1, None]}}),
    Operand("/name", "not", {"contains": "'"}),
    Operand("/created", "not", {"min": "2014-01-16", "max": "2015-01-16"}),
    Operand("/customers", "not", 42),
]


@pytest.mark.parametrize("case", SHAPE_CASES, ids=lambda c: f"{c.field}-{c.op}")
def test_every_operand_is_a_parameter_never_text(case: Operand) -> None:
    query = compile_select({case.field: {case.op: case.raw}}, sort="name", limit=5, offset=2)
    assert_well_bound(query)
    assert query.params[0] == SHOP
    assert query.params[-2:] == [5, 2]


def test_the_shape_cases_cover_each_operator_on_each_type_it_fits() -> None:
    covered = {(c.op, FIELDS[c.field]) for c in SHAPE_CASES}
    assert covered == {(name, t) for name, op in OPERATORS.items() for t in op.types}


def test_the_shop_is_the_first_parameter_and_the_first_condition() -> None:
    for query in (sql.count(7, parse({"/uid": 3}, FIELDS, "")), sql.select(7, Filter())):
        assert query.params[0] == 7
        assert re.search(r" WHERE g\.shop = \$1 (AND|ORDER)", query.text + " AND"), query.text


def test_like_operands_escape_the_escape_character_and_wildcards() -> None:
    query = compile_select({"/name": {"contains": "50%_off\\"}})
    assert query.params[1] == "%50\\%\\_off\\\\%"
    assert "ESCAPE E'\\\\'" in query.text


@pytest.mark.parametrize(("op", "pattern"), [("endsWith", "%ab\\_c"), ("contains", "%ab\\_c%")])
def test_like_patterns_match_the_folded_name(op: str, pattern: str) -> None:
    query = compile_select({"/name": {op: "AB_C"}})
    assert "g.name_key LIKE $2::text" in query.text
    assert query.params[1] == pattern


@pytest.mark.parametrize(
    ("prefix", "below"),
    [("AB_%", "ab_&"), ("a\U0010ffff", "b"), ("\ud7ff", "\ue000"), ("\U0010ffff", None)],
)
def test_startswith_is_a_range_of_the_folded_name(prefix: str, below: str | None) -> None:
    # A range is an index range even in a generic plan, where a LIKE parameter's prefix is
    # unknown; the bound past the prefix skips the surrogates, which no text holds.
    query = compile_select({"/name": {"startsWith": prefix}})
    assert "g.name_key >= $2::text" in query.text
    assert query.params[1] == fold(prefix)
    if below is None:
        assert "g.name_key <" not in query.text
    else:
        assert "g.name_key < $3::text" in query.text
        assert query.params[2] == below


def test_equal_names_are_found_through_the_folded_name() -> None:
    query = compile_select({"/name": {"equals": "Staff Room", "not": {"in": ["A", "a", None]}}})
    text = "g.name_key = $2::text AND g.name = $3::text AND NOT (g.name_key = ANY($4::text[])"
    assert text + " AND g.name = ANY($5::text[]))" in query.text
    assert query.params[1:5] == ["staff room", "Staff Room", ["a"], ["A", "a"]]


def test_arrays_are_one_parameter_without_nulls() -> None:
    query = compile_select({"/uid": {"in": [3, None, 1, 3.0]}})
    assert "g.uid = ANY($2::bigint[])" in query.text
    assert query.params[1] == [1, 3]


def test_null_operands_are_constants_never_bound_null() -> None:
    # A bound null makes a condition null, and NOT null is null: {"not": null} would match
    # nothing instead of everything.
    query = compile_select({"/name": None, "/uid": {"not": None}, "/created": {"in": [None]}})
    assert query.text.count("FALSE") == 3
    assert query.params == [SHOP, None, 0]


def test_integers_at_the_ends_of_bigint_are_bound() -> None:
    ends = {"/uid": {"min": -(2**63), "max": 2**63 - 1}, "/customerCount": {"in": [-(2**63)]}}
    query = compile_select(ends)
    assert query.params[1:4] == [-(2**63), 2**63 - 1, [-(2**63)]]
    assert_well_bound(query)


def test_integers_beyond_bigint_are_constants() -> None:
    beyond = {"/uid": {"min": -(2**63) - 1, "max": 10**30}, "/customerCount": {"in": [2**63]}}
    query = compile_select({**beyond, "/changed": "2014-01-16"})
    assert "TRUE AND TRUE AND FALSE" in query.text
    assert all(not isinstance(p, int) or abs(p) < 2**63 for p in query.params)
    below = compile_select({"/uid": {"max": -(2**63) - 1, "not": {"min": 2**63}}})
    assert "FALSE AND NOT (FALSE)" in below.text


def test_instants_outside_utc_years_1_to_9999_are_constants() -> None:
    # Python parses them, but their UTC time is no datetime, and no driver can bind them.
    early, late = "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01"
    query = compile_select({"/created": {"min": early, "max": late, "not": {"in": [early, late]}}})
    assert " AND TRUE AND TRUE AND NOT (FALSE) ORDER" in query.text
    assert query.params == [SHOP, None, 0]
    assert (
        " AND FALSE AND FALSE ORDER"
        in compile_select({"/changed": {"max": early, "min": late}}).text
    )


def test_an_instant_of_utc_year_1_is_bound_whatever_the_local_time_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # West of UTC, the local time of 0001-01-01T03:00:00Z would be before year 1.
    monkeypatch.setenv("TZ", "<-0530>+05:30")
    time.tzset()
    try:
        query = compile_select({"/created": {"min": "0001-01-01T03:00:00Z"}})
    finally:
        monkeypatch.undo()
        time.tzset()
    assert " AND g.created >= $2::timestamptz ORDER" in query.text
    assert query.params[:2] == [SHOP, datetime(1, 1, 1, 3, tzinfo=UTC)]


@pytest.mark.parametrize("text", ["nul\x00", "lone \ud800 surrogate"])
def test_strings_text_cannot_hold_match_nothing(text: str) -> None:
    for op in ("equals", "startsWith", "endsWith", "contains"):
        query = compile_select({"/name": {op: text}})
        assert query.params == [SHOP, None, 0]
        assert " AND FALSE ORDER" in query.text
        assert_well_bound(query)


def test_containsall_counts_distinct_customers_in_one_array() -> None:
    query = compile_select({"/customers": {"containsAll": [42, 17, 42.0]}})
    assert query.params[1:3] == [[17, 42], 2]
    assert "HAVING count(*) = $3::bigint" in query.text
    assert "m.shop = $1" in query.text


def test_containsall_of_one_is_containsany_and_of_none_always_holds() -> None:
    one_all = compile_select({"/customers": {"containsAll": [5]}})
    one_any = compile_select({"/customers": {"containsAny": [5]}})
    assert one_all == one_any
    assert " AND TRUE ORDER" in compile_select({"/customers": {"containsAll": []}}).text


def test_containsany_of_none_never_holds_and_binds_nothing() -> None:
    query = compile_select({"/customers": {"containsAny": []}})
    assert " AND FALSE ORDER" in query.text
    assert query.params == [SHOP, None, 0]
    assert_well_bound(query)


@pytest.mark.parametrize(
    ("sort", "descending", "order"),
    [
        ("uid", False, "ORDER BY g.uid LIMIT"),
        ("uid", True, "ORDER BY g.uid DESC LIMIT"),
        ("name", False, 'ORDER BY g.name_key COLLATE "C", g.uid LIMIT'),
        ("name", True, 'ORDER BY g.name_key COLLATE "C" DESC, g.uid DESC LIMIT'),
        ("created", True, "ORDER BY g.created DESC, g.uid DESC LIMIT"),
        ("changed", False, "ORDER BY g.changed, g.uid LIMIT"),
        ("customerCount", True, "ORDER BY g.customer_count DESC, g.uid DESC LIMIT"),
    ],
)
def test_orderings_break_ties_by_uid_in_the_same_direction(
    sort: str, descending: bool, order: str
) -> None:
    assert order in compile_select({}, sort=sort, descending=descending).text


def test_no_limit_binds_null_which_postgresql_reads_as_all() -> None:
    query = compile_select({}, offset=3)
    assert query.text.endswith("LIMIT $2::bigint OFFSET $3::bigint")
    assert query.params == [SHOP, None, 3]


def test_count_has_no_order_or_page() -> None:
    query = sql.count(SHOP, parse({"/name": {"startsWith": "a"}}, FIELDS, ""))
    assert query.text.startswith("SELECT count(*) FROM customergroups g WHERE g.shop = $1 AND")
    assert "ORDER" not in query.text
    assert "LIMIT" not in query.text


def test_nesting_to_the_limit_nests_parentheses_to_the_limit() -> None:
    condition: object = 1
    for _ in range(MAX_DEPTH - 1):
        condition = {"not": condition}
    query = compile_select({"/uid": condition})
    assert query.text.count("NOT (") == MAX_DEPTH - 1
    assert_well_bound(query)


@pytest.mark.parametrize(
    "text",
    ["g.name = 'Staff'", "g.uid = 3", "g.name_key LIKE $2::text ESCAPE '!'", "g.uid = $3"],
)
def test_the_shape_check_catches_a_pasted_value_or_a_stray_placeholder(text: str) -> None:
    with pytest.raises(AssertionError):
        assert_well_bound(sql.Query(f"SELECT count(*) FROM customergroups g WHERE {text}", [1, 2]))


# --- generated filters ------------------------------------------------------------------------

CUSTOMERS = (1, 2, 3, 2**53 - 1)
BASE = datetime(2014, 1, 16, 14, 14, 18, tzinfo=UTC)
EXTREME_INSTANTS = (
    "0001-01-01",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59.999999-23:59",
    "1970-01-01T00:00:00Z",
)
EXTREME_INTEGERS = (2**63 - 1, -(2**63), 2**63, -(2**63) - 1, 10**30, -(10**30), 2**53 - 1)
OFFSETS = (0, 60, 3600, -5 * 3600, 5 * 3600 + 1800, 23 * 3600 + 59 * 60, -(23 * 3600 + 59 * 60))


@dataclass(frozen=True)
class Group:
    """One row of the generated data, as the Python predicate sees it and as stored."""

    uid: int
    name: str
    created: datetime
    changed: datetime
    customers: frozenset[int]

    def record(self) -> dict[str, Any]:
        """The record the Python predicate tests: stored timestamps are strings."""
        return {
            "uid": self.uid,
            "name": self.name,
            "created": self.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "changed": self.changed.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "customerCount": len(self.customers),
            "customers": self.customers,
            "version": 1,  # as stored: the rows are inserted with the column's default
        }


# Few distinct moments, so that orderings by created and changed have ties for uid to break.
moments = st.builds(
    lambda days, seconds: BASE + timedelta(days=days, seconds=seconds),
    st.integers(-2, 2),
    st.sampled_from([0, 0, 1, 59, 86399]),
)


@st.composite
def groups(draw: st.DrawFn) -> list[Group]:
    """A small data set: uids with gaps, names unique by fold, members from a small pool."""
    uids = sorted(draw(st.sets(st.integers(1, 30), min_size=3, max_size=9)))
    names = draw(st.lists(hostile_names, min_size=len(uids), max_size=len(uids), unique_by=fold))
    made = []
    for uid, name in zip(uids, names, strict=True):
        created = draw(moments)
        changed = max(created, draw(moments))
        customers = draw(st.frozensets(st.sampled_from(CUSTOMERS)))
        made.append(Group(uid, name, created, changed, customers))
    return made


def instant_text(moment: datetime, draw: st.DrawFn) -> str:
    """A moment written as a client may: any offset, a fraction, Z or z, or a plain date."""
    form = draw(st.sampled_from(["offset", "offset", "Z", "Z", "offset", "date"]))
    if form == "date":
        return moment.astimezone(UTC).date().isoformat()
    written = moment.astimezone(timezone(timedelta(seconds=draw(st.sampled_from(OFFSETS)))))
    text = written.isoformat()
    if form == "Z" and text.endswith("+00:00"):
        text = text[:-6] + draw(st.sampled_from(["Z", "z"]))
    return text


def one_in(n: int, draw: st.DrawFn) -> bool:
    """True about once in n draws; never for the simplest draw, which hypothesis favours."""
    return draw(st.integers(1, n)) == n


@st.composite
def values(draw: st.DrawFn, field: str, data: list[Group], op: str = "equals") -> Any:
    """One raw operand for a field and an operator: mostly a value in the data or next to it
    (so bounds fall on values, and a fraction of a second matters), sometimes an edge."""
    edge = one_in(6, draw)
    if field in ("uid", "customerCount", "version"):
        if edge:
            return draw(st.integers(-2, 32) | st.sampled_from(EXTREME_INTEGERS))
        there = [g.record()[field] for g in data]
        value = draw(st.sampled_from(there)) + draw(st.sampled_from([0, 0, 0, 1, -1]))
        return float(value) if one_in(6, draw) else value  # 5.0 is 5
    if field in ("created", "changed"):
        if edge:
            return draw(st.sampled_from(EXTREME_INSTANTS))
        moment = draw(st.sampled_from([getattr(g, field) for g in data]))
        nudge = draw(st.sampled_from([0, 0, 0, 1, -1, 500_000, -500_000]))
        return instant_text(moment + timedelta(microseconds=nudge), draw)
    if field == "customers":
        return draw(st.sampled_from(CUSTOMERS) if not edge else st.sampled_from([4, 2**53 - 2]))
    if edge:
        return draw(hostile_text | st.sampled_from(["nul\x00", "\ud800", "", " ", "%", "_", "\\"]))
    name = draw(st.sampled_from([g.name for g in data]))
    if op == "equals":  # case-sensitive: mostly the very name
        return name if draw(st.integers(0, 3)) else name.swapcase()
    start, end = (draw(st.integers(0, len(name))) for _ in range(2))
    if op == "startsWith":
        start = 0
    elif op == "endsWith":
        end = len(name)
    cases: list[Callable[[str], str]] = [str, str.upper, str.lower, str.swapcase]
    return draw(st.sampled_from(cases))(name[start:end])


@st.composite
def conditions(draw: st.DrawFn, field: str, data: list[Group], depth: int = 1) -> Any:
    """A condition on a field: a bare value or an object of operators that fit its type."""
    kind = FIELDS["/" + field]
    nullable = kind is not FieldType.UID_SET
    if one_in(4, draw):  # a bare value; a null one under not holds for all
        return None if nullable and one_in(3, draw) else draw(values(field, data))
    fitting = sorted(n for n, op in OPERATORS.items() if kind in op.types)
    if depth >= 4:
        fitting.remove("not")
    condition: dict[str, Any] = {}
    # Mostly one operator, each as likely as the next: every one is tried often.
    how_many = draw(st.sampled_from([1, 1, 1, 2, 0]))
    for name in draw(
        st.lists(st.sampled_from(fitting), min_size=how_many, max_size=how_many, unique=True)
    ):
        if name == "not":
            condition[name] = draw(conditions(field, data, depth + 1))
        elif name in ("in", "containsAny", "containsAll"):
            element = values(field, data, "equals")
            if name == "in":
                element = st.one_of(element, element, element, st.none())
            many = st.lists(element, min_size=draw(st.sampled_from([0, 1, 2, 2, 3])), max_size=4)
            bare = name != "in" and one_in(4, draw)
            condition[name] = draw(values(field, data, name) if bare else many)
        elif name == "equals" and one_in(6, draw):
            condition[name] = None
        else:
            condition[name] = draw(values(field, data, name))
    return condition


# The name and the customers have the most operators, and the subtlest.
WEIGHTED = ("/name", "/name", "/name", "/customers", "/customers", *FIELDS)


@st.composite
def filter_objects(draw: st.DrawFn, data: list[Group]) -> dict[str, Any]:
    """A valid filter object: one of the cases in filters.json, or a generated one."""
    if one_in(5, draw):
        return dict(draw(st.sampled_from(RESULTS))["filter"])
    keys = draw(st.lists(st.sampled_from(WEIGHTED), min_size=1, max_size=2, unique=True))
    return {key: draw(conditions(key[1:], data)) for key in keys}


@given(data=st.data())
def test_generated_filters_bind_every_operand(data: st.DataObject) -> None:
    raw = data.draw(filter_objects(data.draw(groups())))
    page = {"limit": data.draw(st.none() | st.integers(0, 5)), "offset": 3}
    assert_well_bound(compile_select(raw, sort=data.draw(st.sampled_from(SORTS)), **page))


# --- against PostgreSQL -----------------------------------------------------------------------

OTHER_SHOP = 2


class Database:
    """A database of the schema's migrations, driven from synchronous tests: hypothesis runs
    each example to its end, so each runs the event loop itself."""

    def __init__(self, url: str) -> None:
        self.loop = asyncio.new_event_loop()
        try:
            self.connection = self.run(self._open(url))
        except BaseException:
            self.loop.close()
            raise

    @staticmethod
    async def _open(url: str) -> asyncpg.Connection:
        connection = await asyncpg.connect(url)
        await migrate(connection)
        return connection

    def run(self, work: Awaitable[T]) -> T:
        return self.loop.run_until_complete(work)

    def close(self) -> None:
        self.run(self.connection.close())
        self.loop.close()

    def answers(self, data: list[Group], queries: list[sql.Query], seqscan: bool) -> list[Any]:
        """Load the data (and a decoy shop), run the queries, and roll everything back."""
        return self.run(self._answers(data, queries, seqscan))

    async def _answers(self, data: list[Group], queries: list[sql.Query], seqscan: bool) -> Any:
        connection = self.connection
        transaction = connection.transaction()
        await transaction.start()
        try:
            if not seqscan:  # tiny tables: have the planner take the indexes, as at scale
                await connection.execute("SET LOCAL enable_seqscan = off")
            await connection.copy_records_to_table(
                "customergroups",
                columns=["shop", "uid", "name", "name_key", "created", "changed", "customer_count"],
                records=[
                    (shop, g.uid, g.name, fold(g.name), g.created, g.changed, len(customers))
                    for shop, g, customers in rows(data)
                ],
            )
            await connection.copy_records_to_table(
                "memberships",
                columns=["shop", "group_uid", "customer"],
                records=[
                    (shop, g.uid, customer)
                    for shop, g, customers in rows(data)
                    for customer in customers
                ],
            )
            return [await connection.fetch(q.text, *q.params) for q in queries]
        finally:
            await transaction.rollback()


def rows(data: list[Group]) -> Iterator[tuple[int, Group, frozenset[int]]]:
    """Each group in the shop under test, and its twin in another shop with the other
    customers, later moments, and the same uid and name: what leaks from it shows."""
    for group in data:
        yield SHOP, group, group.customers
        twin = frozenset(CUSTOMERS) - group.customers
        yield OTHER_SHOP, Group(group.uid, group.name, BASE, BASE, twin), twin


@pytest.fixture(scope="module")
def database(postgres: Cluster) -> Iterator[Database]:
    """One database for the module; each use loads its data and rolls it back."""
    name = postgres.create_database()
    database = Database(postgres.url(name))
    yield database
    database.close()
    postgres.drop_database(name)


def expected(data: list[Group], raw: object, order: Order) -> list[int]:
    """What the service selects: the Python predicate, sorted by (key, uid), the list
    reversed when descending (store/queries.py ``select``), then the page."""
    matches = compile_filter(parse(raw, FIELDS, ""))
    found = [g for g in data if matches(g.record())]
    found.sort(key=lambda g: (*SORT_KEYS[order.sort](g), g.uid))
    if order.descending:
        found.reverse()
    end = None if order.limit is None else order.offset + order.limit
    return [g.uid for g in found[order.offset : end]]


SORT_KEYS: dict[str, Callable[[Group], tuple[Any, ...]]] = {
    "uid": lambda g: (),
    "name": lambda g: (fold(g.name),),
    "created": lambda g: (g.record()["created"],),
    "changed": lambda g: (g.record()["changed"],),
    "customerCount": lambda g: (len(g.customers),),
}


def test_sort_keys_are_the_orderings() -> None:
    assert set(SORT_KEYS) == set(sql.ORDERINGS)


@dataclass(frozen=True)
class Order:
    """An ordering and a page of ``list``."""

    sort: str
    descending: bool = False
    offset: int = 0
    limit: int | None = None


EVERY_ORDER = [Order(sort, descending) for sort in SORTS for descending in (False, True)]


def check(
    database: Database, data: list[Group], lists: list[tuple[object, list[Order]]], seqscan: bool
) -> None:
    """For each filter, the SQL and the Python predicate agree on the count, and on the
    groups of each ordering's page, their order and their values."""
    queries = []
    for raw, orders in lists:
        where = parse(raw, FIELDS, "")
        queries.append(sql.count(SHOP, where))
        for o in orders:
            queries.append(
                sql.select(
                    SHOP,
                    where,
                    sort=o.sort,
                    descending=o.descending,
                    limit=o.limit,
                    offset=o.offset,
                )
            )
    answers = iter(database.answers(data, queries, seqscan))
    by_uid = {g.uid: g for g in data}
    for raw, orders in lists:
        matching = len(expected(data, raw, Order("uid")))
        if currently_in_test_context():  # --hypothesis-show-statistics: how many matched
            event(
                f"matches {'none' if not matching else 'all' if matching == len(data) else 'some'}"
            )
        [counted] = next(answers)
        assert counted["count"] == matching, raw
        for order in orders:
            got = next(answers)
            assert [row["uid"] for row in got] == expected(data, raw, order), (raw, order)
            for row in got:
                group = by_uid[row["uid"]]
                count = len(group.customers)
                stored = (group.uid, group.name, group.created, group.changed, count, 1)
                assert tuple(row) == stored


def from_json(record: dict[str, Any]) -> Group:
    return Group(
        record["uid"],
        record["name"],
        datetime.fromisoformat(record["created"]),
        datetime.fromisoformat(record["changed"]),
        frozenset(record["customers"]),
    )


@pytest.mark.parametrize("case", RESULTS, ids=[case["name"] for case in RESULTS])
def test_sql_selects_what_filters_json_says(database: Database, case: dict[str, Any]) -> None:
    data = [from_json(record) for record in CASES["given"]]
    [found] = database.answers(data, [compile_select(case["filter"])], seqscan=True)
    assert [row["uid"] for row in found] == case["result"]


HOSTILE_NAMES = [
    *["50% off", "50_ off", "a\\b", "O'Brien", "ſtraße", "Kelvin", "x\u00ady"],
    *["\U0010ffffz", "\ud7ffx", "\ue000y"],
]


@pytest.mark.parametrize(
    ("condition", "names"),
    [
        ({"contains": "%"}, ["50% off"]),
        ({"contains": "_"}, ["50_ off"]),
        ({"startsWith": "50%"}, ["50% off"]),
        ({"contains": "\\"}, ["a\\b"]),
        ({"endsWith": "\\b"}, ["a\\b"]),
        ({"contains": "'"}, ["O'Brien"]),
        ({"equals": "O'Brien"}, ["O'Brien"]),
        ({"startsWith": "STRASS"}, ["ſtraße"]),
        ({"startsWith": "kel"}, ["Kelvin"]),
        ({"contains": "xy"}, ["x\u00ady"]),
        ({"startsWith": "\U0010ffff"}, ["\U0010ffffz"]),
        ({"startsWith": "\ud7ff"}, ["\ud7ffx"]),
        ({"startsWith": "\ue000"}, ["\ue000y"]),
        ({"contains": "nul\x00"}, []),
        ({"not": {"contains": "nul\x00"}}, HOSTILE_NAMES),
        ({"not": None}, HOSTILE_NAMES),
        ({"in": [None]}, []),
        ({"not": {"in": [None, "Kelvin"]}}, [n for n in HOSTILE_NAMES if n != "Kelvin"]),
    ],
)
@pytest.mark.parametrize("seqscan", [True, False], ids=["seqscan", "indexes"])
def test_hostile_names_match_as_in_python(
    database: Database, condition: object, names: list[str], seqscan: bool
) -> None:
    data = [Group(uid, name, BASE, BASE, frozenset()) for uid, name in enumerate(HOSTILE_NAMES, 1)]
    [found] = database.answers(data, [compile_select({"/name": condition})], seqscan)
    assert [row["name"] for row in found] == names
    assert expected(data, {"/name": condition}, Order("uid")) == [
        HOSTILE_NAMES.index(n) + 1 for n in names
    ]


def test_nested_not_to_the_limit_runs(database: Database) -> None:
    condition: object = {"in": [1, 2]}
    for _ in range(MAX_DEPTH - 1):
        condition = {"not": condition}
    data = [Group(uid, f"g{uid}", BASE, BASE, frozenset()) for uid in (1, 2, 3)]
    check(database, data, [({"/uid": condition}, EVERY_ORDER)], seqscan=True)
    [found] = database.answers(data, [compile_select({"/uid": condition})], seqscan=True)
    assert [row["uid"] for row in found] == [3]


orders = st.builds(
    Order, st.sampled_from(SORTS), st.booleans(), st.integers(0, 4), st.none() | st.integers(0, 5)
)


@settings(max_examples=max(150, settings().max_examples))
@given(data=st.data())
def test_sql_and_python_select_the_same_groups_in_the_same_order(
    database: Database, data: st.DataObject
) -> None:
    """The key property, over generated data and filters, orderings and pages."""
    dataset = data.draw(groups(), label="groups")
    some = st.tuples(filter_objects(dataset), st.lists(orders, min_size=1, max_size=3))
    lists = data.draw(st.lists(some, min_size=1, max_size=3), label="filters and orders")
    check(database, dataset, lists, seqscan=data.draw(st.booleans(), label="seqscan"))
