"""Fixtures: a real query frontend (in this test's event loop) on ports it binds itself (0)."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field

import aiohttp
import pytest

from query_frontend.server import QueryFrontend
from query_frontend.settings import QueryFrontendSettings
from tests.support.cluster_state import ClusterState
from tests.support.frame_container import FrameContainer
from tests.support.ports import frontend_query_port


async def eventually(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class RunningFrontend:
    frontend: QueryFrontend
    url: str
    rpc_port: int
    session: aiohttp.ClientSession
    containers: list[FrameContainer] = field(default_factory=list)

    @property
    def query_port(self) -> int:
        return frontend_query_port(self.frontend)

    @classmethod
    def of(cls, frontend: QueryFrontend, session: aiohttp.ClientSession) -> "RunningFrontend":
        """A started frontend: its URL and RPC port are the ones it bound."""
        return cls(frontend, f"http://127.0.0.1:{frontend_query_port(frontend)}", frontend.rpc.port, session)

    async def predict(self, app: str, body: dict | bytes, version: str | None = None) -> tuple[int, dict]:
        if isinstance(body, dict) and version is not None:
            body = {**body, "version": version}
        data = io.BytesIO(body) if isinstance(body, bytes) else None
        async with self.session.post(
            f"{self.url}/{app}/predict", json=None if data is not None else body, data=data
        ) as resp:
            return resp.status, await resp.json(content_type=None)

    def container(self, model: str, version: str = "1", **kwargs) -> FrameContainer:
        c = FrameContainer(self.rpc_port, model, version, **kwargs).start()
        self.containers.append(c)
        return c

    async def wait_replicas(self, model: str, version: str, n: int, timeout: float = 5.0) -> None:
        def count() -> int:
            q = self.frontend.processor.queues.get((model, version))
            return q.num_replicas if q is not None else 0

        await eventually(lambda: count() == n, timeout, f"{n} replicas of {model}:{version}")

    async def wait_app(self, app: str, pred: Callable[[object], bool] = lambda a: True) -> None:
        await eventually(
            lambda: app in self.frontend.config.apps and pred(self.frontend.config.apps[app]), 5, f"app {app}"
        )


@pytest.fixture
def cluster_state(redis_instance) -> Iterator[ClusterState]:
    state = ClusterState(redis_instance.host, redis_instance.port)
    yield state
    state.close()


@pytest.fixture
def qf_settings(redis_instance) -> QueryFrontendSettings:
    return QueryFrontendSettings(
        redis_ip=redis_instance.host,
        redis_port=redis_instance.port,
        rpc_service_port=0,
        query_port=0,
        host="127.0.0.1",
        container_activity_timeout_ms=1000,
        container_probe_interval_ms=250,
        resync_interval_s=2.0,
    )


@pytest.fixture
async def qf(qf_settings: QueryFrontendSettings) -> AsyncIterator[RunningFrontend]:
    frontend = QueryFrontend(qf_settings)
    await frontend.start()
    session = aiohttp.ClientSession()
    running = RunningFrontend.of(frontend, session)
    try:
        await asyncio.wait_for(frontend.sync.ready.wait(), 10)
        yield running
    finally:
        for c in running.containers:
            await asyncio.to_thread(c.stop)
        await session.close()
        await frontend.close()
