"""Real ``customergroup-rpc serve`` processes for the command line and durability tests.

A ``Server`` runs ``sys.executable -m customergroup_rpc serve`` on 127.0.0.1 and a free port,
waits until ``GET /health`` answers, talks to it with the standard library only, and stops it by
its PID (terminate, then kill). Its standard error goes to a file per start, for the tests to read.
"""

from __future__ import annotations

import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import Any

ENDPOINT = "/backend/jsonrpc/v1/"
# Known to the server through CUSTOMERGROUP_RPC_ADMIN_TOKEN; a fresh secret per test run.
ADMIN_TOKEN = "cgr_test_" + secrets.token_urlsafe(24)
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
        [sys.executable, "-m", "customergroup_rpc", *args],
        cwd=cwd,
        env=environment(admin_token),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def rpc(method: str, params: Any, id_: Any = 1) -> bytes:
    """The body of one JSON-RPC 2.0 request."""
    return json.dumps({"jsonrpc": "2.0", "method": method, "params": params, "id": id_}).encode()


def post(
    port: int,
    body: bytes,
    *,
    token: str | None = None,
    bearer: bool = False,
    timeout: float = 10.0,
    connection: http.client.HTTPConnection | None = None,
) -> tuple[int, Any]:
    """POST a body to the endpoint; the token as ``?auth=`` or as a Bearer header.

    Returns the HTTP status and the decoded JSON body (None when empty). A given, already
    connected ``connection`` is used and closed; otherwise one is made for this request.
    """
    path, headers = ENDPOINT, {"Content-Type": "application/json"}
    if token is not None and bearer:
        headers["Authorization"] = f"Bearer {token}"
    elif token is not None:
        path = f"{ENDPOINT}?auth={token}"
    conn = connection or http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else None
    finally:
        conn.close()


class Server:
    """One ``serve`` process at a time on ``db``; ``start`` again after ``stop`` to restart.

    Use it as a context manager: it starts on entry and is always stopped on exit.
    """

    def __init__(
        self,
        workdir: Path,
        db: Path | str | None = None,
        *,
        admin_token: str | None = ADMIN_TOKEN,
        args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.db = str(workdir / "groups.db.json") if db is None else str(db)
        self.admin_token = admin_token
        self.token = admin_token  # used by call() unless told otherwise
        self.args = args
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.stderr_path: Path | None = None
        self._starts = 0

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- process ----------------------------------------------------------------------------

    def spawn(self) -> subprocess.Popen[bytes]:
        """Start the process without waiting for it to answer."""
        assert self.process is None, "stop the running server first"
        self._starts += 1
        self.port = free_port()
        self.stderr_path = self.workdir / f"serve-{self._starts}.stderr.log"
        command = [sys.executable, "-m", "customergroup_rpc", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--db", self.db, *self.args]
        with open(self.stderr_path, "wb") as stderr:  # the child keeps its own copy
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=environment(self.admin_token),
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
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"serve exited with {self.process.returncode} before answering:\n"
                    + self.stderr()
                )
            try:
                status, body = self.get("/health", timeout=1.0)
                if status == 200 and json.loads(body) == {"status": "ok"}:
                    return
            except (OSError, http.client.HTTPException, ValueError):
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
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def connection(self, timeout: float = 10.0) -> http.client.HTTPConnection:
        """An HTTP connection to this server, not yet connected (pass it to ``post``)."""
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)

    def call(
        self, method: str, params: Any, *, token: str | None = None, bearer: bool = False
    ) -> dict[str, Any]:
        """One JSON-RPC call with ``token`` (default: the admin token); the response object."""
        status, answer = post(
            self.port, rpc(method, params), token=token or self.token, bearer=bearer
        )
        assert status == 200, (status, answer)
        assert isinstance(answer, dict), answer
        return answer

    def result(self, method: str, params: Any, *, token: str | None = None) -> Any:
        """The result of a call that must succeed."""
        answer = self.call(method, params, token=token)
        assert "error" not in answer, answer
        return answer["result"]
