"""Row 20 of reliability-tests.md (soak part), bounded for CI.

SOAK_RATE req/s (half the capacity of SOAK_REPLICAS Slow(SOAK_MODEL_MS)
replicas at batch size 1) over SOAK_DISTINCT_INPUTS repeating inputs for
SOAK_DURATION_S (``CLIPPER_SOAK_S`` sets a longer run by hand), SIGKILLing
and replacing a replica every SOAK_KILL_EVERY_S. The frontend's RSS grows
at most SOAK_RSS_GROWTH, its fds return to the baseline, the cache stays
within its byte budget, pending predictions do not grow, and an input that
got a default answers with a model output afterwards (defaults are never cached).
"""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path
from typing import Any

import pytest

from tests.load import params as p
from tests.load.openloop import run_open_loop
from tests.reliability.qf_tools import Sampler, gauges, qf_cluster, qf_process, rss_mib
from tests.support.cluster import Cluster, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.load]


def _body(seq: int, wall: float) -> dict[str, Any]:
    return {"input": [float(seq % p.SOAK_DISTINCT_INPUTS), 0.5]}


async def test_soak_with_replica_kills(redis_instance: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    duration = float(os.environ.get("CLIPPER_SOAK_S", p.SOAK_DURATION_S))
    with qf_cluster(redis_instance.port, tmp_path, monkeypatch, prediction_cache_size=p.SOAK_CACHE_BYTES) as cluster:
        cluster.setup_app(batch_size=1)
        live = [cluster.start_replica("slow", delay_ms=p.SOAK_MODEL_MS, gated=False) for _ in range(p.SOAK_REPLICAS)]
        await asyncio.to_thread(cluster.wait_connected, p.SOAK_REPLICAS)
        proc = qf_process(cluster)
        # Warm-up: fills the cache to its budget and the metric reservoirs.
        await run_open_loop(cluster.predict_url, p.SOAK_RATE, 2.0, body=_body, timeout_s=p.CLIENT_TIMEOUT_S)
        await asyncio.to_thread(wait_for, lambda: gauges(cluster)["clipper_pending_predictions"] == 0, 5, "idle")
        rss_before, fds_before = rss_mib(proc), proc.num_fds()

        kills = 0

        async def killer() -> None:
            nonlocal kills
            while True:
                await asyncio.sleep(p.SOAK_KILL_EVERY_S)
                victim = live.pop(0)
                victim.signal(signal.SIGKILL)
                kills += 1
                live.append(cluster.start_replica("slow", delay_ms=p.SOAK_MODEL_MS, gated=False))

        with Sampler(lambda: gauges(cluster), 0.5) as sampler:
            task = asyncio.create_task(killer())
            try:
                result = await run_open_loop(cluster.predict_url, p.SOAK_RATE, duration, body=_body,
                                             timeout_s=p.CLIENT_TIMEOUT_S)
            finally:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await asyncio.to_thread(cluster.wait_connected, p.SOAK_REPLICAS)
        await asyncio.to_thread(wait_for, lambda: gauges(cluster)["clipper_pending_predictions"] == 0, 5, "idle")
        await asyncio.to_thread(wait_for, lambda: abs(proc.num_fds() - fds_before) <= p.FD_SLACK, 5,
                                "fds back to the baseline")
        rss_after, fds_after = rss_mib(proc), proc.num_fds()

        assert kills >= 1
        assert all(r.status == 200 and r.default is not None for r in result.records), result.summary()
        growth = (rss_after - rss_before) / rss_before
        assert growth <= p.SOAK_RSS_GROWTH, f"RSS {rss_before:.1f} -> {rss_after:.1f} MiB"
        assert all(s["clipper_prediction_cache_bytes"] <= p.SOAK_CACHE_BYTES for s in sampler.samples)
        assert max(s["clipper_prediction_cache_bytes"] for s in sampler.samples) > 0
        pending = [s["clipper_pending_predictions"] for s in sampler.samples]
        assert max(pending) <= p.SOAK_RATE * p.SLO_S * 2, f"pending predictions grew to {max(pending)}"

        # Every input that got a default now gets a model output: no default was cached.
        defaulted = sorted({int(r.seq % p.SOAK_DISTINCT_INPUTS) for r in result.records if r.default})
        for x in defaulted:
            answer = await asyncio.to_thread(cluster.predict, {"input": [float(x), 0.5]})
            assert answer["default"] is False, f"input {x} got {answer} after a default"
        print(f"\nFIGURES row=20 duration_s={duration:.0f} requests={len(result.records)} kills={kills} "
              f"defaults={len(result.defaults())} rss_before_mib={rss_before:.1f} rss_after_mib={rss_after:.1f} "
              f"rss_growth_pct={growth * 100:.2f} fds_before={fds_before} fds_after={fds_after} "
              f"max_cache_bytes={max(s['clipper_prediction_cache_bytes'] for s in sampler.samples):.0f} "
              f"cache_budget={p.SOAK_CACHE_BYTES} max_pending={max(pending):.0f} "
              f"defaulted_inputs_rechecked={len(defaulted)}")
