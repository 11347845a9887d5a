"""Run the code samples of the seed articles (/work/shared/seeds) against a real Docker cluster.

Each test module copies a seed's samples *as written* into script files
(only typographic quotes fixed and lines the article's rendering broke
joined), runs them in a fresh Python process, and checks what they did.

The seeds assume the default cluster (``default-cluster`` on ports 1337,
1338, 7000 and 9090 of ``localhost``). The tests never use those: each test
gets a cluster of its own (:class:`SeedCluster`), and every process it runs
loads ``port_map/sitecustomize.py`` (via ``PYTHONPATH``), which makes the
samples' ``DockerContainerManager()`` start or find that cluster, on ports
Docker publishes it on, and sends the samples' connections to
``localhost:1337`` (1338, ...) to the ports that cluster got. The samples'
``curl`` lines get the same mapping from a ``.curlrc`` (``connect-to``).
So the seeds run beside any cluster a user has (``make demo``, a real
``default-cluster``), which they neither see nor stop.

Without a Docker engine, or without the images (``make images``), the tests
skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

docker = pytest.importorskip("docker")

from clipper_admin import images  # noqa: E402
from tests.seeds.port_map import seed_ports  # noqa: E402
from tests.seeds.seed_support import SeedCluster  # noqa: E402
from tests.support.ci import skip_or_fail  # noqa: E402

PORT_MAP_DIR = Path(__file__).resolve().parent / "port_map"
NEEDED_IMAGES = [images.QUERY_FRONTEND, images.MANAGEMENT_FRONTEND, images.REDIS, images.closure_container_name()]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/seeds/" in str(item.fspath):
            item.add_marker(pytest.mark.docker)
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="module")
def docker_engine() -> Iterator[Any]:
    try:
        client = docker.from_env(timeout=60)
        client.ping()
    except Exception as e:  # noqa: BLE001 - any failure means "no engine"
        skip_or_fail(f"no Docker engine reachable: {e}")
    try:
        missing = []
        for name in NEEDED_IMAGES:
            try:
                client.images.get(images.image(name))
            except docker.errors.ImageNotFound:
                missing.append(images.image(name))
        if missing:
            skip_or_fail(f"images missing (build them with `make images`): {', '.join(missing)}")
        yield client
    finally:
        client.close()


@pytest.fixture
def seed_cluster(docker_engine: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeedCluster]:
    """A cluster name of this test's own, which every process the test runs takes as the default.

    The samples start it (``start_clipper()``); it is stopped, and its model
    images removed, after the test.
    """
    cluster = SeedCluster(docker_engine, f"seeds-{uuid.uuid4().hex[:8]}", tmp_path)
    monkeypatch.setenv(seed_ports.CLUSTER_ENV, cluster.name)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(PORT_MAP_DIR), os.environ.get("PYTHONPATH"))
                                                     if p))
    try:
        yield cluster
    finally:
        cluster.stop()
