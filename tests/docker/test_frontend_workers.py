"""DockerContainerManager(query_frontend_workers=2): one query frontend container of two workers.

Worker i takes replicas on RPC port 7000 + i, so every model version has a
replica per worker; queries on fresh connections (spread across the workers
by SO_REUSEPORT) are all answered by the model. Real engine, real images.
"""

from __future__ import annotations

from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, DockerContainerManager, images
from clipper_admin.container_manager import (
    CLIPPER_DOCKER_LABEL,
    CLIPPER_MODEL_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_WORKER_LABEL,
)

from .conftest import ClusterFactory

pytestmark = pytest.mark.slow


def _replicas(client: Any, cluster: str) -> list[Any]:
    found: list[Any] = client.containers.list(filters={"label": [
        f"{CLIPPER_DOCKER_LABEL}={cluster}", f"{CLIPPER_MODEL_CONTAINER_LABEL}=noop_1"]})
    return found


@pytest.mark.timeout(600)
def test_a_frontend_of_two_workers_has_replicas_per_worker(clusters: ClusterFactory, docker_client: Any) -> None:
    cm = clusters.manager(query_frontend_workers=2)
    conn = ClipperConnection(cm)
    conn.start_clipper(cache_size=1000)
    name = cm.cluster_name
    (qf,) = docker_client.containers.list(filters={"label": [
        f"{CLIPPER_DOCKER_LABEL}={name}", CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL]})
    assert "--workers=2" in qf.attrs["Config"]["Cmd"]
    assert cm.replica_sets == 2

    conn.register_application("hello", "doubles", "the-default", 1_000_000)
    conn.deploy_model("noop", "1", "doubles", images.image(images.NOOP_CONTAINER))  # waits for both replicas
    conn.link_model_to_app("hello", "noop")
    replicas = _replicas(docker_client, name)
    ports = sorted((r.labels[CLIPPER_QUERY_FRONTEND_WORKER_LABEL],
                    dict(e.split("=", 1) for e in r.attrs["Config"]["Env"])["CLIPPER_PORT"]) for r in replicas)
    assert ports == [("0", "7000"), ("1", "7001")]
    assert conn.get_num_replicas("noop", "1") == 1

    # A new connection per query: the kernel spreads them over both workers, each served by its own replica.
    answers = [requests.post(f"http://{cm.get_query_addr()}/hello/predict", json={"input": [1.0, 2.0]},
                             headers={"Connection": "close"}, timeout=10).json() for _ in range(60)]
    assert [a for a in answers if a["default"]] == []
    metrics = requests.get(f"http://{cm.get_query_addr()}/metrics", timeout=10).json()
    assert metrics["workers"]["count"] == 2 and not metrics["workers"].get("missing")

    other = DockerContainerManager(cluster_name=name, docker_network=cm.docker_network)
    other.connect()
    assert (other.query_frontend_workers, other.replica_sets) == (2, 2)
    conn2 = ClipperConnection(other)
    conn2.connect()
    conn2.set_num_replicas("noop", 2)
    assert sorted(r.labels[CLIPPER_QUERY_FRONTEND_WORKER_LABEL] for r in _replicas(docker_client, name)) == \
        ["0", "0", "1", "1"]
    conn.stop_all()
