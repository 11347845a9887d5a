"""Row 13 of reliability-tests.md: scale-down and version switch lose nothing.

Under 100 req/s: three replicas of ``m:1`` are scaled down to one (SIGTERM,
what every container manager sends), then ``set_model_version`` switches the
application to ``m:2``, whose replica connected beforehand (availability
preserving: the new version is ready before the old one stops serving).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import pytest

from clipper_protocol.constants import NO_CONNECTED_MODELS_EXPLANATION
from tests.load import params as p
from tests.load.openloop import run_open_loop
from tests.reliability.test_replica_faults import check_all_answered_in_time
from tests.support.cluster import Cluster
from tests.support.timeline import Timeline

pytestmark = [pytest.mark.fault, pytest.mark.load]


async def test_scale_down_then_version_switch_is_lossless(cluster: Cluster) -> None:
    cluster.setup_app()
    # Register version 2 (which makes it current), then serve version 1 again.
    cluster.add_model(version="2")
    cluster.set_model_version(p.MODEL, "1")
    v1 = [cluster.start_replica(version="1") for _ in range(3)]
    v2 = cluster.start_replica(version="2")
    await asyncio.to_thread(cluster.wait_connected, 3, version="1")
    await asyncio.to_thread(cluster.wait_connected, 1, version="2")

    tl = Timeline()
    load = asyncio.create_task(run_open_loop(cluster.predict_url, p.SWITCH_RATE, 3 * p.SWITCH_PHASE_S,
                                             start_at=tl.origin, timeout_s=p.CLIENT_TIMEOUT_S))
    await tl.until(p.SWITCH_PHASE_S)
    t_scale = tl.now()
    for r in v1[1:]:
        r.signal(signal.SIGTERM)
    assert [await asyncio.to_thread(r.proc.wait, 10) for r in v1[1:]] == [0, 0]
    await asyncio.to_thread(cluster.wait_connected, 1, version="1", timeout_s=2)
    await tl.until(2 * p.SWITCH_PHASE_S)
    t_switch = tl.now()
    await asyncio.to_thread(cluster.set_model_version, p.MODEL, "2")
    t_ack, wall_ack = tl.now(), time.time()
    result = await load

    check_all_answered_in_time(result)
    no_models = result.defaults(NO_CONNECTED_MODELS_EXPLANATION)
    assert not no_models, f"{len(no_models)} queries found no connected model: {no_models[:3]}"
    tags = {r.output["tag"] for r in result.window(0, t_scale) if not r.default}
    assert tags == {"1"}, tags
    served_v1_late = [r for r in result.records
                      if not r.default and r.output["tag"] == "1" and r.scheduled > t_ack + p.V1_QUIET_AFTER_S]
    assert not served_v1_late, f"v1 answered after the switch: {served_v1_late[:3]}"
    last_v1 = v1[0].state().last_wall
    assert last_v1 is not None and last_v1 <= wall_ack + p.V1_QUIET_AFTER_S, (
        f"a query reached v1 {last_v1 - wall_ack if last_v1 else 0:.3f} s after the switch")
    after_switch = [r for r in result.window(t_ack + p.V1_QUIET_AFTER_S) if not r.default]
    assert after_switch and all(r.output["tag"] == "2" for r in after_switch)
    assert v2.state().received > 0
    print(f"\nFIGURES row=13 requests={len(result.records)} errors={len(result.failures())} "
          f"defaults_total={len(result.defaults())} no_connected_models={len(no_models)} "
          f"defaults_by_reason={dict(Counter(r.explanation for r in result.defaults()))} "
          f"switch_ack_ms={round((t_ack - t_switch) * 1000)} "
          f"last_v1_query_after_ack_ms={round((last_v1 - wall_ack) * 1000)} "
          f"max_latency_ms={round(result.max_latency() * 1000, 1)} max_send_lag_ms={round(result.max_send_lag() * 1000, 1)}")
