"""API tokens: hashed in ``<db>.tokens.json`` (mode 0600), picked up without a restart (SPEC 2).

A token is shown once, when it is created; the file keeps only its SHA-256. The server calls
``scope_of`` per request; it looks at the file (a ``stat``, and a read if it changed) at most
every ``RECHECK`` seconds, because a ``stat`` per request costs a busy server about 7 µs, 8% of
a ``get``. The CLI's ``token create`` and ``token revoke`` wait out ``settle()`` before they
return, so a new or revoked token still takes effect on the next request after the command
(SPEC 2); an edit made any other way takes effect within ``RECHECK`` seconds.

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


@dataclass(frozen=True)
class TokenRecord:
    """One token as stored: never the token itself."""

    id: str
    scope: str
    sha256: str
    created: str


class TokenFileError(Exception):
    """The token file exists but cannot be read as one."""


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

    def allows(self, token: str | None, scope: str) -> bool | None:
        """None for a bad token, else whether it grants ``scope``."""
        held = self.scope_of(token) if token else None
        return None if held is None else scope in GRANTS[held]

    def list(self) -> list[TokenRecord]:
        self._refresh()
        return sorted(self._records.values(), key=lambda r: (r.created, r.id))

    def create(self, scope: str, token: str | None = None) -> tuple[TokenRecord, str]:
        """Add a token (a new random one unless given); return its record and the token."""
        if scope not in SCOPES:
            raise ValueError(f"Unknown scope {scope!r}; use manage or view.")
        token = token or "cgr_" + secrets.token_urlsafe(32)
        with self._editing():
            record = TokenRecord(
                id=secrets.token_hex(4),
                scope=scope,
                sha256=_digest(token),
                created=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            )
            self._records[record.id] = record
        return record, token

    def ensure(self, token: str, scope: str = "manage") -> bool:
        """Make sure this exact token exists with ``scope``; True if it had to be added."""
        if self.scope_of(token) == scope:
            return False
        self.create(scope, token)
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
        self._by_hash = {r.sha256: r.scope for r in self._records.values()}


def _read(path: Path) -> dict[str, TokenRecord]:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return {r["id"]: TokenRecord(**r) for r in doc["tokens"]}
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise TokenFileError(f"{path} is not a readable token file") from None
