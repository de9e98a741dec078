"""A short soak (bench/soak.py) against a real server: every invariant holds, every method ran.

The soak starts its own ``serve`` process on a free loopback port, drives it with 8 clients for
4 seconds, checks its invariants, stops the server by its PID and writes a JSON summary, which
this test reads. It runs twice: on a TinyDB file, and on PostgreSQL with two workers (the same
end-to-end suite for both engines).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from customergroup_rpc.schemas import Schemas
from harness.server import environment

ROOT = Path(__file__).resolve().parent.parent
SOAK = ROOT / "bench" / "soak.py"
CLIENTS, SECONDS = 8, 4
# Every method the service has must have been exercised, so a new one cannot go unsoaked.
METHODS = tuple(name.removeprefix("Customergroup.") for name in Schemas.load().methods)
# The documented errors the deliberately bad calls must have met (SPEC 7).
DOCUMENTED = {"-32700", "-32600", "-32601", "-32602", "1004", "1006", "9003"}


def run_soak(
    tmp_path: Path, *server: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    summary = tmp_path / "soak.json"
    command = [sys.executable, str(SOAK), "--clients", str(CLIENTS), "--seconds", str(SECONDS)]
    done = subprocess.run(
        [*command, *server, "--json", str(summary)],
        cwd=ROOT,
        env=environment(),
        capture_output=True,
        text=True,
        timeout=SECONDS + 90,
        check=False,
    )
    assert summary.exists(), f"no summary; exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    report: dict[str, Any] = json.loads(summary.read_text("utf-8"))
    return done, report


@pytest.fixture(params=["tinydb-file", "postgresql-2-workers"])
def server(request: pytest.FixtureRequest) -> list[str]:
    """The soak's own server: on a TinyDB file, or on PostgreSQL with ``--workers 2``."""
    if request.param == "tinydb-file":
        return []
    url = request.getfixturevalue("postgres_url")
    return ["--db", url, "--workers", "2"]


def test_a_short_soak_holds_every_invariant_and_exercises_every_method(
    tmp_path: Path, server: list[str]
) -> None:
    done, report = run_soak(tmp_path, *server)
    output = f"{done.stdout}\n{done.stderr}"

    # -32603, HTTP 5xx and the server's log are among the invariants.
    assert report["ok"] is True, output
    assert done.returncode == 0, output
    methods = report["methods"]
    without_result = [m for m in METHODS if methods.get(m, {}).get("ok", 0) == 0]
    assert not without_result, f"never answered with a result: {without_result}\n{output}"
    assert methods["batch"]["requests"] > 0, output
    assert report["requests"] > CLIENTS * SECONDS * 10, output  # it really ran
    assert report["errors_by_code"].keys() >= DOCUMENTED, output
