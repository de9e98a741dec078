"""Shared fixtures: an app on an in-memory or on-disk store, a client, and a ``call`` helper."""

from __future__ import annotations

import inspect
import os
import tempfile
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from hypothesis import HealthCheck, settings
from hypothesis.configuration import set_hypothesis_home_dir

from customergroup_rpc.app import TOKENS, Config, create_app
from harness.postgres import Cluster, Unavailable

MANAGE = "test-manage-token"
VIEW = "test-view-token"
ENDPOINT = "/backend/jsonrpc/v1/"

Call = Callable[..., Awaitable[dict[str, Any]]]


def req(method: str, params: Any = None, id_: Any = 1) -> dict[str, Any]:
    """A JSON-RPC request for ``Customergroup.<method>``; no params member when None."""
    request: dict[str, Any] = {"jsonrpc": "2.0", "method": f"Customergroup.{method}", "id": id_}
    if params is not None:
        request["params"] = params
    return request


class Clock:
    """A clock the tests move by hand; starts at the source document's example moment."""

    def __init__(self) -> None:
        self.now = datetime(2014, 1, 16, 14, 14, 18, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: int) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(params=["memory", "disk", "postgresql"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Path | str | None:
    """Each service and app test runs on every store: memory, a TinyDB file, PostgreSQL."""
    if request.param == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        return url
    return None if request.param == "memory" else tmp_path / "groups.db.json"


@pytest.fixture
def config(db: Path | str | None, clock: Clock) -> Config:
    return Config(db=db, admin_token=MANAGE, clock=clock)


@pytest.fixture
async def client(
    aiohttp_client: Callable[[web.Application], Awaitable[TestClient[Any, Any]]], config: Config
) -> TestClient[Any, Any]:
    """A client of a started app that knows a manage and a view token."""
    client = await aiohttp_client(create_app(config))
    await admin(client.app[TOKENS].create("view", VIEW))
    return client


async def admin(outcome: Any) -> Any:
    """What a token registry's edit gave: PostgreSQL's registry is asynchronous, the file's not."""
    return await outcome if inspect.isawaitable(outcome) else outcome


@pytest.fixture
def call(client: TestClient[Any, Any]) -> Call:
    """``await call("get", 1, "name")`` posts one request and returns the decoded response."""

    async def call(method: str, *params: Any, token: str = MANAGE, **named: Any) -> Any:
        request: dict[str, Any] = {"jsonrpc": "2.0", "method": f"Customergroup.{method}", "id": 1}
        if params or named:
            request["params"] = named or list(params)
        response = await client.post(f"{ENDPOINT}?auth={token}", json=request)
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        return await response.json()

    return call


@pytest.fixture(scope="session")
def postgres() -> Iterator[Cluster]:
    """A throwaway PostgreSQL cluster for the whole run, started when a test first needs it
    and removed at the end; tests that need it skip when no PostgreSQL server can run here."""
    try:
        with Cluster.temporary() as cluster:
            yield cluster
    except Unavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")


@pytest.fixture
def postgres_url(postgres: Cluster) -> Iterator[str]:
    """The URL of a new, empty database on the run's cluster, dropped after the test."""
    name = postgres.create_database()
    yield postgres.url(name)
    if not postgres.running():  # a crash test that failed mid-outage: the next tests need it
        postgres.start()
    postgres.drop_database(name)


# --- hypothesis profiles for tests/test_fuzz.py ---
# "default" keeps make test quick; "fuzz" (make fuzz, HYPOTHESIS_PROFILE=fuzz) tries many more.
# No example database, and hypothesis' own files go to the temporary folder, not the checkout.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "customergroup-rpc-hypothesis")
settings.register_profile(
    "default",
    max_examples=50,
    deadline=None,
    database=None,
    print_blob=True,
    # The fuzz tests start the app once per test (a fixture) and afresh for every example.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
settings.register_profile("fuzz", settings.get_profile("default"), max_examples=2_000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
