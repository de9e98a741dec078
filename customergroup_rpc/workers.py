"""``serve --workers N``: N worker processes answering on one port (Unix).

The parent binds the listening socket once and forks N workers; each runs the whole app on
that socket, and a new connection goes to whichever worker accepts it first.
Why one socket shared by fork, rather than N sockets bound with SO_REUSEPORT: a port another
server holds is refused once, at start, as with one process (with SO_REUSEPORT a second
``serve`` on the same port starts without a word and takes half the connections: an old and
a new version, or two databases, answering in turn); connections waiting in the queue are not
lost when a worker dies (SO_REUSEPORT gives each socket its own queue, emptied when it closes);
and a connection goes to a worker free to accept it, not by a hash to one that may be busy.
Why not gunicorn's aiohttp worker: one more dependency, with its own configuration, signals
and logging beside ours, for the 175 lines here.

- A worker that dies after it began serving is replaced: its open connections are lost, the
  other workers and the queue go on. One that ends before it began serving (it could not open
  the database, say) stops the server with its exit code, as a single process would have
  stopped: a new one would fail the same way. Not so a replacement: the server served, so
  what stops it now may pass (PostgreSQL down for a moment when a worker died); it is tried
  again after ``RETRY_FIRST`` seconds, twice as long each time in a row, at most
  ``RETRY_MOST``, while the other workers go on.
- SIGTERM or SIGINT to the parent is passed on to every worker, which stops as one
  ``serve`` stops (SIGTERM: after its drain; either way, open requests are finished), and the
  parent exits 0 when the last has. Workers have a process group of their own, so a Ctrl-C in
  a terminal reaches the parent only, which passes one SIGINT on.
- A worker whose parent died (SIGKILL) stops by itself: it watches a pipe only the parent
  holds open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType

log = logging.getLogger(__name__)
STOPS = (signal.SIGTERM, signal.SIGINT)
# serve(listening socket, ready): runs one worker until it stops; calls ready() once it serves.
RETRY_FIRST, RETRY_MOST = 0.5, 10.0  # seconds before a replacement that failed is tried again
Serve = Callable[[socket.socket, Callable[[], None]], None]


def _nothing(pid: int) -> None:
    pass


def listen(host: str, port: int, backlog: int = 128) -> socket.socket:
    """The listening socket the workers share (raises OSError if the port is taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=backlog)


# How many connections a worker's event loop accepts each time the socket is ready (asyncio's
# ``backlog``). asyncio's default takes every connection waiting, so the first worker awake
# took all 32 of a client's keep-alive connections and a second worker added nothing; one at
# a time, the others stay queued for whichever worker is free to take them next.
ACCEPT_BATCH = 1


class _Shared(socket.socket):
    """A worker's handle on the listening socket. asyncio calls ``listen(backlog)`` as it
    starts serving, with ``ACCEPT_BATCH``: the queue keeps the length the parent gave it."""

    def listen(self, backlog: int = 0, /) -> None:
        pass


def run(
    count: int,
    listening: socket.socket,
    serve: Serve,
    reaped: Callable[[int], None] = _nothing,
) -> int:
    """Run ``count`` workers on ``listening`` until told to stop; the exit code. ``reaped``
    is told the PID of each worker that has exited."""
    return _Supervisor(count, listening, serve, reaped).run()


class _Supervisor:
    def __init__(
        self, count: int, listening: socket.socket, serve: Serve, reaped: Callable[[int], None]
    ) -> None:
        self.count = count
        self.listening = listening
        self.serve = serve
        self.reaped = reaped
        self.workers: dict[int, int] = {}  # pid: the read end of its ready pipe
        self.stopping = False
        self.passed: set[int] = set()  # the signals passed on to the workers
        self.stop: int = signal.SIGINT  # what a worker forked while stopping is sent
        self.code = 0
        self.life = os.pipe()  # the parent holds the write end; EOF tells workers it died
        self.replacements: set[int] = set()  # the workers started in place of a dead one
        self.failed = 0  # replacements in a row that ended before they served

    def run(self) -> int:
        before = {sig: signal.signal(sig, self._signalled) for sig in STOPS}
        try:
            for _ in range(self.count):
                self._spawn()
            while self.workers:
                try:
                    pid, status = os.wait()  # resumed after a signal handler (PEP 475)
                except ChildProcessError:
                    break
                self._reaped(pid, status)
        finally:
            for sig, handler in before.items():
                signal.signal(sig, handler)
            self._stop_all()  # an exception here must not leave workers behind
            for fd in self.life:
                os.close(fd)
        return self.code

    def _signalled(self, signum: int, frame: FrameType | None) -> None:
        # Each signal once; a SIGINT after a SIGTERM ends the workers' drain at once.
        if signum not in self.passed:
            self.passed.add(signum)
            log.info("Stopping %d workers (%s)", len(self.workers), signal.Signals(signum).name)
            self._stop_all(signum)

    def _stop_all(self, sig: int = signal.SIGINT) -> None:
        """Pass ``sig`` on to every worker (by default SIGINT: stop without a drain)."""
        self.stopping, self.stop = True, sig
        for pid in self.workers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)

    def _spawn(self) -> int:
        """Start a worker; its PID."""
        ready_read, ready_write = os.pipe()
        # No stop signal between fork and the child's own handlers (it would run ours).
        signal.pthread_sigmask(signal.SIG_BLOCK, STOPS)
        try:
            pid = os.fork()
            if pid == 0:
                self._worker(ready_write)  # never returns
            self.workers[pid] = ready_read
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)
        os.close(ready_write)
        if self.stopping:  # a stop came while forking
            os.kill(pid, self.stop)
        return pid

    def _reaped(self, pid: int, status: int) -> None:
        ready_read = self.workers.pop(pid, None)
        if ready_read is None:
            return
        self.reaped(pid)
        served = _was_ready(ready_read)
        code = os.waitstatus_to_exitcode(status)
        if self.stopping:
            return
        how = f"was killed by {signal.Signals(-code).name}" if code < 0 else f"exited {code}"
        replacement = pid in self.replacements
        self.replacements.discard(pid)
        if served:
            self.failed = 0
            log.warning("Worker %d %s; starting another", pid, how)
            self.replacements.add(self._spawn())
        elif replacement:
            delay = min(RETRY_MOST, RETRY_FIRST * 2**self.failed)
            self.failed += 1
            log.warning("Worker %d %s before it served; starting another in %g s", pid, how, delay)
            self._pause(delay)
            if not self.stopping:
                self.replacements.add(self._spawn())
        else:
            log.error("Worker %d %s before it served; stopping the server", pid, how)
            self.code = code if code > 0 else 1
            self._stop_all()

    def _pause(self, seconds: float) -> None:
        """Wait ``seconds``, less if a stop comes (the other workers are reaped after)."""
        deadline = time.monotonic() + seconds
        while not self.stopping and time.monotonic() < deadline:
            time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))

    def _worker(self, ready_write: int) -> None:
        """In the child: run ``serve``, then leave without running the parent's clean-ups."""
        code = 1
        try:
            os.setpgid(0, 0)
            for sig in STOPS:
                signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPS)
            os.close(self.life[1])
            for fd in self.workers.values():
                os.close(fd)
            threading.Thread(target=_stop_with_parent, args=(self.life[0],), daemon=True).start()
            self.serve(_Shared(fileno=self.listening.detach()), _ready(ready_write))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
        finally:
            with contextlib.suppress(Exception):
                sys.stdout.flush()
                sys.stderr.flush()
            os._exit(code)


def _ready(fd: int) -> Callable[[], None]:
    def ready() -> None:
        with contextlib.suppress(OSError):  # a second call: closed already
            os.write(fd, b".")
            os.close(fd)

    return ready


def _was_ready(fd: int) -> bool:
    """Whether the dead worker had said it was serving (its end of the pipe is closed)."""
    try:
        return os.read(fd, 1) == b"."
    finally:
        os.close(fd)


def _stop_with_parent(life: int) -> None:
    """In a worker: block until the parent's end of the pipe closes, then stop as on SIGTERM."""
    with contextlib.suppress(OSError):
        while os.read(life, 1):
            pass
    os.kill(os.getpid(), signal.SIGTERM)
