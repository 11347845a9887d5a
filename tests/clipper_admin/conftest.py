"""Fixtures for the admin library: real Redis, real frontends, real model processes.

``ProcessContainerManager`` is a small container manager for these tests:
its frontends are real ``python -m management_frontend`` and
``python -m query_frontend`` processes, its replicas real
``model_containers`` processes (the noop container, or the closure
container for models it packaged), and it records every call it gets so a
test can check what ``ClipperConnection`` asked of it. The full local
manager is tested by its owner; here it would only hide the client.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from clipper_admin import ClipperConnection
from clipper_admin.container_manager import ContainerManager
from clipper_admin.exceptions import ClipperException
from tests.support.cluster import wait_for
from tests.support.ports import log_size, mf_port, qf_ports, start_redis

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 30.0


def _spawn(cmd: list[str], log_path: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
        )


def _stop(proc: subprocess.Popen, graceful: bool = True) -> None:
    if proc.poll() is None:
        proc.terminate() if graceful else proc.kill()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


@dataclass
class Frontends:
    """A management and a query frontend running against one Redis."""

    redis_port: int
    admin_port: int
    query_port: int
    rpc_port: int
    procs: list[subprocess.Popen]
    logs: list[Path]

    @property
    def admin_addr(self) -> str:
        return f"127.0.0.1:{self.admin_port}"

    @property
    def query_addr(self) -> str:
        return f"127.0.0.1:{self.query_port}"

    def stop(self, graceful: bool = True) -> None:
        for proc in self.procs:
            _stop(proc, graceful)


def start_frontends(work_dir: Path, redis_port: int, cache_size: int | None = None) -> Frontends:
    """Start both frontends on ports they bind themselves (0); learn the ports once they listen."""
    mgmt_log, qf_log = work_dir / "management_frontend.log", work_dir / "query_frontend.log"
    offsets = log_size(mgmt_log), log_size(qf_log)
    qf_cmd = [
        sys.executable, "-m", "query_frontend", "--redis_ip=127.0.0.1", f"--redis_port={redis_port}",
        "--rpc_service_port=0", "--host", "127.0.0.1", "--query_port", "0",
    ]
    if cache_size is not None:
        qf_cmd.append(f"--prediction_cache_size={cache_size}")
    mgmt = _spawn(
        [sys.executable, "-m", "management_frontend", "--redis_ip=127.0.0.1", f"--redis_port={redis_port}",
         "--host", "127.0.0.1", "--port", "0"],
        mgmt_log,
    )
    qf = _spawn(qf_cmd, qf_log)
    try:
        admin_port = mf_port(mgmt, mgmt_log, START_TIMEOUT_S, offsets[0])
        query_port, rpc_port = qf_ports(qf, qf_log, START_TIMEOUT_S, offsets[1])
    except BaseException:
        for proc in (mgmt, qf):
            _stop(proc, graceful=False)
        raise
    return Frontends(redis_port, admin_port, query_port, rpc_port, [mgmt, qf], [mgmt_log, qf_log])


@dataclass
class Replica:
    name: str
    version: str
    proc: subprocess.Popen
    log: Path


class ProcessContainerManager(ContainerManager):
    """A container manager of real local processes that records its calls.

    With ``frontends`` given it attaches to them (``start_clipper`` then
    only records); without, ``start_clipper`` starts its own against
    ``redis_port`` and ``stop_all`` stops them. With ``package_models`` its
    ``build_model`` hook copies the model directory and returns
    ``packaged:<name>:<version>``; replicas of such an "image" run the
    closure container on the copy, replicas of any other image the noop one.
    """

    def __init__(
        self, work_dir: Path, redis_port: int, frontends: Frontends | None = None, package_models: bool = True
    ) -> None:
        self.cluster_name = "test-cluster"
        self.cluster_identifier = "test-cluster"
        self.work_dir = work_dir
        self.redis_port = redis_port
        self.frontends = frontends
        self.owns_frontends = False
        self.package_models = package_models
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.replicas: list[Replica] = []
        self.packaged: dict[str, Path] = {}
        self.start_error: ClipperException | None = None
        self.admin_addr_override: str | None = None
        self.query_addr_override: str | None = None

    def calls_to(self, method: str) -> list[dict[str, Any]]:
        return [kwargs for name, kwargs in self.calls if name == method]

    # -- cluster
    def start_clipper(self, query_frontend_image: str, mgmt_frontend_image: str, frontend_exporter_image: str,
                      cache_size: int, qf_http_thread_pool_size: int, qf_http_timeout_request: int,
                      qf_http_timeout_content: int, num_frontend_replicas: int) -> None:
        self.calls.append(("start_clipper", dict(
            query_frontend_image=query_frontend_image, mgmt_frontend_image=mgmt_frontend_image,
            frontend_exporter_image=frontend_exporter_image, cache_size=cache_size,
            qf_http_thread_pool_size=qf_http_thread_pool_size, qf_http_timeout_request=qf_http_timeout_request,
            qf_http_timeout_content=qf_http_timeout_content, num_frontend_replicas=num_frontend_replicas)))
        if self.start_error is not None:
            raise self.start_error
        if self.frontends is None:
            self.frontends = start_frontends(self.work_dir, self.redis_port, cache_size)
            self.owns_frontends = True

    def connect(self) -> None:
        self.calls.append(("connect", {}))
        if self.frontends is None:
            raise ClipperException("no cluster is running")

    def stop_all(self, graceful: bool = True) -> None:
        self.calls.append(("stop_all", {"graceful": graceful}))
        self._stop_replicas(lambda r: True, graceful)
        if self.owns_frontends and self.frontends is not None:
            self.frontends.stop(graceful)
            self.frontends, self.owns_frontends = None, False

    def get_logs(self, logging_dir: str) -> list[str]:
        os.makedirs(logging_dir, exist_ok=True)
        sources = (self.frontends.logs if self.frontends else []) + [r.log for r in self.replicas]
        return [shutil.copy(src, os.path.join(logging_dir, src.name)) for src in sources if src.exists()]

    def get_admin_addr(self) -> str:
        if self.admin_addr_override:
            return self.admin_addr_override
        assert self.frontends is not None
        return self.frontends.admin_addr

    def get_query_addr(self) -> str:
        if self.query_addr_override:
            return self.query_addr_override
        assert self.frontends is not None
        return self.frontends.query_addr

    def get_metric_addr(self) -> str:
        return "127.0.0.1:9090"

    # -- models
    def build_model(self, name: str, version: str, model_data_path: str, base_image: str,
                    container_registry: str | None = None, pkgs_to_install: list[str] | None = None) -> str | None:
        self.calls.append(("build_model", dict(
            name=name, version=version, model_data_path=model_data_path, base_image=base_image,
            container_registry=container_registry, pkgs_to_install=pkgs_to_install)))
        if not self.package_models:
            return None
        copy = self.work_dir / "models" / f"{name}-{version}"
        shutil.copytree(model_data_path, copy)
        image = f"packaged:{name}:{version}"
        self.packaged[image] = copy
        return image

    def deploy_model(self, name: str, version: str, input_type: str, image: str, num_replicas: int = 1) -> None:
        self.calls.append(("deploy_model", dict(
            name=name, version=version, input_type=input_type, image=image, num_replicas=num_replicas)))
        self._scale(name, version, input_type, image, num_replicas)

    def get_num_replicas(self, name: str, version: str) -> int:
        self.calls.append(("get_num_replicas", dict(name=name, version=version)))
        return len(self._running(name, version))

    def set_num_replicas(self, name: str, version: str, input_type: str, image: str, num_replicas: int) -> None:
        self.calls.append(("set_num_replicas", dict(
            name=name, version=version, input_type=input_type, image=image, num_replicas=num_replicas)))
        self._scale(name, version, input_type, image, num_replicas)

    def stop_models(self, models: dict[str, list[str]]) -> None:
        self.calls.append(("stop_models", {"models": models}))
        self._stop_replicas(lambda r: r.version in models.get(r.name, []))

    def stop_all_model_containers(self) -> None:
        self.calls.append(("stop_all_model_containers", {}))
        self._stop_replicas(lambda r: True)

    # -- replica processes
    def _running(self, name: str, version: str) -> list[Replica]:
        return [r for r in self.replicas if r.name == name and r.version == version and r.proc.poll() is None]

    def _scale(self, name: str, version: str, input_type: str, image: str, num_replicas: int) -> None:
        running = self._running(name, version)
        for replica in running[num_replicas:]:
            _stop(replica.proc)
            self.replicas.remove(replica)
        for i in range(len(running), num_replicas):
            self.replicas.append(self._start_replica(name, version, input_type, image, i))

    def _start_replica(self, name: str, version: str, input_type: str, image: str, index: int) -> Replica:
        assert self.frontends is not None
        env = dict(os.environ)
        env.update(
            CLIPPER_MODEL_NAME=name, CLIPPER_MODEL_VERSION=version, CLIPPER_IP="127.0.0.1",
            CLIPPER_PORT=str(self.frontends.rpc_port), CLIPPER_INPUT_TYPE=input_type,
            CLIPPER_METRICS_PORT="0", CLIPPER_HEARTBEAT_INTERVAL_MS="200",
            CLIPPER_READY_FILE=str(self.work_dir / f"{name}-{version}-{index}.ready"),
        )
        if image in self.packaged:
            env["CLIPPER_MODEL_PATH"] = str(self.packaged[image])
            module = "model_containers.python_closure_container"
        else:
            module = "model_containers.noop_container"
        log = self.work_dir / f"replica-{name}-{version}-{index}-{time.monotonic_ns()}.log"
        return Replica(name, version, _spawn([sys.executable, "-m", module], log, env), log)

    def _stop_replicas(self, select: Callable[[Replica], bool], graceful: bool = True) -> None:
        for replica in [r for r in self.replicas if select(r)]:
            _stop(replica.proc, graceful)
            self.replicas.remove(replica)


# -- fixtures ---------------------------------------------------------------


@pytest.fixture(scope="session")
def shared_redis_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """One redis-server for the session's shared frontends (flushed before each test)."""
    proc, port = start_redis(tmp_path_factory.mktemp("admin-redis"))
    try:
        yield port
    finally:
        _stop(proc)


@pytest.fixture(scope="session")
def shared_frontends(shared_redis_port: int, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Frontends]:
    """Real management and query frontends shared by the session's tests."""
    fe = start_frontends(tmp_path_factory.mktemp("admin-frontends"), shared_redis_port)
    try:
        yield fe
    finally:
        fe.stop()


@pytest.fixture
def cm(shared_frontends: Frontends, tmp_path: Path) -> Iterator[ProcessContainerManager]:
    """A recording container manager on the shared frontends, with empty Redis."""
    client = redis.Redis(port=shared_frontends.redis_port)
    try:
        client.flushall()
    finally:
        client.close()
    manager = ProcessContainerManager(tmp_path, shared_frontends.redis_port, frontends=shared_frontends)
    try:
        yield manager
    finally:
        manager._stop_replicas(lambda r: True, graceful=False)


@pytest.fixture
def conn(cm: ProcessContainerManager) -> ClipperConnection:
    """A connected ClipperConnection on the shared frontends."""
    c = ClipperConnection(cm)
    c.connect()
    return c


@pytest.fixture
def own_cluster_cm(redis_instance: Any, tmp_path: Path) -> Iterator[ProcessContainerManager]:
    """A manager that starts (and stops) frontends of its own on a fresh Redis."""
    manager = ProcessContainerManager(tmp_path, redis_instance.port)
    try:
        yield manager
    finally:
        manager.stop_all(graceful=False)


def predict(query_addr: str, app: str, body: dict[str, Any]) -> dict[str, Any]:
    r = requests.post(f"http://{query_addr}/{app}/predict", json=body, timeout=30)
    assert r.status_code == 200, r.text
    result: dict[str, Any] = r.json()
    return result


@pytest.fixture
def poll() -> Callable[..., Any]:
    """``poll(predicate, timeout_s=20, what=...)``: wait until ``predicate()`` is truthy."""
    return wait_for


@pytest.fixture
def query() -> Callable[[str, str, dict[str, Any]], dict[str, Any]]:
    """``query(query_addr, app, body)``: POST a prediction, require 200, return the JSON."""
    return predict
