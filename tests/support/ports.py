"""Ports for the servers tests start: bound by the server itself, then learnt.

"Bind port 0, close, pass the number on" races with every other process on
the machine (another test, a user's cluster): between the close and the
server's own bind anyone may take the port. So servers that can bind port 0
get 0 and the test learns the port they got (from their log line, their
port file, or, for what a server does not report, the process's own
listening sockets, read from ``/proc`` by psutil). ``redis-server`` cannot
bind 0: :func:`start_redis` retries on another port when the bind fails.
A port where nothing must listen is held bound (never listening) for as
long as the test needs it: :func:`dead_port`.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil

from clipper_admin.local.redis_server import redis_server_command

MF_LISTENING = re.compile(r"Management frontend listening on https?://\S+?:(\d+)")
QF_LISTENING = re.compile(r"Query frontend listening on http://\S+?:(\d+)")
RPC_LISTENING = re.compile(r"RPC service listening on tcp://\S+?:(\d+)")


class StartFailed(AssertionError):
    """A server process exited, or did not report its port, in time."""


def _log_tail(log: Path, offset: int = 0, chars: int = 3000) -> str:
    try:
        return log.read_bytes()[offset:].decode(errors="replace")[-chars:]
    except FileNotFoundError:
        return "(no log)"


def log_size(log: Path) -> int:
    """Where new output of a process appending to ``log`` starts."""
    try:
        return log.stat().st_size
    except FileNotFoundError:
        return 0


def listening_ports(pid: int) -> set[int]:
    """TCP ports process ``pid`` listens on (its own sockets, from /proc)."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return set()
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN}


def _wait(check: Callable[[], Any], proc: subprocess.Popen[Any] | None, timeout_s: float, what: str,
          log: Path | None = None, offset: int = 0) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            value = check()  # it may have reported just before exiting
            if value:
                return value
            tail = f"\n--- log\n{_log_tail(log, offset)}" if log is not None else ""
            raise StartFailed(f"{proc.args!r} exited with {proc.returncode} before {what}{tail}")
        if time.monotonic() > deadline:
            tail = f"\n--- log\n{_log_tail(log, offset)}" if log is not None else ""
            raise StartFailed(f"timed out after {timeout_s:.0f} s waiting for {what}{tail}")
        time.sleep(0.02)


def wait_listening(proc: subprocess.Popen[Any], port: int, timeout_s: float, log: Path | None = None) -> None:
    """Until ``proc`` itself listens on ``port`` (not merely something on that port)."""
    _wait(lambda: port in listening_ports(proc.pid), proc, timeout_s, f"it listened on port {port}", log)


def port_from_log(log: Path, pattern: re.Pattern[str], proc: subprocess.Popen[Any] | None, timeout_s: float,
                  offset: int = 0) -> int:
    """The port the first line matching ``pattern`` (written after ``offset``) reports."""

    def check() -> tuple[int] | None:  # a tuple: port 0 is a finding too
        m = pattern.search(_log_tail(log, offset, chars=10**7))
        return (int(m.group(1)),) if m else None

    found: tuple[int] = _wait(check, proc, timeout_s, f"a line matching {pattern.pattern!r} in {log}", log, offset)
    return found[0]


def mf_port(proc: subprocess.Popen[Any], log: Path, timeout_s: float, offset: int = 0) -> int:
    """Port of a management frontend started with ``--port=0``.

    From its start-up line, or (with a log level that hides it) its one
    listening socket.
    """

    def check() -> int | None:
        m = MF_LISTENING.search(_log_tail(log, offset, chars=10**7))
        if m and int(m.group(1)):
            return int(m.group(1))
        ports = listening_ports(proc.pid)
        return ports.pop() if len(ports) == 1 else None

    port: int = _wait(check, proc, timeout_s, "the management frontend to listen", log, offset)
    return port


def qf_ports(proc: subprocess.Popen[Any], log: Path, timeout_s: float, offset: int = 0) -> tuple[int, int]:
    """(query port, RPC port) of a query frontend started with both ports 0.

    The RPC port comes from the RPC service's line. The REST port comes
    from the "Query frontend listening" line when it reports the bound port;
    while that line prints the configured 0, it is the one other port the
    process listens on.
    """
    rpc = port_from_log(log, RPC_LISTENING, proc, timeout_s, offset)
    query = port_from_log(log, QF_LISTENING, proc, timeout_s, offset)
    if query == 0:
        def other() -> int | None:
            ports = listening_ports(proc.pid) - {rpc}
            return ports.pop() if len(ports) == 1 else None

        query = _wait(other, proc, timeout_s, "the query port among its listening sockets", log, offset)
    wait_listening(proc, query, timeout_s, log)
    return query, rpc


def http_port(runner: Any) -> int:
    """The port an aiohttp runner's (single TCP) site is bound to."""
    ports = [addr[1] for addr in runner.addresses if isinstance(addr, tuple)]
    assert len(ports) == 1, runner.addresses
    return int(ports[0])


def frontend_query_port(frontend: Any) -> int:
    """The REST port an in-process ``QueryFrontend`` started with ``query_port=0`` got."""
    port = getattr(frontend, "query_port", None)
    if isinstance(port, int) and port:
        return port
    return http_port(frontend._runner)


# -- redis-server: cannot bind 0, so retry on a bind failure -------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis_on(port: int, data_dir: Path, timeout_s: float = 10.0) -> subprocess.Popen[bytes]:
    """A redis-server on ``port`` (which must be free), listening before this returns."""
    proc = subprocess.Popen(redis_server_command(port, data_dir), stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        wait_listening(proc, port, timeout_s)
    except BaseException:
        stop(proc)
        raise
    return proc


def start_redis(data_dir: Path, attempts: int = 5, timeout_s: float = 10.0) -> tuple[subprocess.Popen[bytes], int]:
    """A redis-server on a port the OS just gave out; another one if someone took it first."""
    for attempt in range(attempts):
        port = _free_port()
        try:
            return start_redis_on(port, data_dir, timeout_s), port
        except StartFailed:
            if attempt == attempts - 1:
                raise
    raise AssertionError("unreachable")


def stop(proc: subprocess.Popen[Any], timeout_s: float = 10.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)


# -- a port nothing listens on ---------------------------------------------------

@contextlib.contextmanager
def dead_port() -> Iterator[int]:
    """A port bound here and never listened on: connections to it are refused, and
    no other process can start listening there while the ``with`` block runs."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        yield int(s.getsockname()[1])
