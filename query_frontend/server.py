"""Builds the query frontend and owns its start-up and shutdown order.

Construction wires the parts once, leaves first (nothing is assigned
later): metrics, cache and configuration; the Redis side (connector,
writer, replica records, config reader and follower); the model queues;
the RPC service (given the queues, the cache and the replica records); the
query path (given the queues); the REST handlers.

Start-up: the RPC service binds (containers may connect at once), the
background loops start under one TaskSupervisor (Redis connector, writer,
replica-record liveness, config follower, replica liveness, monitoring: a
crashed loop is logged, restarted with backoff, and turns ``/ready`` 503
meanwhile),
then the REST API opens. Serving starts with the first snapshot and keeps
going from the last one while Redis is away. A start that fails closes
whatever it had opened.

Shutdown, in this order: ``/ready`` turns 503 and every response closes its
connection; after ``drain_delay_s`` (time for load balancers to notice) the
listening socket closes and the requests in flight finish (each answers by
its SLO); then stop following Redis and watching replicas, close the
container connections (they reconnect to the next frontend) so their
records are withdrawn, wait until those deletions are written to Redis,
stop the remaining loops, close the Redis clients.

A frontend built with a :class:`WorkerRole` is one worker of several
(setting ``workers``, :mod:`query_frontend.workers`): it binds the REST
port with SO_REUSEPORT, also listens on its private loopback port, and
answers ``GET /metrics`` with the sum over the workers.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

from aiohttp import web

from clipper_protocol import query_api as api
from clipper_service.supervisor import TaskSupervisor
from query_frontend.app_refresh import AppRefresher
from query_frontend.cache import PredictionCache
from query_frontend.config import AppConfig, ClusterConfig
from query_frontend.http import QueryHandlers
from query_frontend.http_server import build_server
from query_frontend.loop_lag import LoopLag
from query_frontend.metrics import MetricsRegistry
from query_frontend.model_queues import ModelQueues
from query_frontend.monitoring import Monitor, Recorder
from query_frontend.queries import QueryProcessor
from query_frontend.redis_state.config_reader import ConfigReader
from query_frontend.redis_state.connector import RedisConnector
from query_frontend.redis_state.follower import ConfigSync
from query_frontend.redis_state.replica_records import ReplicaRecords
from query_frontend.redis_state.selection_state import SelectionStateRedis
from query_frontend.redis_state.writer import RedisWriter
from query_frontend.replica_liveness import ReplicaLiveness
from query_frontend.rpc import RpcService
from query_frontend.selection_queries import SelectionQueries
from query_frontend.settings import QueryFrontendSettings
from query_frontend.status import FrontendStatus
from query_frontend.worker_metrics import WorkerMetrics, WorkerRole

log = logging.getLogger("clipper.query_frontend")

REDIS_FLUSH_TIMEOUT_S = 2.0
"""At shutdown, how long the withdrawal of this frontend's replica records may take."""


class QueryFrontend:
    """All the parts of one query frontend, wired together."""

    def __init__(self, settings: QueryFrontendSettings, worker: WorkerRole | None = None) -> None:
        self.settings = settings
        self.worker = worker
        """Set when this frontend is one of several workers (setting ``workers``; see query_frontend.workers)."""
        self.config = ClusterConfig()
        self.metrics = MetricsRegistry(legacy_names=settings.prometheus_legacy_names)
        self.cache = PredictionCache(settings.prediction_cache_size)
        self.tasks = TaskSupervisor("query frontend", log)
        self.redis = RedisConnector(settings.redis_ip, settings.redis_port, settings.redis_password)
        self.writer = RedisWriter(self.redis)
        self.records = ReplicaRecords(self.redis, self.writer, settings.liveness_ttl_s)
        self.config.selection.attach(SelectionStateRedis(self.redis))
        self.queues = ModelQueues(settings, self.config, self.cache, self.metrics)
        self.rpc = RpcService("*" if settings.host in ("0.0.0.0", "") else settings.host,
                              settings.rpc_service_port, self.queues, self.cache, self.records,
                              rpc_secret=settings.rpc_secret, is_registered=self.config.has_version)
        self.liveness = ReplicaLiveness(self.rpc, settings.container_activity_timeout_ms / 1000,
                                        settings.container_probe_interval_ms / 1000)
        self.reader = ConfigReader(self.config, self.redis, on_model_removed=self._model_removed,
                                   on_model_changed=self.queues.model_changed, on_app_added=self._app_added)
        self.sync = ConfigSync(self.config, self.redis, self.reader, self.writer, self.records,
                               resync_interval_s=settings.resync_interval_s)
        self.selection = SelectionQueries(self.config, self.queues)
        self.monitor: Monitor | None = None
        if settings.monitoring:
            limits = settings.monitoring_limits()
            self.monitor = Monitor(limits, self.config, Recorder(limits, self.config, self.cache, self.queues.keys))
            self.metrics.monitoring = self.monitor
        self.processor = QueryProcessor(self.config, self.queues, self.selection, self.metrics,
                                        self.monitor.recorder if self.monitor is not None else None)
        self._server: web.Server | None = None
        self._runner: web.ServerRunner | None = None
        self.status = FrontendStatus(self.config, self.queues, self.cache, self.rpc, self.sync, self.tasks,
                                     settings.max_queue_size, lambda: self.handlers.draining, lambda: self._server)
        self.handlers = QueryHandlers(self.processor, self.config, self.metrics, settings.max_batch_inputs,
                                      self.status.readiness, max_body_bytes=settings.max_body_bytes,
                                      max_input_elements=settings.max_input_elements,
                                      lookup_app=AppRefresher(self.config, self.reader).refresh,
                                      monitor=self.monitor)
        self.loop_lag = LoopLag()
        self.metrics.runtime_gauges = lambda: [*self.status.runtime_gauges(), *self.loop_lag.gauges()]
        self.query_port = settings.query_port
        """The REST port: the configured one, or the one bound when that was 0."""
        if worker is not None and worker.count > 1:
            # GET /metrics sums the workers' figures (query_frontend.worker_metrics).
            self.worker_metrics = WorkerMetrics(worker, self.metrics, self.handlers.metrics_prometheus)
            self.handlers.fixed_routes[api.METRICS_PATH] = {"GET": self.worker_metrics.handle}

    def _app_added(self, app: AppConfig) -> None:
        self.writer.set_state(app.name, app.default_output)

    def _model_removed(self, name: str, version: str) -> None:
        self.rpc.remove_model_replicas(name, version, "its model version was deleted")
        self.queues.model_removed(name, version)

    # ------------------------------------------------------------ start-up

    async def start(self) -> None:
        """Bind the RPC service, start the background loops, then open the REST API."""
        try:
            self.rpc.start()
            self.records.endpoint = f"{socket.gethostname()}:{self.rpc.port}"
            self.tasks.start("redis-connector", self.redis.run)
            self.tasks.start("redis-writer", self.writer.run)
            self.tasks.start("replica-records", self.records.keep_alive)
            self.tasks.start("config-follower", self.sync.follow)
            self.tasks.start("replica-disconnections", self.liveness.watch_disconnections)
            self.tasks.start("replica-silence", self.liveness.watch_silence)
            self.tasks.start("loop-lag", self.loop_lag.run)
            if self.monitor is not None:
                monitor, interval = self.monitor, self.settings.monitoring_interval_s
                self.tasks.start("monitoring", lambda: monitor.run(interval))
            await self._open_http()
        except BaseException:
            log.error("The query frontend failed to start; closing what it opened")
            await self._shut_down(drain=False)
            raise

    async def _open_http(self) -> None:
        s = self.settings
        self._server = build_server(self.handlers.handle, s.max_body_bytes, float(s.timeout_content),
                                    s.max_headers, s.max_header_bytes)
        self._runner = web.ServerRunner(self._server, shutdown_timeout=self._request_grace_s())
        await self._runner.setup()
        # A worker shares the port with its siblings (SO_REUSEPORT: the kernel spreads connections).
        reuse_port = True if self.worker is not None else None
        site = web.TCPSite(self._runner, s.host, s.query_port, backlog=1024, reuse_address=True,
                           reuse_port=reuse_port)
        await site.start()
        if self.worker is not None:
            # Its private loopback port, where its siblings read its metrics (reserved by the supervisor).
            private = web.TCPSite(self._runner, "127.0.0.1", self.worker.private_port, reuse_address=True,
                                  reuse_port=True)
            await private.start()
        ports = [a[1] for a in self._runner.addresses if isinstance(a, tuple)]
        if ports:
            self.query_port = int(ports[0])  # the first site's: the REST port

    def _request_grace_s(self) -> float:
        # Every query answers by its application's SLO: allow the longest
        # one, plus time to write the answer.
        slos = [a.slo_s for a in self.config.apps.values()]
        return max([self.settings.default_slo_s, *slos]) + 0.5

    # ------------------------------------------------------------ shutdown

    def begin_drain(self) -> None:
        """Turn ``/ready`` 503 and make every response close its connection."""
        if not self.handlers.draining:
            self.handlers.draining = True
            log.info("Draining: /ready answers 503; new connections are refused in %.1f s",
                     self.settings.drain_delay_s)

    async def close(self) -> None:
        """Shut down in the order the module docstring gives."""
        await self._shut_down(drain=True)

    async def _shut_down(self, drain: bool) -> None:
        try:
            await self._close_http(drain)
        finally:
            await self._close_backend()

    async def _close_http(self, drain: bool) -> None:
        if self._runner is None or self._server is None:
            return
        runner, server = self._runner, self._server
        self._runner = None
        if drain:
            self.begin_drain()
        self.handlers.draining = True
        if drain and self.settings.drain_delay_s > 0:
            await asyncio.sleep(self.settings.drain_delay_s)  # the drain delay itself
        # Refuse new connections, close idle ones and let each request in
        # flight answer (by its SLO) before the rest stops.
        for site in list(runner.sites):
            await site.stop()
        await asyncio.sleep(0)
        server.pre_shutdown()
        await server.shutdown(self._request_grace_s())
        await runner.cleanup()

    async def _close_backend(self) -> None:
        try:
            await self.tasks.stop("config-follower", "replica-silence", "replica-disconnections", "replica-records")
            self.rpc.close()  # every replica leaves: its record's deletion is queued
            self.writer.enqueue("withdraw_replica_records", self.records.withdraw)
            await self.writer.flush(REDIS_FLUSH_TIMEOUT_S)
        finally:
            await self.tasks.close()
            await self.redis.close()


async def serve(settings: QueryFrontendSettings, stop: asyncio.Event, worker: WorkerRole | None = None,
                on_ready: Callable[[QueryFrontend], None] | None = None) -> None:
    """Run a query frontend (or one worker of several) until ``stop`` is set; ``on_ready`` once it serves."""
    frontend = QueryFrontend(settings, worker)
    await frontend.start()
    which = "Query frontend" if worker is None else f"Query frontend worker {worker.index} of {worker.count}"
    log.info("%s listening on http://%s:%d (RPC port %d, Redis %s:%d)", which,
             settings.host, frontend.query_port, frontend.rpc.port, settings.redis_ip, settings.redis_port)
    if on_ready is not None:
        on_ready(frontend)
    try:
        await stop.wait()
    finally:
        log.info("Query frontend shutting down")
        await frontend.close()
