"""The filter-object language (SPEC 6): parse a filter object to nodes, then compile them.

Parsing raises every problem at once, each with its JSON Pointer into the params; compiling
cannot fail. Operators and field types live in two registries, so a new type is new entries.
There are two compilers, and each operator's entry knows both: a Python predicate over records
(``compile_filter``) and an SQL condition with bound parameters (``sql_condition``, over the
columns a store names; ``store/sql.py`` holds the table layout).

>>> fields = {"/uid": FieldType.INTEGER, "/name": FieldType.STRING}
>>> node = parse({"/name": {"startsWith": "STA"}, "/uid": {"min": 2}}, fields, "/0")
>>> matches = compile_filter(node)
>>> matches({"uid": 3, "name": "Staff"}), matches({"uid": 1, "name": "Staff"})
(True, False)
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping, Set
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeAlias, cast

from customergroup_rpc.errors import InvalidParams, Problems, describe, join, quote
from customergroup_rpc.i18n import N_, Listing, Message
from customergroup_rpc.text import fold, successor

MAX_DEPTH = 32
"""How many condition objects may nest (through ``not``); deeper is a problem, not a crash."""


class FieldType(enum.StrEnum):
    """The type of a filterable property; it decides which operators fit."""

    INTEGER = "integer"
    STRING = "string"
    DATETIME = "datetime"
    UID_SET = "uid set"  # a group's customers: matched with containsAny / containsAll


Fields: TypeAlias = Mapping[str, FieldType]
ValueTest: TypeAlias = Callable[[Any], bool]
Predicate: TypeAlias = Callable[[Mapping[str, Any]], bool]
Bind: TypeAlias = Callable[[Any, str], str]
"""Binds a value as a statement parameter of an SQL type; returns the placeholder (``$2::text``)."""


@dataclass(frozen=True)
class Term:
    """One operator and its parsed operand (a ``Condition`` for ``not``)."""

    op: str
    operand: Any


@dataclass(frozen=True)
class Condition:
    """A condition object: every term must hold; no terms holds always."""

    terms: tuple[Term, ...] = ()


@dataclass(frozen=True)
class Clause:
    """One key of a filter object: a record property, its type and its condition."""

    prop: str
    type: FieldType
    condition: Condition


@dataclass(frozen=True)
class Filter:
    """A parsed filter object: every clause must hold."""

    clauses: tuple[Clause, ...] = ()


MATCH_ALL = Filter()
"""The filter ``{}``."""


class _Bad(ValueError):
    """An operand that does not fit; the message completes a sentence about the field."""

    def __init__(self, message: Message) -> None:
        super().__init__(message.id)
        self.message = message


@dataclass(frozen=True)
class _Scope:
    """Where parsing stands: the field, the pointer into the params, the nesting depth."""

    field: str
    type: FieldType
    at: str
    problems: Problems
    depth: int = 1

    def child(self, token: str | int) -> _Scope:
        """The scope one reference token further in."""
        return replace(self, at=join(self.at, token))

    def report(self, message: Message) -> None:
        """Record a problem at this scope's pointer."""
        self.problems.add(self.at, message)


def _integer(raw: object) -> int:
    """An integer operand; JSON booleans are not integers, 5.0 is 5."""
    if isinstance(raw, float) and raw.is_integer():
        return int(raw)
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    raise _Bad(N_("give a whole number such as 42, not {value}", value=describe(raw)))


def _string(raw: object) -> str:
    """A string operand."""
    if isinstance(raw, str):
        return raw
    raise _Bad(N_("give a string, not {value}", value=describe(raw)))


_ISO = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:T(\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?)?",
    re.ASCII,
)


def _instant(raw: object) -> datetime:
    """A date-time operand as an aware datetime; a plain date is midnight UTC."""
    if not isinstance(raw, str):
        message = N_(
            "give an ISO 8601 string such as 2013-01-14T15:04:34Z, not {value}", value=describe(raw)
        )
        raise _Bad(message)
    match = _ISO.fullmatch(raw.upper())  # RFC 3339 allows a lower-case t and z
    if match is None:
        message = N_(
            "{value} is not an ISO 8601 date-time: "
            "write it like 2013-01-14T15:04:34Z, 2013-01-14T16:04:34+01:00 or 2013-01-14",
            value=quote(raw),
        )
        raise _Bad(message)
    if match[1] and not match[3]:
        raise _Bad(
            N_("{value} has no time zone: add Z or an offset such as +01:00", value=quote(raw))
        )
    if match[2] and match[2][7:].strip("0"):
        # fromisoformat would silently truncate, and truncating moves a bound.
        raise _Bad(
            N_("{value} is finer than a microsecond: use at most 6 decimals", value=quote(raw))
        )
    try:
        moment = datetime.fromisoformat(match[0])
    except ValueError:  # Python's reason is English: say it in our words
        message = N_(
            "{value} is not a real date-time: a month, day or time is out of range",
            value=quote(raw),
        )
        raise _Bad(message) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _uid(raw: object) -> int:
    """One customer uid: a positive integer (5.0 is 5)."""
    if not is_uid(raw):
        message = N_(
            "give a uid from 1 to {largest} such as 17, not {value}",
            largest=MAX_UID,
            value=describe(raw),
        )
        raise _Bad(message)
    return int(cast(float, raw))


MAX_UID = 2**53 - 1
"""The largest customer uid: exact as a JSON number in every client, JavaScript included."""


def is_uid(raw: object) -> bool:
    """Whether a JSON value is a customer uid: an integer from 1 to ``MAX_UID`` (5.0 is 5).

    >>> is_uid(17), is_uid(17.0), is_uid(True), is_uid(0), is_uid(2**53)
    (True, True, False, False, False)
    """
    if isinstance(raw, float):
        return raw.is_integer() and 1 <= raw <= MAX_UID
    return isinstance(raw, int) and not isinstance(raw, bool) and 1 <= raw <= MAX_UID


def _set_of_uids(value: object) -> Set[int] | None:
    # A set too: the embedded store hands over a group's own set, not a frozen copy of it.
    return value if isinstance(value, set | frozenset) else None


def _only(kind: type) -> Callable[[object], Any]:
    """Read a stored value of exactly one kind (so not a bool for int); else None."""
    return lambda value: value if type(value) is kind else None


def _record_instant(value: object) -> datetime | None:
    """A stored canonical UTC date-time as an aware datetime, or None when absent or broken."""
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None
    # A naive value would make comparisons with aware operands raise; treat it as broken.
    return moment if moment and moment.tzinfo else None


_BIGINT = 2**63


def _bigint_side(value: int) -> int:
    """Where an integer operand lies for a ``bigint`` column: 0 within its range, -1 below,
    1 above (JSON integers have no bound; 1e300 parses as an integer)."""
    return -1 if value < -_BIGINT else 1 if value >= _BIGINT else 0


def _text_side(value: str) -> int:
    """0 for a string PostgreSQL's ``text`` can hold; 1 for one with NUL or a lone surrogate,
    which no stored name holds either (the name schema forbids both), so it equals none."""
    if "\x00" in value:
        return 1
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return 1
    return 0


def fits_bigint(value: int) -> bool:
    """Whether an integer fits PostgreSQL's ``bigint``, as every stored uid does (a uid past
    it cannot even be compared with one there)."""
    return _bigint_side(value) == 0


def fits_text(value: str) -> bool:
    """Whether a string can be stored in, and so compared with, PostgreSQL's ``text``."""
    return _text_side(value) == 0


def _instant_side(value: datetime) -> int:
    """0 for an instant that is a UTC datetime, as every stored one is; -1 or 1 for one before
    year 1 or after year 9999 in UTC (0001-01-01T00:00:00+01:00), which no driver can bind."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        return -1 if value.year == 1 else 1
    return 0


@dataclass(frozen=True)
class _Type:
    """A field type: how messages name it, how operands parse, how record values read, and
    the SQL type its operands bind as (``side`` says whether one fits: see ``_bigint_side``)."""

    singular: Message
    plural: Message
    parse: Callable[[object], Any]
    decode: Callable[[object], Any]
    sql: str
    side: Callable[[Any], int]
    bare: str = "equals"  # the operator a bare value stands for


TYPES: Mapping[FieldType, _Type] = {
    FieldType.INTEGER: _Type(
        N_("an integer"), N_("integers"), _integer, _only(int), "bigint", _bigint_side
    ),
    FieldType.STRING: _Type(N_("a string"), N_("strings"), _string, _only(str), "text", _text_side),
    FieldType.DATETIME: _Type(
        N_("a date-time"),
        N_("date-times"),
        _instant,
        _record_instant,
        "timestamptz",
        _instant_side,
    ),
    FieldType.UID_SET: _Type(
        N_("a set of customer uids"),
        N_("customer uids"),
        _uid,
        _set_of_uids,
        "bigint",
        _bigint_side,
        bare="containsAll",
    ),
}


def _strict(raw: object, scope: _Scope) -> Any:
    """A value of the field's type, reporting a problem if it is not one."""
    try:
        return TYPES[scope.type].parse(raw)
    except _Bad as bad:
        scope.report(_misfit(scope, bad))
        return None


def _misfit(scope: _Scope, bad: _Bad) -> Message:
    # The field, the kind of values it holds, then what to give instead (a lower-case clause).
    return N_(
        "{field} holds {kind}; {problem}.",
        field=scope.field,
        kind=TYPES[scope.type].plural,
        problem=bad.message,
    )


def _each(raw: list[object], scope: _Scope, nullable: bool) -> frozenset[Any]:
    """The elements of an array operand as values of the field's type (null too if
    ``nullable``). An array may hold half a million values: a pointer is made only for a bad
    one, and past the problem limit a bad one is only counted."""
    parse, skipped = TYPES[scope.type].parse, 0
    values: set[Any] = set()
    for index, item in enumerate(raw):
        if item is None and nullable:
            values.add(None)
            continue
        try:
            values.add(parse(item))
        except _Bad as bad:
            if scope.problems.full:
                skipped += 1
            else:
                scope.child(index).report(_misfit(scope, bad))
    if skipped:
        scope.problems.skip(scope.at, skipped)
    return frozenset(values)


def _value(raw: object, scope: _Scope) -> Any:
    """A value of the field's type, or null (which only an absent value equals)."""
    return None if raw is None else _strict(raw, scope)


def _choices(raw: object, scope: _Scope) -> frozenset[Any]:
    """The array operand of ``in``, element by element."""
    if not isinstance(raw, list):
        scope.report(
            N_("The in condition takes an array of values, not {value}.", value=describe(raw))
        )
        return frozenset()
    return _each(raw, scope, nullable=True)


def _members(raw: object, scope: _Scope) -> frozenset[Any]:
    """The operand of containsAny / containsAll: an array of uids, or one uid for [uid]."""
    if not isinstance(raw, list):
        return frozenset({_strict(raw, scope)})
    return _each(raw, scope, nullable=False)


def _folded(raw: object, scope: _Scope) -> str:
    """A string to match case-insensitively, folded once here rather than per record."""
    if isinstance(raw, str):
        return fold(raw)
    scope.report(N_("Give a string to match against, not {value}.", value=describe(raw)))
    return ""


def _negated(raw: object, scope: _Scope) -> Condition:
    """The operand of ``not``: a bare value or a condition object, one level deeper."""
    return _condition(raw, replace(scope, depth=scope.depth + 1))


def _matching(match: Callable[[str, str], bool]) -> Callable[[str], ValueTest]:
    """A case-insensitive string test; the operand arrives folded, the value is folded here."""
    return lambda operand: lambda value: value is not None and match(fold(value), operand)


@dataclass(frozen=True)
class Column:
    """Where a field is in SQL, as a store lays its tables out.

    ``value`` is the stored value (for a uid set: the key of its owner); ``folded`` the
    ``text.fold`` of a string, in a column of collation "C"; ``members`` a query of one column,
    the owner keys, one row per (owner, element) whose element is in the array placed at ``{}``.
    """

    type: FieldType
    value: str
    folded: str = ""
    members: str = ""


SqlTest: TypeAlias = Callable[[Column, Any, Bind], str]


def _sql_equals(column: Column, operand: Any, bind: Bind) -> str:
    # Null equals only an absent value, and no column here holds null: no row. Binding null
    # instead would make the condition null, and NOT of null is null, not true.
    if operand is None or TYPES[column.type].side(operand):
        return "FALSE"
    # Equal strings fold alike: the folded column's index finds them.
    key = f"{column.folded} = {bind(fold(operand), 'text')} AND " if column.folded else ""
    return f"{key}{column.value} = {bind(operand, TYPES[column.type].sql)}"


def _sql_in(column: Column, operands: frozenset[Any], bind: Bind) -> str:
    kind = TYPES[column.type]
    values = sorted(x for x in operands if x is not None and not kind.side(x))
    if not values:  # an array of nothing but nulls (or none at all) holds for no row
        return "FALSE"
    keys = ""
    if column.folded:
        folded = sorted({fold(value) for value in values})
        keys = f"{column.folded} = ANY({bind(folded, 'text[]')}) AND "
    return f"{keys}{column.value} = ANY({bind(values, kind.sql + '[]')})"


def _sql_prefix(column: Column, operand: str, bind: Bind) -> str:
    """startsWith as a range of the folded column (code-point order in collation "C"): exactly
    the keys with the prefix, and a range of the index even in a plan made before the operand
    is known (a prepared statement's generic plan), which a LIKE pattern is not."""
    if _text_side(operand):
        return "FALSE"
    at_least = f"{column.folded} >= {bind(operand, 'text')}"
    after = successor(operand)
    return at_least if after is None else f"{at_least} AND {column.folded} < {bind(after, 'text')}"


def _sql_like(pattern: str) -> SqlTest:
    """A LIKE test of the folded column (the trigram index serves it); ``pattern`` places
    the escaped operand at ``{}``."""

    def sql(column: Column, operand: str, bind: Bind) -> str:
        if _text_side(operand):
            return "FALSE"
        escaped = operand.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return f"{column.folded} LIKE {bind(pattern.format(escaped), 'text')} ESCAPE E'\\\\'"

    return sql


def _sql_bound(sign: str, holds_above: bool) -> SqlTest:
    """``min`` (``>=``) or ``max`` (``<=``); ``holds_above`` says whether it holds for an
    operand above every value the column can hold (then it does not for one below them all)."""

    def sql(column: Column, operand: Any, bind: Bind) -> str:
        kind = TYPES[column.type]
        side = kind.side(operand)
        if side:
            return "TRUE" if (side > 0) == holds_above else "FALSE"
        return f"{column.value} {sign} {bind(operand, kind.sql)}"

    return sql


def _sql_any(column: Column, operands: frozenset[int], bind: Bind) -> str:
    if not operands:
        return "FALSE"
    elements = bind(sorted(operands), TYPES[column.type].sql + "[]")
    return f"{column.value} IN ({column.members.format(elements)})"


def _sql_all(column: Column, operands: frozenset[int], bind: Bind) -> str:
    if len(operands) < 2:  # every set holds no element; one element is containsAny
        return "TRUE" if not operands else _sql_any(column, operands, bind)
    elements = bind(sorted(operands), TYPES[column.type].sql + "[]")
    # The operands are distinct, and an owner holds an element once: all are there when
    # every one of them is counted.
    how_many = bind(len(operands), "bigint")
    members = column.members.format(elements)
    return f"{column.value} IN ({members} GROUP BY 1 HAVING count(*) = {how_many})"


def _sql_not(column: Column, operand: Condition, bind: Bind) -> str:
    return f"NOT ({sql_condition(operand, column, bind)})"


@dataclass(frozen=True)
class Operator:
    """A registry entry: the field types it fits, how its operand parses, how it tests in
    Python (``build``) and in SQL (``sql``: a condition on a column that binds every operand)."""

    types: frozenset[FieldType]
    parse: Callable[[object, _Scope], Any]
    build: Callable[[Any], ValueTest]
    sql: SqlTest


_SCALARS = frozenset({FieldType.INTEGER, FieldType.STRING, FieldType.DATETIME})
_ORDERED = frozenset({FieldType.INTEGER, FieldType.DATETIME})
_TEXT = frozenset({FieldType.STRING})
_SETS = frozenset({FieldType.UID_SET})

OPERATORS: Mapping[str, Operator] = {
    "equals": Operator(_SCALARS, _value, lambda x: lambda v: v == x, _sql_equals),
    "in": Operator(_SCALARS, _choices, lambda xs: lambda v: v in xs, _sql_in),
    "not": Operator(
        frozenset(FieldType), _negated, lambda c: _negate(_compile_condition(c)), _sql_not
    ),
    "startsWith": Operator(_TEXT, _folded, _matching(str.startswith), _sql_prefix),
    "endsWith": Operator(_TEXT, _folded, _matching(str.endswith), _sql_like("%{}")),
    "contains": Operator(_TEXT, _folded, _matching(str.__contains__), _sql_like("%{}%")),
    "min": Operator(
        _ORDERED,
        _strict,
        lambda x: lambda v: v is not None and v >= x,
        _sql_bound(">=", holds_above=False),
    ),
    "max": Operator(
        _ORDERED,
        _strict,
        lambda x: lambda v: v is not None and v <= x,
        _sql_bound("<=", holds_above=True),
    ),
    "containsAny": Operator(
        _SETS, _members, lambda xs: lambda v: v is not None and not v.isdisjoint(xs), _sql_any
    ),
    "containsAll": Operator(
        _SETS, _members, lambda xs: lambda v: v is not None and xs <= v, _sql_all
    ),
}


def _unfit(name: str, scope: _Scope) -> Message:
    """The message for an operator that does not fit the field's type."""
    fits = tuple(TYPES[t].plural for t in FieldType if t in OPERATORS[name].types)
    return N_(
        "{field} is {kind}; {condition} applies to {kinds}.",
        field=scope.field,
        kind=TYPES[scope.type].singular,
        condition=name,
        kinds=Listing(fits),
    )


def _unknown(name: str, scope: _Scope) -> Message:
    """The message for an unknown operator, naming those that fit this field."""
    fitting = sorted(n for n, op in OPERATORS.items() if scope.type in op.types)
    return N_(
        "Unknown condition {name}. Use one of: {conditions}.",
        name=quote(name),
        conditions=", ".join(fitting),
    )


def _term(name: str, raw: object, scope: _Scope) -> Term:
    """One operator of a condition object, checked against the registry."""
    operator = OPERATORS.get(name)
    if operator is not None and scope.type in operator.types:
        return Term(name, operator.parse(raw, scope))
    if scope.problems.full:  # a condition object may have 100,000 unknown keys
        scope.problems.skip(scope.at)
    else:
        scope.report(_unfit(name, scope) if operator else _unknown(name, scope))
    return Term(name, None)


def _condition(raw: object, scope: _Scope) -> Condition:
    """A bare value (the type's bare operator) or a condition object."""
    if isinstance(raw, list):
        instead = "containsAny" if scope.type is FieldType.UID_SET else "in"
        message = N_(
            'A bare array is not a condition; to match any of them write {{"{condition}": [...]}}.',
            condition=instead,
        )
        scope.report(message)
        return Condition()
    if not isinstance(raw, dict):
        return Condition((_term(TYPES[scope.type].bare, raw, scope),))
    if scope.depth > MAX_DEPTH:
        message = N_(
            "Conditions nest more than {depth} levels deep; simplify this one.", depth=MAX_DEPTH
        )
        scope.report(message)
        return Condition()
    return Condition(tuple(_term(str(k), v, scope.child(str(k))) for k, v in raw.items()))


def _unknown_pointer(key: str, fields: Fields) -> Message:
    """The message for a key that names no filterable property."""
    if "/" + key in fields:
        return N_(
            "Unknown filter pointer {key}. Keys are JSON Pointers: write '/{name}'.",
            key=quote(key),
            name=key,
        )
    filterable = ", ".join(sorted(fields))
    return N_(
        "Unknown filter pointer {key}. Filterable: {pointers}.", key=quote(key), pointers=filterable
    )


def parse(raw: object, fields: Fields, at: str) -> Filter:
    """Parse a decoded filter object; raise ``InvalidParams`` listing every problem in it."""
    if not isinstance(raw, dict):
        message = N_(
            'A filter must be an object such as {{"/name": "Staff"}}, not {value}.',
            value=describe(raw),
        )
        raise InvalidParams.at(at, message)
    problems = Problems()
    clauses = tuple(_clause(str(key), value, fields, at, problems) for key, value in raw.items())
    if problems:
        raise InvalidParams(problems)
    return Filter(clauses)


def _clause(key: str, raw: object, fields: Fields, at: str, problems: Problems) -> Clause:
    """One key of the filter object and its condition."""
    if key not in fields:
        if problems.full:
            problems.skip(at)
        else:
            problems.add(join(at, key), _unknown_pointer(key, fields))
        return Clause(key[1:], FieldType.STRING, Condition())
    scope = _Scope(key, fields[key], join(at, key), problems)
    return Clause(key[1:], scope.type, _condition(raw, scope))


def prefix(node: Filter, prop: str) -> tuple[str | None, bool]:
    """A folded prefix every match's ``prop`` must start with, and whether that is all.

    Lets a caller narrow candidates with an index, and skip testing them when the prefix is
    the whole filter.

    >>> fields = {"/name": FieldType.STRING, "/uid": FieldType.INTEGER}
    >>> prefix(parse({"/name": {"startsWith": "STAFF"}}, fields, ""), "name")
    ('staff', True)
    >>> prefix(parse({"/name": {"startsWith": "S"}, "/uid": 2}, fields, ""), "name")
    ('s', False)
    """
    for clause in node.clauses:
        if clause.prop == prop:
            for term in clause.condition.terms:
                if term.op == "startsWith":
                    whole = len(node.clauses) == 1 and len(clause.condition.terms) == 1
                    return str(term.operand), whole
    return None, False


def _negate(test: ValueTest) -> ValueTest:
    """The opposite test."""
    return lambda value: not test(value)


def _compile_condition(node: Condition) -> ValueTest:
    """A test of one (decoded) value that holds when every term holds."""
    tests = tuple(OPERATORS[term.op].build(term.operand) for term in node.terms)
    return lambda value: all(test(value) for test in tests)


def _compile_clause(node: Clause) -> Predicate:
    """A test of a record: decode its property once, then test the condition."""
    decode, test = TYPES[node.type].decode, _compile_condition(node.condition)
    return lambda record: test(decode(record.get(node.prop)))


def compile_filter(node: Filter) -> Predicate:
    """A predicate over records keyed by property name that holds when every clause holds."""
    tests = tuple(_compile_clause(clause) for clause in node.clauses)
    return lambda record: all(test(record) for test in tests)


def sql_condition(node: Condition, column: Column, bind: Bind) -> str:
    """An SQL condition on ``column`` that holds when every term holds (``TRUE`` for none).

    It is never null (so ``NOT`` of it is its opposite), and every operand is bound.

    >>> params: list[Any] = []
    >>> bind = lambda value, cast: params.append(value) or f"${len(params)}::{cast}"
    >>> node = parse({"/n": {"min": 2, "not": {"in": [5, None]}}}, {"/n": FieldType.INTEGER}, "")
    >>> sql_condition(node.clauses[0].condition, Column(FieldType.INTEGER, "g.n"), bind), params
    ('g.n >= $1::bigint AND NOT (g.n = ANY($2::bigint[]))', [2, [5]])
    """
    return " AND ".join(OPERATORS[t.op].sql(column, t.operand, bind) for t in node.terms) or "TRUE"
