"""Supervised asyncio tasks (and the restart policy): crash logging, readiness, restart with backoff, ordered shutdown."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest

from clipper_service.supervisor import RestartPolicy, TaskSupervisor, cancel_and_wait
from tests.clipper_service.supervision_helpers import (
    FAST,
    assert_traceback_logged,
    async_wait_until,
    crash_records,
    log,
)


# ----------------------------------------------------------------- restart policy


def test_backoff_starts_small_doubles_is_capped_and_resets_after_a_stable_run() -> None:
    policy = RestartPolicy(initial_backoff_s=0.1, max_backoff_s=0.5, stable_after_s=10)
    assert policy.next_backoff(None, 0.0) == 0.1
    assert policy.next_backoff(0.1, 0.0) == 0.2
    assert policy.next_backoff(0.2, 1.0) == 0.4
    assert policy.next_backoff(0.4, 1.0) == 0.5
    assert policy.next_backoff(0.5, 1.0) == 0.5
    assert policy.next_backoff(0.5, 10.0) == 0.1


# ----------------------------------------------------------------- asyncio tasks


async def test_task_crash_is_logged_marks_not_ready_and_restarts(caplog: pytest.LogCaptureFixture) -> None:
    sup = TaskSupervisor("svc", log, RestartPolicy(initial_backoff_s=0.3, max_backoff_s=0.3))
    runs: list[float] = []
    release = asyncio.Event()

    async def loop() -> None:
        runs.append(time.monotonic())
        if len(runs) == 1:
            raise RuntimeError("boom")
        await release.wait()

    with caplog.at_level(logging.INFO, logger="test.supervisor"):
        sup.start("poller", loop)
        await async_wait_until(lambda: bool(sup.problems))
        assert sup.readiness() == (False, "poller crashed: RuntimeError: boom")
        assert sup.running("poller")
        assert_traceback_logged(caplog, "poller", "boom")
        assert "restarting it in 0.30 s" in caplog.text
        await async_wait_until(lambda: len(runs) == 2)
    assert runs[1] - runs[0] >= 0.29
    assert sup.readiness() == (True, None)
    assert sup.crash_count("poller") == 1
    assert "svc: poller restarted" in caplog.text
    release.set()
    await async_wait_until(lambda: not sup.running("poller"))
    assert sup.readiness() == (True, None) and sup.crash_count("poller") == 1


async def test_task_backoff_doubles_between_repeated_crashes() -> None:
    sup = TaskSupervisor("svc", log, RestartPolicy(initial_backoff_s=0.05, max_backoff_s=0.2))
    starts: list[float] = []

    async def always_crashes() -> None:
        starts.append(time.monotonic())
        raise ValueError("again")

    sup.start("bad", always_crashes)
    await async_wait_until(lambda: len(starts) >= 5)
    await sup.close()
    gaps = [b - a for a, b in zip(starts, starts[1:])]
    for gap, backoff in zip(gaps, (0.05, 0.1, 0.2, 0.2)):
        assert gap >= backoff * 0.9, gaps
    assert gaps[2] > gaps[0] * 1.5, gaps


async def test_task_started_with_restart_false_stays_down(caplog: pytest.LogCaptureFixture) -> None:
    sup = TaskSupervisor("svc", log, FAST)
    calls = 0

    async def once() -> None:
        nonlocal calls
        calls += 1
        raise KeyError("gone")

    with caplog.at_level(logging.ERROR, logger="test.supervisor"):
        sup.start("one-shot", once, restart=False)
        await async_wait_until(lambda: not sup.running("one-shot"))
        await asyncio.sleep(0.2)
    assert calls == 1
    assert sup.readiness() == (False, "one-shot crashed: KeyError: 'gone'")
    assert "one-shot crashed and is not restarted" in caplog.text
    assert_traceback_logged(caplog, "one-shot", "'gone'")


async def test_a_task_that_returns_is_finished_not_restarted() -> None:
    sup = TaskSupervisor("svc", log, FAST)
    calls = 0

    async def done() -> None:
        nonlocal calls
        calls += 1

    sup.start("job", done)
    await async_wait_until(lambda: not sup.running("job"))
    await asyncio.sleep(0.1)
    assert calls == 1 and sup.readiness() == (True, None)


async def test_stop_stops_tasks_in_the_order_given_and_close_in_reverse_start_order() -> None:
    sup = TaskSupervisor("svc", log, FAST)
    stopped: list[str] = []

    def forever(name: str) -> Callable[[], asyncio.Future[None]]:
        async def run() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                # The next one may only be stopped once this one has finished.
                await asyncio.sleep(0.02)
                stopped.append(name)

        return run  # type: ignore[return-value]

    for name in ("a", "b", "c", "d", "e"):
        sup.start(name, forever(name))
    await asyncio.sleep(0.01)
    await sup.stop("b", "d")
    assert stopped == ["b", "d"]
    assert not sup.running("b") and sup.running("a")
    await sup.close()
    assert stopped == ["b", "d", "e", "c", "a"]


async def test_a_task_started_again_is_stopped_as_the_last_started() -> None:
    sup = TaskSupervisor("svc", log, FAST)
    stopped: list[str] = []

    def forever(name: str) -> Callable[[], asyncio.Future[None]]:
        async def run() -> None:
            try:
                await asyncio.Event().wait()
            finally:
                stopped.append(name)

        return run  # type: ignore[return-value]

    async def quick() -> None:
        return

    sup.start("a", quick)
    sup.start("b", forever("b"))
    await async_wait_until(lambda: not sup.running("a"))
    sup.start("a", forever("a"))
    await asyncio.sleep(0.01)
    await sup.close()
    assert stopped == ["a", "b"]


async def test_starting_a_running_task_twice_is_refused() -> None:
    sup = TaskSupervisor("svc", log, FAST)
    sup.start("x", lambda: asyncio.Event().wait())  # type: ignore[arg-type, return-value]
    with pytest.raises(RuntimeError, match="already running"):
        sup.start("x", lambda: asyncio.Event().wait())  # type: ignore[arg-type, return-value]
    await sup.close()


async def test_a_cancellation_a_library_swallows_once_still_stops_the_task_without_a_crash(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sup = TaskSupervisor("svc", log, FAST)
    swallowed = 0
    runs = 0

    async def uses_a_sloppy_library() -> None:
        nonlocal swallowed, runs
        runs += 1
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                if swallowed == 0:
                    swallowed += 1
                    # What redis-py's timeouts can do on Python 3.11.
                    raise TimeoutError("Timeout reading from socket") from None
                raise

    with caplog.at_level(logging.INFO, logger="test.supervisor"):
        sup.start("reader", uses_a_sloppy_library)
        await asyncio.sleep(0.01)
        await asyncio.wait_for(sup.stop("reader"), 5)
    assert swallowed == 1 and runs == 1
    assert not sup.running("reader")
    assert crash_records(caplog, "reader") == []
    assert sup.readiness() == (True, None) and sup.crash_count("reader") == 0


async def test_a_cancellation_swallowed_for_good_is_repeated_until_it_sticks() -> None:
    swallowed = 0

    async def stubborn() -> None:
        nonlocal swallowed
        while True:
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                swallowed += 1
                if swallowed >= 2:
                    raise

    task = asyncio.get_running_loop().create_task(stubborn())
    await asyncio.sleep(0.01)
    await asyncio.wait_for(cancel_and_wait([task]), 5)
    assert task.cancelled() and swallowed == 2


async def test_stopping_a_crashed_task_clears_its_problem() -> None:
    sup = TaskSupervisor("svc", log, RestartPolicy(initial_backoff_s=5, max_backoff_s=5))

    async def crashes() -> None:
        raise RuntimeError("down")

    sup.start("flaky", crashes)
    await async_wait_until(lambda: bool(sup.problems))
    await asyncio.wait_for(sup.stop("flaky"), 2)  # interrupts the backoff
    assert sup.readiness() == (True, None)


async def test_a_real_timeout_inside_a_task_is_a_crash() -> None:
    sup = TaskSupervisor("svc", log, RestartPolicy(initial_backoff_s=5, max_backoff_s=5))

    async def times_out() -> None:
        async with asyncio.timeout(0.01):
            await asyncio.sleep(1)

    sup.start("slow", times_out)
    await async_wait_until(lambda: bool(sup.problems))
    assert sup.readiness() == (False, "slow crashed: TimeoutError: ")
    await sup.close()
