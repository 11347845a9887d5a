"""The dashboard's ring of samples and the time series drawn from it.

Sampling is on demand: a page's poll takes a sample when the last one is
older than the interval, so nothing scrapes the query frontend while nobody
looks, and any number of open pages cost one scrape per interval (a lock
makes concurrent polls share it). The ring keeps ``capacity + 1`` samples:
each point is the difference of two neighbours.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import aiohttp

from clipper_protocol.dashboard_api import (SAMPLE_INTERVAL_S, SERIES_CAPACITY, AppSeries, ModelSeries, Point,
                                            QueryFrontendStatus, TimeSeries)
from clipper_protocol.monitoring_api import AppMonitoring
from management_frontend.dashboard_scrape import AppSample, ModelSample, Sample, take_sample

SCRAPE_TIMEOUT_S = 2.0


def _rate(delta: float | None, seconds: float) -> Point:
    return None if delta is None or seconds <= 0 else delta / seconds


def _share(part: float | None, whole: float | None) -> Point:
    return None if part is None or not whole else part / whole


def _diff(cur: float | None, prev: float | None) -> float | None:
    """A counter's increase; None across a reset (the frontend restarted) or a missing figure."""
    if cur is None or prev is None or cur < prev:
        return None
    return cur - prev


class SeriesRing:
    """The last samples of one query frontend, and how the last attempt went."""

    def __init__(self, url: str, capacity: int = SERIES_CAPACITY, interval_s: float = SAMPLE_INTERVAL_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self.capacity = capacity
        self.interval_s = interval_s
        self.samples: deque[Sample] = deque(maxlen=capacity + 1)
        self._clock = clock
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()
        self._session: aiohttp.ClientSession | None = None

    async def maybe_sample(self) -> None:
        """Take a sample unless one was taken less than the interval ago (or no URL is set)."""
        if not self.url:
            return
        async with self._lock:
            now = self._clock()
            if self._last_attempt is not None and now - self._last_attempt < self.interval_s:
                return
            self._last_attempt = now
            if self._session is None:
                self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SCRAPE_TIMEOUT_S))
            self.add(await take_sample(self._session, self.url))

    def add(self, sample: Sample) -> None:
        self.samples.append(sample)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ---------------------------------------------------------------- reading

    def status(self) -> QueryFrontendStatus:
        last = self.samples[-1] if self.samples else None
        good = [s.t for s in self.samples if s.error is None]
        error = last.error if last is not None else (None if self.url else "query_frontend_url is not set")
        return QueryFrontendStatus(url=self.url, reachable=last is not None and last.error is None, error=error,
                                   sampled_at=good[-1] if good else None)

    def monitoring(self) -> dict[str, AppMonitoring] | None:
        last = self.samples[-1] if self.samples else None
        return None if last is None else last.monitoring

    def series(self) -> TimeSeries:
        pairs = list(zip(list(self.samples)[:-1], list(self.samples)[1:]))
        apps = sorted({a for s in self.samples for a in s.apps})
        models = sorted({m for s in self.samples for m in s.models})
        return TimeSeries(
            interval_s=self.interval_s, capacity=self.capacity, t=[cur.t for _, cur in pairs],
            cache_hit_rate=[_share(_diff(c.cache_hits, p.cache_hits), _diff(c.cache_lookups, p.cache_lookups))
                            if c.error is None and p.error is None else None for p, c in pairs],
            apps=[_app_series(name, pairs) for name in apps],
            models=[_model_series(key, pairs) for key in models],
        )


def _app_series(name: str, pairs: list[tuple[Sample, Sample]]) -> AppSeries:
    throughput: list[Point] = []
    p50: list[Point] = []
    p95: list[Point] = []
    p99: list[Point] = []
    default_rate: list[Point] = []
    psi: list[Point] = []
    reasons = sorted({r for _, c in pairs if (a := c.apps.get(name)) for r in a.defaults})
    by_reason: dict[str, list[Point]] = {r: [] for r in reasons}
    for prev, cur in pairs:
        a, b = prev.apps.get(name), cur.apps.get(name)
        now = b or AppSample()
        dt = cur.t - prev.t
        answered = _diff(b.predictions, a.predictions) if a and b else None
        defaults = _diff(sum(b.defaults.values()), sum(a.defaults.values())) if a and b else None
        throughput.append(_rate(answered, dt))
        default_rate.append(_share(defaults, answered))
        for r in reasons:
            by_reason[r].append(_rate(_diff(b.defaults.get(r), a.defaults.get(r, 0.0)), dt) if a and b else None)
        p50.append(now.latency_ms[0])
        p95.append(now.latency_ms[1])
        p99.append(now.latency_ms[2])
        psi.append(now.input_drift_psi)
    return AppSeries(app=name, throughput=throughput, latency_p50_ms=p50, latency_p95_ms=p95, latency_p99_ms=p99,
                     default_rate=default_rate, default_reasons=by_reason, input_drift_psi=psi)


def _model_series(key: tuple[str, str], pairs: list[tuple[Sample, Sample]]) -> ModelSeries:
    series = ModelSeries(model=key[0], version=key[1], throughput=[], batch_size=[], cache_hit_rate=[],
                         accuracy=[], mae=[], output_drift_psi=[])
    for prev, cur in pairs:
        a, b = prev.models.get(key), cur.models.get(key)
        now = b or ModelSample()
        if a and b:
            hits = _diff(b.cache_hits, a.cache_hits)
            misses = _diff(b.cache_misses, a.cache_misses)
            series.throughput.append(_rate(_diff(b.predictions, a.predictions), cur.t - prev.t))
            series.batch_size.append(_share(_diff(b.batch_inputs, a.batch_inputs), _diff(b.batches, a.batches)))
            lookups = None if hits is None or misses is None else hits + misses
            series.cache_hit_rate.append(_share(hits, lookups))
        else:
            series.throughput.append(None)
            series.batch_size.append(None)
            series.cache_hit_rate.append(None)
        series.accuracy.append(now.accuracy)
        series.mae.append(now.mae)
        series.output_drift_psi.append(now.output_drift_psi)
    return series
