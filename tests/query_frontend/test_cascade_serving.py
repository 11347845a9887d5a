"""Prediction cascades end to end: real Redis, a real query frontend, ZeroMQ frame containers.

Inputs are doubles ``[i, label]``. ``cheap`` answers ``{"output", "confidence"}``
with confidence 0.95 for even ``i`` and 0.5 for odd ``i``; ``costly`` is always
right with confidence 0.99. Which model a query reached is read from the
batches each container received, not from timings.
"""

from __future__ import annotations

import dataclasses
import struct
from collections.abc import Callable

import orjson
import pytest
import redis

from clipper_protocol import selection_schema as ss
from clipper_protocol.redis_schema import RedisDB
from query_frontend.settings import QueryFrontendSettings
from tests.load.params import SLO_S
from tests.query_frontend.conftest import RunningFrontend, eventually
from tests.support.frame_container import FrameContainer


@pytest.fixture
def qf_settings(qf_settings: QueryFrontendSettings) -> QueryFrontendSettings:
    # The frame container sends no heartbeat while it sleeps in a slow batch: keep it alive meanwhile.
    return dataclasses.replace(qf_settings, container_activity_timeout_ms=30_000)


def cascade_model(confidence: Callable[[int], float]) -> Callable[[list[bytes]], list[bytes]]:
    def behave(inputs: list[bytes]) -> list[bytes]:
        out = []
        for raw in inputs:
            i, label = struct.unpack("<2d", raw)
            out.append(orjson.dumps({"output": int(label), "confidence": confidence(int(i))}))
        return out

    return behave


ROOMY_SLO_S = 20 * SLO_S
"""Room for both stages on a busy 2-core machine, so only the tests that mean to hit the SLO do."""

CHEAP = cascade_model(lambda i: 0.95 if i % 2 == 0 else 0.5)
COSTLY = cascade_model(lambda i: 0.99)


def asked(container: FrameContainer) -> set[int]:
    """The ``i`` of every input the container was sent."""
    return {int(struct.unpack("<2d", raw)[0]) for b in container.batches for raw in b}


async def setup(qf: RunningFrontend, cluster_state, redis_instance, stages: list[dict],
                costly_delay_s: float = 0.0, slo_s: float = ROOMY_SLO_S) -> dict[str, FrameContainer]:
    cluster_state.add_app("app", slo_micros=int(slo_s * 1e6))
    containers = {}
    for name, behaviour, delay in (("cheap", CHEAP, 0.0), ("costly", COSTLY, costly_delay_s)):
        cluster_state.add_model(name, "1")
        cluster_state.link("app", name)
        containers[name] = qf.container(name, behaviour=behaviour, delay_s=delay)
    client = redis.Redis(host=redis_instance.host, port=redis_instance.port, db=int(RedisDB.APPLICATIONS))
    try:
        client.hset("app", mapping={"policy": ss.CASCADE_POLICY,
                                    ss.PARAMS_FIELD: orjson.dumps({"stages": stages}).decode()})
    finally:
        client.close()
    await qf.wait_app("app", lambda a: a.policy == ss.CASCADE_POLICY and len(a.linked_models) == 2)
    for name in containers:
        await qf.wait_replicas(name, "1", 1)
    await eventually(lambda: {"cheap", "costly"} <= set(qf.frontend.config.current_versions), what="versions")
    return containers


async def predict(qf: RunningFrontend, i: int, label: int = 1) -> dict:
    status, body = await qf.predict("app", {"input": [float(i), float(label)]})
    assert status == 200, body
    return body


async def test_confident_answers_stop_at_the_cheap_stage_and_the_rest_escalate(
        qf, cluster_state, redis_instance) -> None:
    c = await setup(qf, cluster_state, redis_instance, [{"model": "cheap", "threshold": 0.9}, {"model": "costly"}])
    status, body = await qf.predict("app", {"input_batch": [[float(i), float(i % 3 == 0)] for i in range(40)]})
    assert status == 200
    preds = body["batch_predictions"]
    assert [p["stage"] for p in preds] == [i % 2 for i in range(40)]
    assert [p["model"] for p in preds] == ["cheap" if i % 2 == 0 else "costly" for i in range(40)]
    assert [p["output"] for p in preds] == [int(i % 3 == 0) for i in range(40)]  # unwrapped from the JSON
    assert [p["confidence"] for p in preds] == [0.95 if i % 2 == 0 else 0.99 for i in range(40)]
    assert list(preds[0]) == ["query_id", "output", "default", "model", "version", "stage", "confidence"]
    assert asked(c["cheap"]) == set(range(40))
    assert asked(c["costly"]) == set(range(1, 40, 2))


async def test_a_stage_whose_latency_hint_exceeds_the_time_left_is_never_asked(
        qf, cluster_state, redis_instance) -> None:
    c = await setup(qf, cluster_state, redis_instance,
                    [{"model": "cheap", "threshold": 0.9}, {"model": "costly", "latency_ms": 60_000}])
    for i in range(10):
        body = await predict(qf, i)
        assert (body["stage"], body["model"], body["default"]) == (0, "cheap", False)
        assert body["confidence"] == (0.95 if i % 2 == 0 else 0.5)  # the best so far, though below 0.9
    assert c["costly"].batches == []


async def test_once_the_costly_stage_is_measured_slower_than_the_slo_it_is_no_longer_asked(
        qf, cluster_state, redis_instance) -> None:
    slo_s = SLO_S * 10
    c = await setup(qf, cluster_state, redis_instance, [{"model": "cheap", "threshold": 0.9}, {"model": "costly"}],
                    costly_delay_s=2.5 * slo_s, slo_s=slo_s)
    # Not measured yet: the first unconfident query escalates, the costly stage misses the deadline,
    # and the cheap stage's answer serves rather than the default.
    body = await predict(qf, 1)
    assert (body["stage"], body["default"], body["confidence"]) == (0, False, 0.5)
    assert asked(c["costly"]) == {1}
    queue = qf.frontend.processor.queues[("costly", "1")]
    await eventually(lambda: queue.controller.latency_ewma_s > slo_s, timeout=10, what="costly measured")
    for i in (3, 5, 7):
        body = await predict(qf, i)
        assert (body["stage"], body["model"], body["default"]) == (0, "cheap", False)
    assert asked(c["costly"]) == {1}


async def test_feedback_asks_no_model_and_other_apps_answer_as_before(qf, cluster_state, redis_instance) -> None:
    c = await setup(qf, cluster_state, redis_instance, [{"model": "cheap", "threshold": 0.9}, {"model": "costly"}])
    async with qf.session.post(f"{qf.url}/app/update", json={"input": [2.0, 1.0], "label": 1.0}) as r:
        assert r.status == 200 and await r.text() == "Feedback received? 1"
    assert c["cheap"].batches == [] and c["costly"].batches == []
    # A default-policy app on the same model gets the model's output untouched, with no extra fields.
    cluster_state.add_app("plain", slo_micros=int(ROOMY_SLO_S * 1e6))
    cluster_state.link("plain", "cheap")
    await qf.wait_app("plain", lambda a: a.linked_models == ["cheap"])
    status, body = await qf.predict("plain", {"input": [4.0, 1.0]})
    assert status == 200
    assert {k: v for k, v in body.items() if k != "query_id"} == {
        "output": {"output": 1, "confidence": 0.95}, "default": False}
