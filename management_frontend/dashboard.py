"""The dashboard's routes: the page, its files, and ``GET /admin/dashboard_data``.

The data handler reads the cluster's state from Redis and, at the same time,
takes a sample of the query frontend if one is due
(:class:`~management_frontend.dashboard_series.SeriesRing`), then answers
one :class:`~clipper_protocol.dashboard_api.DashboardData`. Redis down is a
503 like every admin call; the query frontend down is shown in the answer
(``query_frontend.reachable``), not an error.
"""

from __future__ import annotations

import asyncio
import time

import orjson
from aiohttp import web

from clipper_protocol.api_docs import Reply
from clipper_protocol.dashboard_api import (DASHBOARD_ASSET_PATH, DASHBOARD_DATA_PATH, DASHBOARD_PATH,
                                            REPLICA_CONNECTED, AppOverview, DashboardData, LinkedModel,
                                            ModelVersionOverview, ReplicaOverview)
from clipper_protocol.redis_schema import ApplicationRecord, ContainerRecord, ModelRecord
from management_frontend.dashboard_page import DashboardPage
from management_frontend.dashboard_scrape import Sample
from management_frontend.dashboard_series import SeriesRing
from management_frontend.http import SERVICE_KEY
from management_frontend.state import RedisStateStore

PAGE_KEY = web.AppKey("dashboard_page", DashboardPage)
RING_KEY = web.AppKey("dashboard_ring", SeriesRing)


def _reply(reply: Reply) -> web.Response:
    return web.Response(body=reply.body or None, status=reply.status, headers=reply.headers)


async def handle_page(request: web.Request) -> web.StreamResponse:
    """The dashboard page; open, like ``/docs`` (it holds no data)."""
    return _reply(request.app[PAGE_KEY].page_reply(request.headers))


async def handle_asset(request: web.Request) -> web.StreamResponse:
    reply = request.app[PAGE_KEY].asset_reply(request.path, request.headers)
    if reply is None:
        raise web.HTTPNotFound()
    return _reply(reply)


async def _state(store: RedisStateStore) -> tuple[list[tuple[ApplicationRecord, list[str]]], list[ModelRecord],
                                                  dict[str, str | None], list[ContainerRecord]]:
    apps = await store.list_applications()
    models = await store.list_models()
    names = {m.model_name for m in models} | {name for _, linked in apps for name in linked}
    current = await store.get_current_versions(sorted(names))
    return apps, models, current, await store.list_containers()


def build_data(apps: list[tuple[ApplicationRecord, list[str]]], models: list[ModelRecord],
               current: dict[str, str | None], containers: list[ContainerRecord], ring: SeriesRing) -> DashboardData:
    """The answer, from the Redis state and the ring's samples."""
    last: Sample | None = ring.samples[-1] if ring.samples else None
    replicas: dict[tuple[str, str], list[ReplicaOverview]] = {}
    for c in sorted(containers, key=lambda c: (c.model_name, c.model_version, c.model_replica_id)):
        replicas.setdefault((c.model_name, c.model_version), []).append(ReplicaOverview(
            replica_id=c.model_replica_id, state=REPLICA_CONNECTED, batch_size=c.batch_size,
            query_frontend_id=c.query_frontend_id))
    versions = []
    for m in models:
        key = (m.model_name, m.model_version)
        figures = last.models.get(key) if last is not None else None
        versions.append(ModelVersionOverview(
            name=m.model_name, version=m.model_version, current=current.get(m.model_name) == m.model_version,
            valid=m.valid, input_type=m.input_type, image=m.container_name, batch_size=m.batch_size,
            replicas=replicas.get(key, []), connected_replicas=figures.replicas if figures else None,
            queue_length=figures.queue_length if figures else None))
    return DashboardData(
        generated_at=time.time(),
        query_frontend=ring.status(),
        applications=[AppOverview(
            name=a.name, input_type=a.input_type, default_output=a.default_output,
            latency_slo_micros=a.latency_slo_micros, policy=a.policy,
            linked_models=[LinkedModel(name, current.get(name)) for name in linked]) for a, linked in apps],
        models=versions,
        series=ring.series(),
        monitoring=ring.monitoring(),
    )


async def handle_data(request: web.Request) -> web.StreamResponse:
    """``GET /admin/dashboard_data``."""
    ring = request.app[RING_KEY]
    state, _ = await asyncio.gather(_state(request.app[SERVICE_KEY].store), ring.maybe_sample())
    data = build_data(*state, ring)
    return web.Response(body=orjson.dumps(data.to_json()),
                        headers={"Content-Type": "application/json", "Cache-Control": "no-store"})


async def _close_ring(app: web.Application) -> None:
    await app[RING_KEY].close()


def add_dashboard_routes(app: web.Application, query_frontend_url: str) -> None:
    """The dashboard's three routes, sampling the query frontend at ``query_frontend_url``."""
    app[PAGE_KEY] = DashboardPage()
    app[RING_KEY] = SeriesRing(query_frontend_url)
    app.on_cleanup.append(_close_ring)
    app.router.add_get(DASHBOARD_PATH, handle_page)
    app.router.add_get(DASHBOARD_ASSET_PATH.replace("}", ":.*}"), handle_asset)  # "/dashboard/" too
    app.router.add_get(DASHBOARD_DATA_PATH, handle_data)
