"""A PostgreSQL cluster of our own, for tests, benchmarks and ``make serve-pg``.

``Cluster`` runs the machine's PostgreSQL server binaries (``pg_config --bindir``) on its own
data folder, on 127.0.0.1 and a free port, with the socket in the data folder: nothing depends
on a server the machine happens to run. ``initdb`` refuses root, so as root every server
command runs as the ``postgres`` user (``runuser``) and the folder belongs to it. Durability
stays as in production (``fsync`` and ``synchronous_commit`` on): the crash tests rely on it.
``crash()`` stops the server as a power cut would (``pg_ctl stop -m immediate``), ``start()``
brings it back on the same folder and port.

A throwaway cluster (``Cluster.temporary()``) lives in a temporary folder that ``remove()``
deletes; a watchdog process stops and deletes it too if this process dies first.

As a command, it starts a cluster and runs a command against it with ``CUSTOMERGROUP_RPC_DB``
set to a database's URL, then stops the cluster (``make serve-pg``)::

    python -m harness.postgres [--dir .pg] -- customergroup-rpc serve
"""

from __future__ import annotations

import argparse
import contextlib
import os
import pwd
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from .server import free_port

SUPERUSER = "postgres"
START_TIMEOUT = 30  # seconds pg_ctl waits for a start or stop
_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
# Stops the cluster and removes a throwaway folder once its owner's pipe closes (the owner
# exited, even by SIGKILL); after a clean remove() there is nothing left for it to do.
_WATCHDOG = """
import os, shutil, subprocess, sys
sys.stdin.buffer.read()
*command, data, root = sys.argv[1:]
if os.path.exists(os.path.join(data, "postmaster.pid")):
    subprocess.run([*command, "-D", data, "-m", "immediate", "-w", "stop"], capture_output=True)
if root:
    shutil.rmtree(root, ignore_errors=True)
"""


class Unavailable(Exception):
    """No PostgreSQL server can be run here; the message says why."""


def bindir() -> Path:
    """Where ``initdb``, ``pg_ctl`` and ``psql`` are: ``pg_config --bindir``, or the newest
    of Debian's ``/usr/lib/postgresql/*/bin`` (the server package alone has no pg_config
    on PATH)."""
    candidates = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, check=True)
        candidates.append(Path(out.stdout.decode().strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(
        versions, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0, reverse=True
    )
    for path in candidates:
        if all((path / tool).is_file() for tool in ("initdb", "pg_ctl", "postgres", "psql")):
            return path
    raise Unavailable(
        "No PostgreSQL server binaries (initdb, pg_ctl) found: install Debian's postgresql "
        "and postgresql-contrib (make test does so as root)"
    )


def _runner() -> list[str]:
    """The prefix that runs a server command as the cluster's owner: as root, ``postgres``."""
    if os.geteuid() != 0:
        return []
    try:
        pwd.getpwnam(SUPERUSER)
    except KeyError:
        raise Unavailable(
            "Running as root and there is no postgres user to run PostgreSQL as (initdb "
            "refuses root): install Debian's postgresql, which creates it"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise Unavailable("Running as root and runuser is missing: cannot run PostgreSQL")
    return [runuser, "-u", SUPERUSER, "--"]


def _plain(name: str) -> str:
    """A database or setting name that is safe in SQL as it is; ValueError otherwise."""
    if not _NAME.fullmatch(name):
        raise ValueError(f"Not a plain name: {name!r}")
    return name


def _environment() -> dict[str, str]:
    # PG* settings of the caller (PGDATA, PGPORT, PGHOST, ...) must not redirect our commands.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_MESSAGES"] = "C"  # the log in English, whatever the machine's language
    return env


class Cluster:
    """One PostgreSQL cluster in ``root`` (its data in ``root/data``, its log beside it).

    >>> Cluster(Path("/tmp/x"), port=5999).url("shop")
    'postgresql://postgres@127.0.0.1:5999/shop'
    """

    def __init__(self, root: Path, *, port: int | None = None, throwaway: bool = False) -> None:
        self.root = root.absolute()
        self.data = self.root / "data"
        self.log = self.root / "postgresql.log"
        self.port = port or free_port()
        self.throwaway = throwaway
        self._fixed_port = port is not None
        self._bin: Path | None = None
        self._runner: list[str] | None = None
        self._watchdog: subprocess.Popen[bytes] | None = None

    @classmethod
    def temporary(cls) -> Cluster:
        """A cluster in a new temporary folder, deleted by ``remove()`` (``with
        Cluster.temporary() as cluster``: started, and deleted at the end, or if it fails to
        start: ``Unavailable`` when no PostgreSQL server can run here)."""
        return cls(Path(tempfile.mkdtemp(prefix="customergroup-rpc-pg-")), throwaway=True)

    def __enter__(self) -> Cluster:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- the server ---------------------------------------------------------------------------

    def start(self) -> None:
        """Make the cluster if its folder has none, then start it and wait until it answers.

        Raises ``Unavailable`` when no server can run here; ``RuntimeError`` (with the
        server's log) when one should have and did not.
        """
        self._bin = self._bin or bindir()
        self._runner = _runner() if self._runner is None else self._runner
        self._own_root()
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        if self._watchdog is None:
            self._watch()
        for attempt in range(3):
            done = self._pg_ctl("-l", str(self.log), "-o", self._options(), "-w", "start")
            if done.returncode == 0:
                return
            # Another process took our free port since we looked: try another one, unless a
            # restart after crash() needs this one.
            if self._fixed_port or "could not bind" not in self._log_tail() or attempt == 2:
                raise RuntimeError(f"PostgreSQL did not start:\n{done.stdout}{self._log_tail()}")
            self.port = free_port()

    def crash(self) -> None:
        """Stop at once, as a power cut would: no checkpoint, clients cut off (restart with
        ``start()``: PostgreSQL recovers from its write-ahead log)."""
        self._stop("immediate")

    def stop(self) -> None:
        """Stop cleanly (``-m fast``: open sessions are ended); no-op when not running."""
        if (self.data / "postmaster.pid").exists():
            self._stop("fast")

    def remove(self) -> None:
        """Stop, and delete the folder with all its data."""
        try:
            self.stop()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            self._unwatch()

    def close(self) -> None:
        """Stop; a throwaway cluster is removed too."""
        if self.throwaway:
            self.remove()
        else:
            self.stop()
            self._unwatch()

    def running(self) -> bool:
        """Whether the server answers (``pg_ctl status``)."""
        if self._bin is None or not self.data.exists():
            return False
        return self._pg_ctl("status").returncode == 0

    # -- databases ----------------------------------------------------------------------------

    def url(self, database: str = SUPERUSER, *, socket: bool = False) -> str:
        """The URL that asyncpg and ``--db`` take for ``database``: over TCP on 127.0.0.1, or
        over the server's Unix socket (in the data folder), as a one-machine deployment would."""
        if socket:
            return f"postgresql://{SUPERUSER}@/{database}?host={self.data}&port={self.port}"
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = SUPERUSER) -> str:
        """Run SQL with psql (one command: no transaction around it); its output, unaligned."""
        assert self._bin is not None, "start the cluster first"
        command = [str(self._bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
        command += ["-h", "127.0.0.1", "-p", str(self.port), "-U", SUPERUSER, "-d", database]
        done = subprocess.run(
            [*command, "-c", sql], capture_output=True, text=True, env=_environment(), check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed on {sql!r}: {done.stderr.strip()}")
        return done.stdout.strip()

    def create_database(self, name: str | None = None, template: str = "template1") -> str:
        """Create a database (a new name unless given) as a copy of ``template``; its name.

        Copying a template is cheap (tens of milliseconds): a fresh database per test.
        """
        name = name or "test_" + secrets.token_hex(6)
        self.psql(f"CREATE DATABASE {_plain(name)} TEMPLATE {_plain(template)}")
        return name

    def drop_database(self, name: str) -> None:
        """Drop a database, ending the sessions still on it."""
        self.psql(f"DROP DATABASE IF EXISTS {_plain(name)} WITH (FORCE)")

    def databases(self) -> list[str]:
        return self.psql("SELECT datname FROM pg_database ORDER BY 1").splitlines()

    def setting(self, name: str) -> str:
        """A server setting as the server reports it (``SHOW``): for benchmark reports."""
        return self.psql(f"SHOW {_plain(name)}")

    # -- helpers ------------------------------------------------------------------------------

    def _options(self) -> str:
        options = ["-p", str(self.port), "-k", str(self.data), "-c", "listen_addresses=127.0.0.1"]
        # The defaults, said out loud: a committed write is on disk before it is acknowledged.
        options += ["-c", "fsync=on", "-c", "synchronous_commit=on"]
        return shlex.join(options)  # pg_ctl hands -o to a shell

    def _own_root(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        if self._runner:  # as root: the folder must belong to the user the server runs as
            user = pwd.getpwnam(SUPERUSER)
            os.chown(self.root, user.pw_uid, user.pw_gid)
        self.root.chmod(0o700)

    def _initdb(self) -> None:
        assert self._bin is not None
        # UTF8 with the C locale: text sorts by code point (as Python sorts), messages in
        # English. --no-sync only skips syncing initdb's own files (a cluster made afresh
        # each run); the server itself keeps fsync on.
        command = [str(self._bin / "initdb"), "-D", str(self.data), "-A", "trust"]
        command += ["-U", SUPERUSER, "-E", "UTF8", "--locale=C", "--no-sync"]
        done = self._run(command)
        if done.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{done.stdout}")

    def _stop(self, mode: str) -> None:
        done = self._pg_ctl("-m", mode, "-w", "stop")
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop -m {mode} failed:\n{done.stdout}")

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        assert self._bin is not None
        command = [str(self._bin / "pg_ctl"), "-D", str(self.data), "-t", str(START_TIMEOUT)]
        return self._run([*command, *args])

    def _run(self, command: list[str]) -> subprocess.CompletedProcess[str]:
        # cwd: the postgres user may not be allowed into the caller's folder.
        return subprocess.run(
            [*(self._runner or []), *command],
            cwd=self.root,
            env=_environment(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=False,
        )

    def _watch(self) -> None:
        assert self._bin is not None
        pg_ctl = [*(self._runner or []), str(self._bin / "pg_ctl")]
        root = str(self.root) if self.throwaway else ""
        self._watchdog = subprocess.Popen(
            [sys.executable, "-c", _WATCHDOG, *pg_ctl, str(self.data), root],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_environment(),
            start_new_session=True,  # a Ctrl-C meant for us must not stop it before us
        )

    def _unwatch(self) -> None:
        if self._watchdog is not None:
            self._watchdog.communicate()  # closes its pipe: it finds nothing left to do
            self._watchdog = None

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


# -- the command (make serve-pg) --------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m harness.postgres",
        description="Start a PostgreSQL cluster, run COMMAND with CUSTOMERGROUP_RPC_DB set to "
        "a database on it, stop the cluster when COMMAND ends.",
    )
    parser.add_argument(
        "--dir", type=Path, help="keep the cluster in this folder (default: a throwaway one)"
    )
    parser.add_argument("--database", default="customergroups", help="(customergroups)")
    parser.add_argument("command", nargs="+", help="the command to run, after --")
    args = parser.parse_args(argv)
    try:
        with Cluster(args.dir) if args.dir else Cluster.temporary() as cluster:
            if args.database not in cluster.databases():
                cluster.create_database(args.database)
            url = cluster.url(args.database)
            kept = f"kept in {cluster.root}" if args.dir else "thrown away at the end"
            print(f"PostgreSQL on 127.0.0.1:{cluster.port} ({kept}): {url}", file=sys.stderr)
            return _run_with(args.command, {**os.environ, "CUSTOMERGROUP_RPC_DB": url})
    except (Unavailable, RuntimeError) as exc:
        print(f"harness.postgres: {exc}", file=sys.stderr)
        return 1


def _run_with(command: list[str], env: dict[str, str]) -> int:
    """Run ``command`` to its end; SIGTERM and SIGINT are passed on to it, not acted on.

    It runs in a session of its own, so that a Ctrl-C reaches it once, from us, and the cluster
    stops only after it has.
    """
    child = subprocess.Popen(command, env=env, start_new_session=True)

    def forward(signum: int, frame: object) -> None:
        with contextlib.suppress(ProcessLookupError):
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    return child.wait()


if __name__ == "__main__":
    sys.exit(main())
