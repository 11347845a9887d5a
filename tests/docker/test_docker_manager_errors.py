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


# ---------------------------------------------------------------- alert rules and the dashboard's query frontend


def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)


def test_prometheus_config_loads_the_shipped_alert_rules_beside_it(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from clipper_admin.monitoring import alert_rules_path
    from tests.support.prometheus_rules import check_config_with_rules

    monkeypatch.delenv(prometheus_config.RULES_ENV, raising=False)
    monkeypatch.delenv(prometheus_config.ALERTMANAGERS_ENV, raising=False)
    _in_tmp(tmp_path, monkeypatch)
    path = prometheus_config.create_config_file("c1", ["query_frontend-1"])
    rules = prometheus_config.rules_file_path(path)
    assert Path(rules).parent == Path(path).parent and Path(rules).name.startswith("clipper-c1-prometheus-")
    assert Path(rules).read_text() == alert_rules_path().read_text()
    assert oct(os.stat(rules).st_mode & 0o777) == "0o644"  # readable by Prometheus's own user
    import json

    config = json.loads(Path(path).read_text())
    assert config["rule_files"] == ["alert_rules.yaml"] and "alerting" not in config
    # As the container sees them: /etc/prometheus/prometheus.yml beside /etc/prometheus/alert_rules.yaml.
    check_config_with_rules(tmp_path / "etc-prometheus", config, Path(rules).read_text())
    # Editing the targets keeps the rules.
    prometheus_config.add_model_targets(path, ["m_1-1"])
    assert json.loads(Path(path).read_text())["rule_files"] == ["alert_rules.yaml"]
    prometheus_config.remove_config_files(path)
    assert not os.path.exists(path) and not os.path.exists(rules)
    prometheus_config.remove_config_files(path)  # already gone: nothing to do


def test_prometheus_rules_and_alertmanagers_from_the_environment(tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _in_tmp(tmp_path, monkeypatch)
    mine = tmp_path / "mine.yaml"
    mine.write_text("groups: []\n")
    monkeypatch.setenv(prometheus_config.RULES_ENV, str(mine))
    monkeypatch.setenv(prometheus_config.ALERTMANAGERS_ENV, " am-1:9093, am-2:9093 ,")
    path = prometheus_config.create_config_file("c2", "query_frontend-2")
    try:
        assert Path(prometheus_config.rules_file_path(path)).read_text() == "groups: []\n"
        import json

        alerting = json.loads(Path(path).read_text())["alerting"]
        assert alerting == {"alertmanagers": [{"static_configs": [{"targets": ["am-1:9093", "am-2:9093"]}]}]}
    finally:
        prometheus_config.remove_config_files(path)
    monkeypatch.setenv(prometheus_config.RULES_ENV, str(tmp_path / "missing.yaml"))
    with pytest.raises(ClipperException, match=r"Cannot read the Prometheus rules file .*missing\.yaml "
                                               r"\(CLIPPER_PROMETHEUS_RULES\)"):
        prometheus_config.create_config_file("c3", "query_frontend-3")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine.yaml"]  # nothing half-written left


class _FakeContainer:
    def __init__(self, name: str, labels: dict[str, str], kwargs: dict[str, Any]) -> None:
        self.name, self.labels, self.kwargs = name, labels, kwargs
        self.attrs: dict[str, Any] = {"State": {"Status": "running"}, "NetworkSettings": {"Ports": {}}}

    def reload(self) -> None:
        pass


class _FakeEngine:
    """Just enough of docker.DockerClient for ``_start_core``: records every ``containers.run``."""

    def __init__(self) -> None:
        self.started: list[_FakeContainer] = []
        self.containers = self
        self.api = self

    def run(self, image: str, **kwargs: Any) -> _FakeContainer:
        c = _FakeContainer(kwargs["name"], kwargs.get("labels") or {}, {"image": image, **kwargs})
        self.started.append(c)
        return c

    def create_endpoint_config(self, **kwargs: Any) -> dict[str, Any]:
        return kwargs


@pytest.mark.parametrize("frontends", [1, 2])
def test_start_up_mounts_the_rules_and_points_the_dashboard_at_query_frontend_0(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, frontends: int) -> None:
    from clipper_admin.container_manager import (
        CLIPPER_METRIC_CONFIG_LABEL,
        CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL,
        CLIPPER_QUERY_FRONTEND_ID_LABEL,
    )
    from clipper_admin.monitoring import alert_rules_path
    from management_frontend.settings import load_settings

    monkeypatch.delenv(prometheus_config.RULES_ENV, raising=False)
    _in_tmp(tmp_path, monkeypatch)
    cm = DockerContainerManager(cluster_name="rules", redis_ip="redis.example", clipper_query_port=0,
                                clipper_management_port=0, clipper_rpc_port=0, prometheus_port=0)  # fmt: skip
    engine = _FakeEngine()
    cm._start_core(engine, [], "qf-image", "mgmt-image", 1024, 1, 5, 300, frontends)
    by_image = {}
    for c in engine.started:
        by_image.setdefault(c.kwargs["image"], []).append(c)
    (mgmt,) = by_image["mgmt-image"]
    qfs = by_image["qf-image"]
    (prometheus,) = [c for c in engine.started if CLIPPER_METRIC_CONFIG_LABEL in c.labels]
    assert CLIPPER_MGMT_FRONTEND_CONTAINER_LABEL in mgmt.labels
    assert engine.started.index(mgmt) < engine.started.index(qfs[0])  # the original's start order, kept
    # The dashboard samples frontend 0 by its container name on the cluster network.
    (qf0,) = [c for c in qfs if c.labels[CLIPPER_QUERY_FRONTEND_ID_LABEL] == "0"]
    url = f"http://{qf0.name}:1337"
    assert f"--query_frontend_url={url}" in mgmt.kwargs["command"]
    assert qf0.name.startswith("query_frontend-") and len(qfs) == frontends
    settings = load_settings(mgmt.kwargs["command"], {})  # the management frontend takes its command line
    assert settings.query_frontend_url == url and settings.redis_ip == "redis.example"
    # Prometheus: its configuration and the rules beside it, both read-only.
    config = cm.prometheus_config_path
    assert config is not None and prometheus.labels[CLIPPER_METRIC_CONFIG_LABEL] == config
    rules = prometheus_config.rules_file_path(config)
    assert prometheus.kwargs["volumes"] == {
        config: {"bind": "/etc/prometheus/prometheus.yml", "mode": "ro"},
        rules: {"bind": "/etc/prometheus/alert_rules.yaml", "mode": "ro"}}
    assert Path(rules).read_text() == alert_rules_path().read_text()
    cm._remove_config_file(config)
    assert not os.path.exists(config) and not os.path.exists(rules)
