"""Languages: the catalogues hold exactly the code's messages, words come out right, and a
request's language is chosen as SPEC 12 says."""

from __future__ import annotations

import gettext
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from babel.messages.catalog import Catalog, Message
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

from customergroup_rpc import i18n
from customergroup_rpc.i18n import N_, Count, Language, Listing, N_plural, choose, negotiate, render
from customergroup_rpc.schemas import Schemas

ROOT = Path(__file__).parent.parent
TRANSLATED = [code for code in i18n.LANGUAGES if code != i18n.ENGLISH]
Id = str | tuple[str, str]


def extracted() -> dict[Id, list[str]]:
    """Every message the code and the schema files can give, as Babel's extractor finds them
    with the project's mapping (``babel.cfg``, as ``make messages`` runs it), and where."""
    with (ROOT / "babel.cfg").open(encoding="utf-8") as config:
        method_map, options_map = parse_mapping_cfg(config)  # type: ignore[no-untyped-call]
    found: dict[Id, list[str]] = {}
    for path, _, message, _, _ in extract_from_dir(
        ROOT, method_map, options_map, keywords=dict(i18n.KEYWORDS)
    ):
        key = message if isinstance(message, str) else (message[0], message[1])
        found.setdefault(key, []).append(path)
    return found


def catalogue(code: str) -> Catalog:
    path = i18n.LOCALE_DIR / code / "LC_MESSAGES" / f"{i18n.DOMAIN}.po"
    with path.open("rb") as po:
        return read_po(po, locale=code)


def entries(code: str) -> Iterator[Message]:
    yield from (message for message in catalogue(code) if message.id)


def key_of(message: Message) -> Id:
    return message.id if isinstance(message.id, str) else (message.id[0], message.id[1])


@pytest.fixture(scope="module")
def messages() -> dict[Id, list[str]]:
    return extracted()


def test_the_extractor_finds_the_messages_of_every_kind_of_source(
    messages: dict[Id, list[str]],
) -> None:
    """A guard for the tests below: an extractor that found nothing would agree with anything."""
    assert "The batch is empty." in messages  # N_ in rpc.py
    assert ("{method} takes at most {n} parameter ({parameters}).") in {
        key[0] for key in messages if isinstance(key, tuple)
    }  # N_plural in params.py
    assert "Customer group" in messages  # getSchema's title, in customergroup.json
    assert 'A uid is an integer or a string of digits, such as 123 or "123".' in messages
    # methods.json's titles go to rpc.discover, which stays English: not in the catalogues.
    assert "Customer group uid" not in messages


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_message_the_code_gives_is_in_the_catalogue(
    code: str, messages: dict[Id, list[str]]
) -> None:
    missing = set(messages) - {key_of(m) for m in entries(code)}
    assert not missing, f"make messages, then translate in {code}: {sorted(map(str, missing))}"


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_catalogue_has_no_message_the_code_never_gives(
    code: str, messages: dict[Id, list[str]]
) -> None:
    extra = {key_of(m) for m in entries(code)} - set(messages)
    assert not extra, f"make messages removes them from {code}: {sorted(map(str, extra))}"


def forms(string: str | tuple[str, ...] | list[str] | None) -> list[str]:
    """A translation's text, or its plural forms."""
    return [string or ""] if isinstance(string, str | None) else list(string)


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"(?<!\{)\{(\w+)\}", text))


@pytest.mark.parametrize("code", TRANSLATED)
def test_every_translation_is_done_and_keeps_the_placeholders(code: str) -> None:
    for message in entries(code):
        english = [message.id] if isinstance(message.id, str) else list(message.id)
        words = forms(message.string)
        assert all(words), f"{code}: not translated: {message.id!r}"
        assert not message.fuzzy, (
            f"{code}: marked fuzzy (check it, then drop the mark): {message.id!r}"
        )
        for text in words:
            assert placeholders(text) == placeholders(english[-1]), (code, message.id, text)
            assert text.count("{{") == english[0].count("{{"), (code, text)


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_compiled_catalogue_is_the_po_file(code: str) -> None:
    """The .mo the service reads says what the .po says (a stale one: make, or pip install)."""
    compiled = gettext.translation(i18n.DOMAIN, i18n.LOCALE_DIR, [code])
    for message in entries(code):
        if isinstance(message.id, str):
            assert compiled.gettext(message.id) == message.string
        else:
            assert compiled.ngettext(message.id[0], message.id[1], 5) == forms(message.string)[1]


@pytest.mark.parametrize("code", TRANSLATED)
def test_the_catalogue_says_which_language_and_plural_rule_it_has(code: str) -> None:
    found = catalogue(code)
    assert str(found.locale) == code
    assert found.plural_forms == "nplurals=2; plural=(n != 1);"


# --- words ---


def test_arguments_are_words_in_the_same_language() -> None:
    message = N_(
        "{field} holds {kind}; {problem}.",
        field="/uid",
        kind=N_("integers"),
        problem=N_("give a whole number such as 42, not {value}", value=N_("a string")),
    )
    assert (
        render(message, "en")
        == "/uid holds integers; give a whole number such as 42, not a string."
    )
    assert render(message, "sv") == (
        "/uid innehåller heltal; ange ett heltal, till exempel 42, inte en sträng."
    )


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("en", "At most 10,000 customer uids per call; this has 12,345."),
        ("sv", "Högst 10\xa0000 kund-uid per anrop; det här anropet har 12\xa0345."),
        ("da", "Højst 10.000 kunde-uid'er pr. kald; dette kald har 12.345."),
    ],
)
def test_counts_are_written_as_the_language_writes_numbers(code: str, words: str) -> None:
    message = N_(
        "At most {limit} customer uids per call; this has {count}.",
        limit=Count(10_000),
        count=Count(12_345),
    )
    assert render(message, code) == words


def test_a_uid_is_no_count_and_keeps_its_digits_together() -> None:
    assert render(N_("No customer group with uid {uid}", uid=12345), "da") == (
        "Der findes ingen kundegruppe med uid 12345"
    )


@pytest.mark.parametrize(
    ("code", "count", "words"),
    [
        ("en", 1, "1 more problem here is not listed"),
        ("en", 2, "2 more problems here are not listed"),
        ("nb", 1, "Ytterligere 1 problem her vises ikke"),
        ("nb", 2, "Ytterligere 2 problemer her vises ikke"),
    ],
)
def test_a_count_chooses_the_plural_form(code: str, count: int, words: str) -> None:
    message = N_plural(
        "{n} more problem here is not listed: the answers to a request list at most {limit}.",
        "{n} more problems here are not listed: the answers to a request list at most {limit}.",
        count,
        limit=100,
    )
    assert render(message, code).startswith(words)


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("en", "x must be an integer, a string, or null, not an object."),
        ("sv", "x måste vara ett heltal, en sträng eller null, inte ett objekt."),
    ],
)
def test_a_listing_is_joined_as_the_language_joins_alternatives(code: str, words: str) -> None:
    listing = Listing((N_("an integer"), N_("a string"), "null"), "or")
    message = N_(
        "{name} must be {wanted}, not {value}.", name="x", wanted=listing, value=N_("an object")
    )
    assert render(message, code) == words


def test_a_message_without_arguments_is_text_as_it_stands() -> None:
    # Schema texts are message ids too, and may hold braces.
    assert render(i18n.Message("Use {} or {{}}."), "sv") == "Use {} or {{}}."


def test_get_schema_texts_are_all_translated_and_nothing_else_changes() -> None:
    schema = Schemas.load().object_for(new=True)
    swedish = i18n.localise(schema, "sv")
    assert swedish["title"] == "Kundgrupp"
    assert swedish["properties"]["name"]["title"] == "Namn"
    english_texts = dict(i18n.schema_texts(schema))
    swedish_texts = dict(i18n.schema_texts(swedish))
    assert english_texts.keys() == swedish_texts.keys()
    same = {p for p, text in english_texts.items() if swedish_texts[p] == text}
    # "UID" and "Version" are the same words in Swedish.
    assert same == {"/properties/uid/title", "/properties/version/title"}
    assert strip_texts(swedish) == strip_texts(schema)
    assert i18n.localise(schema, "en") == schema


def strip_texts(node: Any) -> Any:
    """A schema without its texts: what a translation must leave alone."""
    if isinstance(node, list):
        return [strip_texts(n) for n in node]
    if not isinstance(node, dict):
        return node
    return {
        k: strip_texts(v)
        for k, v in node.items()
        if not (k in i18n.SCHEMA_TEXTS and isinstance(v, str)) and k != "errorMessage"
    }


# --- the language of a request ---


@pytest.mark.parametrize(
    ("asked", "accept", "default", "chosen"),
    [
        (None, None, "en", Language("en")),
        (None, None, "sv", Language("sv")),  # the shop's language
        ("da", "sv", "nb", Language("da")),  # the parameter wins
        ("NB", None, "en", Language("nb")),  # language tags ignore case
        (None, "sv", "nb", Language("sv")),  # then the header
        (None, "fr, de", "nb", Language("nb")),  # then the shop's language
        ("xx", "sv", "en", Language("sv", valid=False)),  # 1003, worded in what else decides
        ("", None, "en", Language("en", valid=False)),
        ("sv-SE", None, "en", Language("en", valid=False)),  # the parameter is ISO 639-1
        ("no", None, "en", Language("en", valid=False)),
    ],
)
def test_the_parameter_then_the_header_then_the_default_decide(
    asked: str | None, accept: str | None, default: str, chosen: Language
) -> None:
    assert choose(asked, accept, default) == chosen


@pytest.mark.parametrize(
    ("accept", "chosen"),
    [
        ("sv-SE,sv;q=0.9,en-US;q=0.8,en;q=0.7", "sv"),  # a Swedish browser
        ("en-GB;q=0.8, da", "da"),  # quality, not order
        ("da;q=0.5, sv;q=0.5", "da"),  # equal quality: the header's order
        ("de-DE, nb;q=0.3, en;q=0.2", "nb"),  # the best the service has
        ("no, en;q=0.5", "nb"),  # Norwegian is Bokmål here
        ("nn;q=0.9, en;q=0.5", "nb"),
        ("DA", "da"),
        ("*", "en"),  # anything: the default
        ("sv;q=0, *;q=0.5", "en"),
        ("en;q=0, *;q=0.5", "da"),  # anything but English: the first the service has
        ("sv;q=0", "en"),  # refused, nothing asked for: the default
        ("sv;q=2, da;q=0.1", "da"),  # a malformed weight drops its range
        ("sv;q=abc", "en"),
        ("12, @@, ;;;, sv-", "en"),
        ("fr-CA;q=1.0, sv;q=0.001", "sv"),
        ("", "en"),
    ],
)
def test_accept_language_is_negotiated_by_quality(accept: str, chosen: str) -> None:
    assert negotiate(accept) == chosen


def test_a_huge_accept_language_header_is_read_only_so_far() -> None:
    assert negotiate("fr, " * 10_000 + "sv") == "en"


def test_a_missing_compiled_catalogue_stops_the_start_with_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._translations.cache_clear()
    try:
        with pytest.raises(RuntimeError, match=r"catalogue for 'da' is missing.*pip install"):
            i18n.load()
    finally:
        monkeypatch.undo()
        i18n._translations.cache_clear()
    i18n.load()
