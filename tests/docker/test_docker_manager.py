"""DockerContainerManager against the real engine and the real images (``make images``).

Each test's clusters get unique names, free ports and a network of their
own; the ``clusters`` fixture removes whatever they leave, even on failure.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection, DockerContainerManager, images
from clipper_admin.container_manager import (
    CLIPPER_DOCKER_LABEL,
    CLIPPER_MODEL_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL,
    CLIPPER_QUERY_FRONTEND_ID_LABEL,
)
from clipper_admin.exceptions import ClipperException

from .conftest import ClusterFactory

pytestmark = pytest.mark.slow

NOOP = images.image(images.NOOP_CONTAINER)


def _containers(client: Any, cluster: str, *labels: str, all: bool = True) -> list[Any]:
    found: list[Any] = client.containers.list(all=all, filters={"label": [f"{CLIPPER_DOCKER_LABEL}={cluster}", *labels]})
    return found


def _predict(conn: ClipperConnection, app: str, deadline_s: float = 60) -> dict[str, Any]:
    """POST a query until the model (not the default) answers it."""
    return _predict_at(conn.get_query_addr(), app, deadline_s)


def _predict_at(addr: str, app: str, deadline_s: float = 60) -> dict[str, Any]:
    """POST a query to the frontend at ``addr`` until the model (not the default) answers it."""
    deadline = time.monotonic() + deadline_s
    while True:
        r = requests.post(f"http://{addr}/{app}/predict", json={"input": [1.0, 2.0]}, timeout=10)
        body: dict[str, Any] = r.json()
        if r.status_code == 200 and body["default"] is False:
            return body
        assert time.monotonic() < deadline, f"no answer from the model within {deadline_s} s; last: {body}"
        time.sleep(0.2)


def _targets(conn: ClipperConnection) -> list[dict[str, Any]]:
    r = requests.get(f"http://{conn.get_metric_addr()}/api/v1/targets", timeout=10)
    assert r.status_code == 200
    active: list[dict[str, Any]] = r.json()["data"]["activeTargets"]
    return active


def _wait_for(what: str, check: Any, deadline_s: float = 60) -> Any:
    deadline = time.monotonic() + deadline_s
    while True:
        result = check()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {deadline_s} s"
        time.sleep(0.5)


def _connect_from_fresh_process(cm: DockerContainerManager) -> dict[str, Any]:
    code = (
        "import json, sys\n"
        "from clipper_admin import ClipperConnection, DockerContainerManager\n"
        f"conn = ClipperConnection(DockerContainerManager(cluster_name={cm.cluster_name!r}))\n"
        "conn.connect()\n"
        "print(json.dumps({'query': conn.get_query_addr(), 'admin': conn.cm.get_admin_addr(),\n"
        "                  'metric': conn.get_metric_addr(), 'replicas': conn.get_num_replicas('noop', '1'),\n"
        "                  'apps': conn.get_all_apps()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         cwd=Path(__file__).parents[2])  # fmt: skip
    assert out.returncode == 0, out.stderr
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.timeout(600)
def test_full_life_cycle(clusters: ClusterFactory, docker_client: Any, tmp_path: Path) -> None:
    cm = clusters.manager()
    assert (cm.clipper_query_port, cm.clipper_management_port, cm.prometheus_port) == (0, 0, 0)
    conn = ClipperConnection(cm)
    conn.start_clipper()
    ports = (cm.clipper_query_port, cm.clipper_management_port, cm.prometheus_port)
    assert all(ports) and len(set(ports)) == 3, ports  # 0: the manager picked a port for each
    name = cm.cluster_name
    assert len(_containers(docker_client, name, all=False)) == 4  # Redis, 2 frontends, Prometheus

    with pytest.raises(ClipperException, match=f"Cluster {name} cannot be started because it already exists"):
        ClipperConnection(clusters_manager_like(cm)).start_clipper()

    conn.register_application("hello", "doubles", "the-default", 1_000_000)
    conn.deploy_model("noop", "1", "doubles", NOOP)
    conn.link_model_to_app("hello", "noop")
    answer = _predict(conn, "hello")
    assert answer["output"] != "the-default"
    assert conn.get_num_replicas("noop", "1") == 1

    # Prometheus scrapes the query frontend directly and each replica.
    jobs = _wait_for("Prometheus lists the query frontend and the replica", lambda: {
        t["labels"]["job"]: t for t in _targets(conn)} if len(_targets(conn)) == 2 else None)  # fmt: skip
    assert jobs["query"]["scrapeUrl"].endswith(":1337/metrics/prometheus")
    (qf,) = _containers(docker_client, name, CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL, all=False)
    assert qf.name in jobs["query"]["scrapeUrl"]
    # Asked for as 0, the ports are the ones Docker picked and published (not chosen beforehand).
    assert int(qf.ports["1337/tcp"][0]["HostPort"]) == cm.clipper_query_port
    assert int(qf.ports["7000/tcp"][0]["HostPort"]) == cm.clipper_rpc_port
    _wait_for("the query frontend target is up", lambda: any(
        t["labels"]["job"] == "query" and t["health"] == "up" for t in _targets(conn)))  # fmt: skip

    conn.set_num_replicas("noop", 3)
    assert conn.get_num_replicas("noop", "1") == 3
    replicas = _containers(docker_client, name, f"{CLIPPER_MODEL_CONTAINER_LABEL}=noop_1", all=False)
    assert len(replicas) == 3
    env = dict(e.split("=", 1) for e in replicas[0].attrs["Config"]["Env"])
    assert (env["CLIPPER_MODEL_NAME"], env["CLIPPER_MODEL_VERSION"], env["CLIPPER_IP"], env["CLIPPER_INPUT_TYPE"]) == (
        "noop", "1", qf.name, "doubles")
    assert replicas[0].attrs["HostConfig"]["RestartPolicy"]["Name"] == "on-failure"
    _wait_for("Prometheus lists 3 replicas", lambda: len(_targets(conn)) == 4)
    assert _predict(conn, "hello")["default"] is False

    conn.set_num_replicas("noop", 1)
    assert conn.get_num_replicas("noop", "1") == 1
    # Removed replicas are gone, not just stopped.
    assert len(_containers(docker_client, name, f"{CLIPPER_MODEL_CONTAINER_LABEL}=noop_1")) == 1
    _wait_for("Prometheus forgets the removed replicas", lambda: len(_targets(conn)) == 2)

    logs = conn.get_clipper_logs(str(tmp_path / "logs"))
    assert len(logs) == 5 and all(os.path.isfile(p) for p in logs)
    assert any(qf.name in p and os.path.getsize(p) > 0 for p in logs)

    other = _connect_from_fresh_process(cm)
    assert (other["query"], other["admin"], other["metric"]) == (
        cm.get_query_addr(), cm.get_admin_addr(), cm.get_metric_addr())
    assert other["replicas"] == 1 and other["apps"] == ["hello"]

    conn.stop_models(["noop"])
    assert conn.get_num_replicas("noop", "1") == 0
    assert _containers(docker_client, name, CLIPPER_MODEL_CONTAINER_LABEL) == []
    assert len(_containers(docker_client, name, all=False)) == 4  # the cluster itself still runs

    config = cm.prometheus_config_path
    assert config is not None and os.path.exists(config)
    conn.stop_all()
    assert _containers(docker_client, name) == []
    assert not os.path.exists(config)


@pytest.mark.timeout(600)
def test_several_query_frontends_each_with_their_own_replicas(
    clusters: ClusterFactory, docker_client: Any, caplog: pytest.LogCaptureFixture
) -> None:
    cm = clusters.manager()
    conn = ClipperConnection(cm)
    with caplog.at_level(logging.INFO, logger="clipper.docker"):
        conn.start_clipper(cache_size=1000, num_frontend_replicas=2)
    name = cm.cluster_name
    qfs = sorted(_containers(docker_client, name, CLIPPER_QUERY_FRONTEND_CONTAINER_LABEL, all=False),
                 key=lambda c: c.labels[CLIPPER_QUERY_FRONTEND_ID_LABEL])  # fmt: skip
    assert [c.labels[CLIPPER_QUERY_FRONTEND_ID_LABEL] for c in qfs] == ["0", "1"]
    assert len(_containers(docker_client, name, all=False)) == 5  # Redis, management, 2 query frontends, Prometheus
    addrs = cm.get_query_addrs()
    assert len(addrs) == 2 and addrs[0] == cm.get_query_addr() and addrs[1] != addrs[0]
    port_1 = addrs[1].rsplit(":", 1)[1]
    assert (f"Started 2 query frontends; the query port {cm.clipper_query_port} reaches frontend 0, "
            f"frontends 1..1 listen on {port_1}") in caplog.text  # fmt: skip
    for qf in qfs:  # in-network clients reach every frontend through the shared alias
        assert "query-frontend" in qf.attrs["NetworkSettings"]["Networks"][cm.docker_network]["Aliases"]

    conn.register_application("hello", "doubles", "the-default", 1_000_000)
    conn.deploy_model("noop", "1", "doubles", NOOP)
    conn.link_model_to_app("hello", "noop")
    replicas = _containers(docker_client, name, f"{CLIPPER_MODEL_CONTAINER_LABEL}=noop_1", all=False)
    clipper_ips = sorted(dict(e.split("=", 1) for e in r.attrs["Config"]["Env"])["CLIPPER_IP"] for r in replicas)
    assert clipper_ips == sorted(qf.name for qf in qfs)  # one replica per frontend
    assert conn.get_num_replicas("noop", "1") == 1
    for addr in addrs:  # each frontend is served by its own replica
        assert _predict_at(addr, "hello")["default"] is False
    _wait_for("Prometheus scrapes both query frontends", lambda: sum(
        t["labels"]["job"] == "query" for t in _targets(conn)) == 2)  # fmt: skip

    conn.set_num_replicas("noop", 2)  # per frontend, as on Kubernetes
    assert conn.get_num_replicas("noop", "1") == 2
    assert len(_containers(docker_client, name, f"{CLIPPER_MODEL_CONTAINER_LABEL}=noop_1", all=False)) == 4
    conn.set_num_replicas("noop", 1)
    replicas = _containers(docker_client, name, f"{CLIPPER_MODEL_CONTAINER_LABEL}=noop_1")
    assert sorted(r.labels[CLIPPER_QUERY_FRONTEND_ID_LABEL] for r in replicas) == ["0", "1"]

    other = clusters_manager_like(cm)
    other.connect()
    assert other.num_frontend_replicas == 2
    assert (other.get_query_addrs(), other.get_query_addr()) == (addrs, cm.get_query_addr())

    conn.stop_all()
    assert _containers(docker_client, name) == []


def clusters_manager_like(cm: DockerContainerManager) -> DockerContainerManager:
    """A second manager for the same cluster name (as another process would make)."""
    return DockerContainerManager(cluster_name=cm.cluster_name, docker_network=cm.docker_network)


@pytest.mark.timeout(600)
def test_two_clusters_side_by_side(clusters: ClusterFactory, docker_client: Any) -> None:
    a, b = clusters.manager(), clusters.manager()
    conn_a, conn_b = ClipperConnection(a), ClipperConnection(b)
    conn_a.start_clipper()
    conn_b.start_clipper()
    for conn in (conn_a, conn_b):
        conn.register_application("app", "doubles", "the-default", 1_000_000)
    conn_a.deploy_model("noop", "1", "doubles", NOOP)
    conn_b.deploy_model("noop", "1", "doubles", NOOP, num_replicas=2)
    conn_a.link_model_to_app("app", "noop")
    assert (a.get_num_replicas("noop", "1"), b.get_num_replicas("noop", "1")) == (1, 2)
    assert _predict(conn_a, "app")["default"] is False

    # B's model operations leave A's replicas alone, and the other way round.
    conn_b.stop_all_model_containers()
    assert (a.get_num_replicas("noop", "1"), b.get_num_replicas("noop", "1")) == (1, 0)
    assert conn_a.get_all_apps() == ["app"] and conn_b.get_all_apps() == ["app"]

    conn_b.stop_all(graceful=False)
    assert _containers(docker_client, b.cluster_name) == []
    assert len(_containers(docker_client, a.cluster_name, all=False)) == 5
    assert docker_client.networks.get(a.docker_network)  # still used by A
    assert _predict(conn_a, "app")["default"] is False

    conn_a.stop_all()
    assert _containers(docker_client, a.cluster_name) == []
    import docker.errors

    with pytest.raises(docker.errors.NotFound):
        docker_client.networks.get(a.docker_network)  # created by Clipper, now unused: removed


def test_deploy_with_a_missing_image_says_how_to_build_it(clusters: ClusterFactory, docker_client: Any) -> None:
    cm = clusters.manager()
    conn = ClipperConnection(cm)
    conn.start_clipper()
    with pytest.raises(ClipperException, match=r"Image nobody/absent-model:7 not found\. Build it with"):
        conn.deploy_model("absent", "7", "doubles", "nobody/absent-model:7")
    assert _containers(docker_client, cm.cluster_name, CLIPPER_MODEL_CONTAINER_LABEL) == []
    conn.stop_all(graceful=False)


# A noop replica that exits with code 3 when /tmp/crash-now appears (and
# starts clean again: the file is removed on start).
_CRASH_ON_DEMAND = """FROM {base}
ENTRYPOINT ["sh", "-c", "rm -f /tmp/crash-now; python -m model_containers.noop_container & \\
while [ ! -f /tmp/crash-now ]; do sleep 0.2; done; kill $!; exit 3"]
"""


@pytest.fixture
def crash_on_demand_image(docker_client: Any, clipper_images: None) -> Any:
    import io

    tag = f"clipper-test/crash-on-demand:{os.getpid()}"
    docker_client.images.build(fileobj=io.BytesIO(_CRASH_ON_DEMAND.format(base=NOOP).encode()), tag=tag, rm=True)
    yield tag
    docker_client.images.remove(tag, force=True)


@pytest.mark.timeout(300)
def test_a_crashed_replica_is_restarted(clusters: ClusterFactory, docker_client: Any, crash_on_demand_image: str) -> None:
    cm = clusters.manager()
    conn = ClipperConnection(cm)
    conn.start_clipper()
    conn.register_application("app", "doubles", "the-default", 1_000_000)
    conn.deploy_model("crashy", "1", "doubles", crash_on_demand_image)
    conn.link_model_to_app("app", "crashy")
    assert _predict(conn, "app")["default"] is False

    (replica,) = _containers(docker_client, cm.cluster_name, CLIPPER_MODEL_CONTAINER_LABEL)
    replica.exec_run(["touch", "/tmp/crash-now"])

    def restarted() -> bool:
        replica.reload()
        return bool(replica.attrs["RestartCount"] >= 1 and replica.status == "running")

    _wait_for("the engine restarts the crashed replica", restarted)
    assert _wait_for("the replica counts again", lambda: conn.get_num_replicas("crashy", "1") == 1)
    assert _predict(conn, "app")["default"] is False
    conn.stop_all(graceful=False)
