"""Event-loop lag: how late the frontend's loop wakes a timer, the delay every query on it also sees.

A supervised task sleeps ``interval_s`` and measures how much later it woke:
that is the time some callback held the loop (a long parse, a garbage
collection pass, a burst of ready sockets) or the process waited for a CPU.
``/metrics/prometheus`` reports the largest lag of the last window and a
count of stalls; a stall over ``STALL_LOG_S`` is logged, at most once per
window, so a tail in the latency figures can be matched to the loop.
"""

from __future__ import annotations

import asyncio
import logging
import time

log = logging.getLogger("clipper.query_frontend.loop_lag")

STALL_S = 0.010
"""A wake-up this late counts as a stall."""

STALL_LOG_S = 0.050
"""A stall this long is logged (once per window)."""


class LoopLag:
    """The loop's wake-up lag: the largest of the last window, the largest ever and the stalls."""

    def __init__(self, interval_s: float = 0.005, window_s: float = 10.0) -> None:
        self.interval_s = interval_s
        self.window_s = window_s
        self.window_max_s = 0.0
        self._current_max_s = 0.0
        self.max_s = 0.0
        self.stalls = 0
        self.samples = 0

    def record(self, lag_s: float) -> None:
        """Count one measured lag (the loop calls it; tests may too)."""
        self.samples += 1
        if lag_s > self._current_max_s:
            self._current_max_s = lag_s
        if lag_s > self.max_s:
            self.max_s = lag_s
        if lag_s >= STALL_S:
            self.stalls += 1

    def roll_window(self) -> None:
        """Close the current window: its maximum becomes ``window_max_s``."""
        self.window_max_s, self._current_max_s = self._current_max_s, 0.0
        if self.window_max_s >= STALL_LOG_S:
            log.warning("The event loop stalled for up to %.0f ms in the last %.0f s (%d stalls over %.0f ms so far)",
                        1000 * self.window_max_s, self.window_s, self.stalls, 1000 * STALL_S)

    async def run(self) -> None:
        """Measure until cancelled."""
        next_roll = time.monotonic() + self.window_s
        while True:
            t0 = time.monotonic()
            await asyncio.sleep(self.interval_s)
            now = time.monotonic()
            self.record(max(0.0, now - t0 - self.interval_s))
            if now >= next_roll:
                self.roll_window()
                next_roll = now + self.window_s

    def gauges(self) -> list[tuple[str, str, list[tuple[dict[str, str], float]]]]:
        """The figures as runtime gauge families."""
        return [
            ("clipper_event_loop_lag_max_seconds",
             f"Largest event-loop wake-up lag in the last {self.window_s:g} s window.",
             [({}, max(self.window_max_s, self._current_max_s))]),
            ("clipper_event_loop_stalls",
             f"Wake-ups at least {1000 * STALL_S:g} ms late since the frontend started.",
             [({}, float(self.stalls))]),
        ]
