"""Durability and concurrency (SPEC 3 uids, 8 storage) against real server processes.

A server is killed with SIGKILL under load and restarted on the same file: every acknowledged
write must still be there. Parallel creates of one name race over real HTTP connections.
"""

from __future__ import annotations

import itertools
import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc.store.journal import replayed

from .server_process import ADMIN_TOKEN, Server, post, rpc

INVALID_PARAMS = -32602
NOT_FOUND = 9003


def every_group(server: Server) -> dict[int, str]:
    """uid -> name of every group, from one ``list``."""
    groups = server.result("Customergroup.list", [["uid", "name"]])
    return {group["uid"]: group["name"] for group in groups}


def stored_groups(db: Path) -> dict[str, Any]:
    """The groups as the database holds them on disk (TinyDB: uid -> document): its file,
    which must parse as a whole, with its journal replayed as a start does."""
    with db.open("rb") as f:
        assert isinstance(json.load(f), dict)
    data = replayed(db)
    groups = data.get("customergroups", {})
    assert isinstance(groups, dict), data
    return groups


def lost(acknowledged: dict[int, str], found: dict[int, Any]) -> dict[int, str]:
    """The acknowledged groups that are not found under their uid and name."""
    return {uid: name for uid, name in acknowledged.items() if found.get(uid) != name}


class Writer:
    """Threads that create groups with unique names until stopped, keeping what was acknowledged.

    A create is acknowledged when a 200 response with a ``result`` arrived in full; anything else
    (a refused or cut connection once the server is killed) ends that thread's run.
    """

    def __init__(self, server: Server, prefix: str, threads: int = 3) -> None:
        self.server, self.prefix, self.threads = server, prefix, threads
        self.acknowledged: dict[int, str] = {}
        self.failures: list[str] = []
        self.stopping = threading.Event()
        self._lock = threading.Lock()

    def run(self, worker: int) -> None:
        for i in itertools.count():
            if self.stopping.is_set():
                return
            name = f"{self.prefix}-w{worker}-{i}"
            try:
                status, answer = post(
                    self.server.port,
                    rpc("Customergroup.create", [{"name": name}, ["uid", "name"]], id_=name),
                    token=ADMIN_TOKEN,
                    timeout=5,
                )
            except Exception:  # the server is gone (refused, reset, cut short)
                return
            if status == 200 and isinstance(answer, dict) and "result" in answer:
                result = answer["result"]
                with self._lock:
                    if result.get("name") != name or result.get("uid") in self.acknowledged:
                        self.failures.append(f"sent {name!r}, got {answer!r}")
                    self.acknowledged[result["uid"]] = name
            else:
                with self._lock:
                    self.failures.append(f"sent {name!r}, got HTTP {status} {answer!r}")
                return


def test_sigkill_under_write_load_loses_no_acknowledged_create(tmp_path: Path) -> None:
    db = tmp_path / "groups.db.json"
    acknowledged: dict[int, str] = {}
    rng = random.Random()
    with Server(tmp_path, db) as server:
        for cycle in range(3):
            writer = Writer(server, f"c{cycle}")
            delay = rng.uniform(0.3, 0.7)
            with ThreadPoolExecutor(max_workers=writer.threads) as pool:
                runs = [pool.submit(writer.run, n) for n in range(writer.threads)]
                time.sleep(delay)
                server.kill()
                writer.stopping.set()
                for run in runs:
                    run.result(timeout=10)
            assert not writer.failures, writer.failures
            assert writer.acknowledged, f"cycle {cycle}: no create was acknowledged in {delay}s"
            reused = acknowledged.keys() & writer.acknowledged.keys()
            assert not reused, f"uids handed out twice: {reused}"
            acknowledged |= writer.acknowledged

            # The file parses as a whole, and holds every acknowledged create.
            on_disk = {int(uid): doc.get("name") for uid, doc in stored_groups(db).items()}
            missing = lost(acknowledged, on_disk)
            assert not missing, f"cycle {cycle}, killed after {delay:.3f}s: lost {missing}"

            server.start()
            groups = every_group(server)
            missing = lost(acknowledged, groups)
            assert not missing, f"cycle {cycle}, killed after {delay:.3f}s: lost {missing}"
            assert len(set(groups.values())) == len(groups)
            assert server.result("Customergroup.count", []) == len(groups)


def test_uid_of_the_deleted_newest_group_is_never_reused(tmp_path: Path) -> None:
    db = tmp_path / "groups.db.json"
    with Server(tmp_path, db) as server:
        uids = [server.result("Customergroup.create", [{"name": f"G{i}"}])["uid"] for i in range(3)]
        assert uids == sorted(uids)
        newest = uids[-1]
        assert server.result("Customergroup.delete", [newest]) is True

        server.kill()  # no clean shutdown: what the response promised must already be on disk
        server.start()
        gone = server.call("Customergroup.get", [newest])
        assert gone.get("error", {}).get("code") == NOT_FOUND, gone
        uid = server.result("Customergroup.create", [{"name": "After the restart"}])["uid"]
        assert uid > newest

        # And again after a clean restart, deleting that one too.
        assert server.result("Customergroup.delete", [uid]) is True
        assert server.stop() == 0
        server.start()
        assert server.result("Customergroup.create", [{"name": "Later"}])["uid"] > uid


def create_at_once(server: Server, names: list[str]) -> list[dict[str, Any]]:
    """Create one group per name, each over its own connection, all released together."""
    barrier = threading.Barrier(len(names))

    def create(name: str) -> dict[str, Any]:
        connection = server.connection()
        try:
            connection.connect()
            barrier.wait(timeout=10)
        except BaseException:
            connection.close()
            raise
        body = rpc("Customergroup.create", [{"name": name}])
        status, answer = post(server.port, body, token=ADMIN_TOKEN, connection=connection)
        assert status == 200, (status, answer)
        assert isinstance(answer, dict), answer
        return answer

    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        return list(pool.map(create, names))


@pytest.mark.parametrize(
    "spellings",
    [
        pytest.param(["Staff"], id="one-spelling"),
        pytest.param(["Staff", " staff ", "STAFF"], id="case-and-outer-spaces"),
        pytest.param(["Staff Room", " staff  room ", "STAFF   ROOM"], id="inner-spaces"),
    ],
)
def test_of_20_parallel_creates_of_one_name_exactly_one_succeeds(
    tmp_path: Path, spellings: list[str]
) -> None:
    names = [spellings[i % len(spellings)] for i in range(20)]
    with Server(tmp_path) as server:
        answers = create_at_once(server, names)

        won = [(name, a) for name, a in zip(names, answers, strict=True) if "result" in a]
        lost = [a for a in answers if "result" not in a]
        assert len(won) == 1, answers
        name, answer = won[0]
        assert answer["result"]["name"] == name.strip()
        assert len(lost) == 19
        for answer in lost:
            error = answer.get("error", {})
            assert error.get("code") == INVALID_PARAMS, answer
            assert any(p.get("pointer") == "/name" for p in error.get("data", [])), answer

        assert server.result("Customergroup.count", []) == 1
        assert list(every_group(server).values()) == [name.strip()]


def test_a_write_is_on_disk_before_its_response(tmp_path: Path) -> None:
    db = tmp_path / "groups.db.json"
    with Server(tmp_path, db) as server:
        for i in range(5):
            group = server.result("Customergroup.create", [{"name": f"Durable {i}"}])
            assert stored_groups(db)[str(group["uid"])]["name"] == f"Durable {i}"

        server.result("Customergroup.set", [group["uid"], {"name": "Renamed"}])
        assert stored_groups(db)[str(group["uid"])]["name"] == "Renamed"

        assert server.result("Customergroup.delete", [group["uid"]]) is True
        assert str(group["uid"]) not in stored_groups(db)
        assert len(stored_groups(db)) == 4


@pytest.mark.parametrize("attempt", ["lock file removed", "through a link", "both"])
def test_a_second_server_on_the_same_file_is_refused_and_the_first_loses_nothing(
    tmp_path: Path, attempt: str
) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "etc").mkdir()
    db = tmp_path / "data" / "groups.db.json"
    link = tmp_path / "etc" / "groups.db.json"
    link.symlink_to(Path("..") / "data" / "groups.db.json")
    second_dir = tmp_path / "second"  # its own folder for its logs
    second_dir.mkdir()
    with Server(tmp_path, db) as first:
        before = first.result("Customergroup.create", [{"name": "Before"}])["uid"]
        if attempt != "through a link":
            Path(f"{db}.lock").unlink()
        second = Server(second_dir, db if attempt == "lock file removed" else link)
        process = second.spawn()
        try:
            code = process.wait(timeout=15)
        finally:
            second.stop()
        assert code != 0
        said = second.stderr()
        assert f"{db} is in use by another customergroup-rpc server" in said, said
        assert "Traceback" not in said, said
        after = first.result("Customergroup.create", [{"name": "After"}])["uid"]
        assert every_group(first) == {before: "Before", after: "After"}
    assert link.is_symlink()
    assert {int(uid): g["name"] for uid, g in stored_groups(db).items()} == {
        before: "Before",
        after: "After",
    }
