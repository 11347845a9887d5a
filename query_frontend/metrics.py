"""The query frontend's metrics, reported as the original's JSON and as Prometheus text.

The JSON report (``GET /metrics``, read by ``ClipperConnection.inspect_instance``)
keeps the original's shape (:class:`clipper_protocol.query_api.MetricsReport`):
metric names like ``app:<app>:prediction_latency`` grouped under
``counters``, ``ratio_counters``, ``meters`` and ``histograms``, every leaf
value a string. The Prometheus text carries the same figures under the
names the original's frontend exporter produced (``app_<app>_...``), so
dashboards built for the original keep working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from query_frontend.meters import Counter, Histogram, Meter, RatioCounter
from query_frontend.prometheus import PrometheusPage


@dataclass(slots=True)
class AppMetrics:
    latency: Histogram
    throughput: Meter
    num_predictions: Counter
    default_ratio: RatioCounter

    def record(self, latency_micros: float, n: int, n_default: int) -> None:
        self.latency.insert(latency_micros)
        self.throughput.mark(n)
        self.num_predictions.increment(n)
        self.default_ratio.increment(n_default, n)


@dataclass(slots=True)
class ModelMetrics:
    latency: Histogram
    throughput: Meter
    num_predictions: Counter
    cache_hit_ratio: RatioCounter
    batch_size: Histogram


GaugeFamily = tuple[str, str, Iterable[tuple[dict[str, str], float]]]
"""A Prometheus gauge: name, help text, and (labels, value) samples."""


class MetricsRegistry:
    """All query-frontend metrics. Updated from the event loop thread only."""

    def __init__(self) -> None:
        # Read at scrape time from the parts that own them (queue lengths,
        # pending predictions, open connections, tasks): nothing on the
        # query path updates a gauge.
        self.runtime_gauges: Callable[[], list[GaugeFamily]] | None = None
        self.apps: dict[str, AppMetrics] = {}
        self.models: dict[tuple[str, str], ModelMetrics] = {}
        self.rpc_queueing_delay = Histogram("microseconds", reservoir_size=2056)
        self.cache_lookups = Counter()
        self.shed = Counter()
        self.cache_hit_ratio = RatioCounter()
        self.aggregate_throughput = Meter()
        self.aggregate_num_predictions = Counter()

    def app(self, name: str) -> AppMetrics:
        m = self.apps.get(name)
        if m is None:
            m = self.apps[name] = AppMetrics(
                Histogram("microseconds"), Meter(), Counter(), RatioCounter()
            )
        return m

    def drop_app(self, name: str) -> None:
        self.apps.pop(name, None)

    def model(self, name: str, version: str) -> ModelMetrics:
        key = (name, version)
        m = self.models.get(key)
        if m is None:
            m = self.models[key] = ModelMetrics(
                Histogram("microseconds"), Meter(), Counter(), RatioCounter(), Histogram("queries")
            )
        return m

    def drop_model(self, name: str, version: str) -> None:
        self.models.pop((name, version), None)

    def record_cache_lookup(self, model: ModelMetrics | None, hit: bool) -> None:
        self.cache_lookups.increment()
        self.cache_hit_ratio.increment(int(hit), 1)
        if model is not None:
            model.cache_hit_ratio.increment(int(hit), 1)

    def record_batch(self, model: ModelMetrics, size: int, latency_micros: float) -> None:
        model.batch_size.insert(size)
        model.latency.insert(latency_micros)
        model.throughput.mark(size)
        model.num_predictions.increment(size)
        self.aggregate_throughput.mark(size)
        self.aggregate_num_predictions.increment(size)

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
            counters.append({f"app:{app}:num_predictions": am.num_predictions.report()})
            ratios.append({f"app:{app}:default_prediction_ratio": am.default_ratio.report()})
        for (name, version), mm in list(self.models.items()):
            prefix = f"model:{name}:{version}"
            histograms.append({f"{prefix}:prediction_latency": mm.latency.report()})
            meters.append({f"{prefix}:prediction_throughput": mm.throughput.report()})
            counters.append({f"{prefix}:num_predictions": mm.num_predictions.report()})
            ratios.append({f"{prefix}:cache_hit_ratio": mm.cache_hit_ratio.report()})
            histograms.append({f"{prefix}:batch_size": mm.batch_size.report()})
        histograms.append({"internal:rpc_request_queueing_delay": self.rpc_queueing_delay.report()})
        counters.append({"internal:prediction_cache_lookups": self.cache_lookups.report()})
        ratios.append({"internal:prediction_cache_hit_ratio": self.cache_hit_ratio.report()})
        meters.append({"internal:aggregate_model_throughput": self.aggregate_throughput.report()})
        counters.append({"internal:aggregate_num_predictions": self.aggregate_num_predictions.report()})
        return {
            "counters": counters,
            "ratio_counters": ratios,
            "meters": meters,
            "histograms": histograms,
        }

    def prometheus_text(self) -> str:
        """Prometheus exposition text (:mod:`query_frontend.prometheus`) with the original exporter's names.

        Each ``{metric: {field: value}}`` becomes a gauge ``<metric>_<field>``;
        non-numeric fields are skipped. Counters of predictions, defaults and
        cache lookups also appear as labelled ``clipper_*_total`` counters for
        new dashboards, then the runtime gauges.
        """
        page = PrometheusPage()
        for group in self.json_report().values():
            for entry in group:
                for metric, fields in entry.items():
                    for fname, value in fields.items():
                        page.original_gauge(f"{metric}_{fname}", value)
        page.family("counter", "clipper_app_predictions_total", "Queries answered, by application.",
                    [({"app": app}, am.num_predictions.count) for app, am in self.apps.items()])
        page.family("counter", "clipper_app_default_predictions_total", "Queries answered with the default output.",
                    [({"app": app}, am.default_ratio.numerator) for app, am in self.apps.items()])
        page.family("counter", "clipper_model_predictions_total", "Inputs evaluated, by model version.",
                    [({"model": n, "version": v}, mm.num_predictions.count) for (n, v), mm in self.models.items()])
        page.family("counter", "clipper_prediction_cache_lookups_total", "Prediction-cache lookups.",
                    [({}, self.cache_lookups.count)])
        page.family("counter", "clipper_prediction_cache_hits_total", "Prediction-cache hits.",
                    [({}, self.cache_hit_ratio.numerator)])
        page.family("counter", "clipper_queries_shed_total", "Queries refused because a model queue was full.",
                    [({}, self.shed.count)])
        if self.runtime_gauges is not None:
            for name, help_text, samples in self.runtime_gauges():
                page.family("gauge", name, help_text, samples)
        return page.text()
