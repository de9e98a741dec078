"""API tokens: hashed in ``<db>.tokens.json`` (mode 0600), picked up without a restart (SPEC 2).

A token is shown once, when it is created; the file keeps only its SHA-256. The server calls
``scope_of`` per request; it looks at the file (a ``stat``, and a read if it changed) at most
every ``RECHECK`` seconds, because a ``stat`` per request costs a busy server about 7 µs, 8% of
a ``get``. The CLI's ``token create`` and ``token revoke`` wait out ``settle()`` before they
return, so a new or revoked token still takes effect on the next request after the command
(SPEC 2); an edit made any other way takes effect within ``RECHECK`` seconds.

A record whose scope the server does not know (a hand edit: ``"scope": "root"``) is refused:
its token is answered as a bad token, one warning names the record, the others work on.

The token ``CUSTOMERGROUP_RPC_ADMIN_TOKEN`` names is kept under an id that starts with
``env-``, so that a start with another value can replace it (``from_environment``); tokens
made with ``token create`` are never touched by it. The mark is in the id rather than in a new
field so that a file written by this version still loads in an older one (a rollback).

A token opens the shops it was made for (``shops``, ``token create --shop``), or every shop
(``shops`` None: ``--all-shops``, the tokens made before shops existed, the environment's). The
file leaves the field out for a token of every shop, so that a file of such tokens still loads
in a version before shops; an older version refuses a file with shop tokens rather than let
them open its one shop.

The rules are functions that every engine of tokens calls (``Tokens`` here, ``PgTokens`` in
pg_tokens.py): ``digest``, ``new_token``, ``new_record``, ``check_scope``, ``rotation`` (what
``from_environment`` changes) and ``grants`` (the lookup table, refusing unknown scopes).

>>> tokens = Tokens(None)
>>> record, secret = tokens.create("view")
>>> tokens.scope_of(secret), tokens.scope_of("guess")
('view', None)
>>> _, shop_token = tokens.create("manage", shops=(22222,))
>>> tokens.grant_of(shop_token).opens(22222), tokens.grant_of(shop_token).opens(1)
(True, False)
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from . import files
from .files import resolved

log = logging.getLogger(__name__)
# How often, at most, a server looks at the token file (seconds).
RECHECK = 0.05
SCOPES = ("manage", "view")
# What each scope may do: manage includes everything view may.
GRANTS = {"manage": frozenset(SCOPES), "view": frozenset({"view"})}
# The id prefix of the token the environment names (CUSTOMERGROUP_RPC_ADMIN_TOKEN).
FROM_ENVIRONMENT = "env-"
# The fewest characters of a token the environment names: a short one is guessed.
MIN_ENVIRONMENT_LENGTH = 16


@dataclass(frozen=True, slots=True)
class Grant:
    """What a valid token may do: its scope, in its shops (None: in every shop); ``token`` is
    its id (the change feed records it)."""

    scope: str
    shops: frozenset[int] | None = None
    token: str = ""

    def opens(self, shop: int) -> bool:
        return self.shops is None or shop in self.shops


class Registry(Protocol):
    """What a server asks of its tokens on every request (``Tokens``, ``pg_tokens.PgTokens``)."""

    def scope_of(self, token: str) -> str | None: ...
    def grant_of(self, token: str) -> Grant | None: ...


# The longest label a token may have (token create --label).
MAX_LABEL = 200


@dataclass(frozen=True)
class TokenRecord:
    """One token as stored: never the token itself. ``shops``: the shops it opens, sorted;
    None: every shop. ``label`` names it for people (``token create --label``)."""

    id: str
    scope: str
    sha256: str
    created: str
    shops: tuple[int, ...] | None = None
    label: str = ""

    def stored(self) -> dict[str, object]:
        """The record as the token file keeps it (no ``shops`` for a token of every shop, no
        empty ``label``: a file without labels still loads in a version before them)."""
        fields = asdict(self)
        if self.shops is None:
            del fields["shops"]
        else:
            fields["shops"] = list(self.shops)
        if not self.label:
            del fields["label"]
        return fields


def check_label(label: str) -> None:
    """Refuse a label people could not read in ``token list`` (ValueError)."""
    if len(label) > MAX_LABEL or not label.isprintable():
        raise ValueError(f"A label is at most {MAX_LABEL} printable characters, on one line.")


class TokenError(Exception):
    """Tokens cannot be read or kept; the message says why."""


class TokenFileError(TokenError):
    """The token file exists but cannot be read as one."""


def environment_problem(token: str, name: str = "CUSTOMERGROUP_RPC_ADMIN_TOKEN") -> str | None:
    """Why a token from the environment is refused, or None.

    >>> environment_problem("secret")
    'CUSTOMERGROUP_RPC_ADMIN_TOKEN has 6 characters; use at least 16, such as a random \
one from: python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
    """
    if len(token) < MIN_ENVIRONMENT_LENGTH:
        return (
            f"{name} has {len(token)} characters; use at least {MIN_ENVIRONMENT_LENGTH}, such "
            'as a random one from: python3 -c "import secrets; print(secrets.token_urlsafe(32))"'
        )
    if token != token.strip() or not token.isprintable():
        # A Bearer header loses outer spaces and cannot carry control characters (a \r from
        # an env file written on Windows): such a token would never work.
        return f"{name} has spaces at an end or control characters; remove them."
    return None


def token_path(db: Path) -> Path:
    """Where the tokens of a database live: beside the file itself, a link followed (as the
    store follows it), so that every spelling of the database finds the same tokens."""
    try:
        db = resolved(db)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a loop of links (Python < 3.13)
        raise TokenFileError(f"Cannot follow the links of {db}: {exc}.") from None
    return db.with_name(db.name + ".tokens.json")


@functools.lru_cache(maxsize=256)
def digest(token: str) -> str:
    """What is stored of a token: its SHA-256, in hex."""
    # Cached: the same few tokens come back on every request. A digest is no secret at rest.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_token() -> str:
    """A new random token."""
    return "cgr_" + secrets.token_urlsafe(32)


def check_scope(scope: str) -> None:
    """Refuse a scope the server does not know (ValueError)."""
    if scope not in SCOPES:
        raise ValueError(f"Unknown scope {scope!r}; use manage or view.")


def new_record(
    scope: str,
    token_digest: str,
    prefix: str = "",
    created: str | None = None,
    *,
    shops: Iterable[int] | None = None,
    label: str = "",
) -> TokenRecord:
    """A new record of a token (by its digest), made now unless ``created`` is given, for
    ``shops`` (None: every shop)."""
    return TokenRecord(
        id=prefix + secrets.token_hex(4),
        scope=scope,
        sha256=token_digest,
        created=created or datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        shops=None if shops is None else tuple(sorted(set(shops))),
        label=label,
    )


@dataclass(frozen=True)
class Rotation:
    """What ``from_environment`` changes: the records to drop, then the one to add."""

    drop: tuple[TokenRecord, ...]
    add: TokenRecord | None
    revoked: tuple[str, ...]  # ids of tokens an earlier environment named

    def log(self) -> None:
        """Say which tokens were revoked (once it is done)."""
        for token_id in self.revoked:
            log.info("Revoked token %s: the environment names another one now", token_id)


def rotation(records: Iterable[TokenRecord], token_digest: str) -> Rotation | None:
    """How to make ``token_digest`` the environment's manage token; None if it is already.

    A token an earlier start took from the environment, under another value, is dropped:
    that is how the environment rotates its token. A record of the same token that lacks the
    mark (made before tokens were marked) is replaced by a marked one keeping its ``created``.
    """
    found, drop, revoked, created = False, [], [], None
    for record in records:
        ours = record.id.startswith(FROM_ENVIRONMENT)
        if ours and record.sha256 == token_digest and record.scope == "manage":
            found = True
        elif record.sha256 == token_digest:
            created = record.created  # the same token: marked below
            drop.append(record)
        elif ours:
            drop.append(record)
            revoked.append(record.id)
    add = None if found else new_record("manage", token_digest, FROM_ENVIRONMENT, created)
    return Rotation(tuple(drop), add, tuple(revoked)) if drop or add else None


def grants(records: Iterable[TokenRecord], refused: set[tuple[str, str]]) -> dict[str, Grant]:
    """The grant of each digest, for ``grant_of``; a record of an unknown scope is left out,
    with one warning per record: ``refused`` keeps those warned about."""
    by_hash = {}
    for record in records:
        if record.scope in GRANTS:
            shops = None if record.shops is None else frozenset(record.shops)
            by_hash[record.sha256] = Grant(record.scope, shops, record.id)
        elif (record.id, record.scope) not in refused:
            # Once per record, not per request: records are read again only when they change.
            refused.add((record.id, record.scope))
            log.warning(
                "Token %s has the unknown scope %r and is refused; use manage or view",
                record.id,
                record.scope[:40],
            )
    return by_hash


class Tokens:
    """The token registry of one database; ``path=None`` keeps tokens in memory only."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._file = "" if path is None else os.fspath(path)  # a str stats faster than a Path
        self._records: dict[str, TokenRecord] = {}
        self._by_hash: dict[str, Grant] = {}
        self._seen: tuple[int, int, int] | None = None
        self._refused: set[tuple[str, str]] = set()  # (id, scope) of records warned about
        self._clock = clock
        self._due = clock() + RECHECK  # when to look at the file again
        self._refresh()

    def scope_of(self, token: str) -> str | None:
        """The scope of a valid token, or None for an unknown or revoked one."""
        grant = self.grant_of(token)
        return None if grant is None else grant.scope

    def grant_of(self, token: str) -> Grant | None:
        """What a valid token may do, or None for an unknown or revoked one."""
        now = self._clock()
        if now >= self._due:
            self._due = now + RECHECK
            try:
                self._refresh()
            except TokenFileError as exc:
                # Someone broke the file by hand: keep serving with the tokens we knew.
                log.error("%s; keeping the tokens read before", exc)
        return self._by_hash.get(digest(token))

    @staticmethod
    def settle() -> None:
        """Wait until every server on this token file has looked at it since the last edit
        (each looks at most ``RECHECK`` seconds after the request before): the CLI calls this
        after an edit, so the next request after the command sees it."""
        time.sleep(2 * RECHECK)

    def list(self) -> list[TokenRecord]:
        self._refresh()
        return sorted(self._records.values(), key=lambda r: (r.created, r.id))

    def create(
        self,
        scope: str,
        token: str | None = None,
        shops: Iterable[int] | None = None,
        label: str = "",
    ) -> tuple[TokenRecord, str]:
        """Add a token (a new random one unless given) for ``shops`` (None: every shop);
        return its record and the token."""
        check_scope(scope)
        check_label(label)
        token = token or new_token()
        with self._editing():
            record = new_record(scope, digest(token), shops=shops, label=label)
            self._records[record.id] = record
        return record, token

    def from_environment(self, token: str) -> bool:
        """Make ``token`` the environment's ``manage`` token (see ``rotation``); True if the
        file had to change."""
        problem = environment_problem(token)
        if problem:
            raise ValueError(problem)
        self._refresh()
        if rotation(self._records.values(), digest(token)) is None:
            return False
        with self._editing():
            change = rotation(self._records.values(), digest(token))  # read again, locked
            for record in change.drop if change else ():
                del self._records[record.id]
            if change and change.add:
                self._records[change.add.id] = change.add
        if change:
            change.log()
        return True

    def revoke(self, token_id: str) -> bool:
        """Remove a token by its id; False if there was none."""
        with self._editing():
            return self._records.pop(token_id, None) is not None

    @contextlib.contextmanager
    def _editing(self) -> Iterator[None]:
        """Read, change and write the file under a lock, so two CLI calls never lose an edit."""
        if self.path is None:
            yield
            self._index()
            return
        with files.editing(self.path):
            self._refresh()
            yield
            files.write_json(self.path, {"tokens": [r.stored() for r in self._records.values()]})
            self._seen = None
            self._refresh()

    def _refresh(self) -> None:
        if self.path is None:
            return
        seen = files.stamp(self._file)
        if seen is None:
            self._records, self._seen = {}, None
            self._index()
            return
        if seen != self._seen:
            self._seen = seen  # first, so a broken file is reported once, not per request
            self._records = _read(self.path)
            self._index()

    def _index(self) -> None:
        self._by_hash = grants(self._records.values(), self._refused)


def _read(path: Path) -> dict[str, TokenRecord]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        records = [_record(r) for r in doc["tokens"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise TokenFileError(f"{path} is not a readable token file") from None
    if not all(isinstance(v, str) for r in records for k, v in asdict(r).items() if k != "shops"):
        raise TokenFileError(f"{path} is not a readable token file: a field is not a string")
    return {r.id: r for r in records}


def _record(fields: dict[str, object]) -> TokenRecord:
    shops = fields.get("shops")
    if shops is None:
        return TokenRecord(**fields)  # type: ignore[arg-type]  # checked by the caller
    if not isinstance(shops, list) or not all(type(s) is int and s > 0 for s in shops):
        raise ValueError("shops must be a list of shop ids")
    return TokenRecord(**{**fields, "shops": tuple(shops)})  # type: ignore[arg-type]
