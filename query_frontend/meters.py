"""The original's metric kinds (counter, ratio counter, meter, histogram) and Prometheus buckets.

Each of the original's kinds reports itself as the original's ``/metrics``
JSON does: a dict of strings (``{"count": "3"}``, ``{"ratio": "0.25"}``,
rates, percentiles). :class:`Buckets` is a Prometheus histogram's state.
Recording is a few integer operations: these run once per query.
"""

from __future__ import annotations

import math
import random
import time
from bisect import bisect_left
from dataclasses import dataclass, field

_TICK_S = 5.0
_EWMA_ALPHAS = {
    "rate_1min": 1 - math.exp(-_TICK_S / 60.0),
    "rate_5min": 1 - math.exp(-_TICK_S / 300.0),
    "rate_15min": 1 - math.exp(-_TICK_S / 900.0),
}


def _fmt(value: float) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "nan"
    if isinstance(value, int) or float(value).is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6f}"


@dataclass(slots=True)
class Counter:
    count: int = 0

    def increment(self, n: int = 1) -> None:
        self.count += n

    def report(self) -> dict[str, str]:
        return {"count": str(self.count)}


@dataclass(slots=True)
class RatioCounter:
    numerator: int = 0
    denominator: int = 0

    def increment(self, numerator: int, denominator: int) -> None:
        self.numerator += numerator
        self.denominator += denominator

    @property
    def ratio(self) -> float:
        return self.numerator / self.denominator if self.denominator else math.nan

    def report(self) -> dict[str, str]:
        return {"ratio": _fmt(self.ratio)}


@dataclass(slots=True)
class Meter:
    """Event rate: overall, plus 1/5/15-minute exponentially weighted averages.

    ``count`` is all there is to update (``mark``, or ``count += n`` by an
    owner that counts anyway); the averages catch up when reported.
    """

    start: float = field(default_factory=time.monotonic)
    count: int = 0
    _counted: int = 0
    _last_tick: float = field(default_factory=time.monotonic)
    _rates: dict[str, float] = field(default_factory=dict)

    def mark(self, n: int = 1) -> None:
        self.count += n

    def _tick(self, now: float) -> None:
        while now - self._last_tick >= _TICK_S:
            instant = (self.count - self._counted) / _TICK_S
            self._counted = self.count
            for name, alpha in _EWMA_ALPHAS.items():
                prev = self._rates.get(name)
                self._rates[name] = instant if prev is None else prev + alpha * (instant - prev)
            self._last_tick += _TICK_S

    def report(self) -> dict[str, str]:
        now = time.monotonic()
        self._tick(now)
        elapsed = max(now - self.start, 1e-9)
        out = {"unit": "events per second", "rate": _fmt(self.count / elapsed)}
        for name in _EWMA_ALPHAS:
            out[name] = _fmt(self._rates.get(name, -1.0))
        return out


@dataclass(slots=True)
class Histogram:
    """Reservoir-sampled distribution (uniform reservoir, as the original).

    Vitter's algorithm L: once the reservoir is full, the index of the next
    kept value is drawn ahead, so most inserts are a count and a compare
    rather than a random draw each; the sample is uniform all the same.
    """

    unit: str
    reservoir_size: int = 4096
    samples: list[float] = field(default_factory=list)
    seen: int = 0
    _next: int = 0
    _w: float = 1.0

    def insert(self, value: float) -> None:
        self.seen += 1
        if self.seen <= self.reservoir_size:
            self.samples.append(value)
            if self.seen == self.reservoir_size:
                self._skip()
        elif self.seen == self._next:
            self.samples[random.randrange(self.reservoir_size)] = value
            self._skip()

    def _skip(self) -> None:
        k = self.reservoir_size
        self._w *= math.exp(math.log(1.0 - random.random()) / k)
        # _w < 1 always (the draw is in (0, 1]); a draw of exactly 1 keeps the next value.
        gap = math.log(1.0 - random.random()) / math.log(1.0 - self._w) if self._w < 1.0 else 0.0
        self._next = self.seen + int(gap) + 1

    def report(self) -> dict[str, str]:
        s = sorted(self.samples)
        n = len(s)
        if n == 0:
            stats = dict.fromkeys(("min", "max", "mean", "std_dev", "p50", "p95", "p99"), 0.0)
        else:
            mean = sum(s) / n
            var = sum((x - mean) ** 2 for x in s) / n
            stats = {
                "min": s[0],
                "max": s[-1],
                "mean": mean,
                "std_dev": math.sqrt(var),
                "p50": _percentile(s, 0.50),
                "p95": _percentile(s, 0.95),
                "p99": _percentile(s, 0.99),
            }
        out = {"unit": self.unit, "size": str(n)}
        out.update({k: _fmt(v) for k, v in stats.items()})
        return out


def _percentile(sorted_values: list[float], q: float) -> float:
    idx = min(len(sorted_values) - 1, max(0, math.ceil(q * len(sorted_values)) - 1))
    return sorted_values[idx]


@dataclass(slots=True)
class Buckets:
    """A Prometheus histogram's state: a count per bucket (not cumulative; the last is +Inf) and a sum.

    ``bounds`` are the upper bounds, inclusive as Prometheus's ``le``.
    """

    bounds: tuple[float, ...]
    counts: list[int] = field(default_factory=list)
    total: float = 0.0

    def __post_init__(self) -> None:
        if not self.counts:
            self.counts = [0] * (len(self.bounds) + 1)

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1
        self.total += value

    def cumulative(self) -> list[int]:
        """Counts of values at most each bound, then the total count (+Inf)."""
        out, running = [], 0
        for n in self.counts:
            running += n
            out.append(running)
        return out
