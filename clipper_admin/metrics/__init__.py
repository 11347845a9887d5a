"""User-defined metrics, reported from inside a deployed function (the original's ``clipper_admin.metrics``).

>>> import clipper_admin.metrics as metrics
>>> def predict(inputs):
...     metrics.add_metric("my_batches", "Counter", "Batches seen")
...     metrics.report_metric("my_batches", 1)
...     return [str(x) for x in inputs]

In a model container the metrics are served on the replica's metrics port,
next to its ``clipper_mc_*`` metrics, labelled ``model`` and ``version``
(Prometheus adds the replica as ``job`` and ``instance``). Elsewhere (a
script testing its function before deploying it) the calls check their
arguments the same way and record nothing.

Importing this module is cheap and needs none of the admin library's
dependencies, so it works inside every closure image.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from clipper_admin.exceptions import ClipperException
from clipper_protocol.user_metrics import (
    DEFAULT_BUCKETS,
    METRIC_TYPES,
    InvalidMetric,
    current_sink,
    define,
    lookup,
    metric_spec,
    report_value,
)

__all__ = ["DEFAULT_BUCKETS", "METRIC_TYPES", "add_metric", "report_metric"]

logger = logging.getLogger("clipper.metrics")


def add_metric(name: str, metric_type: str, description: str,
               buckets: Sequence[float] = DEFAULT_BUCKETS) -> None:
    """Add a Prometheus metric named ``name``, to be reported with :func:`report_metric`.

    ``metric_type`` is one of ``"Gauge"``, ``"Counter"``, ``"Histogram"``,
    ``"Summary"``; ``buckets`` (histograms only) are upper bounds in
    increasing order (``inf`` is added). Adding a name again with the same
    type does nothing (the first description and buckets stay), so a
    function may add its metrics on every call; with another type it raises.
    Raises :class:`ClipperException` naming the argument at fault.
    """
    known = lookup(name) if isinstance(name, str) else None
    if known is not None and known.kind == metric_type:
        return  # the common case: a function that adds its metrics on every call
    try:
        define(metric_spec(name, metric_type, description, buckets))
    except InvalidMetric as e:
        raise ClipperException(f"add_metric: {e}") from None
    if current_sink() is None:
        logger.debug("add_metric(%r) outside a model container: nothing is exported", name)


def report_metric(name: str, val: float) -> None:
    """Report ``val`` for the metric ``name``: add it to a Counter, set a Gauge, observe in a Histogram or Summary.

    Raises :class:`ClipperException` when ``name`` was not added with
    :func:`add_metric`, or ``val`` is not a number (a counter's must be
    finite and not negative; a histogram's or summary's finite).
    """
    spec = lookup(name) if isinstance(name, str) else None
    if spec is None:
        raise ClipperException(f"{name} has not been added. Please use clipper_admin.metrics.add_metric "
                               f"to add this metric")
    try:
        value = report_value(spec, val)
    except InvalidMetric as e:
        raise ClipperException(f"report_metric: {e}") from None
    sink = current_sink()
    if sink is not None:
        sink.report(spec, value)
