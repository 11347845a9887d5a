"""Helpers to launch cluster processes: ports, environment, readiness waits."""

from __future__ import annotations

import logging
import os
import site
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

import clipper_admin
from clipper_admin.exceptions import ClipperException
from clipper_admin.local.cluster_state import ClusterPaths, ProcessRecord
from clipper_admin.local.processes import exit_code, is_alive, log_tail
from clipper_admin.local.redis_server import free_port

LOG_TAIL_LINES = 20

#: What the local manager logs through: a logger, or its cluster-prefixing adapter.
Logger = logging.Logger | logging.LoggerAdapter[logging.Logger]


class PortInUseError(ClipperException):
    """A port the cluster needs is taken; ``argument`` names the constructor argument."""

    def __init__(self, port: int, what: str, argument: str) -> None:
        self.port = port
        self.what = what
        self.argument = argument
        super().__init__(
            f"Port {port} for the {what} is already in use. Pick another one with "
            f"LocalContainerManager({argument}=<port>), or let Clipper choose a free one "
            f"with LocalContainerManager({argument}=0)."
        )


def port_is_free(port: int) -> bool:
    """True if a server could listen on ``port`` on every interface now.

    SO_REUSEADDR mirrors what the servers set, so sockets lingering in
    TIME_WAIT do not count as busy while a listener does.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def choose_ports(requested: list[tuple[str, str, int]]) -> dict[str, int]:
    """Resolve ``(argument, description, port)`` triples; port 0 picks a free one.

    Raises PortInUseError naming the first busy port, ClipperException if
    two arguments name the same port.
    """
    chosen: dict[str, int] = {}
    for argument, what, port in requested:
        if port == 0:
            continue
        if not 0 < port < 65536:
            raise ClipperException(f"{argument}={port} is not a valid TCP port (1-65535, or 0 for any free port)")
        for other, taken in chosen.items():
            if taken == port:
                raise ClipperException(f"{argument} and {other} are both {port}; each needs a port of its own")
        if not port_is_free(port):
            raise PortInUseError(port, what, argument)
        chosen[argument] = port
    for argument, _what, port in requested:
        if port == 0:
            candidate = free_port()
            while candidate in chosen.values():
                candidate = free_port()
            chosen[argument] = candidate
    return chosen


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment of a cluster process: ours, unbuffered, able to import this project."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    root = Path(clipper_admin.__file__).resolve().parent.parent
    site_dirs = {str(Path(p).resolve()) for p in site.getsitepackages()}
    # A source checkout (editable install, or run from the tree) must stay
    # importable wherever the child starts; an installed package already is.
    if str(root) not in site_dirs and (root / "model_containers").is_dir():
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH", "")) if p)
    if extra:
        env.update(extra)
    return env


def python_module_command(module: str, *args: str, python: str | None = None) -> list[str]:
    """``<python> -m <module> args...`` with this interpreter by default."""
    return [python or sys.executable, "-m", module, *args]


#: Runs a process of the cluster and restarts it on failure (a script: it imports only the standard library).
RESTARTER = Path(__file__).with_name("restarter.py")


def restarted(cmd: list[str], ready: tuple[int, Path] | None = None) -> list[str]:
    """``cmd`` under the restarter: ready once its ready file exists, or with ``ready`` (port, mark) once the
    port accepts (the restarter then creates the mark)."""
    port = ["--ready-port", str(ready[0]), "--ready-mark", str(ready[1])] if ready is not None else []
    return [sys.executable, str(RESTARTER), *port, "--", *cmd]


def describe_death(record: ProcessRecord, paths: ClusterPaths, what: str) -> str:
    """Message for a process that is not running, with the tail of its log."""
    code = exit_code(record.handle)
    status = f"exited with code {code}" if code is not None else "is not running"
    log = paths.root / record.log
    tail = log_tail(log, LOG_TAIL_LINES)
    body = f"Last lines of {log}:\n{tail}" if tail else f"Its log {log} is empty."
    return f"{what} (pid {record.pid}) {status}. {body}"


def wait_until(
    record: ProcessRecord,
    paths: ClusterPaths,
    what: str,
    ready: Callable[[], bool],
    timeout_s: float,
) -> None:
    """Poll ``ready()`` until it holds; ClipperException if the process dies or time runs out."""
    deadline = time.monotonic() + timeout_s
    while True:
        if ready():
            return
        if not is_alive(record.handle):
            raise ClipperException(describe_death(record, paths, what))
        if time.monotonic() > deadline:
            tail = log_tail(paths.root / record.log, LOG_TAIL_LINES)
            raise ClipperException(
                f"{what} (pid {record.pid}) was not ready after {timeout_s:.0f} s. "
                f"Last lines of {paths.root / record.log}:\n{tail}"
            )
        time.sleep(0.05)


def listening(port: int, host: str = "127.0.0.1") -> Callable[[], bool]:
    """A readiness check: something accepts TCP connections on ``host:port``."""

    def check() -> bool:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False

    return check
