"""The management frontend's dashboard: its paths and the JSON its page polls.

``GET /dashboard`` is the page (static, like ``/docs``: it holds no cluster
data); ``GET /admin/dashboard_data`` is everything it shows, a
:class:`DashboardData`, behind the admin token like every ``/admin/*``
route. The state (applications, model versions, replicas) is read from
Redis on each call; the figures come from the query frontend's
``GET /metrics`` (JSON) and ``GET /metrics/prometheus``, sampled at most
once per :data:`SAMPLE_INTERVAL_S` however many pages poll, into a ring of
the last :data:`SERIES_CAPACITY` samples kept by the management frontend
(so a reloaded page shows the recent past at once).

Each series point is the figure over the interval since the previous sample
(rates from counter differences), or the value at the sample (latency
percentiles, monitoring figures); ``null`` where there is nothing to show
(no query in the interval, the frontend unreachable, a counter reset).
``to_json`` writes and ``from_json`` reads each shape.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from clipper_protocol.monitoring_api import AppMonitoring, from_json, to_json

DASHBOARD_PATH = "/dashboard"
"""``GET``: the dashboard page (HTML; open, like ``/docs``)."""
DASHBOARD_ASSET_PREFIX = "/dashboard/"
DASHBOARD_ASSET_PATH = "/dashboard/{asset}"
"""``GET``: the page's files (its script and styles, uPlot and its licence)."""
DASHBOARD_DATA_PATH = "/admin/dashboard_data"
"""``GET``: :class:`DashboardData` (needs the admin token when one is set)."""

SAMPLE_INTERVAL_S = 1.0
"""Least time between two samples of the query frontend."""
SERIES_CAPACITY = 300
"""Samples kept (five minutes at one a second)."""

REPLICA_CONNECTED = "connected"
"""A replica's record is in Redis: it is connected to the query frontend that wrote it."""
REPLICA_STATES: tuple[str, ...] = (REPLICA_CONNECTED,)

Point = float | None
"""One series value; null where there is nothing to show."""


def _doc(text: str) -> dict[str, Any]:
    return {"doc": text}


@dataclass(frozen=True, slots=True)
class LinkedModel:
    """A model linked to an application, with the version it serves."""

    name: str
    current_version: str | None = field(metadata=_doc("null while the model has no current version"))


@dataclass(frozen=True, slots=True)
class AppOverview:
    """An application as registered in Redis."""

    name: str
    input_type: str
    default_output: str
    latency_slo_micros: int
    policy: str = field(metadata=_doc("the selection policy"))
    linked_models: list[LinkedModel]


@dataclass(frozen=True, slots=True)
class ReplicaOverview:
    """A replica of a model version."""

    replica_id: int
    state: str = field(metadata=_doc("connected (its record is in Redis)"))
    batch_size: int
    query_frontend_id: str = field(metadata=_doc("the query frontend it is connected to (empty: unknown)"))


@dataclass(frozen=True, slots=True)
class ModelVersionOverview:
    """A model version, its replicas and its queue."""

    name: str
    version: str
    current: bool = field(metadata=_doc("whether this is the model's current version"))
    valid: bool = field(metadata=_doc("false once the version was deleted"))
    input_type: str
    image: str
    batch_size: int
    replicas: list[ReplicaOverview]
    connected_replicas: float | None = field(metadata=_doc(
        "replicas the query frontend reports connected (null: not known to it, or not reachable)"))
    queue_length: float | None = field(metadata=_doc("queries waiting in the version's queue"))


@dataclass(frozen=True, slots=True)
class AppSeries:
    """One application's figures, a point per sample (aligned with :attr:`TimeSeries.t`)."""

    app: str
    throughput: list[Point] = field(metadata=_doc("queries answered per second"))
    latency_p50_ms: list[Point] = field(metadata=_doc("median query latency (the frontend's recent reservoir)"))
    latency_p95_ms: list[Point]
    latency_p99_ms: list[Point]
    default_rate: list[Point] = field(metadata=_doc("share of the interval's queries answered with the default"))
    default_reasons: dict[str, list[Point]] = field(metadata=_doc(
        "default outputs per second, by reason (slo, no_connected_models, model_failed, ...)"))
    input_drift_psi: list[Point] = field(metadata=_doc(
        "largest population stability index of the input features (monitoring)"))


@dataclass(frozen=True, slots=True)
class ModelSeries:
    """One model version's figures, a point per sample."""

    model: str
    version: str
    throughput: list[Point] = field(metadata=_doc("inputs answered per second"))
    batch_size: list[Point] = field(metadata=_doc("mean inputs per batch sent to a replica"))
    cache_hit_rate: list[Point] = field(metadata=_doc("share of the interval's cache lookups that hit"))
    accuracy: list[Point] = field(metadata=_doc("recent accuracy from feedback (monitoring)"))
    mae: list[Point] = field(metadata=_doc("recent mean absolute error from feedback (monitoring)"))
    output_drift_psi: list[Point] = field(metadata=_doc("population stability index of its answers"))


@dataclass(frozen=True, slots=True)
class TimeSeries:
    """The sampled figures: times, then the series of each application and model version."""

    interval_s: float = field(metadata=_doc("least time between samples"))
    capacity: int = field(metadata=_doc("most samples kept"))
    t: list[float] = field(metadata=_doc("sample times (Unix seconds)"))
    cache_hit_rate: list[Point] = field(metadata=_doc("all lookups of the prediction cache"))
    apps: list[AppSeries]
    models: list[ModelSeries]


@dataclass(frozen=True, slots=True)
class QueryFrontendStatus:
    """Where the figures come from and whether the last sample got them."""

    url: str = field(metadata=_doc("the management frontend's query_frontend_url (empty: not set)"))
    reachable: bool
    error: str | None = field(metadata=_doc("why the last sample failed"))
    sampled_at: float | None = field(metadata=_doc("when the last good sample was taken (Unix seconds)"))


@dataclass(frozen=True, slots=True)
class DashboardData:
    """``GET /admin/dashboard_data``: everything the dashboard shows."""

    generated_at: float = field(metadata=_doc("Unix seconds"))
    query_frontend: QueryFrontendStatus
    applications: list[AppOverview]
    models: list[ModelVersionOverview]
    series: TimeSeries
    monitoring: dict[str, AppMonitoring] | None = field(metadata=_doc(
        "the query frontend's statistical monitoring by application, as in its GET /metrics "
        "(null: monitoring off or the frontend not reachable)"))

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = to_json(self)
        return doc

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> DashboardData:
        return from_json(cls, doc)
