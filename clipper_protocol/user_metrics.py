"""User-defined metrics: the contract between ``clipper_admin.metrics`` and the container's exporter.

A deployed function calls ``clipper_admin.metrics.add_metric`` and
``report_metric``; those validate (here) and hand a :class:`MetricSpec` and
a value to the process's :class:`MetricsSink`, which the model-container
runtime installs (:mod:`model_containers.user_metrics`) and serves on the
container's metrics port with the labels :data:`LABEL_NAMES`. Outside a
container no sink is installed and nothing is recorded.

Unlike the original (which published each call over a Redis channel to a
separate metrics process), the user's function runs in the container's own
process, so a report is a dictionary lookup and a float addition.
"""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from clipper_protocol.errors import ClipperError

COUNTER = "Counter"
GAUGE = "Gauge"
HISTOGRAM = "Histogram"
SUMMARY = "Summary"
METRIC_TYPES = (GAUGE, COUNTER, HISTOGRAM, SUMMARY)
"""The ``metric_type`` names ``add_metric`` accepts (the original's, spelled as it spells them)."""

DEFAULT_BUCKETS: tuple[float, ...] = (5, 10, 20, 35, 50, 75, 100, 150, 200, 250, 300, 400, 500, math.inf)
"""Histogram upper bounds when none are given (the original's, those of ``clipper_mc_*`` too)."""

LABEL_NAMES = ("model", "version")
"""Labels of every user-defined series: the model's name and version (as the query frontend's
``clipper_model_*`` families). Prometheus adds the replica (``job``, ``instance``) when it scrapes."""

RESERVED_PREFIX = "clipper_mc_"
"""Names the container's own metrics use; a user metric may not start with it."""

_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


class InvalidMetric(ClipperError, ValueError):
    """An ``add_metric`` or ``report_metric`` argument that cannot be used; the message names it."""


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """One user-defined metric, as ``add_metric`` declared it."""

    name: str
    kind: str
    """One of :data:`METRIC_TYPES`."""
    description: str
    buckets: tuple[float, ...] = ()
    """Histogram upper bounds, increasing, the last ``inf``; empty for the other kinds."""

    def sample_names(self) -> frozenset[str]:
        """The series names the exposition gives this metric (a counter ``x`` is ``x_total``)."""
        if self.kind == COUNTER:
            base = self.name[: -len("_total")] if self.name.endswith("_total") else self.name
            return frozenset({base + "_total", base})
        if self.kind == HISTOGRAM:
            return frozenset({self.name, self.name + "_bucket", self.name + "_sum", self.name + "_count"})
        if self.kind == SUMMARY:
            return frozenset({self.name, self.name + "_sum", self.name + "_count"})
        return frozenset({self.name})


def metric_spec(name: object, metric_type: object, description: object,
                buckets: object = DEFAULT_BUCKETS) -> MetricSpec:
    """Check ``add_metric``'s arguments; :class:`InvalidMetric` names the one at fault.

    ``buckets`` matters for histograms only (as in the original); ``inf`` is
    appended when missing.
    """
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise InvalidMetric(f"name must be a Prometheus metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), got {name!r}")
    if name.startswith(RESERVED_PREFIX):
        raise InvalidMetric(f"name {name!r}: the prefix {RESERVED_PREFIX!r} is reserved for the container's metrics")
    if not isinstance(metric_type, str) or metric_type not in METRIC_TYPES:
        raise InvalidMetric(f"metric_type needs to be one of {list(METRIC_TYPES)}, got {metric_type!r}")
    if not isinstance(description, str):
        raise InvalidMetric(f"description must be a string, got {type(description).__name__}")
    bounds = histogram_buckets(buckets) if metric_type == HISTOGRAM else ()
    return MetricSpec(name, metric_type, description, bounds)


def histogram_buckets(buckets: object) -> tuple[float, ...]:
    """``buckets`` as increasing finite floats followed by ``inf``; :class:`InvalidMetric` if it cannot be."""
    if isinstance(buckets, (str, bytes)) or not isinstance(buckets, Sequence) or len(buckets) == 0:
        raise InvalidMetric(f"buckets must be a non-empty list of numbers, got {buckets!r}")
    bounds: list[float] = []
    for b in buckets:
        if isinstance(b, bool) or not isinstance(b, (int, float)) or math.isnan(b):
            raise InvalidMetric(f"buckets must hold numbers only, got {b!r} in {list(buckets)!r}")
        bounds.append(float(b))
    if any(lo >= hi for lo, hi in zip(bounds, bounds[1:])):
        raise InvalidMetric(f"buckets must be strictly increasing, got {list(buckets)!r}")
    if bounds[-1] != math.inf:
        bounds.append(math.inf)
    return tuple(bounds)


def report_value(spec: MetricSpec, val: object) -> float:
    """``val`` as the float ``report_metric`` records for ``spec``; :class:`InvalidMetric` if it cannot be.

    Counters only go up and histograms and summaries keep a running sum, so
    those take finite values only (a counter's must not be negative); a gauge
    takes any float.
    """
    try:
        value = float(val)  # type: ignore[arg-type]  # anything float() takes, as the original
    except (TypeError, ValueError):
        raise InvalidMetric(f"val for metric {spec.name!r} must be a number, got {val!r}") from None
    if spec.kind == GAUGE:
        return value
    if not math.isfinite(value):
        raise InvalidMetric(f"val for {spec.kind.lower()} {spec.name!r} must be finite, got {val!r}")
    if spec.kind == COUNTER and value < 0:
        raise InvalidMetric(f"val for counter {spec.name!r} must not be negative (a counter only goes up), "
                            f"got {val!r}; use a Gauge for values that go down")
    return value


class MetricsSink(Protocol):
    """Where a process's reports go: the model container's exporter."""

    def define(self, spec: MetricSpec) -> None:
        """Export ``spec`` (at zero) from now on."""

    def report(self, spec: MetricSpec, value: float) -> None:
        """Record ``value`` (already checked by :func:`report_value`) for ``spec``; thread-safe."""


_lock = threading.Lock()
_specs: dict[str, MetricSpec] = {}
"""Every metric added in this process, by name (the original's ``metric_pool``)."""
_sink: MetricsSink | None = None


def lookup(name: str) -> MetricSpec | None:
    """The metric added as ``name``, if any."""
    return _specs.get(name)


def define(spec: MetricSpec) -> MetricSpec:
    """Add ``spec`` to the process's metrics (and the sink's); the one already there if its name is taken.

    :class:`InvalidMetric` when the name was added with another type, or
    its series would have the name of another metric's series.
    """
    with _lock:
        known = _specs.get(spec.name)
        if known is not None:
            if known.kind != spec.kind:
                raise InvalidMetric(f"metric {spec.name!r} was added as a {known.kind}; "
                                    f"it cannot be added again as a {spec.kind}")
            return known
        samples = spec.sample_names()
        for other in _specs.values():
            if samples & other.sample_names():
                raise InvalidMetric(f"name {spec.name!r} clashes with the series of the {other.kind} "
                                    f"{other.name!r}; choose another name")
        _specs[spec.name] = spec
        sink = _sink
    if sink is not None:
        sink.define(spec)
    return spec


def install_sink(sink: MetricsSink) -> None:
    """Send this process's metrics to ``sink`` (the container runtime calls this; one per process)."""
    global _sink
    with _lock:
        _sink = sink
        known = list(_specs.values())
    for spec in known:
        sink.define(spec)


def remove_sink(sink: MetricsSink) -> None:
    """Stop sending reports to ``sink``, if it is the installed one."""
    global _sink
    with _lock:
        if _sink is sink:
            _sink = None


def current_sink() -> MetricsSink | None:
    """The installed sink; None outside a model container."""
    return _sink
