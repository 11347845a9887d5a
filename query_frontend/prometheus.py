"""The Prometheus exposition text of the query frontend, valid whatever names Redis holds.

Every figure of ours is a labelled ``clipper_*`` family: applications and
model versions are label values (escaped), never part of a metric name, so
no name an old admin stored in Redis (a space, a quote, a non-ASCII letter)
can make a scraper reject the page. docs/metrics.md lists the families.

With ``prometheus_legacy_names`` on (the default), the original exporter's
gauges follow: each ``/metrics`` figure as ``<metric>_<field>`` with ``:``
and ``-`` replaced by ``_`` (``app_<app>_num_predictions_count``), for the
dashboards built on them. A name that would not be valid is left out (its
figures are in the labelled families), and when two figures would get the
same name only one keeps it: the one whose name needed no ``-`` replaced,
then the first in sorted order.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from query_frontend.meters import Buckets
    from query_frontend.metrics import MetricsRegistry

_VALID_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")

Samples = Iterable[tuple[dict[str, str], float]]


def legacy_name(metric: str) -> str | None:
    """The original exporter's name for ``metric``, or None where it would not be a valid name."""
    name = metric.replace(":", "_").replace("-", "_")
    return name if _VALID_NAME.fullmatch(name) else None


def label(value: str) -> str:
    """A label value as the text format needs it: UTF-8, with backslash, quote and newline escaped."""
    value = value.encode("utf-8", "replace").decode("utf-8")
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def labels(**values: str) -> str:
    """``k="v",...`` (escaped), the inside of a sample's braces."""
    return ",".join(f'{k}="{label(v)}"' for k, v in values.items())


def number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(value)


def _sample(name: str, label_text: str, value: str) -> str:
    return f"{name}{{{label_text}}} {value}" if label_text else f"{name} {value}"


class PrometheusPage:
    """One scrape's text, family by family."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def head(self, kind: str, name: str, help_text: str) -> None:
        self.lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]

    def extend(self, other: PrometheusPage) -> None:
        """Append every family of ``other``."""
        self.lines += other.lines

    def family(self, kind: str, name: str, help_text: str, samples: Samples) -> None:
        """A counter or gauge family; counters print as integers, gauges as floats."""
        self.head(kind, name, help_text)
        for label_values, sample in samples:
            shown = str(sample) if kind == "counter" and isinstance(sample, int) else number(float(sample))
            self.lines.append(_sample(name, labels(**label_values), shown))

    def counters(self, name: str, help_text: str, series: Iterable[tuple[str, int]]) -> None:
        """A counter family: ``series`` is (label text, count)."""
        self.head("counter", name, help_text)
        self.lines += [_sample(name, label_text, str(count)) for label_text, count in series]

    def histogram(self, name: str, help_text: str, series: Iterable[tuple[str, Buckets]], unit: float = 1.0) -> None:
        """A histogram family: ``series`` is (label text, buckets); bounds and sums are divided by ``unit``."""
        self.head("histogram", name, help_text)
        le_texts: Sequence[str] = ()
        for label_text, buckets in series:
            if len(le_texts) != len(buckets.bounds) + 1:
                le_texts = [number(b / unit) for b in buckets.bounds] + ["+Inf"]
            prefix = label_text + "," if label_text else ""
            cumulative = buckets.cumulative()
            for le, count in zip(le_texts, cumulative):
                self.lines.append(f'{name}_bucket{{{prefix}le="{le}"}} {count}')
            self.lines.append(_sample(f"{name}_sum", label_text, number(buckets.total / unit)))
            self.lines.append(_sample(f"{name}_count", label_text, str(cumulative[-1])))

    def legacy_gauges(self, report: dict[str, list[dict[str, dict[str, str]]]]) -> None:
        """The original exporter's gauges for the ``/metrics`` report (names as the module docstring says)."""
        figures: dict[str, str] = {}
        for group in report.values():
            for entry in group:
                for metric, fields in entry.items():
                    for field_name, value in fields.items():
                        figures[f"{metric}_{field_name}"] = value
        taken: set[str] = set()
        for metric in sorted(figures, key=lambda m: ("-" in m, m)):
            name = legacy_name(metric)
            if name is None or name in taken:
                continue
            try:
                parsed = float(figures[metric])
            except ValueError:
                continue  # text fields (units)
            taken.add(name)
            self.lines += [f"# HELP {name} help", f"# TYPE {name} gauge", f"{name} {number(parsed)}"]

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def render(m: MetricsRegistry) -> str:
    """The whole page: labelled families, runtime gauges, then the legacy gauges if switched on."""
    page = PrometheusPage()
    apps = [(labels(app=name), am) for name, am in list(m.apps.items())]
    models = [(labels(model=n, version=v), mm) for (n, v), mm in list(m.models.items())]
    page.histogram("clipper_query_latency_seconds", "Time from a query's arrival to its answer, by application.",
                   [(lt, am.latency_buckets()) for lt, am in apps], 1e6)
    page.counters("clipper_app_predictions_total", "Queries answered, by application.",
                  [(lt, am.count) for lt, am in apps])
    page.counters("clipper_app_default_predictions_total",
                  "Queries answered with the application's default output, by application and reason.",
                  [(f'{lt},reason="{label(reason)}"', n) for lt, am in apps for reason, n in am.by_reason.items()])
    page.histogram("clipper_model_batch_latency_seconds",
                   "Time from sending a batch to a replica to its answer, by model version.",
                   [(lt, mm.latency_buckets) for lt, mm in models], 1e6)
    page.histogram("clipper_model_batch_size", "Inputs per batch sent to a replica, by model version.",
                   [(lt, mm.batch_size_buckets) for lt, mm in models])
    page.counters("clipper_model_predictions_total", "Inputs a model version answered, failures included.",
                  [(lt, mm.count) for lt, mm in models])
    page.counters("clipper_model_failures_total",
                  "Inputs a model version failed on (it raised, or answered the wrong number of outputs).",
                  [(lt, mm.failures) for lt, mm in models])
    page.counters("clipper_model_cache_hits_total", "Prediction-cache hits, by model version.",
                  [(lt, mm.cache_hits) for lt, mm in models])
    page.counters("clipper_model_cache_misses_total", "Prediction-cache misses, by model version.",
                  [(lt, mm.cache_lookups - mm.cache_hits) for lt, mm in models])
    page.counters("clipper_prediction_cache_lookups_total", "Prediction-cache lookups.", [("", m.cache_lookups)])
    page.counters("clipper_prediction_cache_hits_total", "Prediction-cache hits.", [("", m.cache_hits)])
    page.counters("clipper_prediction_cache_misses_total", "Prediction-cache misses.",
                  [("", m.cache_lookups - m.cache_hits)])
    page.counters("clipper_queries_shed_total", "Queries refused because a model queue was full.",
                  [("", m.shed.count)])
    if m.runtime_gauges is not None:
        for name, help_text, samples in m.runtime_gauges():
            page.family("gauge", name, help_text, samples)
    if m.monitoring is not None:
        # Monitoring renders on a page of its own, so a failure leaves no half family on the scrape.
        own = PrometheusPage()
        try:
            m.monitoring.render_prometheus(own)
        except Exception:
            logging.getLogger("clipper.query_frontend.metrics").exception(
                "statistical monitoring failed; the Prometheus page leaves its families out")
        else:
            page.extend(own)
    if m.legacy_names:
        page.legacy_gauges(m.json_report())
    return page.text()
