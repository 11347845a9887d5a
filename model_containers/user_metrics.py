"""The container's store of user-defined metrics (``clipper_admin.metrics``), served with its own.

:class:`UserMetrics` is the process's :class:`~clipper_protocol.user_metrics.MetricsSink`
and a Prometheus collector in the container's registry: reports from the
user's function (the model worker thread, or the warm-up) update plain
floats under one lock, and a scrape turns them into metric families
labelled with the model's name and version. Values are kept here rather
than in prometheus_client metric objects so the labels can be learnt after
the function has already reported (a custom model may report from its
constructor, before the settings are read).
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    SummaryMetricFamily,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from clipper_protocol.user_metrics import COUNTER, GAUGE, HISTOGRAM, LABEL_NAMES, MetricSpec


class _Series:
    """The values of one user metric."""

    __slots__ = ("spec", "value", "counts", "total", "count")

    def __init__(self, spec: MetricSpec) -> None:
        self.spec = spec
        self.value = 0.0
        """A counter's total, a gauge's last value."""
        self.counts = [0] * len(spec.buckets)
        """Observations per histogram bucket (not cumulative)."""
        self.total = 0.0
        self.count = 0


class UserMetrics(Collector):
    """User-defined metrics of one container; every method is thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._series: dict[str, _Series] = {}
        self._labels: tuple[str, str] = ("", "")
        self._discarding = False

    @contextmanager
    def discarding(self) -> Iterator[None]:
        """Drop reports while inside (the warm-up batch is not traffic); definitions still count."""
        self._discarding = True
        try:
            yield
        finally:
            self._discarding = False

    def set_model(self, name: str, version: str) -> None:
        """Label every series with this model name and version (empty until called)."""
        self._labels = (name, version)

    def define(self, spec: MetricSpec) -> None:
        with self._lock:
            self._series_of(spec)

    def report(self, spec: MetricSpec, value: float) -> None:
        with self._lock:
            series = self._series.get(spec.name)
            if series is None or series.spec is not spec:
                series = self._series_of(spec)
            if self._discarding:
                return
            kind = spec.kind
            if kind == COUNTER:
                series.value += value
            elif kind == GAUGE:
                series.value = value
            else:
                if kind == HISTOGRAM:
                    # Upper bounds are inclusive (``le``); the last is inf, so an index always exists.
                    series.counts[bisect.bisect_left(spec.buckets, value)] += 1
                series.total += value
                series.count += 1

    def _series_of(self, spec: MetricSpec) -> _Series:
        """The series of ``spec`` (held lock); a different spec under its name replaces the old one."""
        series = self._series.get(spec.name)
        if series is None or series.spec != spec:
            series = self._series[spec.name] = _Series(spec)
        else:
            series.spec = spec
        return series

    def values(self, name: str) -> tuple[float, int, float] | None:
        """(value, count, sum) of metric ``name``, or None when it has none here."""
        with self._lock:
            s = self._series.get(name)
            return None if s is None else (s.value, s.count, s.total)

    def collect(self) -> Iterator[Metric]:
        labels = list(self._labels)
        with self._lock:
            snapshot = [(s.spec, s.value, list(s.counts), s.total, s.count) for s in self._series.values()]
        for spec, value, counts, total, count in snapshot:
            family: Metric
            if spec.kind == COUNTER:
                family = CounterMetricFamily(spec.name, spec.description, labels=LABEL_NAMES)
                family.add_metric(labels, value)
            elif spec.kind == GAUGE:
                family = GaugeMetricFamily(spec.name, spec.description, labels=LABEL_NAMES)
                family.add_metric(labels, value)
            elif spec.kind == HISTOGRAM:
                family = HistogramMetricFamily(spec.name, spec.description, labels=LABEL_NAMES)
                cumulative, buckets = 0, []
                for bound, n in zip(spec.buckets, counts):
                    cumulative += n
                    buckets.append(("+Inf" if bound == math.inf else repr(bound), float(cumulative)))
                family.add_metric(labels, buckets, total)
            else:
                family = SummaryMetricFamily(spec.name, spec.description, labels=LABEL_NAMES)
                family.add_metric(labels, count, total)
            yield family
