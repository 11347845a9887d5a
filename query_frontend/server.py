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
from query_frontend.http import QueryHandlers, json_errors
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

    async def _lifecycle(self, app: web.Application):
        await self.rpc.start()
        await self.sync.start()
        try:
            yield
        finally:
            await self.sync.close()
            await self.rpc.close()

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[json_errors], client_max_size=self.settings.max_body_bytes)
        handlers = QueryHandlers(
            self.processor, self.config, self.metrics, self.settings.max_batch_inputs, self.readiness
        )
        app.add_routes(handlers.routes())
        app.cleanup_ctx.append(self._lifecycle)
        return app


async def serve(settings: QueryFrontendSettings, stop: asyncio.Event) -> None:
    """Run a query frontend until ``stop`` is set."""
    frontend = QueryFrontend(settings)
    runner = web.AppRunner(
        frontend.build_app(),
        access_log=None,
        keepalive_timeout=float(settings.timeout_content),
        shutdown_timeout=max(1.0, frontend.settings.default_slo_s * 2),
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.query_port, backlog=1024, reuse_address=True)
    await site.start()
    log.info("Query frontend listening on http://%s:%d (RPC port %d, Redis %s:%d)",
             settings.host, settings.query_port, frontend.rpc.port, settings.redis_ip, settings.redis_port)
    try:
        await stop.wait()
    finally:
        log.info("Query frontend shutting down")
        await runner.cleanup()
