"""ModelQueue and BatchSizeController on their own: dispatch, AIMD, delayed batching."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from query_frontend.batching import BURST_GAP_S, BatchSizeController, ModelQueue, Task
from query_frontend.cache import PendingPrediction


@dataclass(eq=False)
class FakeReplica:
    alive: bool = True


class Recorder:
    """A send_batch that records each batch and the time it was sent."""

    def __init__(self) -> None:
        self.batches: list[tuple[float, list[Task]]] = []

    def __call__(self, replica: object, batch: list[Task]) -> bool:
        self.batches.append((time.monotonic(), batch))
        return True


def _queue(recorder: Recorder, controller: BatchSizeController, wait_max_s: float) -> ModelQueue:
    return ModelQueue("m", "1", recorder, controller, 1000, lambda entry, error: None,
                      batch_wait_max_s=wait_max_s, batch_wait_fraction=0.2)


def _task(key: bytes, slo_s: float = 1.0) -> Task:
    loop = asyncio.get_running_loop()
    deadline = time.monotonic() + slo_s
    return Task(PendingPrediction(("m", "1", key), loop.create_future(), deadline), key, slo_s)


def _busy_model(limit: float = 8.0, latency_s: float = 0.020) -> BatchSizeController:
    controller = BatchSizeController()
    controller.observe(4, latency_s, slo_s=1.0)  # a model that just answered a batch of 4 in 20 ms
    controller.limit = limit
    return controller


async def test_without_delayed_batching_an_idle_replica_takes_work_at_once() -> None:
    rec = Recorder()
    queue = _queue(rec, _busy_model(), wait_max_s=0.0)
    queue.add_replica(FakeReplica())
    queue.enqueue(_task(b"a"))
    assert len(rec.batches) == 1 and len(rec.batches[0][1]) == 1


async def test_delayed_batching_holds_a_short_batch_until_arrivals_stop() -> None:
    rec = Recorder()
    queue = _queue(rec, _busy_model(latency_s=0.020), wait_max_s=0.004)
    queue.add_replica(FakeReplica())
    start = time.monotonic()
    queue.enqueue(_task(b"a"))
    queue.enqueue(_task(b"b"))
    assert rec.batches == []  # held: 2 < limit 8
    await asyncio.sleep(0.05)
    assert len(rec.batches) == 1 and len(rec.batches[0][1]) == 2
    waited = rec.batches[0][0] - start
    assert BURST_GAP_S * 0.9 <= waited < 0.004 + 0.02, waited  # the burst ended at once


async def test_delayed_batching_waits_while_queries_keep_arriving_up_to_its_bound() -> None:
    rec = Recorder()
    queue = _queue(rec, _busy_model(limit=1000.0, latency_s=0.020), wait_max_s=0.004)
    queue.add_replica(FakeReplica())
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 0.2:  # a steady stream, one query every ~0.2 ms
        queue.enqueue(_task(b"%d" % n))
        n += 1
        next_at = time.monotonic() + 0.0002
        while time.monotonic() < next_at:  # yield to the loop (and its timers) without sleeping
            await asyncio.sleep(0)
    first_at, first = rec.batches[0]
    # Sent at the bound (min(4 ms, 20 % of 20 ms)), long before the stream ended (the
    # upper bound leaves room for a busy machine's timer lateness).
    assert 0.0035 <= first_at - start < 0.1, first_at - start
    assert len(first) > 1


async def test_delayed_batching_sends_as_soon_as_the_batch_is_full() -> None:
    rec = Recorder()
    queue = _queue(rec, _busy_model(limit=3.0), wait_max_s=1.0)
    queue.add_replica(FakeReplica())
    for key in (b"a", b"b"):
        queue.enqueue(_task(key))
    assert rec.batches == []
    queue.enqueue(_task(b"c"))
    assert [len(b) for _, b in rec.batches] == [3]


async def test_a_lone_client_and_a_cheap_model_never_wait() -> None:
    rec = Recorder()
    lone = BatchSizeController()
    lone.limit = 8.0
    lone.observe(1, 0.020, slo_s=1.0)  # last batch held one query: no concurrency to wait for
    queue = _queue(rec, lone, wait_max_s=0.002)
    queue.add_replica(FakeReplica())
    queue.enqueue(_task(b"a"))
    assert len(rec.batches) == 1

    rec2 = Recorder()
    cheap = _busy_model(latency_s=0.0001)  # 20 % of 0.1 ms is below the 0.1 ms floor
    queue2 = _queue(rec2, cheap, wait_max_s=0.002)
    queue2.add_replica(FakeReplica())
    queue2.enqueue(_task(b"a"))
    assert len(rec2.batches) == 1


async def test_delayed_batching_never_waits_into_a_deadline() -> None:
    rec = Recorder()
    queue = _queue(rec, _busy_model(latency_s=10.0), wait_max_s=5.0)
    queue.add_replica(FakeReplica())
    queue.enqueue(_task(b"a", slo_s=0.5))
    for _ in range(40):  # until sent; well before the 5 s the delay would allow
        if rec.batches:
            break
        await asyncio.sleep(0.05)
    assert len(rec.batches) == 1
    sent_at, batch = rec.batches[0]
    # The wait is cut to end before the deadline (2 x EXPIRY_MARGIN_S ahead of it); a
    # busy machine may fire the timer a little late, but never near the 2 s wait.
    assert queue._wait_until < batch[0].entry.deadline
    assert sent_at < batch[0].entry.deadline + 0.05


async def test_aimd_grows_on_full_batches_and_backs_off_when_slow() -> None:
    c = BatchSizeController()
    for _ in range(5):
        c.observe(c.batch_size(), 0.001, slo_s=0.1)
    assert c.batch_size() == 6
    c.observe(6, 0.2, slo_s=0.1)  # over the 50 ms target
    assert c.batch_size() == 5
    fixed = BatchSizeController(fixed_batch_size=4)
    fixed.observe(4, 0.2, slo_s=0.1)
    assert fixed.batch_size() == 4
