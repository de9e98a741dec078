"""``serve --workers N`` (customergroup_rpc/workers.py): N processes on one port.

The process manager runs here in a process of its own with a tiny blocking ``serve``: each
worker answers a connection with its PID and holds it until the client closes it, so N
connections held at once are N different workers, whatever the kernel's choice.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .server_process import ADMIN_TOKEN, ENDPOINT, Server, cli, environment, free_port, rpc

ROOT = Path(__file__).parent.parent
# The end of both scripts: once ready, answer each connection with the worker's PID and hold
# it until the client closes it.
_ANSWERING = """
    sock.setblocking(True)
    ready()
    while True:
        conn, _ = sock.accept()
        conn.sendall(f"{os.getpid()}\\n".encode())
        conn.recv(1)
        conn.close()

sys.exit(workers.run(int(sys.argv[1]), workers.listen("127.0.0.1", int(sys.argv[2])), serve))
"""
# python -c DEMO COUNT PORT [FAIL_FILE]: COUNT workers of a blocking PID server; with
# FAIL_FILE, the first worker to create it serves (writing its PID there), the others fail.
DEMO = (
    """
import os, signal, socket, sys
from customergroup_rpc import workers

def serve(sock, ready):
    if len(sys.argv) > 3:
        # The stop the others' failure brings must not fall between creating and writing.
        signal.pthread_sigmask(signal.SIG_BLOCK, workers.STOPS)
        try:
            fd = os.open(sys.argv[3], os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            raise SystemExit(3)
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, workers.STOPS)
"""
    + _ANSWERING
)


# python -c DOWN_DEMO COUNT PORT DOWN FAILED: a worker started while the file DOWN exists
# fails (exit 3) as one does when the database is down, adding a line to FAILED.
DOWN_DEMO = (
    """
import os, sys
from customergroup_rpc import workers

def serve(sock, ready):
    if os.path.exists(sys.argv[3]):
        with open(sys.argv[4], "a") as failed:
            failed.write(f"{os.getpid()}\\n")
        raise SystemExit(3)
"""
    + _ANSWERING
)


class Demo:
    """The demo's parent process on a free port."""

    def __init__(self, count: int, *extra: str, script: str = DEMO) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [sys.executable, "-c", script, str(count), str(self.port), *extra],
            cwd=ROOT,
            env=environment(),
            stderr=subprocess.PIPE,
            text=True,
        )

    def hold(self, count: int) -> tuple[list[int], list[socket.socket]]:
        """Open ``count`` connections at once; the PIDs that answered, and the connections."""
        held = [self._connect() for _ in range(count)]
        try:
            return [int(conn.makefile().readline()) for conn in held], held
        except BaseException:
            close(held)
            raise

    def _connect(self) -> socket.socket:
        deadline = time.monotonic() + 30
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                return conn
            except ConnectionRefusedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()


@pytest.fixture
def demo() -> Iterator[Callable[..., Demo]]:
    started: list[Demo] = []

    def start(count: int, *extra: str, script: str = DEMO) -> Demo:
        started.append(Demo(count, *extra, script=script))
        return started[-1]

    yield start
    for one in started:
        one.stop()


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped by anyone, does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def gone(pids: list[int], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def close(connections: list[socket.socket]) -> None:
    for conn in connections:
        conn.close()


def test_n_workers_take_connections_on_one_port(demo: Callable[..., Demo]) -> None:
    server = demo(3)
    pids, held = server.hold(3)
    close(held)
    assert len(set(pids)) == 3
    assert server.process.pid not in pids


def test_a_killed_worker_is_replaced_and_the_others_go_on(demo: Callable[..., Demo]) -> None:
    server = demo(2)
    pids, held = server.hold(2)
    close(held)
    os.kill(pids[0], signal.SIGKILL)
    # A signal lands when it lands: a worker not yet gone could still take a connection and
    # then drop it. Connect once the killed worker has died.
    deadline = time.monotonic() + 10
    while alive(pids[0]) and time.monotonic() < deadline:
        time.sleep(0.01)

    again, held = server.hold(2)  # the second waits in the queue for the new worker
    close(held)
    assert pids[0] not in again
    assert pids[1] in again
    assert len(set(again)) == 2


def test_sigterm_to_the_parent_stops_every_worker_and_exits_0(demo: Callable[..., Demo]) -> None:
    server = demo(2)
    pids, held = server.hold(2)
    close(held)
    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(30) == 0
    assert gone(pids)


def test_workers_stop_by_themselves_when_the_parent_is_killed(demo: Callable[..., Demo]) -> None:
    server = demo(2)
    pids, held = server.hold(2)
    close(held)
    server.process.kill()
    server.process.wait(30)
    try:
        assert gone(pids)
    finally:
        for pid in filter(alive, pids):  # only if the test failed: leave no orphan behind
            os.kill(pid, signal.SIGKILL)


def test_a_worker_that_fails_before_it_serves_stops_the_server_with_its_code(
    demo: Callable[..., Demo], tmp_path: Path
) -> None:
    first = tmp_path / "first"
    server = demo(3, str(first))
    _, said = server.process.communicate(timeout=30)
    assert server.process.returncode == 3
    assert "before it served; stopping the server" in said
    assert first.exists()
    assert gone([int(first.read_text())])  # the one that served was stopped too


def test_a_replacement_that_cannot_start_is_tried_again_while_the_others_serve(
    demo: Callable[..., Demo], tmp_path: Path
) -> None:
    # A worker killed while PostgreSQL is down for a moment: its replacement cannot open the
    # database. That stopped the whole server (the worker still serving too), for good.
    down, failed = tmp_path / "down", tmp_path / "failed"
    server = demo(2, str(down), str(failed), script=DOWN_DEMO)
    pids, held = server.hold(2)
    close(held)
    down.touch()
    os.kill(pids[0], signal.SIGKILL)
    deadline = time.monotonic() + 60
    while len(failed.read_text().split() if failed.exists() else []) < 2:
        assert server.process.poll() is None, server.process.communicate()[1]
        assert time.monotonic() < deadline, "no replacement was tried a second time"
        time.sleep(0.05)
    assert alive(pids[1])  # the other worker served on meanwhile
    down.unlink()
    again, held = server.hold(2)  # the second waits in the queue for a replacement
    close(held)
    assert pids[1] in again
    assert len(set(again)) == 2
    assert pids[0] not in again


@pytest.mark.parametrize("db", ["groups.db.json", ":memory:"])
def test_more_than_one_worker_without_postgresql_exits_2_before_anything_starts(
    tmp_path: Path, db: str
) -> None:
    port = free_port()
    done = cli("serve", "--workers", "2", "--db", db, "--port", str(port), cwd=tmp_path)
    assert done.returncode == 2
    assert "--workers 2 needs a PostgreSQL database (--db postgresql://...)" in done.stderr
    assert "customergroup-rpc on http" not in done.stderr
    assert list(tmp_path.iterdir()) == []  # no database file, no token file


def test_workers_refuse_a_port_in_use_with_exit_1(postgres_url: str, tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = str(taken.getsockname()[1])
        done = cli("serve", "--workers", "2", "--db", postgres_url, "--port", port, cwd=tmp_path)
    assert done.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr


def test_two_workers_on_postgresql_serve_one_database(postgres_url: str, tmp_path: Path) -> None:
    with Server(tmp_path, postgres_url, args=("--workers", "2")) as server:
        assert server.process is not None
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        assert len(children.read_text().split()) == 2
        made = server.result("Customergroup.create", [{"name": "Shared"}])
        # Each call a new connection: whichever worker takes it sees the same group.
        for _ in range(6):
            assert server.result("Customergroup.get", [made["uid"], "name"]) == {"name": "Shared"}
        assert server.stop() == 0


def held_by(pid: int, port: int) -> int:
    """How many established connections to ``port`` the process ``pid`` holds."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        link = os.readlink(fd) if fd.is_symlink() else ""
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    rows = [line.split() for line in Path("/proc/net/tcp").read_text().splitlines()[1:]]
    local = f":{port:04X}"  # local address as HEX_IP:HEX_PORT; state 01 is ESTABLISHED
    return sum(1 for row in rows if row[1].endswith(local) and row[3] == "01" and row[9] in inodes)


def test_two_workers_share_a_burst_of_keep_alive_connections(
    postgres_url: str, tmp_path: Path
) -> None:
    with Server(tmp_path, postgres_url, args=("--workers", "2")) as server:
        assert server.process is not None
        children = Path(f"/proc/{server.process.pid}/task/{server.process.pid}/children")
        pids = [int(pid) for pid in children.read_text().split()]
        body = rpc("Customergroup.count", [{}])
        held = [server.connection() for _ in range(32)]
        try:
            # All 32 wait in the queue with a request each when the workers go on (as wrk's
            # -c32 connections arrive at once); on one core, one of them wakes first.
            core = min(os.sched_getaffinity(0))
            for pid in pids:
                os.sched_setaffinity(pid, {core})
                os.kill(pid, signal.SIGSTOP)
            try:
                for conn in held:
                    conn.request("POST", f"{ENDPOINT}?auth={ADMIN_TOKEN}", body)
            finally:
                for pid in pids:
                    os.kill(pid, signal.SIGCONT)
            assert all(conn.getresponse().read() for conn in held)
            counts = [held_by(pid, server.port) for pid in pids]
        finally:
            for conn in held:
                conn.close()
    assert sum(counts) == 32
    assert min(counts) > 0, counts  # before: asyncio's accept took every waiting connection


# python -c SIGNALS COUNT PORT DIR: COUNT workers that, once ready, write DIR/PID.ready, and on
# SIGTERM or SIGINT write the signal's name to DIR/PID.got and exit; the parent says on
# standard error which workers it reaped.
SIGNALS = """
import os, signal, sys
from customergroup_rpc import workers

folder = sys.argv[3]

def serve(sock, ready):
    def got(signum, frame):
        with open(os.path.join(folder, f"{os.getpid()}.got"), "w") as out:
            out.write(signal.Signals(signum).name)
        os._exit(0)
    for sig in workers.STOPS:
        signal.signal(sig, got)
    open(os.path.join(folder, f"{os.getpid()}.ready"), "w").close()
    sock.setblocking(True)
    ready()
    while True:
        sock.accept()[0].close()

def reaped(pid):
    print(f"reaped {pid}", file=sys.stderr, flush=True)

port = workers.listen("127.0.0.1", int(sys.argv[2]))
sys.exit(workers.run(int(sys.argv[1]), port, serve, reaped))
"""


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_the_parent_passes_on_the_signal_it_got_and_tells_of_each_worker_reaped(
    tmp_path: Path, sig: signal.Signals
) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", SIGNALS, "2", str(free_port()), str(tmp_path)],
        cwd=ROOT,
        env=environment(),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while len(list(tmp_path.glob("*.ready"))) < 2:
            assert time.monotonic() < deadline, "the workers did not start"
            time.sleep(0.05)
        parent.send_signal(sig)
        _, said = parent.communicate(timeout=30)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
    assert parent.returncode == 0
    pids = sorted(path.stem for path in tmp_path.glob("*.ready"))
    got = {path.stem: path.read_text() for path in tmp_path.glob("*.got")}
    assert got == dict.fromkeys(pids, sig.name)
    assert sorted(line.split()[1] for line in said.splitlines() if "reaped" in line) == pids
