"""``--workers N``: a supervisor process and N query-frontend workers sharing the REST port.

Each worker is a full :class:`~query_frontend.server.QueryFrontend` in a
process of its own (multiprocessing, spawn), with its own batches, SLO
timers and prediction cache (``prediction_cache_size / N`` bytes), RPC port
``rpc_service_port + i`` (its own model replicas connect there) and replica
records under its own frontend id in the shared Redis. Every worker binds
the REST port with SO_REUSEPORT, so the kernel spreads connections across
them (docs/architecture.md, "Several workers").

The supervisor

- reserves the REST port (it binds, without listening, an SO_REUSEPORT
  socket: with ``query_port 0`` that is how the port is chosen) and one
  private loopback port per worker (where siblings read each other's
  metrics), and keeps them bound while it runs, so a restarted worker gets
  the same ports back;
- starts the workers and waits until each serves; if one cannot start at
  all, it stops the others and exits 1;
- restarts a worker that dies, after a backoff that doubles from 0.5 s to
  30 s (reset once a worker stayed up for 30 s), logging each death;
- forwards SIGTERM and SIGINT to the workers and waits for them, so each
  drains as a single frontend does.

Workers log as ``[QUERYFRONTEND w<i>]``; they also die with the supervisor
(``PR_SET_PDEATHSIG``), so a killed supervisor leaves none behind.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from multiprocessing.connection import Connection
from typing import Any, Protocol

from clipper_service.process import configure_logging, run_until_signalled
from query_frontend.settings import QueryFrontendSettings
from query_frontend.worker_metrics import WorkerRole

log = logging.getLogger("clipper.query_frontend.workers")

POLL_S = 0.2
"""Longest the supervisor sleeps between looks at its workers (and at its stop flag)."""


# ------------------------------------------------------------------ restart policy


@dataclass(frozen=True)
class Backoff:
    """Delay before restarting a worker: doubles per consecutive failure, capped; reset by a stable run."""

    initial_s: float = 0.5
    cap_s: float = 30.0
    stable_s: float = 30.0
    """A worker that served this long before it died starts its failure count afresh."""

    def delay_s(self, failures: int) -> float:
        """The wait before the restart that follows the ``failures``-th consecutive failure (1, 2, ...)."""
        if failures <= 0:
            return 0.0
        return min(self.cap_s, self.initial_s * 2.0 ** (failures - 1))


class Worker(Protocol):
    """A started worker as the supervisor sees it."""

    @property
    def pid(self) -> int | None: ...

    @property
    def exitcode(self) -> int | None:
        """None while it runs."""

    def ready(self) -> bool:
        """True once it serves (non-blocking)."""

    def wait_handles(self) -> list[Any]:
        """What ``multiprocessing.connection.wait`` may wait on for news of it."""

    def send_signal(self, sig: int) -> None: ...

    def close(self) -> None:
        """Release its handles once it exited."""


@dataclass
class Slot:
    """One worker index: the process serving it now, and its restart history."""

    index: int
    worker: Worker | None = None
    started_at: float = 0.0
    ready_at: float | None = None
    failures: int = 0
    restarts: int = 0
    restart_at: float | None = None


@dataclass
class Supervisor:
    """Keeps ``count`` workers running; :meth:`run` is the supervisor process's life.

    ``start_worker(index)`` starts one; ``clock`` and ``wait`` are injectable
    so the restart logic runs in tests without processes or real time.
    """

    count: int
    start_worker: Callable[[int], Worker]
    backoff: Backoff = field(default_factory=Backoff)
    clock: Callable[[], float] = time.monotonic
    wait: Callable[[list[Any], float], object] | None = None
    slots: list[Slot] = field(default_factory=list)
    stop_signal: int | None = None

    def __post_init__(self) -> None:
        self.slots = [Slot(i) for i in range(self.count)]

    def _wait(self, timeout_s: float) -> None:
        handles = [h for s in self.slots if s.worker is not None for h in s.worker.wait_handles()]
        if self.wait is not None:
            self.wait(handles, timeout_s)
        elif handles:
            multiprocessing.connection.wait(handles, timeout_s)
        else:
            time.sleep(timeout_s)

    def _launch(self, slot: Slot) -> None:
        slot.worker = self.start_worker(slot.index)
        slot.started_at = self.clock()
        slot.ready_at = None
        slot.restart_at = None

    # ------------------------------------------------------------ start-up

    def start_all(self) -> bool:
        """Start every worker and wait until all serve; False (the others stopped) if one exits first."""
        for slot in self.slots:
            self._launch(slot)
        while self.stop_signal is None:
            for slot in self.slots:
                assert slot.worker is not None
                code = slot.worker.exitcode
                if code is not None:
                    log.error("Worker %d exited with code %s before it served; stopping the others",
                              slot.index, code)
                    self.stop_workers(signal.SIGTERM)
                    return False
                if slot.ready_at is None and slot.worker.ready():
                    slot.ready_at = self.clock()
            if all(s.ready_at is not None for s in self.slots):
                log.info("All %d query frontend workers serve", self.count)
                return True
            self._wait(POLL_S)
        self.stop_workers(self.stop_signal)
        return False

    # ------------------------------------------------------------ running

    def check(self) -> None:
        """One look at every worker: note readiness, schedule restarts of the dead, start those due."""
        now = self.clock()
        for slot in self.slots:
            w = slot.worker
            if w is not None:
                if slot.ready_at is None and w.ready():
                    slot.ready_at = now
                code = w.exitcode
                if code is None:
                    continue
                w.close()
                slot.worker = None
                served = 0.0 if slot.ready_at is None else now - slot.ready_at
                slot.failures = 1 if served >= self.backoff.stable_s else slot.failures + 1
                delay = self.backoff.delay_s(slot.failures)
                slot.restart_at = now + delay
                log.error("Worker %d (pid %s) exited with code %s after %.1f s serving; restarting it in %.1f s "
                          "(failure %d in a row)", slot.index, w.pid, code, served, delay, slot.failures)
            if slot.worker is None and slot.restart_at is not None and now >= slot.restart_at:
                slot.restarts += 1
                log.info("Restarting worker %d (restart %d)", slot.index, slot.restarts)
                self._launch(slot)

    def run(self) -> int:
        """Start the workers, keep them running until a stop signal, then stop them; the exit status."""
        try:
            if not self.start_all():
                return 0 if self.stop_signal is not None else 1  # stopped while starting, or a worker failed
            while self.stop_signal is None:
                self.check()
                self._wait(POLL_S)
        except BaseException:
            log.exception("The supervisor failed; stopping the workers")
            self.stop_workers(signal.SIGTERM)
            raise
        self.stop_workers(self.stop_signal)
        return 0

    def request_stop(self, sig: int) -> None:
        """From the signal handler: stop at the next look."""
        self.stop_signal = sig

    def stop_workers(self, sig: int) -> None:
        """Send ``sig`` to every running worker and wait until all exited (each drains first)."""
        running = [s for s in self.slots if s.worker is not None and s.worker.exitcode is None]
        if running:
            log.info("Stopping %d workers (%s)", len(running), signal.Signals(sig).name)
        for s in running:
            assert s.worker is not None
            s.worker.send_signal(sig)
        while any(s.worker is not None and s.worker.exitcode is None for s in self.slots):
            self._wait(POLL_S)
        for s in self.slots:
            if s.worker is not None:
                s.worker.close()
                s.worker = None


# ------------------------------------------------------------------ real workers


class SpawnedWorker:
    """A worker process started with multiprocessing's spawn; it reports readiness through a pipe."""

    def __init__(self, settings: QueryFrontendSettings, role: WorkerRole) -> None:
        ctx = multiprocessing.get_context("spawn")
        receiver, sender = ctx.Pipe(duplex=False)
        self._process = ctx.Process(target=worker_main, args=(settings, role, sender, os.getpid()),
                                    name=f"query-frontend-{role.tag}")
        self._process.start()
        self._pid = self._process.pid
        sender.close()
        self._conn: Connection | None = receiver
        self._ready = False

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def exitcode(self) -> int | None:
        return self._process.exitcode

    def ready(self) -> bool:
        if not self._ready and self._conn is not None and self._conn.poll():
            try:
                self._conn.recv()
                self._ready = True
            except EOFError:
                pass  # it died before it served
            self._conn.close()
            self._conn = None
        return self._ready

    def wait_handles(self) -> list[Any]:
        return [self._process.sentinel, *([self._conn] if self._conn is not None else [])]

    def send_signal(self, sig: int) -> None:
        if self._pid is not None and self._process.exitcode is None:
            try:
                os.kill(self._pid, sig)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._process.join(0)
        if self._process.exitcode is not None:
            self._process.close()


def _die_with_parent(parent_pid: int) -> None:
    """Get SIGTERM when the supervisor dies (Linux), so no worker outlives it."""
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            return
        if os.getppid() != parent_pid:  # it died before the call
            os.kill(os.getpid(), signal.SIGTERM)


def worker_main(settings: QueryFrontendSettings, role: WorkerRole, ready: Connection, parent_pid: int) -> None:
    """A worker process: one query frontend, until SIGTERM or SIGINT (or the supervisor's death)."""
    from query_frontend.server import QueryFrontend, serve

    _die_with_parent(parent_pid)
    configure_logging(f"QUERYFRONTEND {role.tag}", settings.log_level)

    def on_ready(frontend: QueryFrontend) -> None:
        ready.send(frontend.query_port)
        ready.close()

    sys.exit(run_until_signalled(lambda stop: serve(settings, stop, worker=role, on_ready=on_ready)))


def worker_settings(settings: QueryFrontendSettings, index: int, query_port: int) -> QueryFrontendSettings:
    """Worker ``index``'s settings: the shared REST port, RPC port base + index, its share of the cache."""
    return replace(settings, query_port=query_port, rpc_service_port=settings.rpc_service_port + index,
                   prediction_cache_size=settings.prediction_cache_size // settings.workers)


def reserve_port(host: str, port: int) -> socket.socket:
    """Bind (not listen) an SO_REUSEPORT socket on ``host:port``: the port stays ours, workers may bind it too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((host or "0.0.0.0", port))
    except BaseException:
        s.close()
        raise
    return s


def check_worker_ports(settings: QueryFrontendSettings) -> str | None:
    """Why these settings cannot run several workers, or None."""
    n = settings.workers
    if settings.rpc_service_port == 0:
        return ("rpc_service_port 0 (any free port) needs workers 1: with several workers, worker i's RPC port "
                "is rpc_service_port + i, which model replicas must know in advance")
    if settings.rpc_service_port + n - 1 > 65535:
        return f"rpc_service_port {settings.rpc_service_port} + workers {n} - 1 is past 65535"
    return None


def run_supervisor(settings: QueryFrontendSettings) -> int:
    """``python -m query_frontend --workers N`` with N > 1: the supervisor process (returns its exit status)."""
    configure_logging("QUERYFRONTEND", settings.log_level)
    problem = check_worker_ports(settings)
    if problem is not None:
        log.error("Cannot start %d workers: %s", settings.workers, problem)
        return 2
    try:
        rest = reserve_port(settings.host, settings.query_port)
    except OSError as e:
        log.error("Cannot bind the REST port %s:%d: %s", settings.host, settings.query_port, e)
        return 1
    private = [reserve_port("127.0.0.1", 0) for _ in range(settings.workers)]
    try:
        query_port = int(rest.getsockname()[1])
        peers = tuple(int(s.getsockname()[1]) for s in private)
        n = settings.workers
        log.info("Starting %d query frontend workers on port %d (RPC ports %d-%d, cache %d bytes each)",
                 n, query_port, settings.rpc_service_port, settings.rpc_service_port + n - 1,
                 settings.prediction_cache_size // n)

        def start(index: int) -> Worker:
            return SpawnedWorker(worker_settings(settings, index, query_port), WorkerRole(index, n, peers))

        supervisor = Supervisor(n, start)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda signum, _frame: supervisor.request_stop(signum))
        code = supervisor.run()
        log.info("Query frontend supervisor exiting (%d)", code)
        return code
    finally:
        rest.close()
        for s in private:
            s.close()
