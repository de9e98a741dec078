"""Languages (SPEC 12): the one place human texts are put into words, in a request's language.

Texts are written where they arise as ``Message`` values: a message id (the English text, a
``str.format`` template), its arguments, and for a count a plural. ``N_`` and ``N_plural`` make
them; Babel's extractor finds those calls (``KEYWORDS``), and the JSON Schemas' texts
(``extract_schema``), for the gettext catalogues in ``locale/`` (one ``.po`` per language,
compiled to ``.mo`` when the package is built). ``render`` words a message in a language; an
argument may be a message itself, a ``Count`` (written with the language's digit grouping) or a
``Listing`` (joined with the language's "and" or "or"). English is the message ids themselves.

>>> wanted = Listing((N_("an integer"), "null"), "or")
>>> message = N_("{name} must be {wanted}, not {value}.", name="uid", wanted=wanted, value="null")
>>> render(message, "en"), render(message, "sv")
('uid must be an integer or null, not null.', 'uid måste vara ett heltal eller null, inte null.')
>>> render(N_("At most {limit} customer uids per call; this has {count}.", limit=Count(10000),
...     count=Count(12345)), "da")
"Højst 10.000 kunde-uid'er pr. kald; dette kald har 12.345."

``choose`` picks the language of a request: its ``language`` query parameter, then its
``Accept-Language`` header, then a default (the shop's language; English).

>>> choose("sv", "da"), choose(None, "fr, nb;q=0.5"), choose("xx", None)
(Language(code='sv', valid=True), Language(code='nb', valid=True), Language(code='en', valid=False))
"""

from __future__ import annotations

import functools
import gettext
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal, TypeAlias

from babel.lists import format_list
from babel.numbers import format_decimal

ENGLISH = "en"
LANGUAGES = ("da", "en", "nb", "sv")
"""What ``language=`` may name (ISO 639-1): Danish, English, Norwegian Bokmål, Swedish."""
DOMAIN = "customergroup_rpc"
LOCALE_DIR = Path(__file__).parent / "locale"
KEYWORDS: Mapping[str, Any] = {"N_": None, "N_plural": (1, 2)}
"""The calls that mark messages, for Babel's extractor (the Makefile's ``messages`` target
passes the same as ``-k N_ -k N_plural:1,2``)."""

# Accept-Language names these; a Norwegian reader of Nynorsk or of "Norwegian" reads Bokmål
# better than English.
_ALIASES = {"no": "nb", "nn": "nb"}

Arg: TypeAlias = "str | int | Message | Listing"


@dataclass(frozen=True, slots=True)
class Message:
    """A text to be put into words: its id (the English template), arguments, plural."""

    id: str
    args: Mapping[str, Arg] = field(default_factory=dict)
    plural: str | None = None  # the English plural template; ``n`` chooses
    n: int = 0

    def __str__(self) -> str:
        return render(self, ENGLISH)


class Count(int):
    """A number read as a quantity, written with the language's digit grouping (12,345)."""


@dataclass(frozen=True, slots=True)
class Listing:
    """Words joined as a list: ``and`` (a, b and c) or ``or`` (a, b or c)."""

    items: tuple[Arg, ...]
    style: Literal["and", "or"] = "and"


def N_(text: str, /, **args: Arg) -> Message:  # gettext's name for a marker
    """A message: ``text`` is its English template, ``args`` fill its ``{names}`` (without
    arguments it is plain text, braces and all)."""
    return Message(text, args)


def N_plural(singular: str, plural: str, n: int, /, **args: Arg) -> Message:
    """A message on a count ``n`` (``{n}`` in the templates), in the language's plural form."""
    return Message(singular, {"n": Count(n), **args}, plural, n)


def render(message: Message, language: str) -> str:
    """The message in words, in ``language`` (one of ``LANGUAGES``)."""
    words = _translations(language)
    if message.plural is None:
        template = words.gettext(message.id)
    else:
        template = words.ngettext(message.id, message.plural, message.n)
    if not message.args:  # no arguments: a text as it stands, not a template
        return template
    return template.format_map({k: _word(v, language) for k, v in message.args.items()})


def _word(arg: Arg, language: str) -> str:
    if isinstance(arg, Message):
        return render(arg, language)
    if isinstance(arg, Listing):
        items = [_word(a, language) for a in arg.items]
        return format_list(items, "standard" if arg.style == "and" else "or", locale=language)
    if isinstance(arg, Count):
        return format_decimal(arg, locale=language)
    return str(arg)


@functools.cache
def _translations(language: str) -> gettext.NullTranslations:
    """A language's compiled catalogue; English is the message ids themselves."""
    if language == ENGLISH:
        return gettext.NullTranslations()
    if language not in LANGUAGES:
        raise ValueError(f"no language {language!r}")
    try:
        return gettext.translation(DOMAIN, LOCALE_DIR, [language])
    except FileNotFoundError:
        raise RuntimeError(
            f"The compiled message catalogue for {language!r} is missing under {LOCALE_DIR}: "
            "install the package (pip install, make), which compiles the .po files."
        ) from None


def load() -> None:
    """Load every catalogue now, so a missing one stops the start, not an answer."""
    for language in LANGUAGES:
        _translations(language)


# --- which language a request is answered in ---


@dataclass(frozen=True, slots=True)
class Language:
    """The language of a request's answers. ``valid`` is False when its ``language``
    parameter names none of ``LANGUAGES``: every call is then 1003, worded in ``code``, the
    language the request has without that parameter."""

    code: str = ENGLISH
    valid: bool = True


DEFAULT = Language()
"""English, as asked for."""


@functools.lru_cache(maxsize=64)  # a few clients' headers, on every request
def choose(asked: str | None, accept: str | None, default: str = ENGLISH) -> Language:
    """The language of a request: ``asked`` (the ``language`` query parameter), else the
    ``Accept-Language`` header, else ``default`` (the shop's language, else English).

    >>> choose("SV", None), choose("", "sv")
    (Language(code='sv', valid=True), Language(code='sv', valid=False))
    """
    code = negotiate(accept, default)
    if asked is None:
        return Language(code)
    if asked.lower() in LANGUAGES:
        return Language(asked.lower())
    return Language(code, valid=False)


_RANGE = re.compile(r"([a-z]{1,8})(?:-[a-z0-9]{1,8})*|\*", re.ASCII)
_QUALITY = re.compile(r"q=(0(?:\.\d{0,3})?|1(?:\.0{0,3})?)", re.ASCII)


def negotiate(accept: str | None, default: str = ENGLISH) -> str:
    """The language an ``Accept-Language`` header prefers among ``LANGUAGES`` (RFC 9110
    12.5.4): highest quality first, then the header's order; ``*`` stands for every language
    not named, the default first; ``q=0`` refuses one. None fits: ``default``.

    >>> negotiate("en-GB;q=0.8, sv-SE, de"), negotiate("da;q=0, *;q=0.1", "da")
    ('sv', 'en')
    >>> negotiate("fr, de;q=0.9", "nb"), negotiate("nn, en;q=0.5"), negotiate("x;;q=2")
    ('nb', 'nb', 'en')
    """
    if not accept:
        return default
    named: dict[str, tuple[float, int]] = {}  # language: (best quality, first position)
    anything: float = 0.0
    for position, part in enumerate(accept.lower().split(",")[:64]):
        tag, _, params = part.partition(";")
        found = _RANGE.fullmatch(tag.strip())
        if found is None:
            continue
        quality = 1.0
        for param in params.split(";") if params else ():
            q = _QUALITY.fullmatch(param.strip().replace(" ", ""))
            quality = float(q[1]) if q else -1.0  # a malformed weight: ignore the range
        if quality < 0:
            continue
        if found[0] == "*":
            anything = max(anything, quality)
            continue
        code = _ALIASES.get(found[1], found[1])
        if code in LANGUAGES:
            best, first = named.get(code, (0.0, position))
            named[code] = (max(best, quality), first)
    ranked = [(quality, -first, code) for code, (quality, first) in named.items()]
    if anything:  # every language not named, the default before the others
        unnamed = [code for code in (default, *LANGUAGES) if code not in named]
        ranked += [(anything, -1000 - i, code) for i, code in enumerate(unnamed)]
    quality, _, code = max(ranked, default=(0.0, 0, default))
    return code if quality > 0 else default


# --- the JSON Schemas' texts ---

SCHEMA_TEXTS = ("title", "description")
"""Keys of a JSON Schema whose string values are texts for people (with ``errorMessage``'s)."""


def localise(schema: Any, language: str) -> Any:
    """A copy of a JSON Schema with its texts (titles, descriptions, ``errorMessage``s) in
    ``language``.

    >>> localise({"title": "Name", "properties": {"title": {"title": "UID"}}}, "sv")
    {'title': 'Namn', 'properties': {'title': {'title': 'UID'}}}
    """
    if isinstance(schema, list):
        return [localise(item, language) for item in schema]
    if not isinstance(schema, dict):
        return schema
    words = _translations(language)
    copy: dict[str, Any] = {}
    for key, value in schema.items():
        if key in SCHEMA_TEXTS and isinstance(value, str):
            copy[key] = words.gettext(value)
        elif key == "errorMessage" and isinstance(value, dict):
            copy[key] = {k: words.gettext(v) if isinstance(v, str) else v for k, v in value.items()}
        else:
            copy[key] = localise(value, language)
    return copy


def schema_texts(
    schema: Any, at: str = "", keys: tuple[str, ...] = SCHEMA_TEXTS
) -> Iterator[tuple[str, str]]:
    """Every text of a JSON Schema with its pointer: the values of ``keys`` (those that are
    strings) and of ``errorMessage`` objects.

    >>> list(schema_texts({"title": "Name", "errorMessage": {"type": "Give a name."}}))
    [('/title', 'Name'), ('/errorMessage/type', 'Give a name.')]
    """
    if isinstance(schema, list):
        for index, item in enumerate(schema):
            yield from schema_texts(item, f"{at}/{index}", keys)
    elif isinstance(schema, dict):
        for key, value in schema.items():
            pointer = f"{at}/{key.replace('~', '~0').replace('/', '~1')}"
            if key in keys and isinstance(value, str):
                yield pointer, value
            elif key == "errorMessage" and isinstance(value, dict):
                yield from ((f"{pointer}/{k}", v) for k, v in value.items() if isinstance(v, str))
            else:
                yield from schema_texts(value, pointer, keys)


def extract_schema(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: Mapping[str, Any]
) -> Iterator[tuple[int, str | None, str, list[str]]]:
    """A Babel extraction method for JSON Schema files (``babel.cfg``): their texts, each
    with its pointer as the translators' comment. Option ``texts``: the keys to take besides
    ``errorMessage`` (default ``title description``; ``""`` for only ``errorMessage``)."""
    keys = tuple(str(options.get("texts", " ".join(SCHEMA_TEXTS))).split())
    for pointer, text in schema_texts(json.load(fileobj), "", keys):
        yield 1, None, text, [pointer]
