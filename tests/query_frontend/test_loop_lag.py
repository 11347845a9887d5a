"""The event-loop lag meter: a loop held by a blocking callback shows up as lag and a stall."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from query_frontend.loop_lag import STALL_S, LoopLag


def _gauges(lag: LoopLag) -> dict[str, float]:
    return {name: samples[0][1] for name, _, samples in lag.gauges()}


def test_record_counts_stalls_and_keeps_the_largest_lag() -> None:
    lag = LoopLag()
    for x in (0.001, STALL_S / 2, STALL_S, 0.2, 0.003):
        lag.record(x)
    assert lag.samples == 5 and lag.stalls == 2 and lag.max_s == 0.2
    assert _gauges(lag) == {"clipper_event_loop_lag_max_seconds": 0.2, "clipper_event_loop_stalls": 2.0}


def test_a_window_rolls_over_and_a_long_stall_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    lag = LoopLag(window_s=1.0)
    lag.record(0.08)
    with caplog.at_level(logging.WARNING, logger="clipper.query_frontend.loop_lag"):
        lag.roll_window()
    assert "stalled for up to 80 ms" in caplog.text
    assert lag.window_max_s == 0.08
    lag.roll_window()  # a quiet window: the gauge drops back, the all-time maximum stays
    assert _gauges(lag)["clipper_event_loop_lag_max_seconds"] == 0.0 and lag.max_s == 0.08


async def test_a_blocked_loop_is_measured() -> None:
    lag = LoopLag(interval_s=0.002, window_s=60)
    task = asyncio.create_task(lag.run())
    try:
        await asyncio.sleep(0.02)
        time.sleep(0.06)  # a callback that holds the loop for 60 ms
        await asyncio.sleep(0.02)
    finally:
        task.cancel()
    assert lag.samples > 3
    assert 0.04 <= lag.max_s < 1.0
    assert lag.stalls >= 1
