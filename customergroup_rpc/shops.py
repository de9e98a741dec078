"""Shops: the shops of a deployment, and which one a request selects (``webshop``).

A shop has a positive numeric id (as on the platform: ``webshop=22222``), a name and a default
language. Shop 1 is in every database from the start: a database made before shops existed is
shop 1 as it is, and a fresh one has shop 1 only. ``shop create`` records more; it may also
record shop 1 once, to give it a name and a language (until then it is ``DEFAULT``).

A request names its shop with ``webshop=ID`` in the query string or a ``webshop`` cookie
(``select``). A deployment of exactly one shop uses it when the request names none, so clients
made before shops keep working; with several shops, none is ``WebshopMissing`` (1001), and an
id that is malformed or not a shop is ``InvalidWebshop`` (1002).

The shops of a TinyDB database are listed in ``<db>.shops.json`` (``ShopFile``, re-read when it
changes, as the token file is); those of a PostgreSQL database in its ``shops`` table
(``pg_shops.py``). ``Deployment`` is a server's view: the shops it serves, each with its own
store, opened when the shop first appears.

>>> file = ShopFile(None)
>>> _ = file.create_shop(22222, "Sweden", "sv")
>>> [(shop.id, shop.language) for shop in file.shops().values()]
[(1, 'en'), (22222, 'sv')]
>>> select(file.shops(), "22222").name
'Sweden'
>>> select(file.shops(), None)
Traceback (most recent call last):
...
customergroup_rpc.errors.WebshopMissing: Webshop missing
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Generic, Protocol, TypeVar

from .errors import InvalidWebshop, StoreUnavailable, WebshopMissing
from .files import resolved, write_atomic
from .store import Store, StoreError

log = logging.getLogger(__name__)
LANGUAGES = ("sv", "en", "nb", "da")
"""The languages a shop may have by default (ISO 639-1)."""
FIRST = 1
# The largest id: PostgreSQL keeps ids as bigint.
MAX_ID = 2**63 - 1
# How often, at most, a server looks at the shops file (seconds), as at the token file.
RECHECK = 0.05
_ID = re.compile(r"[1-9][0-9]{0,18}")
T = TypeVar("T")


@dataclass(frozen=True)
class Shop:
    """One shop; ``created`` is None for shop 1 while no ``shop create`` has recorded it."""

    id: int
    name: str
    language: str = "en"
    created: str | None = None


DEFAULT_SHOP = Shop(FIRST, "Shop 1", "en", None)
"""Shop 1 as every database has it until ``shop create 1`` names it."""


class ShopError(ValueError):
    """A shop cannot be created as asked, or the shops cannot be read; the message says why."""


def shop_id(text: str) -> int | None:
    """The shop id ``text`` spells (digits, no sign, no leading zero), or None.

    >>> shop_id("22222"), shop_id("0"), shop_id("022"), shop_id("-1"), shop_id("1e3")
    (22222, None, None, None, None)
    """
    if _ID.fullmatch(text) is None:
        return None
    found = int(text)
    return found if found <= MAX_ID else None


def select(shops: Mapping[int, Shop], webshop: str | None) -> Shop:
    """The shop a request selects with ``webshop`` (None: it names none)."""
    if webshop is None:
        if len(shops) == 1:
            return next(iter(shops.values()))
        raise WebshopMissing
    found = shop_id(webshop)
    shop = None if found is None else shops.get(found)
    if shop is None:
        raise InvalidWebshop
    return shop


def with_first(recorded: Mapping[int, Shop]) -> dict[int, Shop]:
    """The shops of a deployment: those recorded, and shop 1 if it is not, by id."""
    shops = dict(recorded)
    shops.setdefault(FIRST, DEFAULT_SHOP)
    return dict(sorted(shops.items()))


def new_shop(recorded: Mapping[int, Shop], shop: int, name: str, language: str) -> Shop:
    """The record of a shop ``shop create`` makes; ``ShopError`` if it cannot be made.

    >>> new_shop({}, 5, " Norway ", "nb").name
    'Norway'
    >>> new_shop({5: Shop(5, "Norway")}, 5, "Again", "nb")
    Traceback (most recent call last):
    ...
    customergroup_rpc.shops.ShopError: Shop 5 exists already (Norway).
    """
    if not 0 < shop <= MAX_ID:
        raise ShopError(f"A shop id is a positive integer up to {MAX_ID}.")
    name = name.strip()
    if not name or len(name) > 100 or not name.isprintable():
        raise ShopError("Give the shop a name of 1 to 100 printable characters.")
    if language not in LANGUAGES:
        raise ShopError(f"Unknown language {language!r}; use one of {', '.join(LANGUAGES)}.")
    if shop in recorded:
        raise ShopError(f"Shop {shop} exists already ({recorded[shop].name}).")
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Shop(shop, name, language, created)


def shop_file(db: Path) -> Path:
    """Where the shops of a database file are listed: beside the file itself, a link
    followed, as its tokens are."""
    try:
        db = resolved(db)
    except (OSError, RuntimeError) as exc:
        raise StoreError(f"Cannot follow the links of {db}: {exc}.") from None
    return db.with_name(db.name + ".shops.json")


class ShopSource(Protocol):
    """Where a server reads the shops of its deployment (``ShopFile``, ``pg_tokens.PgTokens``)."""

    def shops(self) -> Mapping[int, Shop]:
        """Every shop, shop 1 included; the same object for as long as nothing changed."""


class ShopFile:
    """The shops of a database file, listed in ``path``; ``None`` keeps them in memory."""

    def __init__(self, path: Path | None, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self._recorded: dict[int, Shop] = {}
        self._shops = with_first({})
        self._seen: tuple[int, int, int] | None = None
        self._clock = clock
        self._due = clock() + RECHECK
        self._refresh()

    def shops(self) -> Mapping[int, Shop]:
        now = self._clock()
        if now >= self._due:
            self._due = now + RECHECK
            try:
                self._refresh()
            except ShopError as exc:
                log.error("%s; keeping the shops read before", exc)
        return self._shops

    def list_shops(self) -> tuple[Shop, ...]:
        """Every shop, read now."""
        self._refresh()
        return tuple(self._shops.values())

    def create_shop(self, shop: int, name: str, language: str = "en") -> Shop:
        """Record a new shop (see ``new_shop``)."""
        with self._editing():
            record = new_shop(self._recorded, shop, name, language)
            self._recorded[shop] = record
        return record

    @staticmethod
    def settle() -> None:
        """Wait until every server on this file has looked at it since the last edit."""
        time.sleep(2 * RECHECK)

    @contextlib.contextmanager
    def _editing(self) -> Iterator[None]:
        """Read, change and write the file under a lock, so two CLI calls never lose an edit."""
        if self.path is None:
            yield
            self._shops = with_first(self._recorded)
            return
        fd = os.open(self.path.with_name(self.path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._seen = None
            self._refresh()
            yield
            doc = {"shops": [asdict(shop) for shop in self._recorded.values()]}
            write_atomic(self.path, json.dumps(doc, indent=2).encode() + b"\n", mode=0o600)
            self._seen = None
            self._refresh()
        finally:
            os.close(fd)

    def _refresh(self) -> None:
        if self.path is None:
            return
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            if self._seen is not None or self._recorded:
                self._recorded, self._seen = {}, None
                self._shops = with_first({})
            return
        seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        if seen != self._seen:
            self._seen = seen  # first, so a broken file is reported once, not per request
            self._recorded = _read(self.path)
            self._shops = with_first(self._recorded)


def _read(path: Path) -> dict[int, Shop]:
    problem = f"{path} is not a readable shops file"
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        shops = [Shop(**shop) for shop in doc["shops"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        raise ShopError(problem) from None
    for shop in shops:
        if not (
            type(shop.id) is int
            and 0 < shop.id <= MAX_ID
            and isinstance(shop.name, str)
            and shop.language in LANGUAGES
            and isinstance(shop.created, str | None)
        ):
            raise ShopError(f"{problem}: shop {shop.id!r} is not one")
    return {shop.id: shop for shop in shops}


class Deployment(Generic[T]):
    """The shops a server serves, each with its store and what the server makes of it (its
    customer groups): a shop's store is opened when the shop is first seen, so a shop made
    while the server runs is served from the next request on."""

    def __init__(
        self,
        source: ShopSource,
        open_store: Callable[[Shop], Store],
        serve: Callable[[Store], T],
    ) -> None:
        self.source = source
        self._open_store, self._serve = open_store, serve
        self._stores: dict[int, Store] = {}
        self._served: dict[int, T] = {}
        self._seen: Mapping[int, Shop] | None = None
        self._failed: set[int] = set()  # shops whose store could not be opened (logged once)

    def open_all(self) -> None:
        """Open the store of every shop now; the first that fails raises (``StoreError``).

        A server does this at start, so that it locks every shop's file before it serves."""
        self._seen = shops = self.source.shops()
        for shop in shops.values():
            self._opened(shop)

    def store(self, shop: int) -> Store:
        """The store of a shop opened before (``open_all``)."""
        return self._stores[shop]

    def served(self, shop: int) -> T:
        """What the server made of a shop's store, opened before (``open_all``)."""
        return self._served[shop]

    def select(self, webshop: str | None) -> tuple[Shop, T]:
        """The shop a request selects and its customer groups; ``WebshopMissing``,
        ``InvalidWebshop``, or ``StoreUnavailable`` when the shop's store cannot be opened."""
        shops = self.source.shops()
        if shops is not self._seen:
            self._seen = shops
            for shop in shops.values():
                if shop.id not in self._stores:
                    self._tried(shop)
        shop = select(shops, webshop)
        served = self._served.get(shop.id)
        if served is None:
            served = self._tried(shop)
            if served is None:
                raise StoreUnavailable
        return shop, served

    async def aclose(self) -> None:
        stores, self._stores, self._served = self._stores, {}, {}
        for store in stores.values():
            await store.aclose()

    def _tried(self, shop: Shop) -> T | None:
        """Open a shop's store; a failure is logged (once) and answered -32000 meanwhile."""
        try:
            served = self._opened(shop)
        except StoreError as exc:
            if shop.id not in self._failed:
                self._failed.add(shop.id)
                log.error("Shop %d cannot be served: %s", shop.id, exc)
            return None
        if self._failed:
            self._failed.discard(shop.id)
        return served

    def _opened(self, shop: Shop) -> T:
        store = self._open_store(shop)
        self._stores[shop.id] = store
        served = self._served[shop.id] = self._serve(store)
        return served
