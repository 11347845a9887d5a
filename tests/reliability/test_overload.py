"""Rows 7 and 8 of reliability-tests.md: overload shedding and atomic admission.

Row 7: one Slow(OVERLOAD_MODEL_MS) replica at batch size 1 behind a queue of
OVERLOAD_QUEUE_MAX; its capacity is measured, then an open-loop load of
OVERLOAD_FACTOR times that is offered. The queue never grows past its bound
(the frontend's high-water mark, not a sampled view), shed queries get the
configured answer at once (the default output, or 503 with Retry-After),
nothing times out or fails otherwise, accepted queries answer by the SLO,
memory and task counts stay bounded, and latency is back to its baseline
soon after the load stops. Run for both ``shed_with`` settings.

Row 8: 500 concurrent queries against two replicas that record how many
batches they hold at once: never more than one (the frontend's pull-based
dispatch), the ray#42947 regression.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import requests

from tests.load import params as p
from tests.load.openloop import LoadResult, burst, run_open_loop
from tests.reliability.qf_tools import (
    ConcurrencyProbe,
    CpuAccount,
    Sampler,
    gauges,
    percentile,
    qf_cluster,
    qf_process,
    queue_label,
    rss_mib,
)
from tests.support.cluster import Cluster, wait_for

pytestmark = [pytest.mark.fault, pytest.mark.load]

SHED_EXPLANATION = "queue is full"


async def measure_capacity(url: str, seconds: float = 1.5, workers: int = 4) -> float:
    """Answers per second with a few closed-loop clients (never enough to fill the queue)."""
    done = 0
    stop_at = time.monotonic() + seconds

    async def worker(session: aiohttp.ClientSession, w: int) -> None:
        nonlocal done
        i = 0
        while time.monotonic() < stop_at:
            async with session.post(url, json={"input": [float(w), float(i)]}) as resp:
                body = await resp.json()
            i += 1
            if resp.status == 200 and body["default"] is False:
                done += 1

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session, w) for w in range(workers)))
    return done / seconds


def _light_load_p99(result: LoadResult) -> float:
    assert not result.failures(), result.summary()
    return percentile([r.latency for r in result.records], 0.99)


@pytest.mark.parametrize("shed_with", ["default", "503"])
async def test_overload_is_shed_within_bounds(redis_instance: Any, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch, shed_with: str) -> None:
    with qf_cluster(redis_instance.port, tmp_path, monkeypatch,
                    max_queue_size=p.OVERLOAD_QUEUE_MAX, shed_with=shed_with) as cluster:
        await _overload(cluster, shed_with)


async def _overload(cluster: Cluster, shed_with: str) -> None:
    cluster.setup_app(batch_size=1)
    slow = cluster.start_replica("slow", delay_ms=p.OVERLOAD_MODEL_MS, gated=False)
    await asyncio.to_thread(cluster.wait_connected, 1)
    proc = qf_process(cluster)
    capacity = await measure_capacity(cluster.predict_url)
    assert capacity > 10, f"capacity {capacity:.0f}/s: the replica is not serving"
    baseline = await run_open_loop(cluster.predict_url, capacity / 4, 1.0, timeout_s=p.CLIENT_TIMEOUT_S)
    baseline_p99 = _light_load_p99(baseline)
    rss_before = rss_mib(proc)
    rate = capacity * p.OVERLOAD_FACTOR

    retry_after: list[str] = []

    async def probe_503() -> None:
        # openloop records no headers: check Retry-After on a few of our own.
        async with aiohttp.ClientSession() as session:
            for i in range(20):
                await asyncio.sleep(p.OVERLOAD_DURATION_S / 25)
                async with session.post(cluster.predict_url, json={"input": [-1.0, float(i)]}) as resp:
                    if resp.status == 503:
                        retry_after.append(resp.headers.get("Retry-After", ""))
                    await resp.read()

    def sample() -> tuple[float, dict[str, float]]:
        return rss_mib(proc), gauges(cluster)

    with Sampler(sample, 0.1) as sampler, CpuAccount() as cpu:
        probe = asyncio.create_task(probe_503())
        result = await run_open_loop(cluster.predict_url, rate, p.OVERLOAD_DURATION_S, timeout_s=p.CLIENT_TIMEOUT_S)
        await probe
    stopped = time.monotonic()

    # Recovery: queue empty, then light load back at its baseline p99.
    qkey = queue_label()
    await asyncio.to_thread(wait_for, lambda: gauges(cluster)[f"clipper_model_queue_length{qkey}"] == 0,
                            p.OVERLOAD_RECOVERY_S, "the queue to empty")
    after = await run_open_loop(cluster.predict_url, capacity / 4, 1.0, timeout_s=p.CLIENT_TIMEOUT_S)
    recovered_in = time.monotonic() - stopped
    after_p99 = _light_load_p99(after)

    final = gauges(cluster)
    peak = final[f"clipper_model_queue_peak_length{qkey}"]
    assert final["clipper_model_queue_max_length"] == p.OVERLOAD_QUEUE_MAX
    assert 0 < peak <= p.OVERLOAD_QUEUE_MAX, f"queue peaked at {peak}"
    assert final["clipper_queries_shed_total"] > 0, "nothing was shed: the load did not overload"
    assert slow.state().fired.get("slow", 0) > 0, "the slow fault never fired"

    recs = result.records
    shed = [r for r in recs if (r.status == 503) or (r.default and SHED_EXPLANATION in (r.explanation or ""))]
    accepted = [r for r in recs if r not in shed]
    bad = [r for r in recs if r.status not in ((200, 503) if shed_with == "503" else (200,))
           or (r.status == 200 and r.default is None)]
    assert not bad, f"{len(bad)} bad answers, e.g. {bad[:3]}"
    if shed_with == "503":
        assert all(r.status == 503 for r in shed) and shed
        assert retry_after and all(v.isdigit() and int(v) >= 1 for v in retry_after), retry_after
    else:
        assert all(r.status == 200 and r.output == p.DEFAULT_OUTPUT for r in shed) and shed
    shed_p95 = percentile([r.service_latency for r in shed], 0.95)
    shed_p99 = percentile([r.service_latency for r in shed], 0.99)
    assert shed_p95 <= p.OVERLOAD_SHED_P95_S, f"shed answers p95 {shed_p95 * 1000:.1f} ms; CPU: {cpu.top()}"
    worst_accepted = max(r.latency for r in accepted)
    assert worst_accepted <= p.MAX_LATENCY_S, f"accepted answer after {worst_accepted * 1000:.1f} ms"

    rss_growth = max(s[0] for s in sampler.samples) - rss_before
    assert rss_growth <= p.OVERLOAD_RSS_GROWTH_MIB, f"RSS grew {rss_growth:.1f} MiB"
    max_tasks = max(s[1]["clipper_asyncio_tasks"] for s in sampler.samples)
    task_bound = p.OVERLOAD_QUEUE_MAX + 1 + p.OVERLOAD_TASK_SLACK
    assert max_tasks <= task_bound, f"{max_tasks} tasks (bound {task_bound})"
    sampled_queue = max(s[1].get(f"clipper_model_queue_length{qkey}", 0) for s in sampler.samples)
    assert sampled_queue <= p.OVERLOAD_QUEUE_MAX
    assert recovered_in <= p.OVERLOAD_RECOVERY_S + 1.0
    assert after_p99 <= max(2 * baseline_p99, baseline_p99 + p.EPSILON_S), \
        f"p99 {after_p99 * 1000:.1f} ms after the load vs {baseline_p99 * 1000:.1f} ms before"
    print(f"\nFIGURES row=7 shed_with={shed_with} capacity_per_s={capacity:.0f} offered_per_s={rate:.0f} "
          f"requests={len(recs)} shed={len(shed)} accepted={len(accepted)} queue_peak={peak:.0f} "
          f"queue_max={p.OVERLOAD_QUEUE_MAX} shed_p95_ms={shed_p95 * 1000:.1f} shed_p99_ms={shed_p99 * 1000:.1f} "
          f"accepted_max_ms={worst_accepted * 1000:.1f} rss_growth_mib={rss_growth:.1f} max_tasks={max_tasks:.0f} "
          f"baseline_p99_ms={baseline_p99 * 1000:.1f} after_p99_ms={after_p99 * 1000:.1f} "
          f"recovered_in_s={recovered_in:.2f}\nCPU during the load: {cpu.top()}")


async def test_a_replica_never_holds_two_batches(cluster: Cluster) -> None:
    cluster.setup_app()
    probes = [ConcurrencyProbe(cluster.rpc_port, p.MODEL, "1").start() for _ in range(2)]
    try:
        await asyncio.to_thread(cluster.wait_connected, 2)
        result = await burst(cluster.predict_url, p.ADMISSION_REQUESTS, timeout_s=p.CLIENT_TIMEOUT_S,
                             warm_url=f"{cluster.query_url}/healthz")
        await asyncio.to_thread(wait_for, lambda: all(r["inflight"] == 0 for r in cluster.connected()), 5,
                                "the last batches")
    finally:
        for probe in probes:
            await asyncio.to_thread(probe.stop)
    assert not result.failures(), result.summary()
    served = sum(pr.inputs_received for pr in probes)
    assert all(pr.batches for pr in probes), "a replica got no batch"
    assert served > 0
    worst = max(pr.max_outstanding for pr in probes)
    assert worst <= p.ADMISSION_MAX_BATCHES_PER_REPLICA, f"a replica held {worst} batches at once"
    biggest = max(len(b) for pr in probes for b in pr.batches)
    print(f"\nFIGURES row=8 requests={p.ADMISSION_REQUESTS} batches={sum(len(pr.batches) for pr in probes)} "
          f"inputs_served={served} max_batches_held_per_replica={worst} largest_batch={biggest} "
          f"defaults={len(result.defaults())}")
    assert requests.get(f"{cluster.query_url}/healthz", timeout=5).status_code == 200
