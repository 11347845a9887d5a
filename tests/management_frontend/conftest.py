"""Fixtures for the management frontend: the real app on a port it binds itself, real Redis."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from aiohttp.test_utils import TestClient, TestServer

from management_frontend.server import build_app
from management_frontend.settings import Settings
from tests.support.ports import log_size, mf_port, wait_listening

REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Reply:
    status: int
    text: str
    content_type: str | None


class AdminClient:
    """Talks to an in-process management frontend over real HTTP."""

    def __init__(self, client: TestClient) -> None:
        self.http = client

    async def post(self, endpoint: str, body: Any = None, *, raw: bytes | None = None) -> Reply:
        data = raw if raw is not None else json.dumps(body).encode()
        async with self.http.post(
            f"/admin/{endpoint}", data=data, headers={"Content-Type": "application/json"}
        ) as r:
            return Reply(r.status, await r.text(), r.headers.get("Content-Type"))

    async def ok(self, endpoint: str, body: Any) -> str:
        """POST and require 200; returns the body text."""
        reply = await self.post(endpoint, body)
        assert reply.status == 200, (endpoint, reply)
        return reply.text

    async def json(self, endpoint: str, body: Any) -> Any:
        return json.loads(await self.ok(endpoint, body))

    async def error(self, endpoint: str, body: Any, status: int = 400) -> str:
        reply = await self.post(endpoint, body)
        assert reply.status == status, (endpoint, reply)
        return reply.text

    async def get(self, path: str) -> Reply:
        async with self.http.get(path) as r:
            return Reply(r.status, await r.text(), r.headers.get("Content-Type"))

    # Bodies the admin library sends.

    async def add_app(self, name: str, input_type: str = "doubles", default_output: str = "-1.0",
                      slo: int = 100000) -> Reply:
        return await self.post("add_app", {"name": name, "input_type": input_type,
                                           "default_output": default_output,
                                           "latency_slo_micros": slo})

    async def add_model(self, name: str, version: str, input_type: str = "doubles",
                        labels: list[str] | None = None, image: str = "NO_CONTAINER",
                        batch_size: int = -1) -> Reply:
        return await self.post("add_model", {
            "model_name": name, "model_version": version, "labels": labels or [],
            "input_type": input_type, "container_name": image,
            "model_data_path": "DEPRECATED", "batch_size": batch_size,
        })

    async def link(self, app: str, *models: str) -> Reply:
        return await self.post("add_model_links", {"app_name": app, "model_names": list(models)})


def mgmt_settings(redis_host: str, redis_port: int, **overrides: Any) -> Settings:
    return Settings(redis_ip=redis_host, redis_port=redis_port, host="127.0.0.1", port=0, **overrides)


@pytest.fixture
def make_settings(redis_instance: Any) -> Callable[..., Settings]:
    """``make_settings(**overrides)``: settings pointing at the test Redis."""
    return lambda **overrides: mgmt_settings(redis_instance.host, redis_instance.port, **overrides)


@pytest.fixture
async def admin_factory() -> AsyncIterator[Callable[[Settings], Any]]:
    """Starts in-process management frontends; all are stopped at the end."""
    clients: list[TestClient] = []

    async def start(settings: Settings) -> AdminClient:
        client = TestClient(TestServer(build_app(settings), host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return AdminClient(client)

    yield start
    for client in clients:
        await client.close()


@pytest.fixture
async def admin(redis_instance: Any, admin_factory: Callable[[Settings], Any]) -> AdminClient:
    """A management frontend on a free port, backed by a fresh Redis."""
    return await admin_factory(mgmt_settings(redis_instance.host, redis_instance.port))


@pytest.fixture
def rdb(redis_instance: Any) -> Iterator[Callable[[int], redis.Redis]]:
    """``rdb(n)``: a synchronous client on database ``n`` of the test Redis."""
    clients: dict[int, redis.Redis] = {}

    def get(db: int) -> redis.Redis:
        if db not in clients:
            clients[db] = redis.Redis(
                host=redis_instance.host, port=redis_instance.port, db=int(db), decode_responses=True
            )
        return clients[db]

    yield get
    for client in clients.values():
        client.close()


class MgmtProcess:
    """``python -m management_frontend`` as a subprocess, logging to a file.

    Without ``port`` it first binds one of its own choosing (``--port=0``) and
    reports it; a restart binds the same one again (the clients' address).
    """

    def __init__(self, redis_port: int, log_path: Path, port: int | None = None,
                 extra_args: list[str] | None = None, env: dict[str, str] | None = None,
                 args_via_env: bool = False) -> None:
        self.port = port or 0
        self.redis_port = redis_port
        self.log_path = log_path
        self.extra_args = extra_args or []
        self.env = env
        self.args_via_env = args_via_env
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("CLIPPER_MGMT_", "CLIPPER_ADMIN_TOKEN"))}
        env.update(self.env or {})
        if self.args_via_env:
            env.update(CLIPPER_MGMT_REDIS_IP="127.0.0.1", CLIPPER_MGMT_REDIS_PORT=str(self.redis_port),
                       CLIPPER_MGMT_HOST="127.0.0.1", CLIPPER_MGMT_PORT=str(self.port))
            args = list(self.extra_args)
        else:
            # Both flag spellings the original's gflags accepted.
            args = ["--redis_ip=127.0.0.1", "--redis_port", str(self.redis_port),
                    "--host", "127.0.0.1", f"--port={self.port}", *self.extra_args]
        offset = log_size(self.log_path)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "management_frontend", *args],
                cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        if self.port == 0:
            self.port = mf_port(self.proc, self.log_path, 30, offset)
        else:
            wait_listening(self.proc, self.port, 30, self.log_path)

    def stop(self) -> int:
        """SIGTERM and wait; returns the exit status."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@pytest.fixture
def mgmt_process_factory(tmp_path: Path) -> Iterator[Callable[..., MgmtProcess]]:
    procs: list[MgmtProcess] = []

    def make(redis_port: int, **kwargs: Any) -> MgmtProcess:
        proc = MgmtProcess(redis_port, tmp_path / f"mgmt-{len(procs)}.log", **kwargs)
        procs.append(proc)
        return proc

    yield make
    for proc in procs:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.stop()
