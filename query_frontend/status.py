"""What ``/ready`` and the runtime gauges of ``/metrics/prometheus`` report.

Both are read on request, from the parts that own the figures: nothing on
the query path updates them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from clipper_protocol import query_api as api
from clipper_service.supervisor import TaskSupervisor
from query_frontend.batching import ModelQueue
from query_frontend.cache import PredictionCache
from query_frontend.config import ClusterConfig
from query_frontend.metrics import GaugeFamily
from query_frontend.model_queues import ModelQueues
from query_frontend.redis_state.follower import ConfigSync
from query_frontend.rpc import RpcService


@dataclass
class FrontendStatus:
    """Readiness and runtime gauges of one query frontend."""

    config: ClusterConfig
    queues: ModelQueues
    cache: PredictionCache
    rpc: RpcService
    sync: ConfigSync
    tasks: TaskSupervisor
    max_queue_size: int
    draining: Callable[[], bool]
    server: Callable[[], web.Server | None]

    def readiness(self) -> tuple[bool, api.Ready]:
        """Ready once a configuration is loaded and every background task runs; lists degraded apps."""
        if self.draining():
            return False, api.Ready(False, reason="shutting down")
        ok, problem = self.tasks.readiness()
        if not ok:
            return False, api.Ready(False, reason=problem)
        if not self.sync.ready.is_set() and not self.config.apps:
            return False, api.Ready(False, reason=self.sync.last_error or "redis unreachable")
        redis = None if self.sync.ready.is_set() else self.sync.last_error or "redis unreachable"
        return True, api.Ready(True, degraded=self.degraded_apps(), redis=redis)

    def degraded_apps(self) -> dict[str, str]:
        """Applications that can only answer with their default output, and why."""
        out: dict[str, str] = {}
        for name, app in self.config.apps.items():
            if not app.linked_models:
                reason = "no model is linked to it"
            else:
                model = app.linked_models[0]
                version = self.config.current_versions.get(model)
                queue = self.queues.get((model, version)) if version is not None else None
                if version is None:
                    reason = f"model {model} has no current version"
                elif queue is None or queue.num_replicas == 0:
                    reason = f"no connected replicas of model {model}:{version}"
                else:
                    continue
            out[name] = f"{reason}; it answers with its default output"
        return out

    def runtime_gauges(self) -> list[GaugeFamily]:
        """Gauges read at scrape time."""
        queues = list(self.queues.items())

        def per_queue(value: Callable[[ModelQueue], float]) -> list[tuple[dict[str, str], float]]:
            return [({"model": n, "version": v}, float(value(q))) for (n, v), q in queues]

        server = self.server()
        connections = len(server.connections) if server is not None else 0
        inflight = sum(1 for r in self.rpc.replicas.values() if r.inflight is not None)
        return [
            ("clipper_model_queue_length", "Queries waiting in each model version's queue.", per_queue(len)),
            ("clipper_model_queue_peak_length", "Longest each model queue has been.",
             per_queue(lambda q: q.peak_length)),
            ("clipper_model_queue_max_length", "Configured queue bound (max_queue_size).",
             [({}, self.max_queue_size)]),
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
