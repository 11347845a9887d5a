"""Row 12 of reliability-tests.md: graceful query-frontend shutdown.

SIGTERM to a frontend (``drain_delay_s`` = SHUTDOWN_DRAIN_DELAY_S) under
SHUTDOWN_RATE req/s: ``/ready`` turns 503 at once; every request sent before
the drain delay ends is answered (model output or default, no reset); after
it, new connections are refused; the process exits 0 within drain delay +
SLO + 1 s; the container logs a reconnect and keeps running.
"""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.load import params as p
from tests.load.openloop import run_open_loop
from tests.reliability.qf_tools import qf_cluster

pytestmark = [pytest.mark.fault, pytest.mark.load]


async def test_sigterm_drains_then_exits(redis_instance: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with qf_cluster(redis_instance.port, tmp_path, monkeypatch, drain_delay_s=p.SHUTDOWN_DRAIN_DELAY_S) as cluster:
        cluster.setup_app()
        replica = cluster.start_replica("echo", gated=False)
        await asyncio.to_thread(cluster.wait_connected, 1)
        assert cluster.qf is not None
        qf = cluster.qf
        ready_url = f"{cluster.query_url}/ready"
        marks: dict[str, float] = {}
        loop = asyncio.get_running_loop()

        def watch_ready() -> None:
            # Polls /ready from the moment SIGTERM is sent until it is 503.
            with requests.Session() as s:
                while "ready_false" not in marks:
                    try:
                        if s.get(ready_url, timeout=1).status_code == 503:
                            marks["ready_false"] = time.monotonic()
                    except requests.RequestException:
                        return

        def watch_exit() -> None:
            # The moment the process exits, not when the load (still running) lets the test look.
            qf.wait(10)
            marks["exited"] = time.monotonic()

        def sigterm() -> None:
            marks["sigterm"] = time.monotonic()
            marks["sigterm_loop"] = loop.time()
            qf.send_signal(signal.SIGTERM)
            threading.Thread(target=watch_ready, daemon=True).start()
            threading.Thread(target=watch_exit, daemon=True).start()

        start_at = loop.time() + 0.1
        loop.call_at(start_at + p.SHUTDOWN_AT_S, sigterm)
        duration = p.SHUTDOWN_AT_S + p.SHUTDOWN_DRAIN_DELAY_S + 1.5
        result = await run_open_loop(cluster.predict_url, p.SHUTDOWN_RATE, duration, timeout_s=p.CLIENT_TIMEOUT_S,
                                     start_at=start_at)
        exit_code = await asyncio.to_thread(qf.wait, 10)
        exited = marks["exited"]
        sigterm_at = marks["sigterm_loop"] - start_at  # seconds into the run

        drain_end = sigterm_at + p.SHUTDOWN_DRAIN_DELAY_S
        before = [r for r in result.records if r.scheduled < drain_end - 0.05]
        after = [r for r in result.records if r.scheduled > drain_end + 0.2]
        assert exit_code == 0
        exit_after = exited - marks["sigterm"]
        assert exit_after <= p.SHUTDOWN_DRAIN_DELAY_S + p.SLO_S + 1.0, f"exited {exit_after:.2f} s after SIGTERM"
        ready_false_after = marks["ready_false"] - marks["sigterm"]
        assert ready_false_after <= p.SHUTDOWN_READY_FALSE_WITHIN_S, f"/ready 503 after {ready_false_after:.3f} s"
        failed_before = [r for r in before if not r.ok]
        assert not failed_before, f"{len(failed_before)} requests sent before the drain ended failed: {failed_before[:3]}"
        assert all(r.status in (0, 200) for r in result.records), "a 5xx or 4xx during shutdown"
        assert after and all(r.status == 0 and "Connect" in (r.error or "") for r in after), \
            f"connections after the drain were not refused: {[r for r in after if r.status != 0][:3]}"
        await asyncio.to_thread(_wait_reconnect_log, replica.log)
        assert replica.proc.poll() is None, "the container exited when the frontend went away"
        print(f"\nFIGURES row=12 requests={len(result.records)} answered_before_drain_end={len(before)} "
              f"failed_before_drain_end=0 refused_after={len(after)} ready_503_after_ms={ready_false_after * 1000:.1f} "
              f"exit_code={exit_code} exit_after_s={exit_after:.2f} "
              f"bound_s={p.SHUTDOWN_DRAIN_DELAY_S + p.SLO_S + 1.0:.2f}")


def _wait_reconnect_log(log: Path, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while "session 2: connecting" not in log.read_text(errors="replace"):
        if time.monotonic() > deadline:
            raise AssertionError("the container did not log a reconnect:\n" + log.read_text(errors="replace")[-2000:])
        time.sleep(0.05)
