"""Query-frontend settings: the original's command-line flags plus ours.

Read once at start-up from the command line, falling back to ``CLIPPER_QF_*``
environment variables, then to the defaults below.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from clipper_protocol import constants as c


@dataclass(frozen=True)
class QueryFrontendSettings:
    redis_ip: str = c.REDIS_ADDRESS
    """Redis host holding the cluster configuration."""
    redis_port: int = c.REDIS_PORT
    """Redis port."""
    redis_password: str = field(default="", repr=False)
    """Redis password (AUTH); empty for a Redis without one."""
    rpc_service_port: int = c.RPC_SERVICE_PORT
    """Port of the ZeroMQ ROUTER model containers connect to."""
    prediction_cache_size: int = c.DEFAULT_PREDICTION_CACHE_SIZE_BYTES
    """Byte budget of the prediction cache (outputs plus keys)."""
    thread_pool_size: int = 1
    """Accepted for compatibility; the frontend is a single asyncio loop."""
    timeout_request: int = 5
    """Seconds a client may take to send its request headers."""
    timeout_content: int = 300
    """Seconds a keep-alive connection may stay idle."""
    host: str = "0.0.0.0"
    """Address the REST and RPC servers bind."""
    query_port: int = c.QUERY_FRONTEND_PORT
    """Port of the REST API."""
    container_activity_timeout_ms: int = 30000
    """A replica silent this long is taken out of rotation (original: 30 s)."""
    container_probe_interval_ms: int = 1000
    """A replica silent this long is sent a liveness probe."""
    max_queue_size: int = 10000
    """Queries waiting per model version; past it, queries are shed (see ``shed_with``)."""
    shed_with: str = "default"
    """How a shed query is answered: ``default`` (the app's default output, as
    the original) or ``503`` (HTTP 503 with ``Retry-After``, for clients that retry)."""
    max_batch_size: int = 4096
    """Upper bound of an adaptive batch."""
    batch_increase_step: float = 1.0
    """Additive increase of the batch size after a full batch within target."""
    batch_backoff: float = 0.9
    """Multiplicative decrease of the batch size after a batch over target."""
    batch_latency_fraction: float = 0.5
    """Target batch latency as a fraction of the tightest SLO."""
    batch_wait_max_ms: float = 0.0
    """Delayed batching (Clipper paper 4.3.2): longest an idle replica waits for a
    short batch to fill; 0 sends at once, as the original's release."""
    batch_wait_fraction: float = 0.2
    """Delayed batching: the wait is also at most this fraction of the model's batch latency."""
    max_body_bytes: int = 16 * 1024 * 1024
    """Largest request body accepted (413 beyond)."""
    max_batch_inputs: int = 10000
    """Most inputs in one ``input_batch``."""
    max_input_elements: int = 1_000_000
    """Most elements in one array input (400 beyond); with ``max_body_bytes``
    it bounds the memory a single query can make the frontend and a model use."""
    max_headers: int = 100
    """Most header lines in one request (400 beyond, answered before the body is read)."""
    max_header_bytes: int = 8190
    """Longest request line or header line (400 beyond)."""
    drain_delay_s: float = 0.0
    """On SIGTERM, how long to keep serving after ``/ready`` turns 503 so load
    balancers stop routing here (new connections are refused after it; set it
    to the readiness probe period behind Kubernetes). Requests in flight are
    then given up to their SLO to finish."""
    resync_interval_s: float = 10.0
    """Full re-read of the Redis configuration, as a safety net for notifications."""
    default_slo_micros: int = c.DEFAULT_SLO_MICROS
    """SLO assumed for models no application links."""
    rpc_secret: str = field(default="", repr=False)
    """Registration secret model containers must prove (``CLIPPER_RPC_SECRET``
    on their side); empty (the default, as the original) admits any container.
    Prefer ``CLIPPER_QF_RPC_SECRET`` to the flag, which ``ps`` shows."""

    def __post_init__(self) -> None:
        if self.shed_with not in ("default", "503"):
            raise ValueError(f"shed_with must be 'default' or '503', not {self.shed_with!r}")
        for name in ("max_queue_size", "max_body_bytes", "max_batch_inputs", "max_input_elements", "max_headers",
                     "max_header_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, not {getattr(self, name)}")
        if self.drain_delay_s < 0:
            raise ValueError(f"drain_delay_s must not be negative, not {self.drain_delay_s}")

    @property
    def default_slo_s(self) -> float:
        return self.default_slo_micros / 1e6

    @classmethod
    def from_args(cls, argv: list[str] | None = None) -> "QueryFrontendSettings":
        parser = argparse.ArgumentParser(prog="query_frontend", description="Clipper query frontend")
        for f in fields(cls):
            convert: Callable[[str], Any] = type(f.default)
            env = os.environ.get("CLIPPER_QF_" + f.name.upper())
            default = f.default if env is None else convert(env)
            parser.add_argument(f"--{f.name}", type=convert, default=default)
        ns = parser.parse_args(argv)
        return cls(**vars(ns))
