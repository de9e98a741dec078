"""Answers in the request's language over HTTP and WebSocket (SPEC 12), on every store:
``language=``, then ``Accept-Language``, then English; 1003 for a language there is not."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from customergroup_rpc.app import SHOPS, Config, create_app

from .conftest import ENDPOINT, MANAGE, admin, req

Client = TestClient[Any, Any]
# Every kind of problem a patch can have, store included: the name is taken.
PATCH = {"name": "  STAFF ", "uid": 3, "created": 5, "colour": "red"}


async def post(client: Client, body: Any, query: str = "", **headers: str) -> Any:
    response = await client.post(f"{ENDPOINT}?auth={MANAGE}{query}", json=body, headers=headers)
    assert response.status == 200
    return await response.json()


async def validate(client: Client, query: str = "", **headers: str) -> list[dict[str, str]]:
    answer = await post(client, req("validate", [None, PATCH]), query, **headers)
    problems: list[dict[str, str]] = answer["result"]
    return problems


@pytest.fixture
async def staff(client: Client) -> Client:
    """A client whose store holds a group called Staff (uid 1)."""
    assert "result" in await post(client, req("create", [{"name": "Staff"}]))
    return client


async def test_validate_in_swedish_has_the_english_pointers_and_swedish_messages(
    staff: Client,
) -> None:
    english = await validate(staff)
    swedish = await validate(staff, "&language=sv")
    assert [p["pointer"] for p in swedish] == [p["pointer"] for p in english]
    assert [p["pointer"] for p in english] == ["/colour", "/created", "/name", "/uid"]
    assert swedish == [
        {"pointer": "/colour", "message": "Okänd nyckel 'colour'. En patch kan ändra: name."},
        {"pointer": "/created", "message": "created är skrivskyddat: servern sätter värdet."},
        {"pointer": "/name", "message": "Namnet är upptaget: kundgrupp 1 heter Staff."},
        {"pointer": "/uid", "message": "uid är skrivskyddat: servern sätter värdet."},
    ]


@pytest.mark.parametrize("code", ["nb", "da"])
async def test_every_language_words_every_problem_differently_from_english(
    staff: Client, code: str
) -> None:
    english = await validate(staff)
    other = await validate(staff, f"&language={code}")
    assert [p["pointer"] for p in other] == [p["pointer"] for p in english]
    assert all(o["message"] != e["message"] for o, e in zip(other, english, strict=True))


async def test_accept_language_decides_without_the_parameter(staff: Client) -> None:
    accept = "de-DE,sv-SE;q=0.9,en;q=0.8"
    swedish = await validate(staff, "&language=sv")
    assert await validate(staff, **{"Accept-Language": accept}) == swedish
    danish = await validate(staff, "&language=da", **{"Accept-Language": accept})
    assert danish != swedish  # the parameter wins
    assert await validate(staff, **{"Accept-Language": "fr, de"}) == await validate(staff)


async def test_the_shops_language_decides_when_the_request_says_none(staff: Client) -> None:
    english, swedish = await validate(staff, "&language=en"), await validate(staff, "&language=sv")
    danish = await validate(staff, "&language=da")
    await admin(staff.app[SHOPS].source.create_shop(1, "Hovedbutik", "da"))  # shop 1 in Danish
    assert await validate(staff) == danish
    assert await validate(staff, **{"Accept-Language": "sv"}) == swedish  # the header first
    assert await validate(staff, "&language=en") == english


async def test_error_data_is_worded_and_the_error_message_stays_english(client: Client) -> None:
    answer = await post(client, req("get", [7]), "&language=da")
    assert answer["error"] == {
        "code": 9003,
        "message": "Object not found",
        "data": [{"pointer": "/0", "message": "Der findes ingen kundegruppe med uid 7"}],
    }
    answer = await post(client, req("list", [None, {"filters": {"/uid": "x"}}]), "&language=nb")
    assert answer["error"]["message"] == "Invalid params"
    assert answer["error"]["data"] == [
        {
            "pointer": "/1/filters/~1uid",
            "message": "/uid inneholder heltall; "
            "oppgi et heltall, for eksempel 42, ikke en streng.",
        }
    ]
    answer = await post(client, [], "&language=sv")
    assert answer["error"] == {
        "code": -32600,
        "message": "Invalid Request",
        "data": "Batchen är tom.",
    }


async def test_get_schema_titles_and_descriptions_are_in_the_language(client: Client) -> None:
    schema = (await post(client, req("getSchema", [None]), "&language=nb"))["result"]
    assert schema["title"] == "Kundegruppe"
    assert schema["properties"]["created"]["title"] == "Opprettet"
    assert schema["properties"]["name"]["description"].startswith("Navnet på kundegruppen")
    assert schema["required"] == ["name"]  # only the texts change
    english = (await post(client, req("getSchema", [None])))["result"]
    assert english["title"] == "Customer group"
    assert english.keys() == schema.keys()


async def test_discovery_stays_english(client: Client) -> None:
    discover = {"jsonrpc": "2.0", "method": "rpc.discover", "id": 1}
    swedish = await post(client, discover, "&language=sv")
    assert swedish == await post(client, discover)
    group = swedish["result"]["components"]["schemas"]["Customergroup"]
    assert group["title"] == "Customer group"


async def test_an_unknown_language_is_1003_for_every_call(client: Client) -> None:
    batch = [
        req("count", id_=1),
        {"jsonrpc": "2.0", "method": "Customergroup.count"},  # a notification: no answer
        {"jsonrpc": "2.0", "method": "rpc.discover", "id": 2},
        req("create", [{"name": "Staff"}], 3),
    ]
    answers = await post(client, batch, "&language=fi")
    data = "There is no such language here; use one of: da, en, nb, sv."
    assert answers == [
        {
            "jsonrpc": "2.0",
            "error": {"code": 1003, "message": "Invalid language", "data": data},
            "id": i,
        }
        for i in (1, 2, 3)
    ]
    assert (await post(client, req("count")))["result"] == 0  # nothing was created


@pytest.mark.parametrize("value", ["", "xx", "sv-SE", "svenska", "no", "sv%00"])
async def test_a_malformed_language_is_1003_worded_as_accept_language_says(
    client: Client, value: str
) -> None:
    answer = await post(client, req("count"), f"&language={value}", **{"Accept-Language": "sv"})
    assert answer["error"] == {
        "code": 1003,
        "message": "Invalid language",
        "data": "Det språket finns inte här; använd något av: da, en, nb, sv.",
    }


async def test_an_unknown_language_is_1003_before_the_token_is_asked_for(client: Client) -> None:
    response = await client.post(f"{ENDPOINT}?language=xx", json=req("count"))
    assert (await response.json())["error"]["code"] == 1003


async def test_a_websocket_answers_in_the_language_of_its_url(client: Client) -> None:
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}&language=sv") as ws:
        await ws.send_str(json.dumps(req("get", [7])))
        answer = await ws.receive_json()
        assert answer["error"]["data"][0]["message"] == "Det finns ingen kundgrupp med uid 7"
    async with client.ws_connect(f"{ENDPOINT}?auth={MANAGE}&language=x") as ws:
        await ws.send_str(json.dumps(req("count")))
        assert (await ws.receive_json())["error"]["code"] == 1003


async def test_a_refusal_before_the_body_is_read_is_worded_too(aiohttp_client: Any) -> None:
    client = await aiohttp_client(create_app(Config(admin_token=MANAGE, max_body=1000)))
    response = await client.post(f"{ENDPOINT}?language=da", data=b"[" + b"1," * 1000 + b"1]")
    assert response.status == 413
    assert (await response.json())["error"]["data"] == (
        "Forespørgslens indhold er større end 1000 byte; intet blev behandlet."
    )
