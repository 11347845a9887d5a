"""The query frontend's metrics, reported as the original's JSON and as Prometheus text.

The JSON report (``GET /metrics``, read by ``ClipperConnection.inspect_instance``)
keeps the original's shape: metric names like ``app:<app>:prediction_latency``
grouped under ``counters``, ``ratio_counters``, ``meters`` and ``histograms``,
every leaf value a string. The Prometheus text carries the same figures under
the names the original's frontend exporter produced (``app_<app>_...``), so
dashboards built for the original keep working.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterable
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
    """Event rate: overall, plus 1/5/15-minute exponentially weighted averages."""

    start: float = field(default_factory=time.monotonic)
    count: int = 0
    _uncounted: int = 0
    _last_tick: float = field(default_factory=time.monotonic)
    _rates: dict[str, float] = field(default_factory=dict)

    def mark(self, n: int = 1) -> None:
        self.count += n
        self._uncounted += n

    def _tick(self, now: float) -> None:
        while now - self._last_tick >= _TICK_S:
            instant = self._uncounted / _TICK_S
            self._uncounted = 0
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
    """Reservoir-sampled distribution (uniform reservoir, as the original)."""

    unit: str
    reservoir_size: int = 4096
    samples: list[float] = field(default_factory=list)
    seen: int = 0

    def insert(self, value: float) -> None:
        self.seen += 1
        if len(self.samples) < self.reservoir_size:
            self.samples.append(value)
        else:
            j = random.randrange(self.seen)
            if j < self.reservoir_size:
                self.samples[j] = value

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
        """Prometheus exposition text with the original exporter's metric names.

        Each ``{metric: {field: value}}`` becomes a gauge ``<metric>_<field>``
        with ``:`` and ``-`` replaced by ``_``; non-numeric fields are skipped.
        Counters of predictions, defaults and cache lookups also appear as
        labelled ``clipper_*_total`` counters for new dashboards.
        """
        lines: list[str] = []
        for group in self.json_report().values():
            for entry in group:
                for metric, fields in entry.items():
                    base = metric.replace(":", "_").replace("-", "_")
                    for fname, value in fields.items():
                        try:
                            number = float(value)
                        except ValueError:
                            continue
                        name = f"{base}_{fname}"
                        lines.append(f"# HELP {name} help")
                        lines.append(f"# TYPE {name} gauge")
                        lines.append(f"{name} {_prom_number(number)}")
        lines.append("# HELP clipper_app_predictions_total Queries answered, by application.")
        lines.append("# TYPE clipper_app_predictions_total counter")
        for app, am in self.apps.items():
            lines.append(f'clipper_app_predictions_total{{app="{_label(app)}"}} {am.num_predictions.count}')
        lines.append("# HELP clipper_app_default_predictions_total Queries answered with the default output.")
        lines.append("# TYPE clipper_app_default_predictions_total counter")
        for app, am in self.apps.items():
            lines.append(f'clipper_app_default_predictions_total{{app="{_label(app)}"}} {am.default_ratio.numerator}')
        lines.append("# HELP clipper_model_predictions_total Inputs evaluated, by model version.")
        lines.append("# TYPE clipper_model_predictions_total counter")
        for (name, version), mm in self.models.items():
            lines.append(
                f'clipper_model_predictions_total{{model="{_label(name)}",version="{_label(version)}"}} '
                f"{mm.num_predictions.count}"
            )
        lines.append("# HELP clipper_prediction_cache_lookups_total Prediction-cache lookups.")
        lines.append("# TYPE clipper_prediction_cache_lookups_total counter")
        lines.append(f"clipper_prediction_cache_lookups_total {self.cache_lookups.count}")
        lines.append("# HELP clipper_prediction_cache_hits_total Prediction-cache hits.")
        lines.append("# TYPE clipper_prediction_cache_hits_total counter")
        lines.append(f"clipper_prediction_cache_hits_total {self.cache_hit_ratio.numerator}")
        lines.append("# HELP clipper_queries_shed_total Queries refused because a model queue was full.")
        lines.append("# TYPE clipper_queries_shed_total counter")
        lines.append(f"clipper_queries_shed_total {self.shed.count}")
        if self.runtime_gauges is not None:
            for name, help_text, samples in self.runtime_gauges():
                lines.append(f"# HELP {name} {help_text}")
                lines.append(f"# TYPE {name} gauge")
                for labels, sample in samples:
                    label_text = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
                    shown = _prom_number(float(sample))
                    lines.append(f"{name}{{{label_text}}} {shown}" if label_text else f"{name} {shown}")
        return "\n".join(lines) + "\n"


def _prom_number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
