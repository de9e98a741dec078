"""The one launcher: a server process on 127.0.0.1 and a free port, stopped by its PID.

``Server(workdir)`` runs ``python -m customergroup_rpc serve --host 127.0.0.1 --port P --db
DB --drain-seconds 0 ARGS`` with ``CUSTOMERGROUP_RPC_ADMIN_TOKEN`` set, waits until ``GET
/health`` answers 200, and stops it with SIGTERM (SIGKILL after a timeout). ``db`` is passed
as it is, so it may be a file or any other ``--db`` value; ``args`` are extra command-line
arguments. Another server (bench/baseline.py) is the same with ``argv`` overridden. Standard
error goes to a file per start, ``workdir/serve-N.stderr.log``.
"""

from __future__ import annotations

import http.client
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .client import CallError, Client, rpc

# Known to the server through CUSTOMERGROUP_RPC_ADMIN_TOKEN; a fresh secret per process.
ADMIN_TOKEN = "cgr_test_" + secrets.token_urlsafe(24)
SERVE = (sys.executable, "-m", "customergroup_rpc")
START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


def free_port() -> int:
    """A port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def environment(admin_token: str | None = None) -> dict[str, str]:
    """This environment without any CUSTOMERGROUP_RPC_* setting, plus the admin token if given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CUSTOMERGROUP_RPC_")}
    env["PYTHONUNBUFFERED"] = "1"
    if admin_token is not None:
        env["CUSTOMERGROUP_RPC_ADMIN_TOKEN"] = admin_token
    return env


def cli(
    *args: str, cwd: Path, admin_token: str | None = None, timeout: float = 15.0
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m customergroup_rpc ARGS`` to its end, capturing both streams."""
    return subprocess.run(
        [*SERVE, *args],
        cwd=cwd,
        env=environment(admin_token),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


class Server:
    """One process at a time on ``db``; ``start`` again after ``stop`` to restart.

    As a context manager it starts on entry and is always stopped on exit.
    """

    def __init__(
        self,
        workdir: Path,
        db: Path | str | None = None,
        *,
        admin_token: str | None = ADMIN_TOKEN,
        args: Sequence[str] = (),
        command: Sequence[str] = SERVE,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.workdir = workdir
        self.db = str(workdir / "groups.db.json") if db is None else str(db)
        self.admin_token = admin_token
        self.token = admin_token  # what call() sends unless told otherwise
        self.args, self.command, self.env = tuple(args), tuple(command), dict(env or {})
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_path: Path | None = None
        self._starts = 0

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- process ----------------------------------------------------------------------------

    def argv(self) -> list[str]:
        """The command line of the next start (``self.port`` is already chosen)."""
        return [
            *self.command,
            *("serve", "--host", "127.0.0.1", "--port", str(self.port), "--db", self.db),
            # No drain: it would add its seconds to every stop. A test of the drain gives its
            # own --drain-seconds, which comes later and wins.
            *("--drain-seconds", "0"),
            *self.args,
        ]

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for it to answer."""
        assert self.process is None, "stop the running server first"
        self._starts += 1
        self.port = free_port()
        self.stderr_path = self.workdir / f"serve-{self._starts}.stderr.log"
        with open(self.stderr_path, "wb") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                self.argv(),
                cwd=self.workdir,
                env=environment(self.admin_token) | self.env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        return self.process

    def start(self, timeout: float = START_TIMEOUT) -> Server:
        """Start and wait for ``GET /health``; stopped again if it never answers."""
        self.spawn()
        try:
            self.wait_healthy(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def wait_healthy(self, timeout: float = START_TIMEOUT) -> None:
        """Poll ``GET /health`` until it answers 200; AssertionError with the log otherwise."""
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                code = self.process.returncode
                raise AssertionError(f"serve exited with {code} before answering:\n{self.stderr()}")
            try:
                if self.get("/health", timeout=1.0)[0] == 200:
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"serve did not answer /health in {timeout}s:\n{self.stderr()}"
                )
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int | None:
        """Signal the process, wait for it, kill it after ``timeout``; its exit code.

        The code is negative (``-9``) when it had to be killed; None if none was running.
        """
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            try:
                process.send_signal(sig)
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def kill(self) -> int | None:
        """SIGKILL: no chance to clean up."""
        return self.stop(signal.SIGKILL)

    def stderr(self) -> str:
        """What the current (or last) process wrote to standard error so far."""
        if self.stderr_path is None or not self.stderr_path.exists():
            return ""
        return self.stderr_path.read_text("utf-8", errors="replace")

    # -- HTTP -------------------------------------------------------------------------------

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        """GET ``path`` on a connection of its own; the status and the body."""
        conn = self.connection(timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        """An HTTP connection to this server, not yet connected (pass it to ``post``)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def client(self, token: str | None = None, timeout: float = 30.0) -> Client:
        """A keep-alive client with ``token`` (default: the admin token)."""
        return Client(self.port, token or self.token, timeout=timeout)

    def call(
        self, method: str, params: Any, *, token: str | None = None, bearer: bool = False
    ) -> dict[str, Any]:
        """One JSON-RPC call (``method`` in full) with ``token``; the response object."""
        with self.client(token) as client:
            reply = client.send(rpc(method, params), bearer=bearer)
        answer = reply.json()
        if reply.status != 200 or not isinstance(answer, dict):
            raise CallError(f"{method}: HTTP {reply.status} {answer!r}")
        return answer

    def result(self, method: str, params: Any, *, token: str | None = None) -> Any:
        """The result of a call that must succeed."""
        answer = self.call(method, params, token=token)
        if "result" not in answer:
            raise CallError(f"{method}{params}: {answer!r}")
        return answer["result"]
