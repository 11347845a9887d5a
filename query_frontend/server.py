"""Builds the query frontend and owns its start-up and shutdown order.

Start-up: metrics and cache, the RPC service (containers may connect at once),
the Redis follower (serving starts with the first snapshot, and keeps going
from the last one while Redis is away), then the REST API.

Shutdown, in this order: ``/ready`` turns 503 and every response closes its
connection; after ``drain_delay_s`` (time for load balancers to notice) the
listening socket closes and the requests in flight finish (each answers by
its SLO); then stop following Redis, close the container connections (they
reconnect to the next frontend), close Redis.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from aiohttp import web

from clipper_protocol.redis_schema import ContainerRecord
from query_frontend.batching import ModelQueue
from query_frontend.cache import PredictionCache
from query_frontend.config import ClusterConfig
from query_frontend.config_sync import ConfigSync
from query_frontend.http import QueryHandlers, QueryServer
from query_frontend.metrics import GaugeFamily, MetricsRegistry
from query_frontend.processor import QueryProcessor
from query_frontend.rpc import Replica, RpcServer
from query_frontend.settings import QueryFrontendSettings

log = logging.getLogger("clipper.query_frontend")


class QueryFrontend:
    """All the parts of one query frontend, wired together."""

    def __init__(self, settings: QueryFrontendSettings) -> None:
        self.settings = settings
        self.config = ClusterConfig()
        self.metrics = MetricsRegistry()
        self.cache = PredictionCache(settings.prediction_cache_size)
        self.processor = QueryProcessor(settings, self.config, self.cache, self.metrics)
        self.rpc = RpcServer(
            host="*" if settings.host in ("0.0.0.0", "") else settings.host,
            port=settings.rpc_service_port,
            get_queue=self.processor.get_queue,
            on_batch_done=self.processor.batch_done,
            complete=self.processor.complete_task,
            fail=self.processor.fail_task,
            on_replica_added=self._replica_added,
            on_replica_removed=self._replica_removed,
            activity_timeout_s=settings.container_activity_timeout_ms / 1000,
            probe_interval_s=settings.container_probe_interval_ms / 1000,
            rpc_secret=settings.rpc_secret,
            is_registered=self.config.has_version,
        )
        self.processor.send_batch = self.rpc.send_batch
        self.sync = ConfigSync(
            self.config,
            settings.redis_ip,
            settings.redis_port,
            on_model_removed=self._model_removed,
            on_model_changed=self.processor.model_changed,
            connected_replicas=self._replica_records,
            resync_interval_s=settings.resync_interval_s,
            redis_password=settings.redis_password,
        )
        self.handlers = QueryHandlers(
            self.processor,
            self.config,
            self.metrics,
            settings.max_batch_inputs,
            self.readiness,
            max_body_bytes=settings.max_body_bytes,
            max_input_elements=settings.max_input_elements,
        )
        self.metrics.runtime_gauges = self._runtime_gauges
        self._server: web.Server | None = None
        self._runner: web.ServerRunner | None = None

    def _replica_record(self, r: Replica) -> ContainerRecord:
        return ContainerRecord(
            r.model_name, r.model_version, r.replica_id, r.connection_id, r.input_type.canonical_name
        )

    def _replica_records(self) -> list[ContainerRecord]:
        return [self._replica_record(r) for r in self.rpc.replicas.values()]

    def _replica_added(self, replica: Replica) -> None:
        self.sync.record_replica(self._replica_record(replica))

    def _replica_removed(self, replica: Replica) -> None:
        self.sync.forget_replica(replica.model_name, replica.model_version, replica.replica_id)

    def _model_removed(self, name: str, version: str) -> None:
        self.rpc.remove_model_replicas(name, version, "its model version was deleted")
        self.processor.model_removed(name, version)

    def readiness(self) -> tuple[bool, dict[str, object]]:
        """Ready once a configuration is loaded; the body lists degraded apps."""
        if self.handlers.draining:
            return False, {"ready": False, "reason": "shutting down"}
        if not self.sync.ready.is_set() and not self.config.apps:
            return False, {"ready": False, "reason": self.sync.last_error or "redis unreachable"}
        body: dict[str, object] = {"ready": True, "degraded": self.degraded_apps()}
        if not self.sync.ready.is_set():
            body["redis"] = self.sync.last_error or "redis unreachable"
        return True, body

    def degraded_apps(self) -> dict[str, str]:
        """Applications that can only answer with their default output, and why."""
        out: dict[str, str] = {}
        for name, app in self.config.apps.items():
            if not app.linked_models:
                reason = "no model is linked to it"
            else:
                model = app.linked_models[0]
                version = self.config.current_versions.get(model)
                queue = self.processor.queues.get((model, version)) if version is not None else None
                if version is None:
                    reason = f"model {model} has no current version"
                elif queue is None or queue.num_replicas == 0:
                    reason = f"no connected replicas of model {model}:{version}"
                else:
                    continue
            out[name] = f"{reason}; it answers with its default output"
        return out

    def _runtime_gauges(self) -> list[GaugeFamily]:
        """Gauges read at scrape time (nothing on the query path updates them)."""
        queues = list(self.processor.queues.items())

        def per_queue(value: Callable[[ModelQueue], float]) -> list[tuple[dict[str, str], float]]:
            return [({"model": n, "version": v}, float(value(q))) for (n, v), q in queues]

        connections = len(self._server.connections) if self._server is not None else 0
        inflight = sum(1 for r in self.rpc.replicas.values() if r.inflight is not None)
        return [
            ("clipper_model_queue_length", "Queries waiting in each model version's queue.", per_queue(len)),
            ("clipper_model_queue_peak_length", "Longest each model queue has been.",
             per_queue(lambda q: q.peak_length)),
            ("clipper_model_queue_max_length", "Configured queue bound (max_queue_size).",
             [({}, self.settings.max_queue_size)]),
            ("clipper_model_replicas", "Connected replicas of each model version.",
             per_queue(lambda q: q.num_replicas)),
            ("clipper_inflight_batches", "Batches sent to replicas and not yet answered.", [({}, inflight)]),
            ("clipper_pending_predictions", "Predictions awaited from models (pending cache entries).",
             [({}, self.cache.pending_count)]),
            ("clipper_prediction_cache_bytes", "Bytes held by the prediction cache.", [({}, self.cache.size_bytes)]),
            ("clipper_prediction_cache_capacity_bytes", "Byte budget of the prediction cache.",
             [({}, self.cache.capacity_bytes)]),
            ("clipper_http_connections", "Open client connections.", [({}, connections)]),
            ("clipper_asyncio_tasks", "Tasks alive in the frontend's event loop.", [({}, len(asyncio.all_tasks()))]),
        ]

    def http_server(self) -> web.Server:
        """The REST API as aiohttp's low-level server (no router or middleware)."""
        max_body = self.settings.max_body_bytes
        loop = asyncio.get_running_loop()

        def make_request(message, payload, protocol, writer, task) -> web.BaseRequest:  # type: ignore[no-untyped-def]
            return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=max_body)

        # The runner does not forward handler options to a ready-made Server,
        # so access logging (off: one line per query costs ~40% throughput),
        # keep-alive and header limits are set here.
        return QueryServer(
            self.handlers.handle,
            request_factory=make_request,
            access_log=None,
            keepalive_timeout=float(self.settings.timeout_content),
            max_headers=self.settings.max_headers,
            max_line_size=self.settings.max_header_bytes,
            max_field_size=self.settings.max_header_bytes,
        )

    async def start(self) -> None:
        """Start the RPC service, follow Redis, then open the REST API."""
        await self.rpc.start()
        await self.sync.start()
        self._server = self.http_server()
        self._runner = web.ServerRunner(self._server, shutdown_timeout=self._request_grace_s())
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.settings.host, self.settings.query_port, backlog=1024, reuse_address=True
        )
        await site.start()

    def _request_grace_s(self) -> float:
        # Every query answers by its application's SLO: allow the longest
        # one, plus time to write the answer.
        slos = [a.slo_s for a in self.config.apps.values()]
        return max([self.settings.default_slo_s, *slos]) + 0.5

    def begin_drain(self) -> None:
        """Turn ``/ready`` 503 and make every response close its connection."""
        if not self.handlers.draining:
            self.handlers.draining = True
            log.info("Draining: /ready answers 503; new connections are refused in %.1f s",
                     self.settings.drain_delay_s)

    async def close(self) -> None:
        """Drain and close the REST API, stop following Redis, close the containers."""
        try:
            if self._runner is not None and self._server is not None:
                self.begin_drain()
                if self.settings.drain_delay_s > 0:
                    await asyncio.sleep(self.settings.drain_delay_s)
                # Refuse new connections, close idle ones and let each
                # request in flight answer (by its SLO) before the rest stops.
                for site in list(self._runner.sites):
                    await site.stop()
                await asyncio.sleep(0)
                self._server.pre_shutdown()
                await self._server.shutdown(self._request_grace_s())
                await self._runner.cleanup()
        finally:
            await self.sync.close()
            await self.rpc.close()

async def serve(settings: QueryFrontendSettings, stop: asyncio.Event) -> None:
    """Run a query frontend until ``stop`` is set."""
    frontend = QueryFrontend(settings)
    await frontend.start()
    log.info("Query frontend listening on http://%s:%d (RPC port %d, Redis %s:%d)",
             settings.host, settings.query_port, frontend.rpc.port, settings.redis_ip, settings.redis_port)
    try:
        await stop.wait()
    finally:
        log.info("Query frontend shutting down")
        await frontend.close()
