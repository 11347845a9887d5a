"""A Docker cluster's secrets: a Redis password and an RPC registration secret of its own, never printed.

Real engine, real images. The manager generates both per cluster and hands
them over by environment only: Redis refuses clients without the password,
every replica it deploys proves the RPC secret, and a container that does
not know it is never admitted. ``connect()`` from another manager learns
them, so replicas it deploys prove the same secret.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from clipper_admin import ClipperConnection, DockerContainerManager, images
from clipper_admin.container_manager import (
    CLIPPER_DOCKER_LABEL,
    CLIPPER_DOCKER_PORT_LABELS,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
)

from .conftest import ClusterFactory

pytestmark = pytest.mark.slow

NOOP = images.image(images.NOOP_CONTAINER)


def _env(container: Any) -> dict[str, str]:
    return dict(e.split("=", 1) for e in container.attrs["Config"]["Env"])


def _one(client: Any, cluster: str, label: str) -> Any:
    (found,) = client.containers.list(filters={"label": [f"{CLIPPER_DOCKER_LABEL}={cluster}", label]})
    return found


@pytest.mark.timeout(600)
def test_secrets_are_per_cluster_reach_every_replica_and_keep_rogues_out(
        clusters: ClusterFactory, docker_client: Any, caplog: pytest.LogCaptureFixture) -> None:
    cm = clusters.manager()
    assert cm.rpc_secret and cm.redis_password and cm.rpc_secret != clusters.manager().rpc_secret
    conn = ClipperConnection(cm)
    with caplog.at_level(logging.DEBUG):
        conn.start_clipper(cache_size=1000)
        conn.register_application("app", "doubles", "-1", 1_000_000)
        conn.deploy_model("noop", "1", "doubles", NOOP)
        conn.link_model_to_app("app", "noop")
    assert cm.rpc_secret not in caplog.text and cm.redis_password not in caplog.text

    name = cm.cluster_name
    redis = _one(docker_client, name, CLIPPER_DOCKER_PORT_LABELS["redis"])
    code, out = redis.exec_run(["redis-cli", "ping"], environment={"REDISCLI_AUTH": ""})
    assert b"NOAUTH" in out, out  # no password, no access
    code, out = redis.exec_run(["redis-cli", "ping"])  # REDISCLI_AUTH from the container's environment
    assert out.strip() == b"PONG"
    qf = _one(docker_client, name, CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL)
    assert _env(qf)["CLIPPER_QF_RPC_SECRET"] == cm.rpc_secret
    assert cm.rpc_secret not in " ".join(qf.attrs["Config"]["Cmd"])  # not on the command line (ps)
    (replica,) = [c for c in docker_client.containers.list(filters={"label": f"{CLIPPER_DOCKER_LABEL}={name}"})
                  if "CLIPPER_MODEL_NAME" in _env(c)]
    assert _env(replica)["CLIPPER_RPC_SECRET"] == cm.rpc_secret
    assert conn.get_query_addr() and _predict(conn)["default"] is False

    # A container that does not know the secret claims the same model version: never admitted.
    rogue = docker_client.containers.run(NOOP, detach=True, network=cm.docker_network, environment={
        "CLIPPER_MODEL_NAME": "noop", "CLIPPER_MODEL_VERSION": "1", "CLIPPER_IP": qf.name,
        "CLIPPER_PORT": "7000", "CLIPPER_INPUT_TYPE": "doubles"}, labels={CLIPPER_DOCKER_LABEL: name})
    try:
        deadline = time.monotonic() + 30
        while b"did not prove it knows the RPC secret" not in qf.logs():
            assert time.monotonic() < deadline, qf.logs()[-2000:]
            time.sleep(0.5)
        assert len(conn.get_all_model_replicas()) == 1
    finally:
        rogue.remove(force=True)

    other = DockerContainerManager(cluster_name=name, docker_network=cm.docker_network)
    assert other.rpc_secret != cm.rpc_secret  # fresh, until it connects
    conn2 = ClipperConnection(other)
    conn2.connect()
    assert (other.rpc_secret, other.redis_password) == (cm.rpc_secret, cm.redis_password)
    conn2.set_num_replicas("noop", 2)  # the new replica proves the cluster's secret
    assert len(conn2.get_all_model_replicas()) == 2
    conn.stop_all()


def _predict(conn: ClipperConnection) -> dict[str, Any]:
    import requests

    deadline = time.monotonic() + 60
    while True:
        body: dict[str, Any] = requests.post(f"http://{conn.get_query_addr()}/app/predict",
                                             json={"input": [1.0, 2.0]}, timeout=10).json()
        if body["default"] is False or time.monotonic() > deadline:
            return body
        time.sleep(0.2)
