"""Real ``customergroup-rpc serve`` processes for the tests: the names of ``harness``, here too.

The launcher and client live in ``harness/`` (shared with bench/); this module keeps the
tests' imports (``from .server_process import Server, post, ...``) working.
"""

from __future__ import annotations

from harness.client import ENDPOINT, post, rpc
from harness.server import ADMIN_TOKEN, Server, cli, environment, free_port

__all__ = ["ADMIN_TOKEN", "ENDPOINT", "Server", "cli", "environment", "free_port", "post", "rpc"]
