"""Supervised threads: crash logging, readiness, restart with backoff, ordered shutdown."""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections.abc import Callable

import pytest

from clipper_service.supervisor import RestartPolicy, ThreadSupervisor
from tests.clipper_service.supervision_helpers import (
    FAST,
    assert_traceback_logged,
    crash_records,
    wait_until,
    log,
)


# ----------------------------------------------------------------- threads


def test_thread_crash_is_logged_marks_not_ready_and_restarts(caplog: pytest.LogCaptureFixture) -> None:
    sup = ThreadSupervisor("svc", log, RestartPolicy(initial_backoff_s=0.3, max_backoff_s=0.3))
    runs: list[float] = []

    def loop(stop: threading.Event) -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RuntimeError("thread boom")
        stop.wait()

    with caplog.at_level(logging.INFO, logger="test.supervisor"):
        sup.start("worker", loop)
        wait_until(lambda: bool(sup.problems))
        assert sup.readiness() == (False, "worker crashed: RuntimeError: thread boom")
        wait_until(lambda: bool(crash_records(caplog, "worker")))  # logged just after
        assert_traceback_logged(caplog, "worker", "thread boom")
        wait_until(lambda: len(runs) == 2)
        wait_until(lambda: sup.readiness() == (True, None))
    assert runs[1] - runs[0] >= 0.29
    assert sup.crash_count("worker") == 1 and sup.running("worker")
    assert "svc: worker restarted" in caplog.text
    assert sup.close(2) == []
    assert not sup.running("worker")


def test_thread_backoff_doubles_between_repeated_crashes() -> None:
    sup = ThreadSupervisor("svc", log, RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.2))
    starts: list[float] = []

    def always_crashes(stop: threading.Event) -> None:
        starts.append(time.monotonic())
        raise ValueError("again")

    sup.start("bad", always_crashes)
    wait_until(lambda: len(starts) >= 5)
    assert sup.close(2) == []
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    for gap, backoff in zip(gaps, (0.05, 0.1, 0.2, 0.2)):
        assert gap >= backoff * 0.9, gaps


def test_thread_started_with_restart_false_stays_down(caplog: pytest.LogCaptureFixture) -> None:
    sup = ThreadSupervisor("svc", log, FAST)
    calls = 0

    def once(stop: threading.Event) -> None:
        nonlocal calls
        calls += 1
        raise OSError("no device")

    with caplog.at_level(logging.ERROR, logger="test.supervisor"):
        sup.start("probe", once, restart=False)
        wait_until(lambda: not sup.running("probe"))
        time.sleep(0.15)
    assert calls == 1
    assert sup.readiness() == (False, "probe crashed: OSError: no device")
    assert "probe crashed and is not restarted" in caplog.text


def test_system_exit_in_a_thread_is_a_crash_not_a_silent_end(caplog: pytest.LogCaptureFixture) -> None:
    sup = ThreadSupervisor("svc", log, FAST)
    runs = 0

    def exits_once(stop: threading.Event) -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            sys.exit(3)
        stop.wait()

    with caplog.at_level(logging.ERROR, logger="test.supervisor"):
        sup.start("model", exits_once)
        wait_until(lambda: runs == 2)
    assert sup.crash_count("model") == 1 and sup.running("model")
    wait_until(lambda: bool(crash_records(caplog, "model")))
    assert "model crashed; restarting it" in caplog.text and "SystemExit: 3" in caplog.text
    wait_until(lambda: sup.readiness() == (True, None))
    assert sup.close(2) == []


def test_thread_stop_order_and_close_in_reverse_start_order() -> None:
    sup = ThreadSupervisor("svc", log, FAST)
    stopped: list[str] = []
    lock = threading.Lock()

    def forever(name: str) -> Callable[[threading.Event], None]:
        def run(stop: threading.Event) -> None:
            stop.wait()
            time.sleep(0.02)  # a slow exit: the next must not be told before it is done
            with lock:
                stopped.append(name)

        return run

    for name in ("a", "b", "c", "d", "e"):
        sup.start(name, forever(name))
    assert sup.stop("b", "d", timeout_s=2) == []
    assert stopped == ["b", "d"]
    assert sup.running("a") and not sup.running("b")
    assert not sup.stopping.is_set()
    assert sup.close(2) == []
    assert sup.stopping.is_set()
    assert stopped == ["b", "d", "e", "c", "a"]


def test_thread_close_reports_threads_that_do_not_stop() -> None:
    sup = ThreadSupervisor("svc", log, FAST)
    release = threading.Event()
    sup.start("stuck", lambda stop: release.wait())  # type: ignore[arg-type, return-value]
    sup.start("polite", lambda stop: stop.wait())  # type: ignore[arg-type, return-value]
    t0 = time.monotonic()
    assert sup.close(0.3) == ["stuck"]
    assert time.monotonic() - t0 < 2
    assert not sup.running("polite")
    release.set()
    wait_until(lambda: not sup.running("stuck"))


def test_thread_stop_interrupts_the_backoff() -> None:
    sup = ThreadSupervisor("svc", log, RestartPolicy(initial_backoff_s=10, max_backoff_s=10))

    def crashes(stop: threading.Event) -> None:
        raise RuntimeError("down")

    sup.start("flaky", crashes)
    wait_until(lambda: bool(sup.problems))
    t0 = time.monotonic()
    assert sup.close(2) == []
    assert time.monotonic() - t0 < 1
    assert sup.crash_count("flaky") == 1


def test_starting_a_running_thread_twice_is_refused() -> None:
    sup = ThreadSupervisor("svc", log, FAST)
    sup.start("x", lambda stop: stop.wait())  # type: ignore[arg-type, return-value]
    with pytest.raises(RuntimeError, match="already running"):
        sup.start("x", lambda stop: stop.wait())  # type: ignore[arg-type, return-value]
    assert sup.close(2) == []


def test_a_thread_that_returns_is_finished_not_restarted() -> None:
    sup = ThreadSupervisor("svc", log, FAST)
    calls = 0

    def done(stop: threading.Event) -> None:
        nonlocal calls
        calls += 1

    sup.start("job", done)
    wait_until(lambda: not sup.running("job"))
    time.sleep(0.1)
    assert calls == 1 and sup.readiness() == (True, None)
