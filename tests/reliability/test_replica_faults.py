"""Rows 1-4 of reliability-tests.md: replicas crash, rejoin, hang and freeze under load.

Two Echo replicas of model ``m`` serve app ``a`` (SLO 100 ms) while an
open-loop generator sends unique inputs; a fault is injected on the load's
clock and the query frontend's ``/state`` is watched to time detection.
Each test prints a ``FIGURES`` line with what it measured (``-s`` shows it).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter

import pytest

from tests.load import params as p
from tests.load.openloop import LoadResult, run_open_loop
from tests.support.cluster import Cluster, Replica, wait_for
from tests.support.timeline import StateWatcher, Timeline, replicas_of

pytestmark = [pytest.mark.fault, pytest.mark.load]

HUNG_AFTER_S = max(1.0, 5 * p.SLO_S)
"""A replica whose batch is unanswered this long is quarantined (docs/architecture.md, RPC)."""


def report(row: int, **figures: object) -> None:
    print(f"\nFIGURES row={row} " + " ".join(f"{k}={v}" for k, v in figures.items()))


def check_all_answered_in_time(result: LoadResult) -> None:
    """Every response is HTTP 200 with an output or a default, within SLO + ε.

    Latency is counted from when each request actually started out: the
    generator never waits for answers, so a late send is the generator's own
    CPU starvation (it shares 2 cores with the cluster), not the server's.
    """
    assert result.records, "no load was sent"
    assert not result.failures(), f"{result.summary()}; first failures: {result.failures()[:3]}"
    slow = [r for r in result.records if r.service_latency > p.MAX_LATENCY_S]
    worst = max(r.service_latency for r in result.records)
    assert not slow, f"{len(slow)} answers over SLO + ε, worst {worst * 1000:.1f} ms: {slow[:3]}"


def explain(result: LoadResult, t0: float = 0.0) -> dict[str | None, int]:
    """Defaults from ``t0`` on, counted by explanation (for failure messages)."""
    return dict(Counter(r.explanation for r in result.window(t0) if r.default))


async def two_replicas(cluster: Cluster, first_fault: str = "echo") -> tuple[Replica, Replica]:
    """Two replicas of ``m:1`` serving app ``a``; the first with ``first_fault`` behind its gate."""
    cluster.setup_app()
    a, b = cluster.start_replica(first_fault), cluster.start_replica()
    await asyncio.to_thread(cluster.wait_connected, 2)
    return a, b


async def test_replica_sigkill_mid_load(cluster: Cluster) -> None:
    """Row 1: SIGKILL one of two replicas at 200 req/s."""
    victim, survivor = await two_replicas(cluster)
    tl = Timeline()
    watcher = StateWatcher(f"http://127.0.0.1:{cluster.introspect_port}/state", tl)
    load = asyncio.create_task(run_open_loop(cluster.predict_url, p.CRASH_RATE, p.CRASH_DURATION_S,
                                             start_at=tl.origin, timeout_s=p.CLIENT_TIMEOUT_S))
    try:
        await tl.until(p.CRASH_KILL_AT_S)
        t_kill = tl.now()
        victim.signal(signal.SIGKILL)
        t_removed = await watcher.wait(lambda s: len(replicas_of(s, p.MODEL)) == 1, 5, "the dead replica to leave")
        result = await load
    finally:
        await watcher.close()
    assert victim.proc.wait(5) == -signal.SIGKILL  # the injector fired
    detect_s = t_removed - t_kill
    check_all_answered_in_time(result)
    assert detect_s <= p.DEAD_DISPATCH_S, f"dead replica still in rotation {detect_s:.3f} s after the kill"
    # Requests in flight on the victim (sent before it left rotation, not
    # answered at the kill) get their default as soon as the disconnect is
    # seen, not at the SLO.
    caught = [r for r in result.defaults() if r.scheduled <= t_removed and r.done_at >= t_kill]
    late = [r for r in caught if r.done_at - t_kill > detect_s + p.DISCONNECT_DEFAULT_S]
    assert not late, f"in-flight queries waited for their default: {late}"
    steady = result.default_rate(p.CRASH_STEADY_FROM_S)
    assert steady <= p.CRASH_MAX_DEFAULT_RATE, (
        f"default rate {steady:.2%} after t={p.CRASH_STEADY_FROM_S} s: {explain(result, p.CRASH_STEADY_FROM_S)}")
    assert survivor.proc.poll() is None and cluster.qf is not None and cluster.qf.poll() is None
    report(1, requests=len(result.records), detect_ms=round(detect_s * 1000),
           defaults_total=len(result.defaults()), defaults_in_flight=len(caught),
           in_flight_default_after_kill_ms=round(max((r.done_at - t_kill for r in caught), default=0) * 1000, 1),
           max_latency_ms=round(result.max_latency() * 1000, 1), max_send_lag_ms=round(result.max_send_lag() * 1000, 1),
           steady_default_rate=f"{steady:.2%}")


async def test_replacement_replica_rejoins(cluster: Cluster) -> None:
    """Row 2: after a SIGKILL, a new replica of the same version takes traffic at once."""
    victim, _ = await two_replicas(cluster)
    qf_pid = cluster.qf_state()["pid"]
    victim.signal(signal.SIGKILL)
    await asyncio.to_thread(cluster.wait_connected, 1, timeout_s=p.DEAD_AFTER_S * 2)
    tl = Timeline()
    watcher = StateWatcher(f"http://127.0.0.1:{cluster.introspect_port}/state", tl)
    load = asyncio.create_task(run_open_loop(cluster.predict_url, p.REJOIN_RATE, p.REJOIN_DURATION_S,
                                             start_at=tl.origin, timeout_s=p.CLIENT_TIMEOUT_S))
    try:
        await tl.until(0.5)
        replacement = cluster.start_replica()
        t_registered = await watcher.wait(lambda s: len(replicas_of(s, p.MODEL)) == 2, p.START_TIMEOUT_S,
                                          "the replacement to register")
        result = await load
        final = await watcher.get()
    finally:
        await watcher.close()
    check_all_answered_in_time(result)
    first = replacement.state().first_wall
    assert first is not None, "the replacement never received a query"
    t_first = first - result.wall_start
    assert t_first - t_registered <= p.REJOIN_TRAFFIC_WITHIN_S, (
        f"first query reached the replacement {t_first - t_registered:.3f} s after it registered")
    settled = t_registered + p.REJOIN_ZERO_DEFAULTS_AFTER_S
    assert settled < p.REJOIN_DURATION_S - 1, "load ended before the criterion's window"
    after = result.default_rate(settled)
    assert after == 0.0, f"default rate {after:.2%} from {settled:.2f} s on"
    assert final["pid"] == qf_pid and cluster.qf is not None and cluster.qf.poll() is None
    report(2, registered_at_s=round(t_registered, 3),
           first_query_after_registration_ms=round((t_first - t_registered) * 1000),
           defaults_total=len(result.defaults()), default_rate_after=f"{after:.2%}",
           max_latency_ms=round(result.max_latency() * 1000, 1), max_send_lag_ms=round(result.max_send_lag() * 1000, 1), qf_pid_unchanged=True)


async def test_hung_replica_is_quarantined(cluster: Cluster) -> None:
    """Row 3: one replica's predict never returns (heartbeats go on) at 100 req/s."""
    hung, healthy = await two_replicas(cluster, "hang")
    tl = Timeline()
    watcher = StateWatcher(f"http://127.0.0.1:{cluster.introspect_port}/state", tl)
    load = asyncio.create_task(run_open_loop(cluster.predict_url, p.HANG_RATE, p.HANG_DURATION_S,
                                             start_at=tl.origin, timeout_s=p.CLIENT_TIMEOUT_S))
    ready_codes: list[int] = []
    try:
        await tl.until(p.HANG_AT_S)
        hung.open_gate()
        t_gate = tl.now()
        await asyncio.to_thread(wait_for, lambda: hung.state().fired.get("hang"), 2, "the hang to fire")
        samples = []
        while tl.now() < p.HANG_DURATION_S:
            samples.append((tl.now(), await watcher.get()))
            ready_codes.append(await asyncio.to_thread(cluster.ready_status))
            await asyncio.sleep(0.05)
        result = await load
    finally:
        hung.close_gate()
        await watcher.close()
    check_all_answered_in_time(result)
    # Both replicas stay registered (one session each) while one hangs.
    by_identity: dict[str, list[tuple[float, dict]]] = {}
    for t, s in samples:
        for r in replicas_of(s, p.MODEL):
            by_identity.setdefault(r["identity"], []).append((t, r))
    assert len(by_identity) == 2, f"replicas re-registered during the hang: identities {sorted(by_identity)}"
    # The hung replica is the one holding a batch far longer than any model
    # takes; it holds one batch, the same one throughout: no new dispatch.
    hung_id = max(by_identity, key=lambda i: max(r["inflight_age_s"] for _, r in by_identity[i]))
    stuck = [(t, r) for t, r in by_identity[hung_id] if r["inflight_age_s"] > p.SLO_S * 2]
    assert stuck, "no replica was seen holding a batch: the hang did not take effect"
    batches = {r["inflight_msg_id"] for _, r in stuck}
    assert len(batches) == 1, f"the hung replica was sent more batches: {batches}"
    # The healthy one serves on: never quarantined, never holding a batch as
    # long as a hung one is held before quarantine. (On a busy 2-core machine a
    # single batch may wait a few hundred ms for the CPU; its queries still get
    # their answer or default in time, as checked above.)
    (healthy_id,) = set(by_identity) - {hung_id}
    healthy_worst = max(r["inflight_age_s"] for _, r in by_identity[healthy_id])
    assert healthy_worst < HUNG_AFTER_S, f"the healthy replica held a batch for {healthy_worst:.2f} s"
    assert not any(r["quarantined"] for _, r in by_identity[healthy_id]), "the healthy replica was quarantined"
    limit = max(s["batch_limits"][f"{p.MODEL}:1"] for _, s in samples)
    assert max(r["inflight"] for _, r in stuck) <= limit
    quarantined_at = min((t for t, r in stuck if r["quarantined"]), default=None)
    assert quarantined_at is not None, "the hung replica was never quarantined"
    assert quarantined_at - t_gate <= p.QUARANTINE_WITHIN_S
    assert all(code == 200 for code in ready_codes), f"/ready went false: {set(ready_codes)}"
    late_defaults = result.default_rate(t_gate + p.QUARANTINE_WITHIN_S)
    # Recovery: the released batch is answered and the replica serves again.
    await asyncio.to_thread(wait_for, lambda: all(not r["quarantined"] and r["inflight"] == 0
                                                  for r in cluster.connected()), 5, "the replica to recover")
    assert healthy.proc.poll() is None and hung.proc.poll() is None
    report(3, requests=len(result.records), quarantined_after_ms=round((quarantined_at - t_gate) * 1000),
           hung_inflight=max(r["inflight"] for _, r in stuck), defaults_total=len(result.defaults()),
           default_rate_after_quarantine=f"{late_defaults:.2%}",
           max_latency_ms=round(result.max_latency() * 1000, 1), max_send_lag_ms=round(result.max_send_lag() * 1000, 1), ready_always=True)


async def test_frozen_replica_declared_dead_and_returns(cluster: Cluster) -> None:
    """Row 4: SIGSTOP one replica for a while under 100 req/s, then SIGCONT."""
    frozen, other = await two_replicas(cluster)
    duration = p.FREEZE_AT_S + p.FREEZE_S + p.FREEZE_TAIL_S
    tl = Timeline()
    watcher = StateWatcher(f"http://127.0.0.1:{cluster.introspect_port}/state", tl)
    load = asyncio.create_task(run_open_loop(cluster.predict_url, p.FREEZE_RATE, duration,
                                             start_at=tl.origin, timeout_s=p.CLIENT_TIMEOUT_S))
    counts: list[int] = []

    def count(state: dict) -> int:
        n = len(replicas_of(state, p.MODEL))
        counts.append(n)
        return n

    try:
        await tl.until(p.FREEZE_AT_S)
        frozen.signal(signal.SIGSTOP)
        t_stop = tl.now()
        t_dead = await watcher.wait(lambda s: count(s) == 1, 5, "the frozen replica to be declared dead")
        await tl.until(p.FREEZE_AT_S + p.FREEZE_S)
        before = frozen.state().received
        frozen.signal(signal.SIGCONT)
        t_cont, wall_cont = tl.now(), time.time()
        t_back = await watcher.wait(lambda s: count(s) == 2, 5, "the thawed replica to re-register")
        await watcher.wait(lambda s: count(s) == 2 and frozen.state().received > before, 5,
                           "the thawed replica to serve")
        t_serving = tl.now()
        while tl.now() < duration:
            count(await watcher.get())
            await asyncio.sleep(0.05)
        result = await load
    finally:
        frozen.signal(signal.SIGCONT)
        await watcher.close()
    check_all_answered_in_time(result)
    assert t_dead - t_stop <= p.DECLARED_DEAD_WITHIN_S, f"declared dead after {t_dead - t_stop:.3f} s"
    assert t_serving - t_cont <= p.RESUME_SERVING_WITHIN_S, f"served again after {t_serving - t_cont:.3f} s"
    last = frozen.state().last_wall
    assert last is not None and last > wall_cont
    # No duplicate registration: never more than the two replicas, two at the end.
    assert max(counts) == 2 and counts[-1] == 2, f"replica counts seen: {sorted(set(counts))}"
    assert frozen.proc.poll() is None and other.proc.poll() is None
    assert cluster.qf is not None and cluster.qf.poll() is None
    report(4, declared_dead_ms=round((t_dead - t_stop) * 1000), reregistered_ms=round((t_back - t_cont) * 1000),
           serving_again_ms=round((t_serving - t_cont) * 1000), defaults_total=len(result.defaults()),
           max_latency_ms=round(result.max_latency() * 1000, 1), max_send_lag_ms=round(result.max_send_lag() * 1000, 1), max_replicas_seen=max(counts))
