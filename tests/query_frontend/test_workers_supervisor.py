"""The ``--workers`` supervisor's restart logic and the summing of the workers' ``/metrics``, without processes."""

from __future__ import annotations

import signal
from typing import Any

import pytest

from query_frontend.settings import QueryFrontendSettings
from query_frontend.worker_metrics import RATIO_PARTS_KEY, WorkerRole, merge_documents
from query_frontend.workers import Backoff, Supervisor, check_worker_ports, worker_settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


class FakeWorker:
    """A worker the test makes ready or kills."""

    next_pid = 1000

    def __init__(self, index: int) -> None:
        FakeWorker.next_pid += 1
        self.index = index
        self._pid = FakeWorker.next_pid
        self.code: int | None = None
        self.is_ready = False
        self.signals: list[int] = []
        self.closed = False

    @property
    def pid(self) -> int | None:
        return self._pid

    @property
    def exitcode(self) -> int | None:
        return self.code

    def ready(self) -> bool:
        return self.is_ready

    def wait_handles(self) -> list[Any]:
        return []

    def send_signal(self, sig: int) -> None:
        self.signals.append(sig)
        self.code = -sig  # it drains and exits

    def close(self) -> None:
        self.closed = True


def make(count: int = 2, ready_at_start: bool = True) -> tuple[Supervisor, Clock, list[FakeWorker]]:
    clock = Clock()
    started: list[FakeWorker] = []

    def start(index: int) -> FakeWorker:
        w = FakeWorker(index)
        w.is_ready = ready_at_start
        started.append(w)
        return w

    sup = Supervisor(count, start, Backoff(initial_s=0.5, cap_s=4.0, stable_s=30.0), clock=clock,
                     wait=lambda handles, timeout: None)
    return sup, clock, started


def current(sup: Supervisor, index: int) -> FakeWorker | None:
    w = sup.slots[index].worker
    assert w is None or isinstance(w, FakeWorker)
    return w


def test_backoff_doubles_and_is_capped() -> None:
    b = Backoff(initial_s=0.5, cap_s=30.0)
    assert [b.delay_s(n) for n in (1, 2, 3, 4, 5, 6, 7, 8)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert b.delay_s(0) == 0


def test_a_dead_worker_is_restarted_after_a_growing_capped_delay() -> None:
    sup, clock, started = make()
    assert sup.start_all()
    delays = []
    for _ in range(6):  # it keeps dying a moment after it starts
        w = current(sup, 1)
        assert w is not None
        w.code = 1
        sup.check()
        slot = sup.slots[1]
        assert slot.worker is None and slot.restart_at is not None and w.closed
        delays.append(slot.restart_at - clock.now)
        clock.now = slot.restart_at - 0.01
        sup.check()
        assert sup.slots[1].worker is None  # not before its time
        clock.now = slot.restart_at
        sup.check()
        assert current(sup, 1) is not None
        clock.now += 1.0
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert sup.slots[1].restarts == 6
    assert current(sup, 0) is started[0]  # its sibling was left alone


def test_a_stable_run_resets_the_backoff() -> None:
    sup, clock, _ = make()
    assert sup.start_all()
    for _ in range(3):
        w = current(sup, 0)
        assert w is not None
        w.code = 1
        sup.check()
        clock.now = sup.slots[0].restart_at or clock.now
        sup.check()
    assert sup.slots[0].failures == 3
    w = current(sup, 0)
    assert w is not None
    sup.check()  # it serves...
    clock.now += 31.0  # ... for longer than stable_s
    w.code = -9
    sup.check()
    assert sup.slots[0].failures == 1
    assert sup.slots[0].restart_at == pytest.approx(clock.now + 0.5)


def test_a_worker_that_cannot_start_fails_the_start_and_stops_the_others() -> None:
    clock = Clock()
    workers: list[FakeWorker] = []

    def start(index: int) -> FakeWorker:
        w = FakeWorker(index)
        w.is_ready = index == 0
        w.code = 1 if index == 1 else None  # worker 1 exits at once
        workers.append(w)
        return w

    sup = Supervisor(2, start, clock=clock, wait=lambda handles, timeout: None)
    assert sup.run() == 1
    assert workers[0].signals == [signal.SIGTERM]


def test_stop_forwards_the_signal_and_waits() -> None:
    sup, _, started = make(3)
    assert sup.start_all()
    sup.request_stop(signal.SIGINT)
    sup.stop_workers(signal.SIGINT)
    assert [w.signals for w in started] == [[signal.SIGINT]] * 3
    assert all(s.worker is None for s in sup.slots)


def test_worker_settings_split_the_cache_and_offset_the_rpc_port() -> None:
    s = QueryFrontendSettings(workers=4, rpc_service_port=7000, prediction_cache_size=1000, query_port=0)
    w = [worker_settings(s, i, 4321) for i in range(4)]
    assert [x.rpc_service_port for x in w] == [7000, 7001, 7002, 7003]
    assert {x.prediction_cache_size for x in w} == {250}
    assert {x.query_port for x in w} == {4321}
    assert check_worker_ports(s) is None
    assert "rpc_service_port" in (check_worker_ports(QueryFrontendSettings(workers=2, rpc_service_port=0)) or "")
    assert QueryFrontendSettings.load(["--workers", "3"]).workers == 3
    assert QueryFrontendSettings.load([], {"CLIPPER_QF_WORKERS": "2"}).workers == 2
    assert QueryFrontendSettings().workers == 1
    with pytest.raises(ValueError):
        QueryFrontendSettings(workers=0)
    with pytest.raises(ValueError):
        WorkerRole(2, 2, (1, 2))


def _doc(worker: int, predictions: int, defaults: int, latencies: tuple[float, float, int]) -> dict[str, Any]:
    mean, p99, size = latencies
    return {
        "counters": [{"app:a:num_predictions": {"count": str(predictions)}}],
        "ratio_counters": [{"app:a:default_prediction_ratio": {"ratio": str(defaults / predictions)}}],
        "meters": [{"app:a:prediction_throughput": {"unit": "events per second", "rate": "10", "rate_1min": "-1"}}],
        "histograms": [{"app:a:prediction_latency": {
            "unit": "microseconds", "size": str(size), "min": str(mean), "max": str(p99), "mean": str(mean),
            "std_dev": "0", "p50": str(mean), "p95": str(p99), "p99": str(p99)}}],
        RATIO_PARTS_KEY: {"app:a:default_prediction_ratio": [defaults, predictions]},
        "monitoring": {"from": worker},
        "worker": worker,
        "pid": 10 + worker,
    }


def test_merge_sums_counters_and_recomputes_ratios() -> None:
    docs = {0: _doc(0, 10, 1, (100.0, 200.0, 10)), 1: _doc(1, 30, 3, (300.0, 900.0, 30))}
    merged = merge_documents(docs, 3, answering=1)
    assert merged["counters"] == [{"app:a:num_predictions": {"count": "40"}}]
    assert merged["ratio_counters"] == [{"app:a:default_prediction_ratio": {"ratio": "0.100000"}}]
    meter = merged["meters"][0]["app:a:prediction_throughput"]
    assert meter["rate"] == "20" and meter["rate_1min"] == "-1"
    hist = merged["histograms"][0]["app:a:prediction_latency"]
    assert hist["size"] == "40" and hist["mean"] == "250" and hist["p99"] == "900" and hist["min"] == "100"
    assert merged["monitoring"] == {"from": 1}
    assert merged["worker"] == 1 and RATIO_PARTS_KEY not in merged and "pid" not in merged
    assert merged["workers"]["count"] == 3
    assert merged["workers"]["reported"] == [0, 1] and merged["workers"]["missing"] == [2]
    assert [f["worker"] for f in merged["workers"]["figures"]] == [0, 1]
