"""Cluster lifecycle and addresses: start, connect, inspect, stop."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from clipper_admin import _http
from clipper_admin._base import _ConnectionBase, requires_connection
from clipper_admin._predict_check import run_predict_function
from clipper_admin.exceptions import ClipperException
from clipper_admin.version import __registry__, __version__
from clipper_protocol.admin_api import PING_PATH
from clipper_protocol.constants import DEFAULT_PREDICTION_CACHE_SIZE_BYTES

# The original retried the health check 300 times, a second apart.
HEALTH_CHECK_TIMEOUT_S = 300.0
_HEALTH_CHECK_REQUEST_TIMEOUT_S = 5
_HEALTH_LOG_EVERY_S = 1.0


class _Cluster(_ConnectionBase):
    _health_check_timeout_s: float = HEALTH_CHECK_TIMEOUT_S

    def start_clipper(
        self,
        query_frontend_image: str = f"{__registry__}/query_frontend:{__version__}",
        mgmt_frontend_image: str = f"{__registry__}/management_frontend:{__version__}",
        frontend_exporter_image: str = f"{__registry__}/frontend-exporter:{__version__}",
        cache_size: int = DEFAULT_PREDICTION_CACHE_SIZE_BYTES,
        qf_http_thread_pool_size: int = 1,
        qf_http_timeout_request: int = 5,
        qf_http_timeout_content: int = 300,
        num_frontend_replicas: int = 1,
    ) -> None:
        """Start a new Clipper cluster and connect to it.

        The container manager starts Redis, the management and query
        frontends (and, for Docker and Kubernetes, the metrics stack); then
        this waits until both frontends answer their health checks.

        Parameters
        ----------
        query_frontend_image : str, optional
            The query frontend image (Docker and Kubernetes managers).
        mgmt_frontend_image : str, optional
            The management frontend image (Docker and Kubernetes managers).
        frontend_exporter_image : str, optional
            The metrics exporter image (Docker and Kubernetes managers).
        cache_size : int, optional
            Size of the query frontend's prediction cache in bytes (32 MiB).
        qf_http_thread_pool_size : int, optional
            HTTP worker threads of the query frontend.
        qf_http_timeout_request : int, optional
            Seconds the query frontend waits for a request.
        qf_http_timeout_content : int, optional
            Seconds the query frontend waits for a request's body.
        num_frontend_replicas : int, optional
            Number of query frontends (only Kubernetes runs more than one).

        Raises
        ------
        :py:exc:`clipper.ClipperException`
            If the container manager cannot start the cluster.
        requests.RequestException
            If the frontends are not healthy within 5 minutes
            (``Clipper still initializing: ...``).
        """
        try:
            self.cm.start_clipper(
                query_frontend_image,
                mgmt_frontend_image,
                frontend_exporter_image,
                cache_size,
                qf_http_thread_pool_size,
                qf_http_timeout_request,
                qf_http_timeout_content,
                num_frontend_replicas,
            )
        except ClipperException as e:
            self.logger.warning(f"Error starting Clipper: {e.msg}")
            raise
        self._wait_until_healthy()
        self.logger.info("Clipper is running")
        self.connected = True

    def _health_check(self) -> None:
        tls = self.admin_tls
        for name, url, verify in (
            ("query frontend", f"http://{self.cm.get_query_addr()}/metrics", True),
            ("management frontend", _http.admin_url(self.cm.get_admin_addr(), PING_PATH, tls), _http.verify_arg(tls)),
        ):
            try:
                r = requests.get(url, timeout=_HEALTH_CHECK_REQUEST_TIMEOUT_S, verify=verify)
            except requests.exceptions.SSLError as e:
                # Waiting will not fix a certificate that does not verify.
                raise _http.tls_failure(self.cm.get_admin_addr(), tls, e) from e
            if r.status_code != requests.codes.ok:
                raise requests.RequestException(f"{name} end point {url} health check failed")

    def _wait_until_healthy(self) -> None:
        # Polls quickly at first (a local cluster is up in well under a
        # second), backing off to once a second as the original polled.
        deadline = time.monotonic() + self._health_check_timeout_s
        interval, last_log = 0.02, float("-inf")
        while True:
            try:
                self._health_check()
                return
            except requests.RequestException as e:
                err = requests.RequestException(f"Clipper still initializing: \n {e}")
                now = time.monotonic()
                if now >= deadline:
                    raise err from e
                if now - last_log >= _HEALTH_LOG_EVERY_S:
                    self.logger.info(str(err))
                    last_log = now
                time.sleep(min(interval, max(0.0, deadline - now)))
                interval = min(interval * 2, 1.0)

    def connect(self) -> None:
        """Connect to a running Clipper cluster."""
        self.cm.connect()
        self.connected = True
        self.logger.info(f"Successfully connected to Clipper cluster at {self.cm.get_query_addr()}")

    def stop_all(self, graceful: bool = True) -> None:
        """Stop every process of the cluster, model replicas included.

        Works without a connection. Registered applications and models stay
        in Redis only as long as the container manager keeps Redis's data.

        Parameters
        ----------
        graceful : bool, optional
            True (default): stop processes politely; False: kill them.
        """
        self.cm.stop_all(graceful=graceful)
        self.logger.info("Stopped all Clipper cluster and all model containers")

    @requires_connection
    def get_clipper_logs(self, logging_dir: str = "clipper_logs/") -> list[str]:
        """Copy the logs of every cluster process into ``logging_dir``.

        Returns
        -------
        list(str)
            The paths of the log files written.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        """
        return self.cm.get_logs(logging_dir)

    @requires_connection
    def inspect_instance(self) -> dict[str, Any]:
        """The query frontend's metrics (``GET /metrics``) as a dict.

        A query frontend of several workers (``--workers``) answers the sum
        over its workers, with a ``workers`` key saying which answered; a
        warning is logged when some did not.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        :py:exc:`clipper.ClipperException`
        """
        r = _http.query_frontend_get(self.cm.get_query_addr(), "/metrics")
        if r.status_code != requests.codes.ok:
            msg = _http.error_status(r)
            self.logger.error(msg)
            raise ClipperException(msg)
        result: dict[str, Any] = _http.response_json(r, "/metrics")
        workers = result.get("workers")
        if isinstance(workers, dict) and workers.get("missing"):
            # A frontend of several workers sums them; one restarting is not in the figures.
            self.logger.warning(f"The query frontend's metrics leave out workers {workers['missing']} of "
                                f"{workers.get('count')} (they did not answer): the figures are partial")
        return result

    @requires_connection
    def get_query_addr(self) -> str:
        """``host:port`` of the query frontend's REST API.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        """
        return self.cm.get_query_addr()

    @requires_connection
    def get_metric_addr(self) -> str:
        """``host:port`` of the cluster's metrics endpoint.

        Raises
        ------
        :py:exc:`clipper.UnconnectedException`
        """
        return self.cm.get_metric_addr()

    def test_predict_function(self, query: dict[str, Any], func: Callable[[list[Any]], Any], input_type: str) -> Any:
        """Call ``func`` on ``query`` as a deployed model would be called.

        Connects first if not connected. The inputs are converted as a model
        container converts them (numpy arrays of int32, float32 or float64;
        ``numpy.str_`` for strings; int8 arrays for bytes given as raw bytes
        or base64 text), and ``func`` goes through a cloudpickle round trip.

        Parameters
        ----------
        query : dict
            A predict request body: ``{"input": x}`` or ``{"input_batch": [x, ...]}``.
        func : function
            The prediction function.
        input_type : str
            One of "integers", "floats", "doubles", "bytes", "strings" (or an alias).

        Returns
        -------
        Any
            What ``func`` returns; or ``"Invalid input type or JSON key"``
            when the query is not a list of inputs, ``"Invalid input type"``
            when an element does not match ``input_type``. Outputs that are
            not ``str`` are logged with the strings a container would send.

        Raises
        ------
        :py:exc:`clipper.ClipperException`
            When ``func`` returns something a deployed model would answer
            with the default output: not a list, or not one output per
            input (the message says which).
        """
        if not self.connected:
            self.connect()
        return run_predict_function(query, func, input_type)
