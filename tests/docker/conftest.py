"""Docker fixtures. Without an engine these tests skip locally but FAIL in CI.

``CI=true`` means the machine was provisioned with a Docker engine (see
``.ci/run``); a missing engine there is a broken set-up, never a skip.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from clipper_admin import DockerContainerManager
from clipper_admin.container_manager import CLIPPER_DOCKER_LABEL, CLIPPER_METRIC_CONFIG_LABEL
from clipper_admin.docker import prometheus_config
from tests.support.ci import skip_or_fail

docker = pytest.importorskip("docker")


def _engine_or_reason() -> tuple[object | None, str]:
    try:
        client = docker.from_env(timeout=30)
        client.ping()
        return client, ""
    except Exception as e:  # noqa: BLE001 - any failure means "no engine"
        return None, f"no Docker engine reachable: {e}"


@pytest.fixture(scope="session")
def docker_client() -> Iterator[object]:
    client, reason = _engine_or_reason()
    if client is None:
        skip_or_fail(f"{reason}. .ci/run must install and start Docker.")
    yield client
    client.close()  # type: ignore[attr-defined]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/docker/" in str(item.fspath):
            item.add_marker(pytest.mark.docker)


# ---------------------------------------------------------------- Clipper clusters on the engine

# Images a Docker cluster with a noop model needs (``make images`` builds them).
_CLUSTER_IMAGES = ("query_frontend", "management_frontend", "redis", "prometheus", "noop-container")


@pytest.fixture(scope="session")
def clipper_images(docker_client: object) -> None:
    """Fail (CI) or skip (locally) unless Clipper's images are built."""
    import docker.errors

    from clipper_admin import images

    missing = []
    for name in _CLUSTER_IMAGES:
        try:
            docker_client.images.get(images.image(name))  # type: ignore[attr-defined]
        except docker.errors.ImageNotFound:
            missing.append(images.image(name))
    if missing:
        skip_or_fail(f"Clipper images not built: {', '.join(missing)}. Run `make images`.")


@dataclass
class ClusterFactory:
    """Makes DockerContainerManagers with unique names, ports of their own choosing and a test network.

    Everything a test's clusters leave behind (containers, Prometheus config
    and rules files, the network) is removed afterwards, even when the test fails.
    """

    client: object
    network: str = field(default_factory=lambda: f"clipper-test-{uuid.uuid4().hex[:8]}")
    names: list[str] = field(default_factory=list)

    def manager(self, **kwargs: object) -> DockerContainerManager:
        name = f"test-{uuid.uuid4().hex[:10]}"
        self.names.append(name)
        # 0: the manager picks each port when it publishes it (the test never holds a port number
        # someone else could take first); the manager's attributes then tell which it got.
        ports = dict.fromkeys(("clipper_query_port", "clipper_management_port", "clipper_rpc_port",
                               "redis_port", "prometheus_port"), 0)
        return DockerContainerManager(**{"cluster_name": name, "docker_network": self.network, **ports, **kwargs})  # type: ignore[arg-type]

    def cleanup(self) -> None:
        import docker.errors

        for name in self.names:
            for c in self.client.containers.list(all=True, filters={"label": f"{CLIPPER_DOCKER_LABEL}={name}"}):  # type: ignore[attr-defined]
                config = c.labels.get(CLIPPER_METRIC_CONFIG_LABEL)
                if config:
                    prometheus_config.remove_config_files(config)  # and the rules beside it
                c.remove(force=True, v=True)
        try:
            self.client.networks.get(self.network).remove()  # type: ignore[attr-defined]
        except docker.errors.NotFound:
            pass


@pytest.fixture
def clusters(docker_client: object, clipper_images: None) -> Iterator[ClusterFactory]:
    """A :class:`ClusterFactory` whose clusters are removed after the test."""
    factory = ClusterFactory(docker_client)
    try:
        yield factory
    finally:
        factory.cleanup()


@pytest.fixture
def require_image(docker_client: object) -> Callable[[str], Any]:
    """``require_image(ref)``: the local image ``ref``, or skip (locally) / fail (CI)."""

    def get(ref: str) -> Any:
        try:
            return docker_client.images.get(ref)  # type: ignore[attr-defined]
        except docker.errors.ImageNotFound:
            skip_or_fail(f"image {ref} is missing: run `make images`")

    return get
