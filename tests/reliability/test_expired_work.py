"""Row 6 of reliability-tests.md: work whose deadline has passed is never executed.

A Slow(150 ms) model with batch size 1 behind a 100 ms SLO cannot answer any
query in time. A burst of 200 queries must all get their default by the SLO,
and the frontend must drop each queued task once its deadline passes rather
than feed the model 200 x 150 ms of useless work (tensorflow/serving#1265).
Each input carries its send time; the model counts inputs that reach it past
that time plus ``LATE_AFTER_MS``.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from query_frontend.batching import EXPIRY_MARGIN_S, BatchSizeController, ModelQueue, Task
from query_frontend.cache import PendingPrediction
from tests.load import params as p
from tests.load.openloop import burst
from tests.support.cluster import Cluster, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.load]


async def test_expired_tasks_are_dropped_not_sent(cluster: Cluster) -> None:
    cluster.setup_app(batch_size=1)
    slow = cluster.start_replica("slow", delay_ms=p.SLOW_MODEL_MS, gated=False, late_after_ms=p.LATE_AFTER_MS)
    await asyncio.to_thread(cluster.wait_connected, 1)
    # The fixture's own request during setup went through; start from its counts.
    await asyncio.to_thread(wait_for, lambda: cluster.connected()[0]["inflight"] == 0, 5, "an idle replica")
    before = slow.state()

    result = await burst(cluster.predict_url, p.BURST_SIZE, timeout_s=p.CLIENT_TIMEOUT_S,
                         warm_url=f"{cluster.query_url}/ready")
    burst_done = time.monotonic()
    queue_key = f"{p.MODEL}:1"
    await asyncio.to_thread(wait_for, lambda: cluster.qf_state()["queues"].get(queue_key) == 0,
                            p.QUEUE_EMPTY_WITHIN_S, "the queue to empty")
    emptied_after = time.monotonic() - burst_done
    await asyncio.to_thread(wait_for, lambda: cluster.connected()[0]["inflight"] == 0, 2, "the last batch")

    assert not result.failures(), result.summary()
    assert len(result.records) == p.BURST_SIZE
    assert all(r.default for r in result.records), "a 150 ms model answered within a 100 ms SLO?"
    worst = max(r.service_latency for r in result.records)
    assert worst <= p.MAX_LATENCY_S, f"{result.summary()}; worst from send start {worst * 1000:.1f} ms"
    after = slow.state()
    executed = after.received - before.received
    assert after.fired.get("slow", 0) > before.fired.get("slow", 0), "the slow fault never fired"
    assert after.late == 0, f"the model received {after.late} inputs after their deadline"
    # Only what could still meet its deadline was sent: about one 150 ms batch
    # per SLO window of the burst, far from 200.
    assert executed < p.BURST_SIZE // 10, f"{executed} of {p.BURST_SIZE} inputs were executed"
    print(f"\nFIGURES row=6 burst={p.BURST_SIZE} executed={executed} late={after.late} "
          f"queue_empty_after_ms={round(emptied_after * 1000)} "
          f"max_latency_from_send_ms={round(worst * 1000, 1)} "
          f"max_latency_from_burst_start_ms={round(result.max_latency() * 1000, 1)} "
          f"ingress_spread_ms={round((max(r.done_at for r in result.records) - min(r.done_at for r in result.records)) * 1000)}")


async def test_queue_drops_expired_tasks_without_a_free_replica() -> None:
    """The queue sheds expired tasks on its own (no replica needs to free up)."""
    failed: list[PendingPrediction] = []
    queue = ModelQueue("m", "1", lambda replica, batch: True, BatchSizeController(), 100,
                       lambda entry, error: failed.append(entry))
    loop = asyncio.get_running_loop()
    now = time.monotonic()

    def task(deadline: float, key: bytes) -> Task:
        return Task(PendingPrediction(("m", "1", key), loop.create_future(), deadline), key, p.SLO_S)

    expired, almost, extended, fresh = (task(now - 0.01, b"a"), task(now + EXPIRY_MARGIN_S / 2, b"b"),
                                        task(now - 0.005, b"c"), task(now + 1.0, b"d"))
    for t in (expired, almost, extended, fresh):
        queue.enqueue(t)
    extended.entry.deadline = now + 1.0  # an identical query joined it
    queue.drop_expired(now)
    assert failed == [expired.entry, almost.entry]
    assert len(queue) == 2
    queue.drop_expired(now + 2.0)
    assert len(queue) == 0 and len(failed) == 4
