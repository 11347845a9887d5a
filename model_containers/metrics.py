"""Per-request container metrics, served to Prometheus like the original's.

The original containers published these over Redis to a separate metrics
process; here they live in a private registry in the container process and
are served directly on the metrics port. Names and buckets are the original's.

The port ``auto`` binds port 0 and takes whatever port the kernel gives: the
server logs "Metrics on port N" and :attr:`ContainerMetrics.port` holds N, so
nobody has to pick a free port beforehand (and race others for it).
"""

from __future__ import annotations

import logging
import threading
from typing import Literal, Union
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

from clipper_protocol import user_metrics as user_metrics_api
from model_containers.user_metrics import UserMetrics

logger = logging.getLogger("clipper.container")

AUTO_PORT: Literal["auto"] = "auto"
"""The metrics port meaning "bind port 0 and report the port got"."""

MetricsPort = Union[int, Literal["auto"]]
"""A metrics port setting: a TCP port, 0 (no server) or :data:`AUTO_PORT`."""

DEFAULT_BUCKETS = (5, 10, 20, 35, 50, 75, 100, 150, 200, 250, 300, 400, 500, float("inf"))


class ContainerMetrics:
    """The ``clipper_mc_*`` metrics; every method is a no-op when disabled.

    prometheus_client metrics are thread-safe, so the I/O thread and the
    model worker record into them directly. When enabled, it also serves the
    user-defined metrics (``clipper_admin.metrics``) of the process: :attr:`user`
    becomes the process's sink for them until :meth:`close`.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        self._server: WSGIServer | None = None
        self._thread: threading.Thread | None = None
        self.port: int | None = None
        """The port the metrics server listens on (the real one for ``auto``); None when none runs."""
        self.pred_total = Counter(
            "clipper_mc_pred_total", "Prediction requests handled by the model", registry=self.registry
        )

        def histogram(name: str, doc: str) -> Histogram:
            return Histogram(name, doc, buckets=DEFAULT_BUCKETS, registry=self.registry)

        self.end_to_end_latency_ms = histogram(
            "clipper_mc_end_to_end_latency_ms", "Request received to response sent, in ms"
        )
        self.recv_time_ms = histogram("clipper_mc_recv_time_ms", "Time to receive a request, in ms")
        self.parse_time_ms = histogram("clipper_mc_parse_time_ms", "Time to decode a request's inputs, in ms")
        self.handle_time_ms = histogram("clipper_mc_handle_time_ms", "Time the model took on a batch, in ms")
        self.user = UserMetrics()
        """The user-defined metrics, labelled with the model once :meth:`set_model` is called."""
        if enabled:
            self.registry.register(self.user)
            user_metrics_api.install_sink(self.user)

    def set_model(self, name: str, version: str) -> None:
        """The model served, for the labels of the user-defined metrics."""
        self.user.set_model(name, version)

    def record_recv(self, ms: float) -> None:
        if self.enabled:
            self.recv_time_ms.observe(ms)

    def record_batch(self, parse_ms: float, handle_ms: float) -> None:
        if self.enabled:
            self.pred_total.inc()
            self.parse_time_ms.observe(parse_ms)
            self.handle_time_ms.observe(handle_ms)

    def record_end_to_end(self, ms: float) -> None:
        if self.enabled:
            self.end_to_end_latency_ms.observe(ms)

    def serve(self, port: MetricsPort, addr: str = "0.0.0.0") -> bool:
        """Serve ``/metrics`` on ``addr:port``; False (logged) if it cannot bind.

        ``port`` 0 serves nothing; :data:`AUTO_PORT` binds port 0, and the
        port got is logged ("Metrics on port N") and kept in :attr:`port`.
        A busy port does not stop the container: serving predictions matters
        more than exporting metrics about them.
        """
        if not self.enabled or port == 0:
            return False
        wanted = 0 if port == AUTO_PORT else port
        try:
            self._server, self._thread = start_http_server(wanted, addr, registry=self.registry)
        except OSError as e:
            logger.error("metrics server cannot listen on %s:%s (%s); metrics are not exported", addr, port, e)
            return False
        self.port = int(self._server.server_port)
        logger.info("Metrics on port %d (serving container metrics on %s:%d)", self.port, addr, self.port)
        return True

    def close(self) -> None:
        """Stop the metrics server, if one runs, and take no more user-defined reports."""
        user_metrics_api.remove_sink(self.user)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
            self.port = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
