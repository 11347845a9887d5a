"""Builds the query frontend and owns its start-up and shutdown order.

Start-up: metrics and cache, the RPC service (containers may connect at once),
the Redis follower (serving starts with the first snapshot, and keeps going
from the last one while Redis is away), then the REST API.

Shutdown, in this order: stop accepting REST requests and drain the ones in
flight (aiohttp's graceful shutdown), stop following Redis, close the
container connections (their in-flight queries answer with the default),
close Redis.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from clipper_protocol.redis_schema import ContainerRecord
from query_frontend.cache import PredictionCache
from query_frontend.config import ClusterConfig
from query_frontend.config_sync import ConfigSync
from query_frontend.http import QueryHandlers
from query_frontend.metrics import MetricsRegistry
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
        )
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

    def readiness(self) -> tuple[bool, str | None]:
        if not self.sync.ready.is_set() and not self.config.apps:
            return False, self.sync.last_error
        return True, None

    def http_server(self) -> web.Server:
        """The REST API as aiohttp's low-level server (no router or middleware)."""
        handlers = QueryHandlers(
            self.processor, self.config, self.metrics, self.settings.max_batch_inputs, self.readiness
        )
        max_body = self.settings.max_body_bytes
        loop = asyncio.get_running_loop()

        def make_request(message, payload, protocol, writer, task) -> web.BaseRequest:  # type: ignore[no-untyped-def]
            return web.BaseRequest(message, payload, protocol, writer, task, loop, client_max_size=max_body)

        # The runner does not forward handler options to a ready-made Server,
        # so access logging (off: one line per query costs ~40% throughput)
        # and keep-alive are set here.
        return web.Server(
            handlers.handle,
            request_factory=make_request,
            access_log=None,
            keepalive_timeout=float(self.settings.timeout_content),
        )

    async def start(self) -> None:
        """Start the RPC service, follow Redis, then open the REST API."""
        await self.rpc.start()
        await self.sync.start()
        self._runner = web.ServerRunner(
            self.http_server(),
            shutdown_timeout=max(1.0, self.settings.default_slo_s * 2),
        )
        await self._runner.setup()
        site = web.TCPSite(
            self._runner, self.settings.host, self.settings.query_port, backlog=1024, reuse_address=True
        )
        await site.start()

    async def close(self) -> None:
        """Drain and close the REST API, stop following Redis, close the containers."""
        try:
            if self._runner is not None:
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
