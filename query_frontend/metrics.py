"""The query frontend's metrics, reported as the original's JSON and as Prometheus text.

The JSON report (``GET /metrics``, read by ``ClipperConnection.inspect_instance``)
keeps the original's shape (:class:`clipper_protocol.query_api.MetricsReport`):
metric names like ``app:<app>:prediction_latency`` grouped under
``counters``, ``ratio_counters``, ``meters`` and ``histograms``, every leaf
value a string. The Prometheus text (:mod:`query_frontend.prometheus`)
has labelled families (``clipper_*``, one series per application or model
version) and, unless switched off, the original exporter's per-name gauges.

Recording happens on the query path, so each application and model version
has one pre-built object whose ``record`` is a handful of integer updates
(no label dict, no lock: everything runs on the event loop thread).
"""

from __future__ import annotations

import logging
from bisect import bisect_left
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from clipper_protocol.monitoring_api import MONITORING_KEY
from query_frontend import prometheus
from query_frontend.errors import DEFAULT_REASONS
from query_frontend.meters import Buckets, Counter, Histogram, Meter, RatioCounter

log = logging.getLogger("clipper.query_frontend.metrics")

LATENCY_BOUNDS_MICROS: tuple[int, ...] = (100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000,
                                          250_000, 500_000, 1_000_000, 2_500_000, 5_000_000, 10_000_000)
"""Upper bounds of the latency histograms' buckets (100 µs to 10 s; exposed in seconds)."""
BATCH_SIZE_BOUNDS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
"""Upper bounds of the batch-size histogram's buckets."""


class AppMetrics:
    """One application's figures; :meth:`record` runs once per query."""

    __slots__ = ("latency", "latency_counts", "latency_sum", "throughput", "defaults", "by_reason")

    def __init__(self) -> None:
        self.latency = Histogram("microseconds")
        self.latency_counts = [0] * (len(LATENCY_BOUNDS_MICROS) + 1)
        self.latency_sum = 0.0
        self.throughput = Meter()
        """Its ``count`` is the number of queries answered."""
        self.defaults = 0
        self.by_reason = dict.fromkeys(DEFAULT_REASONS, 0)

    def record(self, latency_micros: float, reason: str | None) -> None:
        """One query answered after ``latency_micros``; ``reason`` names why it got the default output."""
        self.latency.insert(latency_micros)
        self.latency_counts[bisect_left(LATENCY_BOUNDS_MICROS, latency_micros)] += 1
        self.latency_sum += latency_micros
        self.throughput.count += 1
        if reason is not None:
            self.defaults += 1
            self.by_reason[reason] = self.by_reason.get(reason, 0) + 1

    @property
    def count(self) -> int:
        return self.throughput.count

    def latency_buckets(self) -> Buckets:
        return Buckets(LATENCY_BOUNDS_MICROS, list(self.latency_counts), self.latency_sum)


class ModelMetrics:
    """One model version's figures: batches (once per batch) and cache lookups (once per query)."""

    __slots__ = ("latency", "latency_buckets", "throughput", "failures", "batch_size", "batch_size_buckets",
                 "cache_hits", "cache_lookups")

    def __init__(self) -> None:
        self.latency = Histogram("microseconds")
        self.latency_buckets = Buckets(LATENCY_BOUNDS_MICROS)
        self.throughput = Meter()
        """Its ``count`` is the number of inputs the model answered (failures included)."""
        self.failures = 0
        self.batch_size = Histogram("queries")
        self.batch_size_buckets = Buckets(BATCH_SIZE_BOUNDS)
        self.cache_hits = 0
        self.cache_lookups = 0

    @property
    def count(self) -> int:
        return self.throughput.count


GaugeFamily = tuple[str, str, Iterable[tuple[dict[str, str], float]]]
"""A Prometheus gauge: name, help text, and (labels, value) samples."""


class MonitoringSource(Protocol):
    """Statistical monitoring's figures (:class:`query_frontend.monitoring.Monitor`)."""

    def json_report(self) -> dict[str, Any]: ...

    def render_prometheus(self, page: prometheus.PrometheusPage) -> None: ...


class MetricsRegistry:
    """All query-frontend metrics. Updated from the event loop thread only.

    ``legacy_names`` (setting ``prometheus_legacy_names``) adds the original
    exporter's gauges to the Prometheus page.
    """

    def __init__(self, legacy_names: bool = True) -> None:
        self.legacy_names = legacy_names
        # Read at scrape time from the parts that own them (queue lengths,
        # pending predictions, open connections, tasks): nothing on the
        # query path updates a gauge.
        self.runtime_gauges: Callable[[], list[GaugeFamily]] | None = None
        self.monitoring: MonitoringSource | None = None
        """Adds the ``monitoring`` key to the JSON document and its families to the Prometheus page."""
        self.apps: dict[str, AppMetrics] = {}
        self.models: dict[tuple[str, str], ModelMetrics] = {}
        self.rpc_queueing_delay = Histogram("microseconds", reservoir_size=2056)
        self.shed = Counter()
        self.cache_lookups = 0
        self.cache_hits = 0
        self.aggregate_throughput = Meter()

    def app(self, name: str) -> AppMetrics:
        m = self.apps.get(name)
        if m is None:
            m = self.apps[name] = AppMetrics()
        return m

    def drop_app(self, name: str) -> None:
        self.apps.pop(name, None)

    def model(self, name: str, version: str) -> ModelMetrics:
        key = (name, version)
        m = self.models.get(key)
        if m is None:
            m = self.models[key] = ModelMetrics()
        return m

    def drop_model(self, name: str, version: str) -> None:
        self.models.pop((name, version), None)

    def record_cache_lookup(self, model: ModelMetrics | None, hit: bool) -> None:
        self.cache_lookups += 1
        if model is not None:
            model.cache_lookups += 1
            if hit:
                model.cache_hits += 1
                self.cache_hits += 1
        elif hit:
            self.cache_hits += 1

    def record_batch(self, model: ModelMetrics, size: int, failures: int, latency_micros: float) -> None:
        """A batch of ``size`` inputs answered after ``latency_micros``, ``failures`` of them with errors."""
        model.batch_size.insert(size)
        model.batch_size_buckets.observe(size)
        model.latency.insert(latency_micros)
        model.latency_buckets.observe(latency_micros)
        model.throughput.count += size
        model.failures += failures
        self.aggregate_throughput.count += size

    # ------------------------------------------------------------------ reports

    def json_report(self) -> dict[str, list[dict[str, dict[str, str]]]]:
        """The original's ``/metrics`` document."""
        counters: list[dict[str, dict[str, str]]] = []
        ratios: list[dict[str, dict[str, str]]] = []
        meters: list[dict[str, dict[str, str]]] = []
        histograms: list[dict[str, dict[str, str]]] = []
        for app, am in list(self.apps.items()):
            histograms.append({f"app:{app}:prediction_latency": am.latency.report()})
            meters.append({f"app:{app}:prediction_throughput": am.throughput.report()})
            counters.append({f"app:{app}:num_predictions": Counter(am.count).report()})
            ratios.append({f"app:{app}:default_prediction_ratio": RatioCounter(am.defaults, am.count).report()})
        for (name, version), mm in list(self.models.items()):
            prefix = f"model:{name}:{version}"
            histograms.append({f"{prefix}:prediction_latency": mm.latency.report()})
            meters.append({f"{prefix}:prediction_throughput": mm.throughput.report()})
            counters.append({f"{prefix}:num_predictions": Counter(mm.count).report()})
            ratios.append({f"{prefix}:cache_hit_ratio": RatioCounter(mm.cache_hits, mm.cache_lookups).report()})
            histograms.append({f"{prefix}:batch_size": mm.batch_size.report()})
        histograms.append({"internal:rpc_request_queueing_delay": self.rpc_queueing_delay.report()})
        counters.append({"internal:prediction_cache_lookups": {"count": str(self.cache_lookups)}})
        cache_ratio = RatioCounter(self.cache_hits, self.cache_lookups)
        ratios.append({"internal:prediction_cache_hit_ratio": cache_ratio.report()})
        meters.append({"internal:aggregate_model_throughput": self.aggregate_throughput.report()})
        counters.append({"internal:aggregate_num_predictions": {"count": str(self.aggregate_throughput.count)}})
        return {
            "counters": counters,
            "ratio_counters": ratios,
            "meters": meters,
            "histograms": histograms,
        }

    def ratio_parts(self) -> dict[str, tuple[int, int]]:
        """Numerator and denominator of each ratio counter of :meth:`json_report`, by name (to sum workers)."""
        parts = {f"app:{app}:default_prediction_ratio": (am.defaults, am.count) for app, am in list(self.apps.items())}
        for (name, version), mm in list(self.models.items()):
            parts[f"model:{name}:{version}:cache_hit_ratio"] = (mm.cache_hits, mm.cache_lookups)
        parts["internal:prediction_cache_hit_ratio"] = (self.cache_hits, self.cache_lookups)
        return parts

    def json_document(self) -> dict[str, Any]:
        """``GET /metrics``: the original's document, plus the ``monitoring`` key when monitoring is on."""
        doc: dict[str, Any] = dict(self.json_report())
        if self.monitoring is not None:
            try:
                doc[MONITORING_KEY] = self.monitoring.json_report()
            except Exception:
                # A defect in monitoring must not take the server's own metrics with it.
                log.exception("statistical monitoring failed; GET /metrics leaves its key out")
        return doc

    def prometheus_text(self) -> str:
        """The Prometheus exposition text (see docs/metrics.md)."""
        return prometheus.render(self)
