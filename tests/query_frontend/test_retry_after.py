"""``Retry-After`` of a shed query (shed_with=503) follows the queue's drain rate."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from query_frontend.drain_rate import MAX_RETRY_AFTER_S, MIN_RETRY_AFTER_S, DrainRate
from query_frontend.settings import QueryFrontendSettings
from tests.query_frontend.conftest import RunningFrontend

QUEUE = 20


def test_no_answer_yet_means_the_minimum() -> None:
    assert DrainRate().retry_after_s(1000, now=5.0) == MIN_RETRY_AFTER_S


def test_one_replica_answering_ten_a_second() -> None:
    rate = DrainRate()
    for i in range(1, 11):
        rate.completed(1, 0.1, now=i * 0.1)
    assert rate.per_second(now=1.05) == pytest.approx(10, rel=0.01)
    assert rate.retry_after_s(20, now=1.05) == 2
    assert rate.retry_after_s(25, now=1.05) == 3
    assert rate.retry_after_s(3, now=1.05) == MIN_RETRY_AFTER_S


def test_replicas_in_parallel_add_up_and_idle_time_does_not_count() -> None:
    rate = DrainRate()
    # Two replicas, each 0.1 s per batch of 4, answering alternately every 0.05 s.
    for i in range(1, 21):
        rate.completed(4, 0.1, now=i * 0.05)
    assert rate.per_second(now=1.0) == pytest.approx(80, rel=0.05)
    # After an idle minute, one batch: its own latency counts, not the minute.
    rate.completed(4, 0.1, now=61.0)
    assert rate.per_second(now=61.0) > 40


def test_a_stalled_queue_gets_the_maximum() -> None:
    rate = DrainRate()
    for i in range(1, 11):
        rate.completed(1, 0.1, now=i * 0.1)
    assert rate.retry_after_s(20, now=1.1) == 2
    assert rate.retry_after_s(20, now=60.0) == MAX_RETRY_AFTER_S


@pytest.fixture
def qf_settings(qf_settings: QueryFrontendSettings) -> QueryFrontendSettings:
    return dataclasses.replace(qf_settings, shed_with="503", max_queue_size=QUEUE)


async def test_shed_queries_are_told_when_the_queue_will_have_drained(qf: RunningFrontend, cluster_state) -> None:
    cluster_state.add_app("app", slo_micros=20_000_000)
    cluster_state.add_model("m", "1", batch_size=1)  # one query per batch, ~10 a second
    cluster_state.link("app", "m")
    await qf.wait_app("app")
    qf.container("m", delay_s=0.1)
    await qf.wait_replicas("m", "1", 1)
    counter = iter(range(10**6))

    async def query() -> tuple[int, str | None]:
        async with qf.session.post(f"{qf.url}/app/predict", json={"input": [float(next(counter))]}) as resp:
            await resp.read()
            return resp.status, resp.headers.get("Retry-After")

    # A burst fills the queue.
    first = [asyncio.create_task(query()) for _ in range(QUEUE + 10)]
    await asyncio.sleep(1.0)  # several batches answered meanwhile
    later = await asyncio.gather(*(query() for _ in range(QUEUE)))
    early = await asyncio.gather(*first)
    assert all(h is not None and int(h) >= MIN_RETRY_AFTER_S for s, h in early if s == 503), early
    shed = [int(h) for s, h in later if s == 503 and h is not None]
    assert shed, later
    # About a full queue (20) over ~10 answers a second: 2 s, 3 s on a busy machine, never the bounds.
    assert all(2 <= v <= 10 for v in shed), shed
