"""Default outputs counted by reason, and model failures apart from predictions, for real failing queries.

Each reason of ``query_frontend.errors.DEFAULT_REASONS`` is provoked the way
it happens in production (no model linked, a model that raises, one that is
too slow, a replica that dies holding the batch, a full queue) against a
real frontend and containers speaking the real protocol, then read back
from the parsed ``/metrics/prometheus`` page.
"""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from query_frontend.errors import DEFAULT_REASONS
from query_frontend.settings import QueryFrontendSettings
from tests.query_frontend.conftest import RunningFrontend, eventually
from tests.query_frontend.test_prometheus_metrics import scrape, value

ERROR = b"\x00clipper-error\x00ValueError: negative input"


@pytest.fixture
def qf_settings(qf_settings: QueryFrontendSettings) -> QueryFrontendSettings:
    return dataclasses.replace(qf_settings, max_queue_size=1)


async def _app(qf: RunningFrontend, cluster_state, app: str, model: str | None, slo_micros: int) -> None:
    cluster_state.add_app(app, slo_micros=slo_micros)
    if model is not None:
        cluster_state.add_model(model, "1")
        cluster_state.link(app, model)
    await qf.wait_app(app, lambda a: a.linked_models == ([model] if model else []))


async def _defaults(qf: RunningFrontend, app: str) -> dict[str, float]:
    fam = await scrape(qf.url, qf.session)
    return {r: value(fam, "clipper_app_default_predictions", "clipper_app_default_predictions_total",
                     app=app, reason=r) for r in DEFAULT_REASONS}


def _only(reason: str, n: int) -> dict[str, float]:
    return {r: (n if r == reason else 0) for r in DEFAULT_REASONS}


async def test_no_connected_models_and_model_failures(qf: RunningFrontend, cluster_state) -> None:
    await _app(qf, cluster_state, "lonely", None, 1_000_000)
    for _ in range(2):
        await qf.predict("lonely", {"input": [1.0]})
    assert await _defaults(qf, "lonely") == _only("no_connected_models", 2)

    await _app(qf, cluster_state, "failing", "raises", 1_000_000)
    qf.container("raises", behaviour=lambda xs: [ERROR if x[:8] == b"\0" * 8 else b"ok" for x in xs])
    await qf.wait_replicas("raises", "1", 1)
    outputs = [(await qf.predict("failing", {"input": [float(i % 2)]}))[1] for i in range(4)]
    # Failures are not cached: both zeros reach the model; the 1.0 is a cache hit the second time.
    assert [o["default"] for o in outputs] == [True, False, True, False]
    assert await _defaults(qf, "failing") == _only("model_failed", 2)
    fam = await scrape(qf.url, qf.session)
    mv = {"model": "raises", "version": "1"}
    assert value(fam, "clipper_model_failures", "clipper_model_failures_total", **mv) == 2
    assert value(fam, "clipper_model_predictions", "clipper_model_predictions_total", **mv) == 3
    assert value(fam, "clipper_app_predictions", "clipper_app_predictions_total", app="failing") == 4


async def test_slo_replica_lost_and_queue_full(qf: RunningFrontend, cluster_state) -> None:
    await _app(qf, cluster_state, "late", "slow", 100_000)
    qf.container("slow", delay_s=0.3)
    await qf.wait_replicas("slow", "1", 1)
    status, body = await qf.predict("late", {"input": [1.0]})
    assert body["default"] is True
    assert await _defaults(qf, "late") == _only("slo", 1)

    # A replica that dies holding the query's batch.
    await _app(qf, cluster_state, "orphan", "dies", 5_000_000)
    dying = qf.container("dies", behaviour=lambda xs: None)
    await qf.wait_replicas("dies", "1", 1)
    query = asyncio.create_task(qf.predict("orphan", {"input": [1.0]}))
    await eventually(lambda: len(dying.batches) == 1, what="the batch reaching the replica")
    await asyncio.to_thread(dying.stop)
    status, body = await asyncio.wait_for(query, 4)
    assert body["default"] is True and "disconnected" in body["default_explanation"]
    assert await _defaults(qf, "orphan") == _only("replica_lost", 1)

    # A full queue (max_queue_size=1): one query held by the hung replica, one queued, the third shed.
    await _app(qf, cluster_state, "busy", "hung", 1_000_000)
    hung = qf.container("hung", behaviour=lambda xs: None)
    await qf.wait_replicas("hung", "1", 1)
    held = asyncio.create_task(qf.predict("busy", {"input": [1.0]}))
    await eventually(lambda: len(hung.batches) == 1, what="the first batch reaching the replica")
    queued = asyncio.create_task(qf.predict("busy", {"input": [2.0]}))
    queue = qf.frontend.processor.queues[("hung", "1")]
    await eventually(lambda: len(queue) == 1, what="one query queued")
    status, body = await qf.predict("busy", {"input": [3.0]})
    assert body["default"] is True and "queue is full" in body["default_explanation"]
    await asyncio.gather(held, queued)  # both by the SLO
    assert await _defaults(qf, "busy") == {**_only("slo", 2), "queue_full": 1}
    fam = await scrape(qf.url, qf.session)
    assert value(fam, "clipper_queries_shed", "clipper_queries_shed_total") == 1
