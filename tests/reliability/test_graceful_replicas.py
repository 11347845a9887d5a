"""A replica told to stop (SIGTERM) answers the batch it holds, and no query falls back to the default.

Two replicas of a model that takes 40 ms per batch, under 150 req/s: one
gets SIGTERM mid-load, as every container manager sends on scale-down,
version switch and ``stop_models``. It finishes the batch in hand and
answers it; the batch the frontend sends it next (the moment that answer
arrives) is refused with the shutting-down marker, and the frontend gives
it to the other replica and retires the stopping one. Before this, that
refused batch came back as the default output.
"""

from __future__ import annotations

import asyncio
import signal

import pytest

from tests.load import params as p
from tests.load.openloop import run_open_loop
from tests.reliability.test_replica_faults import check_all_answered_in_time, explain
from tests.support.cluster import Cluster
from tests.support.timeline import Timeline

pytestmark = [pytest.mark.fault, pytest.mark.load]

RATE = 150
DURATION_S = 4.0
BATCH_MS = 40


@pytest.mark.parametrize("round_", range(2))
async def test_a_stopped_replica_answers_its_batch_and_loses_no_query(cluster: Cluster, round_: int) -> None:
    cluster.setup_app()
    leaving = cluster.start_replica("slow", delay_ms=BATCH_MS, gated=False)
    staying = cluster.start_replica("slow", delay_ms=BATCH_MS, gated=False)
    await asyncio.to_thread(cluster.wait_connected, 2)

    tl = Timeline()
    load = asyncio.create_task(run_open_loop(cluster.predict_url, RATE, DURATION_S, start_at=tl.origin,
                                             timeout_s=p.CLIENT_TIMEOUT_S))
    await tl.until(1.5)
    received_before = leaving.state().received
    leaving.signal(signal.SIGTERM)
    assert await asyncio.to_thread(leaving.proc.wait, 10) == 0
    result = await load

    check_all_answered_in_time(result)
    assert received_before > 0 and staying.state().received > 0
    assert result.defaults() == [], f"defaults: {explain(result)}"
    log = leaving.log_text()
    assert "finishing the one in hand" in log and "container stopped" in log
    print(f"\nFIGURES graceful_replica round={round_} requests={len(result.records)} defaults=0 "
          f"batches_answered_by_leaving={leaving.state().batches} "
          f"frontend_requeued={'it is stopping' in cluster.qf_log.read_text(errors='replace')} "
          f"max_latency_ms={round(result.max_latency() * 1000, 1)}")
