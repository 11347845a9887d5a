"""The Docker cluster's Redis fsyncs before it answers, and an admin write survives ``docker kill`` of it.

Real engine, real images: the management frontend acknowledges a write,
the Redis container gets SIGKILL at once and is started again (same
volume); the write is there, read back through the admin API.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

from clipper_admin import ClipperConnection
from clipper_admin.container_manager import CLIPPER_DOCKER_LABEL, CLIPPER_DOCKER_PORT_LABELS
from clipper_admin.exceptions import ClipperException

from .conftest import ClusterFactory

pytestmark = pytest.mark.slow


@pytest.mark.timeout(300)
def test_an_acknowledged_write_survives_docker_kill_of_redis(clusters: ClusterFactory, docker_client: Any) -> None:
    cm = clusters.manager()
    conn = ClipperConnection(cm)
    conn.start_clipper(cache_size=1000)
    (redis,) = docker_client.containers.list(filters={"label": [
        f"{CLIPPER_DOCKER_LABEL}={cm.cluster_name}", CLIPPER_DOCKER_PORT_LABELS["redis"]]})
    code, out = redis.exec_run(["redis-cli", "CONFIG", "GET", "appendfsync"])
    assert code == 0 and out.decode().split() == ["appendfsync", "always"]

    conn.register_application("durable", "doubles", "-1", 100000)
    redis.kill(signal="SIGKILL")  # right after the acknowledgement
    redis.start()
    deadline = time.monotonic() + 60
    while True:
        try:
            apps = conn.get_all_apps()
            break
        except ClipperException:  # the management frontend answers 503 until it reconnects
            assert time.monotonic() < deadline, "the management frontend did not reach the restarted Redis"
            time.sleep(0.2)
    assert apps == ["durable"]
    conn.stop_all()
