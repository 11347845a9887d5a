"""Query-frontend settings: the original's command-line flags plus ours.

Read once at start-up (:func:`clipper_service.settings.load_settings`):
``--name=value`` flags (``--name-with-dashes`` too), then ``CLIPPER_QF_<NAME>``
environment variables, then the defaults below. Values passed to the class
directly are checked the same way.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clipper_protocol import constants as c
from clipper_service.process import parse_log_level
from query_frontend.monitoring.limits import MonitoringLimits, parse_quality_kinds
from clipper_service.settings import (
    at_least,
    document_settings,
    load_settings,
    one_of,
    port,
    positive,
    setting,
    setting_fields,
)

ENV_PREFIX = "CLIPPER_QF_"


def _quality_kinds(text: Any) -> str | None:
    try:
        parse_quality_kinds(text)
    except ValueError as e:
        return str(e)
    return None


@dataclass(frozen=True)
class QueryFrontendSettings:
    """Everything the query frontend can be configured with."""

    redis_ip: str = setting(c.REDIS_ADDRESS, help="Redis host holding the cluster configuration.")
    redis_port: int = setting(c.REDIS_PORT, help="Port of that Redis.", check=port)
    redis_password: str = setting("", help="Redis password (AUTH); empty for a Redis without one.", secret=True)
    rpc_service_port: int = setting(c.RPC_SERVICE_PORT, check=port,
                                    help="Port of the ZeroMQ ROUTER model containers connect to (0: any free one).")
    prediction_cache_size: int = setting(c.DEFAULT_PREDICTION_CACHE_SIZE_BYTES, check=at_least(0),
                                         help="Byte budget of the prediction cache (outputs plus keys).")
    thread_pool_size: int = setting(1, help="Accepted for compatibility; the frontend is a single asyncio loop.")
    timeout_request: int = setting(5, help="Seconds a client may take to send its request headers.")
    timeout_content: int = setting(300, help="Seconds a keep-alive connection may stay idle.")
    host: str = setting("0.0.0.0", help="Address the REST and RPC servers bind.")
    query_port: int = setting(c.QUERY_FRONTEND_PORT, check=port, help="Port of the REST API (0: any free one).")
    container_activity_timeout_ms: int = setting(
        30000, check=positive, help="A replica silent this long is taken out of rotation (original: 30 s).")
    container_probe_interval_ms: int = setting(
        1000, check=positive, help="A replica silent this long is sent a liveness probe.")
    max_queue_size: int = setting(
        10000, check=at_least(1),
        help="Queries waiting per model version; past it, queries are shed (see shed_with).")
    shed_with: str = setting(
        "default", check=one_of("default", "503"),
        help="How a shed query is answered: default (the app's default output, as the original) or 503 "
        "(HTTP 503 with a Retry-After derived from the queue's drain rate, for clients that retry).")
    max_batch_size: int = setting(4096, check=at_least(1), help="Upper bound of an adaptive batch.")
    batch_increase_step: float = setting(
        1.0, help="Additive increase of the batch size after a full batch within target.")
    batch_backoff: float = setting(0.9, help="Multiplicative decrease of the batch size after a batch over target.")
    batch_latency_fraction: float = setting(0.5, help="Target batch latency as a fraction of the tightest SLO.")
    batch_wait_max_ms: float = setting(
        0.0, check=at_least(0),
        help="Delayed batching (Clipper paper 4.3.2): longest an idle replica waits for a short batch to fill; "
        "0 sends at once, as the original's release.")
    batch_wait_fraction: float = setting(
        0.2, check=at_least(0),
        help="Delayed batching: the wait is also at most this fraction of the model's batch latency.")
    max_body_bytes: int = setting(16 * 1024 * 1024, check=at_least(1),
                                  help="Largest request body accepted (413 beyond).")
    max_batch_inputs: int = setting(10000, check=at_least(1), help="Most inputs in one input_batch.")
    max_input_elements: int = setting(
        1_000_000, check=at_least(1),
        help="Most elements in one array input (400 beyond); with max_body_bytes it bounds the memory a single "
        "query can make the frontend and a model use.")
    max_headers: int = setting(
        100, check=at_least(1), help="Most header lines in one request (400 beyond, answered before the body is read).")
    max_header_bytes: int = setting(8190, check=at_least(1), help="Longest request line or header line (400 beyond).")
    drain_delay_s: float = setting(
        0.0, check=at_least(0),
        help="On SIGTERM, how long to keep serving after /ready turns 503 so load balancers stop routing here "
        "(new connections are refused after it; set it to the readiness probe period behind Kubernetes). "
        "Requests in flight are then given up to their SLO to finish.")
    resync_interval_s: float = setting(
        10.0, check=positive, help="Full re-read of the Redis configuration, as a safety net for notifications.")
    liveness_ttl_s: float = setting(
        10.0, check=at_least(1),
        help="Lifetime of this frontend's liveness key in Redis (refreshed every third of it); the replica "
        "records of a frontend whose key expired (it died without cleaning up) are deleted by the others.")
    default_slo_micros: int = setting(c.DEFAULT_SLO_MICROS, check=positive,
                                      help="SLO assumed for models no application links.")
    rpc_secret: str = setting(
        "", secret=True,
        help="Registration secret model containers must prove (CLIPPER_RPC_SECRET on their side); empty (the "
        "default, as the original) admits any container. Prefer CLIPPER_QF_RPC_SECRET to the flag, which ps shows.")
    prometheus_legacy_names: bool = setting(
        True, help="Also put the original exporter's per-name gauges (app_<app>_num_predictions_count, ...) on "
        "/metrics/prometheus, where the name is a valid metric name; the labelled clipper_* families are always "
        "there (docs/metrics.md).")
    monitoring: bool = setting(
        True, help="Statistical performance monitoring (docs/monitoring.md): input and output drift, default "
        "rates and quality from feedback, per application and model version, on GET /metrics, "
        "GET /<app>/monitoring and the Prometheus page.")
    monitoring_sample_every: int = setting(
        1, check=at_least(1), help="Monitoring samples one query in this many (1: every query).")
    monitoring_interval_s: float = setting(
        5.0, check=positive, help="How often monitoring takes in its samples and feedback off the query path "
        "(every read of the figures does too).")
    monitoring_reference_size: int = setting(
        1000, check=at_least(10), help="Samples in a reference window: the first ones after a deploy, link or "
        "reset, against which drift is measured.")
    monitoring_window_size: int = setting(
        1000, check=at_least(10), help="Samples in the recent window compared with the reference.")
    monitoring_min_window: int = setting(
        100, check=at_least(1), help="Drift is reported once the recent window holds this many samples.")
    monitoring_max_features: int = setting(
        32, check=at_least(1), help="Elements of numeric inputs tracked for drift (the first ones).")
    monitoring_feedback_window: int = setting(
        1000, check=at_least(1), help="Feedbacks in the recent quality window, and in the quality reference.")
    monitoring_bucket_s: float = setting(
        60.0, check=positive, help="Length of the time slots quality is also reported by.")
    monitoring_buckets: int = setting(60, check=at_least(1), help="Time slots of quality kept per model version.")
    monitoring_max_classes: int = setting(
        20, check=at_least(2), help="A version whose labels and answers are integers with at most this many distinct "
        "values is a classifier (accuracy); otherwise a regressor (mean absolute error).")
    monitoring_quality_kinds: str = setting(
        "", check=_quality_kinds, help="Fix the quality measure per application: APP=classifier or APP=regressor, "
        "comma-separated (others are decided from their labels and answers).")
    workers: int = setting(
        1, check=at_least(1),
        help="Worker processes sharing the REST port (SO_REUSEPORT), each a full frontend: worker i's RPC port is "
        "rpc_service_port + i and its model replicas connect there; each gets prediction_cache_size / workers "
        "bytes of cache. 1 (the default) runs one process, as the original (docs/architecture.md).")
    log_level: str = setting("INFO", parse=parse_log_level, check=one_of("CRITICAL", "ERROR", "WARNING", "INFO",
                                                                         "DEBUG"),
                             help="Level of the frontend's log (CRITICAL, ERROR, WARNING, INFO or DEBUG).")

    def __post_init__(self) -> None:
        # The same checks as the loader's, for settings built in code.
        for sf in setting_fields(type(self), ENV_PREFIX):
            if sf.info.check is not None:
                problem = sf.info.check(getattr(self, sf.name))
                if problem is not None:
                    raise ValueError(f"{sf.name} {problem}")

    def monitoring_limits(self) -> MonitoringLimits:
        """The monitoring settings, as the monitor sizes its windows."""
        return MonitoringLimits(
            sample_every=self.monitoring_sample_every, reference_size=self.monitoring_reference_size,
            window_size=self.monitoring_window_size, min_window=self.monitoring_min_window,
            max_features=self.monitoring_max_features, feedback_window=self.monitoring_feedback_window,
            bucket_s=self.monitoring_bucket_s, buckets=self.monitoring_buckets,
            max_classes=self.monitoring_max_classes,
            quality_kinds=parse_quality_kinds(self.monitoring_quality_kinds),
        )

    @property
    def default_slo_s(self) -> float:
        return self.default_slo_micros / 1e6

    @classmethod
    def load(
        cls,
        argv: Sequence[str] | None = None,
        environ: Mapping[str, str] | None = None,
        **overrides: Any,
    ) -> QueryFrontendSettings:
        """Settings from flags, then ``CLIPPER_QF_*`` variables, then defaults (see the module docstring)."""
        return load_settings(cls, env_prefix=ENV_PREFIX, argv=argv, environ=environ, overrides=overrides,
                             prog="query_frontend", description="Clipper query frontend")

    @classmethod
    def from_args(cls, argv: Sequence[str] | None = None) -> QueryFrontendSettings:
        """Settings of a process: its flags (``sys.argv[1:]`` when None) and its environment."""
        import sys

        return cls.load(sys.argv[1:] if argv is None else argv, os.environ)


def document() -> str:
    """The Markdown table of these settings (for docs/settings.md)."""
    return document_settings(QueryFrontendSettings, ENV_PREFIX, "Query frontend",
                             "`python -m query_frontend --name=VALUE ...`; flags win over the environment.")
