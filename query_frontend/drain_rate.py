"""How fast a model queue drains, and the ``Retry-After`` a shed query is told.

A shed client should come back when the queue has room again: about the
queue's length divided by the rate at which its queries are being answered.
Each answered batch gives one measurement, its size over the time it
accounts for (since the previous answer, or its own latency when the queue
was idle in between, whichever is shorter, so parallel replicas add up and
idle time does not count), smoothed over the last few batches. A queue
whose answers stop (a stalled model) sees its rate fall as the silence
grows, so its Retry-After grows to the maximum.
"""

from __future__ import annotations

import math
import time

SMOOTHING = 0.3
"""Weight of the newest measurement: the rate follows the last few batches."""
MIN_RETRY_AFTER_S = 1
MAX_RETRY_AFTER_S = 30
"""Retry-After bounds: HTTP's smallest unit, and a wait clients still honour."""


class DrainRate:
    """Queries answered per second, recently."""

    __slots__ = ("_rate", "_last", "_last_size", "measured")

    def __init__(self) -> None:
        self._rate = 0.0
        self._last = 0.0
        self._last_size = 0
        self.measured = False
        """Whether any batch has been answered yet."""

    def completed(self, n: int, busy_s: float, now: float | None = None) -> None:
        """A batch of ``n`` queries was just answered, ``busy_s`` after it was sent."""
        now = time.monotonic() if now is None else now
        span = busy_s if not self.measured else min(now - self._last, busy_s)
        measured = n / max(span, 1e-3)
        self._rate = measured if not self.measured else self._rate + SMOOTHING * (measured - self._rate)
        self._last, self._last_size, self.measured = now, n, True

    def per_second(self, now: float | None = None) -> float:
        if not self.measured or self._rate <= 0.0:
            return 0.0
        since = (time.monotonic() if now is None else now) - self._last
        usual_gap = self._last_size / self._rate
        if since <= 2 * usual_gap:
            return self._rate
        return self._rate * 2 * usual_gap / since  # answers stopped: the rate decays with the silence

    def retry_after_s(self, queued: int, now: float | None = None) -> int:
        """Whole seconds until ``queued`` queries are answered at the recent rate, within the bounds.

        Before any answer there is nothing to go by: the minimum.
        """
        if not self.measured or queued <= 0:
            return MIN_RETRY_AFTER_S
        rate = self.per_second(now)
        if rate * MAX_RETRY_AFTER_S <= queued:
            return MAX_RETRY_AFTER_S
        return max(MIN_RETRY_AFTER_S, math.ceil(queued / rate))
