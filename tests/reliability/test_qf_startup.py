"""Row 16 of reliability-tests.md (query-frontend part): start-up without Redis.

The query frontend starts while nothing serves Redis's port. It must stay
up with ``/ready`` 503 and a reason saying "redis unreachable", retry with a
capped exponential backoff (a stand-in listener on the port counts the
attempts: the gaps grow, then stay at the cap), log at most about one line
a second, and be ready within REDIS_READY_WITHIN_S once Redis is up
(regression for clipper#538).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin.local.redis_server import free_port, wait_for_port
from tests.load import params as p
from tests.support.cluster import REPO_ROOT, stop_process, wait_for

pytestmark = [pytest.mark.fault]


class AttemptCounter:
    """Listens on a port and records when connections arrive (closing each at once)."""

    def __init__(self, port: int) -> None:
        self.times: list[float] = []
        self._sock = socket.socket()
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", port))
        self._sock.listen(64)
        self._sock.settimeout(0.05)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.times.append(time.monotonic())
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._sock.close()

    def attempts(self, burst_s: float = 0.05) -> list[float]:
        """Start times of attempts (connections closer than ``burst_s`` are one attempt)."""
        out: list[float] = []
        for t in self.times:
            if not out or t - out[-1] > burst_s:
                out.append(t)
        return out


@pytest.fixture
def qf_without_redis(redis_instance: Any, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int, Path]]:
    redis_instance.stop()
    port = free_port()
    log = tmp_path / "qf.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "query_frontend", "--redis_ip=127.0.0.1", f"--redis_port={redis_instance.port}",
             f"--rpc_service_port={free_port()}", f"--query_port={port}", "--host=127.0.0.1"],
            cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    try:
        yield proc, port, log
    finally:
        stop_process(proc)


def test_starts_without_redis_backs_off_and_becomes_ready(redis_instance: Any, qf_without_redis: Any) -> None:
    proc, port, log = qf_without_redis
    counter = AttemptCounter(redis_instance.port)
    try:
        wait_for_port("127.0.0.1", port, p.START_TIMEOUT_S, proc)
        up_at = time.monotonic()
        r = requests.get(f"http://127.0.0.1:{port}/ready", timeout=2)
        assert r.status_code == 503 and "redis unreachable" in r.json()["reason"], r.text
        assert requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
        time.sleep(p.REDIS_DOWN_S)  # the outage itself: nothing to wait for
        assert proc.poll() is None, "the query frontend exited while Redis was down"
        r = requests.get(f"http://127.0.0.1:{port}/ready", timeout=2)
        assert r.status_code == 503 and "redis unreachable" in r.json()["reason"], r.text
    finally:
        counter.close()
    outage_s = time.monotonic() - up_at
    # Several Redis clients (config, writes) may each connect on one retry:
    # connections closer together than 0.1 s are one attempt.
    attempts: list[float] = []
    for t in counter.attempts():
        if not attempts or t - attempts[-1] > 0.1:
            attempts.append(t)
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    assert len(attempts) >= 3, f"only {len(attempts)} reconnection attempts in {outage_s:.1f} s"
    # Exponential, then capped: few attempts in all (no hot loop: at most the
    # doubling steps up to the cap plus one per cap interval), the later ones at the cap.
    doubling_steps = 5  # 0.1 s, 0.2 s, 0.4 s, 0.8 s, then the cap
    assert len(attempts) <= doubling_steps + outage_s / p.REDIS_BACKOFF_CAP_S + 2, gaps
    assert max(gaps) <= p.REDIS_BACKOFF_CAP_S + 0.3, gaps
    late = sorted(gaps[len(gaps) // 2:])
    assert late[len(late) // 2] >= p.REDIS_BACKOFF_CAP_S * 0.7, gaps
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if "Redis" in ln or "redis" in ln]
    assert len(lines) <= outage_s + 1, f"{len(lines)} Redis log lines in {outage_s:.1f} s:\n" + "\n".join(lines)

    redis_instance.start()
    started = time.monotonic()
    wait_for(lambda: _ready(port), p.REDIS_READY_WITHIN_S + 1, "ready after Redis started", interval_s=0.01)
    ready_after = time.monotonic() - started
    assert ready_after <= p.REDIS_READY_WITHIN_S, f"ready {ready_after:.2f} s after Redis started"
    assert proc.poll() is None
    print(f"\nFIGURES row=16 outage_s={outage_s:.1f} attempts={len(attempts)} "
          f"gaps_s={[round(g, 2) for g in gaps]} redis_log_lines={len(lines)} ready_after_redis_s={ready_after:.2f}")


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False
