"""Row 16 of reliability-tests.md (query-frontend part): start-up without Redis.

The query frontend starts while nothing serves Redis's port. It must stay
up with ``/ready`` 503 and a reason saying "redis unreachable", retry with one
capped exponential backoff for the whole frontend (a stand-in listener on
the port records the attempts: each gap is the next wait of one schedule,
0.1 s doubling to the 1 s cap), log at most about one line
a second, and be ready within REDIS_READY_WITHIN_S once Redis is up
(regression for clipper#538).
"""

from __future__ import annotations

import math
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

from tests.load import params as p
from tests.support.cluster import REPO_ROOT, stop_process, wait_for
from tests.support.ports import qf_ports

pytestmark = [pytest.mark.fault]

REDIS_BACKOFF_FIRST_S = 0.1
"""The first wait of the frontend's Redis reconnection backoff (it doubles up to ``REDIS_BACKOFF_CAP_S``)."""
BACKOFF_EARLY_S = 0.02
"""A gap may be this much shorter than its wait (timer granularity, the connection's own timing)."""
BACKOFF_LATE_S = max(0.25, 5 * p.EPSILON_S)
"""... and this much longer (a failed attempt's own duration, scheduling on a busy 2-core machine)."""
ATTEMPT_BURST_S = 0.05
"""Connections this close to an attempt's first belong to it: half the shortest wait."""


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

    def attempts(self, burst_s: float) -> list[float]:
        """Start times of attempts (connections within ``burst_s`` of an attempt's first are that attempt)."""
        out: list[float] = []
        for t in list(self.times):
            if not out or t - out[-1] > burst_s:
                out.append(t)
        return out


@pytest.fixture
def qf_without_redis(redis_instance: Any, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path]]:
    redis_instance.stop()
    log = tmp_path / "qf.log"
    with open(log, "wb") as f:
        proc = subprocess.Popen(
            [sys.executable, "-m", "query_frontend", "--redis_ip=127.0.0.1", f"--redis_port={redis_instance.port}",
             "--rpc_service_port=0", "--query_port=0", "--host=127.0.0.1"],
            cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    try:
        yield proc, log
    finally:
        stop_process(proc)


def backoff_schedule(n: int, first_s: float = REDIS_BACKOFF_FIRST_S, cap_s: float = p.REDIS_BACKOFF_CAP_S) -> list[float]:
    """The first ``n`` waits of one capped exponential backoff: first, 2 x first, ... up to the cap."""
    return [min(first_s * 2**i, cap_s) for i in range(n)]


def fits_one_backoff(gaps: list[float]) -> int | None:
    """Where in one backoff schedule ``gaps`` start, if each gap is that schedule's wait.

    Each gap must be at least its wait (less timer granularity) and at most
    that plus the scheduling slack of a busy machine. The frontend was
    already retrying before the counter listened, so the observed gaps may
    start anywhere in the schedule. Several independent backoffs (one per
    Redis client) interleave into gaps shorter than the schedule allows.
    """
    steps = 1 + math.ceil(math.log2(p.REDIS_BACKOFF_CAP_S / REDIS_BACKOFF_FIRST_S))  # from the first wait to the cap
    for start in range(steps + 1):
        waits = backoff_schedule(start + len(gaps))[start:]
        if all(w - BACKOFF_EARLY_S <= g <= w + BACKOFF_LATE_S for g, w in zip(gaps, waits)):
            return start
    return None


def test_starts_without_redis_backs_off_and_becomes_ready(redis_instance: Any, qf_without_redis: Any) -> None:
    proc, log = qf_without_redis
    counter = AttemptCounter(redis_instance.port)
    try:
        port, _ = qf_ports(proc, log, p.START_TIMEOUT_S)
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
    # One reconnection attempt may open several connections (one per Redis
    # client it uses) at once: connections this close to an attempt's first are that attempt.
    attempts = counter.attempts(ATTEMPT_BURST_S)
    gaps = [b - a for a, b in zip(attempts, attempts[1:])]
    shown = [round(g, 3) for g in gaps]
    assert len(attempts) >= 3, f"only {len(attempts)} reconnection attempts in {outage_s:.1f} s: {shown}"
    # One capped exponential backoff for the whole frontend: each gap is the
    # next wait of one schedule (0.1, 0.2, 0.4, 0.8, then 1.0 s each), so no
    # hot loop, no stall and no second client retrying on its own clock.
    assert fits_one_backoff(gaps) is not None, (
        f"reconnection gaps {shown} s are not one capped exponential backoff "
        f"({backoff_schedule(8)} ..., each gap within -{BACKOFF_EARLY_S}/+{BACKOFF_LATE_S} s of its wait)")
    lines = [ln for ln in log.read_text(errors="replace").splitlines() if "Redis" in ln or "redis" in ln]
    assert len(lines) <= outage_s + 1, f"{len(lines)} Redis log lines in {outage_s:.1f} s:\n" + "\n".join(lines)

    redis_instance.start()
    started = time.monotonic()
    wait_for(lambda: _ready(port), p.REDIS_READY_WITHIN_S + 1, "ready after Redis started", interval_s=0.01)
    ready_after = time.monotonic() - started
    assert ready_after <= p.REDIS_READY_WITHIN_S, f"ready {ready_after:.2f} s after Redis started"
    assert proc.poll() is None
    print(f"\nFIGURES row=16 outage_s={outage_s:.1f} attempts={len(attempts)} "
          f"gaps_s={shown} redis_log_lines={len(lines)} ready_after_redis_s={ready_after:.2f}")


def _ready(port: int) -> bool:
    try:
        return requests.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except requests.RequestException:
        return False
