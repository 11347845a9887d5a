"""Run the code samples of the seed articles (/work/shared/seeds) against a real Docker cluster.

Each test module copies a seed's samples *as written* into script files
(only typographic quotes fixed and lines the article's rendering broke
joined), runs them in a fresh Python process, and checks what they did.
The seeds assume the default cluster (``default-cluster``; ports 1337, 1338,
6379, 7000, 9090), so these tests use it and stop it afterwards; they cannot
run beside another default cluster.

Without a Docker engine, or without the images (``make images``), the tests
skip locally and fail in CI (``CI=true``).
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

docker = pytest.importorskip("docker")

from clipper_admin import images  # noqa: E402
from tests.support.ci import skip_or_fail  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_CLUSTER = "default-cluster"
DEFAULT_PORTS = (1337, 1338, 6379, 7000)
NEEDED_IMAGES = [images.QUERY_FRONTEND, images.MANAGEMENT_FRONTEND, images.REDIS, images.closure_container_name()]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/seeds/" in str(item.fspath):
            item.add_marker(pytest.mark.docker)
            item.add_marker(pytest.mark.slow)




def _port_in_use(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


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


def stop_default_cluster(client: Any) -> None:
    """Stop the default cluster (as the seeds' clean-up does) and remove its model images."""
    subprocess.run(
        [sys.executable, "-c", textwrap.dedent("""
            from clipper_admin import ClipperConnection, DockerContainerManager
            ClipperConnection(DockerContainerManager()).stop_all()
        """)],
        cwd=REPO_ROOT, capture_output=True, timeout=300,
    )
    for image in client.images.list():
        for tag in image.tags:
            if tag.startswith(f"{DEFAULT_CLUSTER}-"):
                try:
                    client.images.remove(tag, force=True)
                except docker.errors.APIError:
                    pass


@pytest.fixture
def default_cluster(docker_engine: Any) -> Iterator[Any]:
    """The default ports free before the test; the default cluster stopped after it."""
    busy = [p for p in DEFAULT_PORTS if _port_in_use(p)]
    if busy:
        pytest.fail(f"the seeds need the default Clipper ports, but {busy} are in use (another cluster running?)")
    try:
        yield docker_engine
    finally:
        stop_default_cluster(docker_engine)
