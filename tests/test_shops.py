"""Shops: the registry, which shop a request selects, and that shops never see each other.

The app tests run on every store (the conftest ``db`` fixture: memory, a TinyDB file,
PostgreSQL); the registry tests on the file registry, with PostgreSQL's in test_pg_tokens.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from customergroup_rpc import filters
from customergroup_rpc.app import SHOPS, TOKENS, Config, create_app
from customergroup_rpc.errors import InvalidWebshop, StoreUnavailable, WebshopMissing
from customergroup_rpc.shops import (
    DEFAULT_SHOP,
    Deployment,
    Shop,
    ShopError,
    ShopFile,
    select,
    shop_file,
    with_first,
)
from customergroup_rpc.store import Store, open_store, shop_path
from customergroup_rpc.store.migrate import migrate, migrations
from customergroup_rpc.store.tiny import TinyStore

from .conftest import ENDPOINT, MANAGE, admin, req

A, B = 22222, 33333
TOKEN_A, TOKEN_B = "token-of-shop-a", "token-of-shop-b"
WEBSHOP_MISSING, INVALID_WEBSHOP, BAD_AUTH, FORBIDDEN, NOT_FOUND = 1001, 1002, 1004, 1006, 9003


async def post(
    client: TestClient[Any, Any],
    body: Any,
    *,
    token: str | None = MANAGE,
    webshop: object = None,
    cookies: Mapping[str, str] | None = None,
) -> Any:
    """POST a request or batch with ``?auth=`` and ``?webshop=`` (None: left out)."""
    query = {k: str(v) for k, v in {"auth": token, "webshop": webshop}.items() if v is not None}
    response = await client.post(ENDPOINT, params=query, json=body, cookies=cookies)
    assert response.status in (200, 204)
    return await response.json() if response.status == 200 else None


async def call(client: TestClient[Any, Any], method: str, *params: Any, **kwargs: Any) -> Any:
    return await post(client, req(method, list(params)), **kwargs)


def code(answer: Any) -> Any:
    assert "result" not in answer, answer
    return answer["error"]["code"]


async def add_shop(
    client: TestClient[Any, Any], shop: int, name: str, language: str = "en"
) -> Shop:
    """Record a shop as ``shop create`` does, in the running app's own registry."""
    source: Any = client.app[SHOPS].source
    made: Shop = await admin(source.create_shop(shop, name, language))
    return made


@pytest.fixture
async def two_shops(client: TestClient[Any, Any]) -> TestClient[Any, Any]:
    """Shops A and B beside shop 1, with a manage token for each."""
    await add_shop(client, A, "Sverige", "sv")
    await add_shop(client, B, "Norge", "nb")
    await admin(client.app[TOKENS].create("manage", TOKEN_A, shops=[A]))
    await admin(client.app[TOKENS].create("manage", TOKEN_B, shops=[B]))
    return client


# --- which shop a request selects -------------------------------------------------------------


SHOPS_AB = with_first({A: Shop(A, "Sverige", "sv"), B: Shop(B, "Norge", "nb")})


def test_one_shop_serves_a_request_that_names_none() -> None:
    assert select(with_first({}), None) == DEFAULT_SHOP
    assert select(with_first({}), "1") == DEFAULT_SHOP


def test_several_shops_and_none_named_is_webshop_missing() -> None:
    with pytest.raises(WebshopMissing):
        select(SHOPS_AB, None)
    assert select(SHOPS_AB, str(B)).name == "Norge"


@pytest.mark.parametrize("webshop", ["4", "x", "", "01", "-1", "+1", " 1", "1.0", "9" * 20, "١"])
def test_an_unknown_or_malformed_webshop_is_invalid(webshop: str) -> None:
    with pytest.raises(InvalidWebshop):
        select(SHOPS_AB, webshop)


# --- the file registry ------------------------------------------------------------------------


def test_shop_1_is_there_until_named_once_and_other_ids_only_once(tmp_path: Path) -> None:
    shops = ShopFile(shop_file(tmp_path / "g.json"))
    assert shops.list_shops() == (DEFAULT_SHOP,)
    shops.create_shop(A, " Sverige ", "sv")
    named = shops.create_shop(1, "Main", "da")
    assert [(s.id, s.name, s.language) for s in shops.list_shops()] == [
        (1, "Main", "da"),
        (A, "Sverige", "sv"),
    ]
    assert named.created is not None
    for shop in (1, A):
        with pytest.raises(ShopError, match=f"Shop {shop} exists already"):
            shops.create_shop(shop, "Again")


@pytest.mark.parametrize(
    ("shop", "name", "language", "problem"),
    [(0, "x", "en", "positive"), (5, " ", "en", "name"), (5, "x", "de", "language")],
)
def test_a_shop_needs_a_positive_id_a_name_and_a_known_language(
    tmp_path: Path, shop: int, name: str, language: str, problem: str
) -> None:
    shops = ShopFile(shop_file(tmp_path / "g.json"))
    with pytest.raises(ShopError, match=problem):
        shops.create_shop(shop, name, language)
    assert shops.list_shops() == (DEFAULT_SHOP,)


def test_a_server_sees_a_shop_another_process_created(tmp_path: Path) -> None:
    now = [0.0]
    server = ShopFile(shop_file(tmp_path / "g.json"), clock=lambda: now[0])
    ShopFile(shop_file(tmp_path / "g.json")).create_shop(A, "Sverige")
    before = server.shops()
    now[0] += 1
    assert list(before) == [1]
    assert list(server.shops()) == [1, A]
    assert server.shops() is server.shops()  # unchanged: the same mapping (Deployment relies)


def test_a_broken_shops_file_keeps_the_shops_read_before(tmp_path: Path) -> None:
    now = [0.0]
    path = shop_file(tmp_path / "g.json")
    server = ShopFile(path, clock=lambda: now[0])
    server.create_shop(A, "Sverige")
    path.write_text('{"shops": [{"id": "A"}]}')
    now[0] += 1
    assert list(server.shops()) == [1, A]
    with pytest.raises(ShopError, match="not a readable shops file"):
        ShopFile(path)


def test_each_shop_has_a_file_of_its_own_shop_1_the_database_itself(tmp_path: Path) -> None:
    db = tmp_path / "g.json"
    assert shop_path(db, 1) == db
    assert shop_path(db, A) == tmp_path / f"g.json.shop-{A}.json"
    (tmp_path / "link.json").symlink_to(db)
    assert shop_path(tmp_path / "link.json", A) == shop_path(db, A)


async def test_a_shop_whose_store_cannot_open_answers_unavailable_and_is_retried(
    tmp_path: Path,
) -> None:
    db = tmp_path / "g.json"
    registry = ShopFile(shop_file(db))
    deployment: Deployment[Store] = Deployment(
        registry, lambda shop: open_store(shop_path(db, shop.id)), lambda store: store
    )
    deployment.open_all()
    registry.create_shop(A, "Sverige")
    holder = TinyStore.open(shop_path(db, A))  # another server has the shop's file
    try:
        with pytest.raises(StoreUnavailable):
            deployment.select(str(A))
        assert deployment.select("1")[0] == DEFAULT_SHOP  # the others go on
    finally:
        await holder.aclose()
    shop, store = deployment.select(str(A))
    assert shop.id == A
    assert await store.count(filters.MATCH_ALL) == 0
    await deployment.aclose()


# --- through the app, on every store ----------------------------------------------------------


async def test_two_shops_each_see_only_their_own_groups(
    two_shops: TestClient[Any, Any],
) -> None:
    client = two_shops
    a = {"token": TOKEN_A, "webshop": A}
    b = {"token": TOKEN_B, "webshop": B}
    made_a = await call(client, "create", {"name": "Staff"}, ["uid"], **a)
    made_b = await call(client, "create", {"name": "Staff"}, ["uid"], **b)  # same name
    assert made_a["result"] == made_b["result"] == {"uid": 1}  # uid 1 in each
    assert (await call(client, "create", {"name": "Only A"}, ["uid"], **a))["result"] == {"uid": 2}
    await call(client, "addCustomers", 2, [7, 8], **a)

    assert (await call(client, "count", **a))["result"] == 2
    assert (await call(client, "count", **b))["result"] == 1
    assert (await call(client, "count", {"/name": {"startsWith": "only"}}, **b))["result"] == 0
    listed = await call(client, "list", ["uid", "name", "customerCount"], **b)
    assert listed["result"] == [{"uid": 1, "name": "Staff", "customerCount": 0}]
    # B's uid 2 is not A's: not found, in B's words (its language, Norwegian); A's name is
    # free in B.
    missing = await call(client, "get", 2, **b)
    assert missing["error"]["data"] == [
        {"pointer": "/0", "message": "Det finnes ingen kundegruppe med uid 2"}
    ]
    assert (await call(client, "validate", None, {"name": "Only A"}, **b))["result"] == []
    taken = await call(client, "validate", None, {"name": "staff"}, **b)
    assert taken["result"][0]["message"] == "Navnet er opptatt: kundegruppe 1 heter Staff."
    # Shop 1 (the database as it was) has none of them.
    assert (await call(client, "count", webshop=1))["result"] == 0


async def test_a_token_of_one_shop_is_forbidden_on_another_and_learns_nothing(
    two_shops: TestClient[Any, Any],
) -> None:
    client = two_shops
    await call(client, "create", {"name": "Secret"}, token=TOKEN_B, webshop=B)
    calls: list[tuple[str, list[Any]]] = [
        ("count", []),
        ("get", [1]),
        ("list", [["name"]]),
        ("validate", [None, {"name": "Secret"}]),
        ("create", [{"name": "Secret"}]),
        ("delete", [1]),
        ("addCustomers", [1, [5]]),
    ]
    for method, params in calls:
        answer = await call(client, method, *params, token=TOKEN_A, webshop=B)
        assert answer == {
            "jsonrpc": "2.0",
            "error": {"code": FORBIDDEN, "message": "Forbidden"},
            "id": 1,
        }, method
    assert (await call(client, "list", ["name", "customerCount"], token=TOKEN_B, webshop=B))[
        "result"
    ] == [{"name": "Secret", "customerCount": 0}]
    # The environment's token opens every shop.
    assert (await call(client, "count", token=MANAGE, webshop=B))["result"] == 1


async def test_several_shops_and_no_webshop_is_1001_for_each_call_of_a_batch(
    two_shops: TestClient[Any, Any],
) -> None:
    batch = [
        req("count", [], 1),
        req("create", [{"name": "X"}], 2),
        {"jsonrpc": "2.0", "method": "Customergroup.count"},  # a notification: no answer
        {"jsonrpc": "2.0", "method": "rpc.discover", "id": 3},  # needs no shop
    ]
    answers = await post(two_shops, batch, token=TOKEN_A)
    assert [a["id"] for a in answers] == [1, 2, 3]
    assert [code(a) for a in answers[:2]] == [WEBSHOP_MISSING, WEBSHOP_MISSING]
    assert answers[0]["error"] == {"code": WEBSHOP_MISSING, "message": "Webshop missing"}
    assert "openrpc" in answers[2]["result"]
    assert (await call(two_shops, "count", token=TOKEN_A, webshop=A))["result"] == 0


@pytest.mark.parametrize("webshop", ["4", "x", "", "022222"])
async def test_an_unknown_or_malformed_webshop_is_1002(
    two_shops: TestClient[Any, Any], webshop: str
) -> None:
    answer = await call(two_shops, "count", token=MANAGE, webshop=webshop)
    assert answer["error"] == {"code": INVALID_WEBSHOP, "message": "Invalid webshop"}


async def test_a_bad_token_is_1004_before_any_webshop_is_looked_at(
    two_shops: TestClient[Any, Any],
) -> None:
    for webshop in (None, "4", A):
        assert code(await call(two_shops, "count", token="nope", webshop=webshop)) == BAD_AUTH
        assert code(await call(two_shops, "count", token=None, webshop=webshop)) == BAD_AUTH


async def test_a_one_shop_deployment_serves_requests_without_webshop_as_before(
    client: TestClient[Any, Any],
) -> None:
    made = await call(client, "create", {"name": "Staff"}, ["uid"])
    assert made["result"] == {"uid": 1}
    assert (await call(client, "count"))["result"] == 1
    assert (await call(client, "count", webshop=1))["result"] == 1
    assert code(await call(client, "count", webshop=2)) == INVALID_WEBSHOP


async def test_the_webshop_cookie_selects_the_shop_and_the_query_wins(
    two_shops: TestClient[Any, Any],
) -> None:
    await call(two_shops, "create", {"name": "In B"}, token=MANAGE, webshop=B)
    by_cookie = await call(two_shops, "count", token=MANAGE, cookies={"webshop": str(B)})
    assert by_cookie["result"] == 1
    both = await call(two_shops, "count", token=MANAGE, webshop=A, cookies={"webshop": str(B)})
    assert both["result"] == 0


async def test_a_shop_made_while_serving_is_served_and_makes_webshop_needed(
    client: TestClient[Any, Any],
) -> None:
    assert (await call(client, "count"))["result"] == 0
    await add_shop(client, A, "Sverige", "sv")
    assert code(await call(client, "count")) == WEBSHOP_MISSING
    assert (await call(client, "create", {"name": "New"}, ["uid"], webshop=A))["result"] == {
        "uid": 1
    }
    assert client.app[SHOPS].source.shops()[A].language == "sv"


async def test_a_websocket_selects_its_shop_in_the_upgrade_url(
    two_shops: TestClient[Any, Any],
) -> None:
    await call(two_shops, "create", {"name": "In A"}, token=TOKEN_A, webshop=A)
    async with two_shops.ws_connect(f"{ENDPOINT}?auth={TOKEN_A}&webshop={A}") as socket:
        await socket.send_json(req("count", []))
        assert (await socket.receive_json())["result"] == 1
    async with two_shops.ws_connect(f"{ENDPOINT}?auth={TOKEN_A}&webshop={B}") as socket:
        await socket.send_json(req("count", []))
        assert code(await socket.receive_json()) == FORBIDDEN


# --- databases made before shops ---------------------------------------------------------------


async def test_a_tinydb_file_made_before_shops_opens_as_shop_1(
    aiohttp_client: Any, tmp_path: Path
) -> None:
    db = tmp_path / "old.json"
    old = TinyStore.open(db)  # the file format of a single-shop database
    await old.create("Staff", "2014-01-16T14:14:18Z")
    await old.add(1, frozenset({5}), "2014-01-16T14:14:18Z")
    await old.aclose()

    client = await aiohttp_client(create_app(Config(db=db, admin_token=MANAGE)))
    listed = await call(client, "list", ["uid", "name", "customerCount"])
    assert listed["result"] == [{"uid": 1, "name": "Staff", "customerCount": 1}]
    await add_shop(client, A, "Sverige")
    assert (await call(client, "count", webshop=1))["result"] == 1
    assert (await call(client, "count", webshop=A))["result"] == 0
    assert sorted(p.name for p in tmp_path.glob("old.json*") if not p.name.endswith(".lock")) == [
        "old.json",
        f"old.json.shop-{A}.json",
        "old.json.shops.json",
        "old.json.tokens.json",
    ]


async def test_a_postgresql_database_of_schema_1_opens_as_shop_1(
    aiohttp_client: Any, postgres_url: str
) -> None:
    connection = await asyncpg.connect(postgres_url)
    try:
        await migrate(connection, migrations()[:1])  # as version 1 left it, with data
        await connection.execute(
            "INSERT INTO uid_counters (shop, last_uid) VALUES (1, 2);"
            " INSERT INTO customergroups (uid, name, name_key, created, changed, customer_count)"
            " VALUES (1, 'Staff', 'staff', now(), now(), 1),"
            " (2, 'Guests', 'guests', now(), now(), 0);"
            " INSERT INTO memberships (group_uid, customer) VALUES (1, 5);"
            " INSERT INTO tokens (id, scope, sha256, created) VALUES ('old1', 'view',"
            " encode(sha256('an-old-view-token'), 'hex'), '2026-01-01T00:00:00Z')"
        )
    finally:
        await connection.close()

    client = await aiohttp_client(create_app(Config(db=postgres_url, admin_token=MANAGE)))
    listed = await call(client, "list", ["uid", "name", "customerCount"], token="an-old-view-token")
    assert listed["result"] == [
        {"uid": 1, "name": "Staff", "customerCount": 1},
        {"uid": 2, "name": "Guests", "customerCount": 0},
    ]
    assert (await call(client, "create", {"name": "Third"}, ["uid"]))["result"] == {"uid": 3}
    await add_shop(client, A, "Sverige")
    # The old token opens every shop, as tokens made before shops do.
    assert (await call(client, "count", token="an-old-view-token", webshop=A))["result"] == 0
    assert (await call(client, "create", {"name": "Staff"}, ["uid"], webshop=A))["result"] == {
        "uid": 1
    }
    assert (await call(client, "count", token="an-old-view-token", webshop=1))["result"] == 3
