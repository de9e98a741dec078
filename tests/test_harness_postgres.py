"""The throwaway PostgreSQL cluster that tests and benchmarks run on (harness/postgres.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.postgres import Cluster, Unavailable


@pytest.fixture
def own_cluster() -> Iterator[Cluster]:
    """A cluster of this test's own, for tests that stop or crash it."""
    try:
        with Cluster.temporary() as cluster:
            yield cluster
    except Unavailable as exc:
        pytest.skip(f"PostgreSQL: {exc}")


def test_durability_is_on_as_in_production(postgres: Cluster) -> None:
    assert postgres.setting("fsync") == "on"
    assert postgres.setting("synchronous_commit") == "on"
    assert postgres.setting("listen_addresses") == "127.0.0.1"


def test_postgres_url_is_a_new_empty_database_per_test(
    postgres: Cluster, postgres_url: str
) -> None:
    name = postgres_url.rsplit("/", 1)[1]
    assert name in postgres.databases()
    assert postgres.psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", name) == "0"
    postgres.psql("CREATE TABLE mark (x int)", name)  # the next test's database lacks it


def test_a_committed_row_survives_a_crash_and_the_restart_keeps_the_port(
    own_cluster: Cluster,
) -> None:
    """Then ``remove()`` stops the server and deletes its folder (one cluster: initdb is slow)."""
    name = own_cluster.create_database()
    own_cluster.psql("CREATE TABLE t (x int)", name)
    own_cluster.psql("INSERT INTO t VALUES (42)", name)
    port = own_cluster.port

    own_cluster.crash()
    assert not own_cluster.running()
    own_cluster.start()

    assert own_cluster.port == port
    assert own_cluster.psql("SELECT x FROM t", name) == "42"
    assert "automatic recovery in progress" in own_cluster.log.read_text()


def test_the_cluster_of_a_killed_owner_is_stopped_and_deleted(postgres: Cluster) -> None:
    """(``postgres``: skipped where no PostgreSQL can run.)"""
    # The owner is another Python process that dies by SIGKILL, so no cleanup of its own runs.
    owner = subprocess.run(
        [
            sys.executable,
            "-c",
            "import os; from harness.postgres import Cluster\n"
            "c = Cluster.temporary(); c.start(); print(c.root, flush=True)\n"
            "os.kill(os.getpid(), 9)",
        ],
        cwd=Path(__file__).parent.parent,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert owner.returncode == -9, owner.stderr
    root = Path(owner.stdout.strip())
    deadline = time.monotonic() + 30
    while root.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not root.exists()
