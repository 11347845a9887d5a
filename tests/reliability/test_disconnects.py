"""Row 11 of reliability-tests.md: a storm of clients that hang up mid-wait.

DISCONNECT_REQUESTS clients (DISCONNECT_WAVE at a time) each send a query to
a slow model and close their socket DISCONNECT_AFTER_S later, before the
answer. The frontend stays live; its pending predictions, queue and replica
in-flight batches return to 0 within SLO + 1 s; its open fds return to the
baseline (within FD_SLACK); nothing logs "Task was destroyed but it is pending".
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest

from tests.load import params as p
from tests.reliability.qf_tools import qf_cluster, qf_process
from tests.support.cluster import Cluster, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.load]


async def _hang_up_client(cluster: Cluster, seq: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", cluster.query_port)
    body = b'{"input": [%d.0, 1.0]}' % seq
    writer.write(b"POST /a/predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    await writer.drain()
    await asyncio.sleep(p.DISCONNECT_AFTER_S)
    writer.transport.abort()  # RST, like a crashing client


def _settled(cluster: Cluster) -> bool:
    state = cluster.qf_state()
    return (state["pending"] == 0 and all(v == 0 for v in state["queues"].values())
            and all(r["inflight"] == 0 for r in state["replicas"]))


async def test_disconnect_storm(redis_instance: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with qf_cluster(redis_instance.port, tmp_path, monkeypatch) as cluster:
        cluster.setup_app()
        cluster.start_replica("slow", delay_ms=50, gated=False)
        await asyncio.to_thread(cluster.wait_connected, 1)
        proc = qf_process(cluster)
        await asyncio.to_thread(wait_for, lambda: _settled(cluster), 5, "an idle frontend")
        fds_before = proc.num_fds()

        for start in range(0, p.DISCONNECT_REQUESTS, p.DISCONNECT_WAVE):
            await asyncio.gather(*(_hang_up_client(cluster, i)
                                   for i in range(start, min(start + p.DISCONNECT_WAVE, p.DISCONNECT_REQUESTS))))
        storm_end = time.monotonic()
        await asyncio.to_thread(wait_for, lambda: _settled(cluster), p.SLO_S + 1.0, "pending work to reach 0")
        settled_after = time.monotonic() - storm_end
        await asyncio.to_thread(wait_for, lambda: abs(proc.num_fds() - fds_before) <= p.FD_SLACK, p.SLO_S + 1.0,
                                "fds back to the baseline")
        fds_after = proc.num_fds()
        assert cluster.qf is not None and cluster.qf.poll() is None
        assert cluster.predict({"input": [0.5]})["default"] is not None
        log = cluster.qf_log.read_text(errors="replace")
        assert "Task was destroyed but it is pending" not in log
        assert "Traceback" not in log
        print(f"\nFIGURES row=11 clients={p.DISCONNECT_REQUESTS} settled_after_s={settled_after:.2f} "
              f"fds_before={fds_before} fds_after={fds_after}")
