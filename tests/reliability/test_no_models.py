"""Row 5 of reliability-tests.md: an app with no linked model, then a linked
model whose replicas are all dead.

Both answer 200 with the default output and the "No connected models"
explanation at once (p99 within NO_MODELS_P99_S, far below the SLO), and
``/ready`` stays 200 but lists the app as degraded with its reason.
"""

from __future__ import annotations

import asyncio
import signal

import pytest
import requests

from clipper_protocol.constants import NO_CONNECTED_MODELS_EXPLANATION
from tests.load import params as p
from tests.load.openloop import LoadResult, run_open_loop
from tests.reliability.qf_tools import percentile
from tests.support.cluster import Cluster, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.load]


def _ready(cluster: Cluster) -> tuple[int, dict]:
    r = requests.get(f"{cluster.query_url}/ready", timeout=5)
    return r.status_code, r.json()


def _check_fast_defaults(result: LoadResult, what: str) -> float:
    assert not result.failures(), result.summary()
    assert len(result.records) == int(p.NO_MODELS_RATE * p.NO_MODELS_DURATION_S)
    assert all(r.default and r.output == p.DEFAULT_OUTPUT for r in result.records), what
    assert all(NO_CONNECTED_MODELS_EXPLANATION in (r.explanation or "") for r in result.records), what
    p99 = percentile([r.latency for r in result.records], 0.99)
    assert p99 <= p.NO_MODELS_P99_S, f"{what}: p99 {p99 * 1000:.1f} ms"
    return p99


async def test_unlinked_app_and_dead_replicas_answer_default_at_once(cluster: Cluster) -> None:
    cluster.add_app()
    await asyncio.to_thread(wait_for, lambda: cluster.predict({"input": [0.0]}).get("default"), 10, "app a")
    status, body = await asyncio.to_thread(_ready, cluster)
    assert status == 200 and body["ready"] is True
    assert "no model is linked" in body["degraded"][p.APP]

    unlinked = await run_open_loop(cluster.predict_url, p.NO_MODELS_RATE, p.NO_MODELS_DURATION_S,
                                   timeout_s=p.CLIENT_TIMEOUT_S)
    p99_unlinked = _check_fast_defaults(unlinked, "unlinked app")

    # A linked model with one live replica: serving, not degraded.
    cluster.add_model()
    cluster.link()
    replica = cluster.start_replica("echo", gated=False)
    await asyncio.to_thread(cluster.wait_connected, 1)
    await asyncio.to_thread(wait_for, lambda: cluster.predict({"input": [1.0]}).get("default") is False, 10,
                            "a model output")
    status, body = await asyncio.to_thread(_ready, cluster)
    assert status == 200 and p.APP not in body["degraded"], body

    # Its only replica dies.
    replica.signal(signal.SIGKILL)
    await asyncio.to_thread(cluster.wait_connected, 0, timeout_s=5)
    status, body = await asyncio.to_thread(_ready, cluster)
    assert status == 200 and body["ready"] is True
    assert "no connected replicas of model m:1" in body["degraded"][p.APP], body

    dead = await run_open_loop(cluster.predict_url, p.NO_MODELS_RATE, p.NO_MODELS_DURATION_S,
                               timeout_s=p.CLIENT_TIMEOUT_S)
    p99_dead = _check_fast_defaults(dead, "dead replicas")
    print(f"\nFIGURES row=5 p99_unlinked_ms={p99_unlinked * 1000:.1f} p99_dead_replicas_ms={p99_dead * 1000:.1f} "
          f"max_unlinked_ms={unlinked.max_latency() * 1000:.1f} max_dead_ms={dead.max_latency() * 1000:.1f}")
