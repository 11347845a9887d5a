"""DockerContainerManager's error paths and helpers; no Clipper image needed."""

from __future__ import annotations

import logging
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from clipper_admin import ClipperConnection, DockerContainerManager
from clipper_admin.container_manager import CLIPPER_DOCKER_LABEL
from clipper_admin.docker import prometheus_config
from clipper_admin.docker.engine import find_unbound_port, published_port
from clipper_admin.exceptions import ClipperException
from clipper_admin.local.redis_server import free_port
from tests.support.ports import dead_port

log = logging.getLogger("test")


def test_engine_unreachable_gives_the_original_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    cm = DockerContainerManager(cluster_name="nowhere")
    for call in (cm.connect, lambda: cm.get_num_replicas("m", "1"), cm.stop_all):
        with pytest.raises(ClipperException, match=r"^Unable to Connect to Docker\. Please Check if Docker is running\."):
            call()


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_a_bad_number_of_query_frontends_is_refused_before_anything_starts(bad: Any) -> None:
    with pytest.raises(ClipperException, match=rf"num_frontend_replicas must be an integer >= 1, got {bad!r}"):
        DockerContainerManager().start_clipper("q", "m", "e", 1, 1, 5, 300, num_frontend_replicas=bad)


def test_prometheus_scrapes_every_query_frontend() -> None:
    config = prometheus_config.initial_config(["query_frontend-7", "query_frontend-7-1"])
    (query,) = config["scrape_configs"]
    assert query["job_name"] == "query"
    assert query["static_configs"] == [{"targets": ["query_frontend-7:1337", "query_frontend-7-1:1337"]}]


def test_connect_without_a_cluster_says_how_to_start_one(docker_client: Any) -> None:
    conn = ClipperConnection(DockerContainerManager(cluster_name="no-such-cluster-here"))
    with pytest.raises(ClipperException, match=r"No running Clipper cluster named no-such-cluster-here .*start_clipper\(\)"):
        conn.connect()
    assert not conn.connected


def test_missing_frontend_image_fails_before_starting_anything(docker_client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    name = f"test-missing-{os.getpid()}"
    cm = DockerContainerManager(cluster_name=name, docker_network="clipper-test-missing", clipper_query_port=0,
                                clipper_management_port=0, clipper_rpc_port=0, redis_port=0, prometheus_port=0,
                                redis_ip="127.0.0.1")  # fmt: skip
    try:
        with pytest.raises(ClipperException) as e:
            cm.start_clipper("nobody/query_frontend:0", "nobody/management_frontend:0", "unused", 1, 1, 5, 300, 1)
        assert str(e.value).startswith("Image nobody/management_frontend:0 not found. Build it with `make images` or "
                                       "pass mgmt_frontend_image=")  # fmt: skip
        assert docker_client.containers.list(all=True, filters={"label": f"{CLIPPER_DOCKER_LABEL}={name}"}) == []
        # Nothing of the cluster runs, so stop_all removes the network Clipper created for it.
        cm.stop_all()
        assert docker_client.networks.list(names=["clipper-test-missing"]) == []
    finally:
        for n in docker_client.networks.list(names=["clipper-test-missing"]):
            n.remove()


def test_find_unbound_port_keeps_a_free_port_and_replaces_a_taken_one() -> None:
    port = free_port()
    assert find_unbound_port(port, "thing", log) == port
    with socket.socket() as s:
        s.bind(("0.0.0.0", 0))
        s.listen()
        taken = s.getsockname()[1]
        other = find_unbound_port(taken, "thing", log)
        assert other != taken and 10000 <= other <= 50000
    # 0: Docker picks the port when it publishes it (no port chosen here to race for).
    assert find_unbound_port(0, "thing", log) == 0


class _Inspected:
    def __init__(self, ports: dict[str, Any] | None) -> None:
        self.name = "c"
        self.attrs = {"NetworkSettings": {"Ports": ports}}


def test_published_port_reads_the_port_docker_picked(caplog: pytest.LogCaptureFixture) -> None:
    both = {"1337/tcp": [{"HostIp": "::", "HostPort": "32771"}, {"HostIp": "0.0.0.0", "HostPort": "32770"}],
            "7000/tcp": None}  # fmt: skip
    assert published_port(_Inspected(both), 1337, 0, log) == 32770  # IPv4 first
    assert published_port(_Inspected({"6379/tcp": [{"HostIp": "127.0.0.1", "HostPort": "40001"}]}), 6379, 0) == 40001
    # Nothing published (yet): the port asked for, with a warning when that was "any".
    assert published_port(_Inspected(both), 7000, 7001, log) == 7001
    assert published_port(_Inspected(None), 1338, 0, log) == 0
    assert "shows no published host port for its port 1338" in caplog.text


def test_prometheus_config_edits_keep_the_file_in_place(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    path = prometheus_config.create_config_file("c1", "query_frontend-1")
    try:
        assert oct(os.stat(path).st_mode & 0o777) == "0o644"  # readable by Prometheus's own user
        inode = os.stat(path).st_ino
        assert prometheus_config.job_names(path) == ["query"]
        assert prometheus_config.add_model_targets(path, ["m_1-1", "m_1-2"]) is True
        assert prometheus_config.add_model_targets(path, ["m_1-2"]) is False  # already there
        assert prometheus_config.job_names(path) == ["query", "m_1-1", "m_1-2"]
        assert prometheus_config.remove_model_targets(path, ["m_1-1"]) is True
        assert prometheus_config.job_names(path) == ["query", "m_1-2"]
        assert prometheus_config.remove_model_targets(path) is True
        assert prometheus_config.job_names(path) == ["query"]
        # A bind mount shows the file by inode: edits must not replace it.
        assert os.stat(path).st_ino == inode
        import json

        query = json.loads(Path(path).read_text())["scrape_configs"][0]
        assert query["metrics_path"] == "/metrics/prometheus"
        assert query["static_configs"] == [{"targets": ["query_frontend-1:1337"]}]
    finally:
        os.unlink(path)


def test_reload_failure_is_a_warning_not_an_error(caplog: pytest.LogCaptureFixture) -> None:
    with dead_port() as port:
        assert prometheus_config.reload(f"127.0.0.1:{port}", log) is False
    assert "Could not reload the Prometheus configuration" in caplog.text
