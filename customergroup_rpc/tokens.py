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

>>> tokens = Tokens(None)
>>> record, secret = tokens.create("view")
>>> tokens.scope_of(secret), tokens.scope_of("guess")
('view', None)
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from .files import resolved, write_atomic

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


@dataclass(frozen=True)
class TokenRecord:
    """One token as stored: never the token itself."""

    id: str
    scope: str
    sha256: str
    created: str


class TokenFileError(Exception):
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
def _digest(token: str) -> str:
    # Cached: the same few tokens come back on every request. A digest is no secret at rest.
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


class Tokens:
    """The token registry of one database; ``path=None`` keeps tokens in memory only."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._file = "" if path is None else os.fspath(path)  # a str stats faster than a Path
        self._records: dict[str, TokenRecord] = {}
        self._by_hash: dict[str, str] = {}
        self._seen: tuple[int, int, int] | None = None
        self._refused: set[tuple[str, str]] = set()  # (id, scope) of records warned about
        self._clock = clock
        self._due = clock() + RECHECK  # when to look at the file again
        self._refresh()

    def scope_of(self, token: str) -> str | None:
        """The scope of a valid token, or None for an unknown or revoked one."""
        now = self._clock()
        if now >= self._due:
            self._due = now + RECHECK
            try:
                self._refresh()
            except TokenFileError as exc:
                # Someone broke the file by hand: keep serving with the tokens we knew.
                log.error("%s; keeping the tokens read before", exc)
        return self._by_hash.get(_digest(token))

    @staticmethod
    def settle() -> None:
        """Wait until every server on this token file has looked at it since the last edit
        (each looks at most ``RECHECK`` seconds after the request before): the CLI calls this
        after an edit, so the next request after the command sees it."""
        time.sleep(2 * RECHECK)

    def list(self) -> list[TokenRecord]:
        self._refresh()
        return sorted(self._records.values(), key=lambda r: (r.created, r.id))

    def create(self, scope: str, token: str | None = None) -> tuple[TokenRecord, str]:
        """Add a token (a new random one unless given); return its record and the token."""
        if scope not in SCOPES:
            raise ValueError(f"Unknown scope {scope!r}; use manage or view.")
        token = token or "cgr_" + secrets.token_urlsafe(32)
        with self._editing():
            record = _record(scope, _digest(token))
            self._records[record.id] = record
        return record, token

    def from_environment(self, token: str) -> bool:
        """Make ``token`` the environment's ``manage`` token; True if the file had to change.

        A token an earlier start took from the environment, under another value, is revoked:
        that is how the environment rotates its token. A record of the same token that lacks
        the mark (made before tokens were marked) is marked, keeping its ``created``.
        """
        problem = environment_problem(token)
        if problem:
            raise ValueError(problem)
        digest = _digest(token)
        self._refresh()
        if self._environment_records(digest) == (True, 0):
            return False
        with self._editing():
            created = None
            for record in list(self._records.values()):
                ours = record.id.startswith(FROM_ENVIRONMENT)
                if record.sha256 == digest and not (ours and record.scope == "manage"):
                    created = record.created  # the same token: marked below
                    del self._records[record.id]
                elif ours and record.sha256 != digest:
                    log.info("Revoked token %s: the environment names another one now", record.id)
                    del self._records[record.id]
            if not self._environment_records(digest)[0]:
                record = _record("manage", digest, FROM_ENVIRONMENT)
                if created:
                    record = TokenRecord(record.id, record.scope, record.sha256, created)
                self._records[record.id] = record
        return True

    def _environment_records(self, digest: str) -> tuple[bool, int]:
        """Whether a marked manage record holds ``digest``; how many other records
        ``from_environment`` would change."""
        found, others = False, 0
        for record in self._records.values():
            ours = record.id.startswith(FROM_ENVIRONMENT)
            if ours and record.sha256 == digest and record.scope == "manage":
                found = True
            elif ours or record.sha256 == digest:
                others += 1
        return found, others

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
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._refresh()
            yield
            doc = {"tokens": [asdict(r) for r in self._records.values()]}
            write_atomic(self.path, json.dumps(doc, indent=2).encode() + b"\n", mode=0o600)
            self._seen = None
            self._refresh()
        finally:
            os.close(fd)

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            st = os.stat(self._file)
        except FileNotFoundError:
            self._records, self._seen = {}, None
            self._index()
            return
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            self._seen = seen  # first, so a broken file is reported once, not per request
            self._records = _read(self.path)
            self._index()

    def _index(self) -> None:
        by_hash = {}
        for record in self._records.values():
            if record.scope in GRANTS:
                by_hash[record.sha256] = record.scope
            elif (record.id, record.scope) not in self._refused:
                # Once per record, not per request: the file is read again only when it changes.
                self._refused.add((record.id, record.scope))
                log.warning(
                    "Token %s has the unknown scope %r and is refused; use manage or view",
                    record.id,
                    record.scope[:40],
                )
        self._by_hash = by_hash


def _record(scope: str, digest: str, prefix: str = "") -> TokenRecord:
    """A new record of a token (by its digest)."""
    return TokenRecord(
        id=prefix + secrets.token_hex(4),
        scope=scope,
        sha256=digest,
        created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _read(path: Path) -> dict[str, TokenRecord]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        records = [TokenRecord(**r) for r in doc["tokens"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise TokenFileError(f"{path} is not a readable token file") from None
    if not all(isinstance(v, str) for r in records for v in asdict(r).values()):
        raise TokenFileError(f"{path} is not a readable token file: a field is not a string")
    return {r.id: r for r in records}
