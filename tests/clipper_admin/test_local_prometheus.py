"""The local cluster's Prometheus: a real ``prometheus`` binary scraping a real cluster.

Every cluster runs on OS-picked ports (``prometheus_port=0`` included) in a
temp directory, with a 1 s scrape interval. Prometheus applies a changed
targets file within about 5 s (it batches discovery updates), so each wait
below is at most 20 s. Tests that need the binary skip without it locally
and fail under ``CI=true``; those about running without it need nothing.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager
from clipper_admin.local import prometheus as local_prometheus
from clipper_admin.local.cluster_state import ClusterPaths, ClusterState, ProcessRecord, ReplicaInfo, load_state
from tests.support.ci import skip_or_fail
from tests.support.cluster import wait_for

pytestmark = pytest.mark.timeout(120)

NOOP_IMAGE = "clipper/noop-container:develop"
SCRAPE_INTERVAL = "1s"
#: Prometheus batches discovery updates every 5 s, then needs a scrape or two.
TARGET_WAIT_S = 20.0


def make_cm(cluster_dir: Path, **kwargs: Any) -> LocalContainerManager:
    args: dict[str, Any] = {"clipper_query_port": 0, "clipper_management_port": 0, "clipper_rpc_port": 0,
                            "redis_port": 0, "prometheus_port": 0}  # fmt: skip
    args.update(kwargs)
    cm = LocalContainerManager(cluster_name="prom", cluster_dir=cluster_dir, **args)
    cm.prometheus_scrape_interval = SCRAPE_INTERVAL
    return cm


def require_prometheus() -> None:
    if shutil.which("prometheus") is None:
        skip_or_fail("no prometheus binary on PATH (apt-get install prometheus)")


def admin(cm: LocalContainerManager, endpoint: str, body: dict[str, Any]) -> None:
    r = requests.post(f"http://{cm.get_admin_addr()}/admin/{endpoint}", json=body, timeout=10)
    assert r.status_code == 200, r.text


def api(cm: LocalContainerManager, path: str, **params: str) -> Any:
    r = requests.get(f"http://{cm.get_metric_addr()}/api/v1/{path}", params=params, timeout=10)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "success", body
    return body["data"]


def targets(cm: LocalContainerManager) -> dict[str, dict[str, Any]]:
    """Active targets by their ``job`` label."""
    return {t["labels"]["job"]: t for t in api(cm, "targets", state="active")["activeTargets"]}


def role_pid(cm: LocalContainerManager, role: str) -> int:
    (pid,) = [s.pid for s in cm.process_status() if s.role == role]
    return pid


def pid_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def path_without_prometheus(tmp_path: Path) -> str:
    """PATH minus every directory holding a ``prometheus``; redis-server stays reachable."""
    keep = tmp_path / "bin"
    keep.mkdir()
    redis = shutil.which("redis-server")
    if redis is not None:
        (keep / "redis-server").symlink_to(redis)
    dirs = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not (Path(d) / "prometheus").exists()]
    return os.pathsep.join([str(keep), *dirs])


# ------------------------------------------------------------------ a cluster with Prometheus


@pytest.fixture(scope="module")
def cm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalContainerManager]:
    require_prometheus()
    manager = make_cm(tmp_path_factory.mktemp("local-prometheus") / "cluster")
    manager.start_clipper()
    try:
        yield manager
    finally:
        manager.stop_all(graceful=False)


def test_prometheus_is_a_process_of_the_cluster(cm: LocalContainerManager) -> None:
    state = load_state(cm.paths)
    assert state is not None and state.prometheus_port is not None
    port = state.prometheus_port
    (prom,) = [s for s in cm.process_status() if s.role == "prometheus"]
    assert prom.alive and prom.name == "prometheus"
    assert prom.log == str(cm.cluster_dir / "logs" / "prometheus.log")
    assert cm.prometheus_port == port and cm.get_metric_addr() == f"localhost:{port}"
    assert requests.get(f"http://127.0.0.1:{port}/-/ready", timeout=10).status_code == 200
    # On loopback only, its data inside the cluster directory.
    assert f"--web.listen-address=127.0.0.1:{port}" in state.processes["prometheus"].cmd
    assert (cm.cluster_dir / "prometheus" / "data").is_dir()
    config = json.loads((cm.cluster_dir / "prometheus" / "prometheus.yml").read_text())
    assert config["global"] == {"evaluation_interval": SCRAPE_INTERVAL, "scrape_interval": SCRAPE_INTERVAL}
    query_job = config["scrape_configs"][0]
    assert query_job == {"job_name": "query", "metrics_path": "/metrics/prometheus",
                         "static_configs": [{"targets": [f"127.0.0.1:{cm.clipper_query_port}"]}]}  # fmt: skip
    # Another process learns it from the cluster's state.
    other = LocalContainerManager(cluster_name="prom", cluster_dir=cm.cluster_dir)
    other.connect()
    assert other.get_metric_addr() == f"localhost:{port}"


def test_prometheus_scrapes_the_query_frontend_and_every_replica(cm: LocalContainerManager) -> None:
    cm.deploy_model("noop", "1", "doubles", NOOP_IMAGE, num_replicas=2)
    replicas = {s.name: s for s in cm.process_status() if s.role == "model"}
    assert set(replicas) == {"noop_1-1", "noop_1-2"}
    assert all(s.metrics is not None and s.metrics.startswith("127.0.0.1:") for s in replicas.values())
    assert len({s.metrics for s in replicas.values()}) == 2

    admin(cm, "add_app", {"name": "prom-app", "input_type": "doubles", "default_output": "-1",
                          "latency_slo_micros": 2000000})  # fmt: skip
    admin(cm, "add_model", {"model_name": "noop", "model_version": "1", "labels": [], "input_type": "doubles",
                            "container_name": NOOP_IMAGE, "model_data_path": "DEPRECATED", "batch_size": -1})  # fmt: skip
    admin(cm, "add_model_links", {"app_name": "prom-app", "model_names": ["noop"]})

    def served() -> bool:
        r = requests.post(f"http://{cm.get_query_addr()}/prom-app/predict", json={"input": [1.0]}, timeout=10)
        return r.status_code == 200 and r.json().get("default") is False  # 404 until the frontend sees the app

    wait_for(served, timeout_s=30, what="the noop model to answer", interval_s=0.2)
    for i in range(5):
        requests.post(f"http://{cm.get_query_addr()}/prom-app/predict", json={"input": [float(i)]}, timeout=10)

    def all_up() -> dict[str, dict[str, Any]] | None:
        found = targets(cm)
        wanted = {"query", "noop_1-1", "noop_1-2"}
        return found if wanted <= set(found) and all(found[j]["health"] == "up" for j in wanted) else None

    found = wait_for(all_up, timeout_s=TARGET_WAIT_S, what="query and replica targets up", interval_s=0.25)
    assert found["query"]["labels"]["instance"] == f"127.0.0.1:{cm.clipper_query_port}"
    assert found["query"]["scrapeUrl"].endswith("/metrics/prometheus")
    for name, status in replicas.items():
        # Each replica is a job of its own, named after it (Docker: after its container).
        assert found[name]["labels"]["instance"] == status.metrics

    def answered() -> float | None:
        result = api(cm, "query", query='clipper_app_predictions_total{job="query",app="prom-app"}')["result"]
        return float(result[0]["value"][1]) if result and float(result[0]["value"][1]) >= 6 else None

    assert wait_for(answered, timeout_s=10, what="the query frontend's counter in Prometheus", interval_s=0.25) >= 6
    up = api(cm, "query", query='up{job=~"noop_1-.*"}')["result"]
    assert {r["metric"]["job"]: r["value"][1] for r in up} == {"noop_1-1": "1", "noop_1-2": "1"}

    # Scaling down takes the replica's target away, with no reload.
    cm.set_num_replicas("noop", "1", "doubles", NOOP_IMAGE, 1)
    groups = json.loads((cm.cluster_dir / "prometheus" / "models.json").read_text())
    assert groups == [{"targets": [replicas["noop_1-1"].metrics], "labels": {"job": "noop_1-1"}}]
    wait_for(lambda: "noop_1-2" not in targets(cm), timeout_s=TARGET_WAIT_S, what="noop_1-2's target to go",
             interval_s=0.25)  # fmt: skip
    assert targets(cm)["noop_1-1"]["health"] == "up"
    cm.stop_all_model_containers()
    assert json.loads((cm.cluster_dir / "prometheus" / "models.json").read_text()) == []


# ------------------------------------------------------------------ clusters of their own


def test_stop_all_stops_prometheus_and_removes_its_data(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    require_prometheus()
    cm = make_cm(tmp_path / "cluster")
    cm.start_clipper()
    try:
        pid = role_pid(cm, "prometheus")
        # A dead Prometheus does not break the cluster: connect() warns and goes on.
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: not next(s for s in cm.process_status() if s.role == "prometheus").alive)
        with caplog.at_level(logging.WARNING, logger="clipper.local"):
            LocalContainerManager(cluster_name="prom", cluster_dir=cm.cluster_dir).connect()
        assert f"Prometheus (pid {pid})" in caplog.text and "Metrics are not collected" in caplog.text
        # ... and a start finds it again.
        cm.stop_all()
        assert [p.name for p in cm.cluster_dir.iterdir()] == ["logs"]
        cm.start_clipper()
        pid = role_pid(cm, "prometheus")
    finally:
        cm.stop_all()
    assert pid_gone(pid)
    assert [p.name for p in cm.cluster_dir.iterdir()] == ["logs"]
    assert "Starting Prometheus Server" in (cm.cluster_dir / "logs" / "prometheus.log").read_text()


def test_a_taken_default_port_falls_back_to_a_free_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    require_prometheus()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        # Stands for 9090 (tests never use fixed ports).
        monkeypatch.setattr(local_prometheus, "DEFAULT_PORT", taken)
        cm = make_cm(tmp_path / "cluster", prometheus_port=taken)
        with caplog.at_level(logging.WARNING, logger="clipper.local"):
            cm.start_clipper()
        try:
            assert cm.prometheus_port is not None and cm.prometheus_port != taken
            assert f"Port {taken} for Prometheus is in use; using port {cm.prometheus_port} instead" in caplog.text
            assert requests.get(f"http://{cm.get_metric_addr()}/-/ready", timeout=10).status_code == 200
        finally:
            cm.stop_all(graceful=False)


def test_prometheus_that_fails_to_start_fails_the_start_with_its_log(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    fake = tmp_path / "fake-prometheus"
    fake.write_text("#!/bin/sh\necho 'err: opening storage failed'\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv(local_prometheus.BINARY_ENV, str(fake))
    cm = make_cm(tmp_path / "cluster")
    with pytest.raises(ClipperException) as e:
        cm.start_clipper()
    message = str(e.value)
    assert "Prometheus (pid" in message and "exited with code 3" in message
    assert "err: opening storage failed" in message
    assert cm.process_status() == []


# ------------------------------------------------------------------ without Prometheus


def test_prometheus_port_none_starts_no_prometheus(tmp_path: Path) -> None:
    cm = make_cm(tmp_path / "cluster", prometheus_port=None)
    cm.start_clipper()
    try:
        assert {s.role for s in cm.process_status()} == {"redis", "management_frontend", "query_frontend"}
        assert cm.prometheus_port is None and cm.get_metric_addr() == cm.get_query_addr()
        state = load_state(cm.paths)
        assert state is not None and state.prometheus_port is None
        cm.deploy_model("noop", "1", "doubles", NOOP_IMAGE)
        (replica,) = [s for s in cm.process_status() if s.role == "model"]
        assert replica.metrics is not None  # replicas serve metrics all the same
        assert not (cm.cluster_dir / "prometheus").exists()
    finally:
        cm.stop_all(graceful=False)


def test_missing_binary_with_the_default_port_warns_and_runs_without(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PATH", path_without_prometheus(tmp_path))
    monkeypatch.delenv(local_prometheus.BINARY_ENV, raising=False)
    assert shutil.which("prometheus") is None
    # The default port (9090) is never bound: without the binary there is nothing to bind it.
    cm = make_cm(tmp_path / "cluster", prometheus_port=local_prometheus.DEFAULT_PORT)
    with caplog.at_level(logging.WARNING, logger="clipper.local"):
        cm.start_clipper()
    try:
        warnings = [r.getMessage() for r in caplog.records if "Prometheus is not installed" in r.getMessage()]
        assert len(warnings) == 1
        assert "apt-get install prometheus" in warnings[0] and "prometheus_port=None" in warnings[0]
        assert "prometheus" not in {s.role for s in cm.process_status()}
        assert cm.get_metric_addr() == cm.get_query_addr()
        assert requests.get(f"http://{cm.get_admin_addr()}/admin/ping", timeout=10).text == "PONG"
        assert requests.get(f"http://{cm.get_metric_addr()}/metrics/prometheus", timeout=10).status_code == 200
    finally:
        cm.stop_all(graceful=False)


def test_missing_binary_with_a_specific_port_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", path_without_prometheus(tmp_path))
    monkeypatch.delenv(local_prometheus.BINARY_ENV, raising=False)
    with socket.socket() as s:  # a port the OS picked (never bound: the start fails first)
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cm = make_cm(tmp_path / "cluster", prometheus_port=port)
    with pytest.raises(ClipperException) as e:
        cm.start_clipper()
    message = str(e.value)
    assert f"prometheus_port={port} asks for Prometheus" in message
    assert "apt-get install prometheus" in message and "prometheus_port=None" in message
    assert not (tmp_path / "cluster" / "cluster.json").exists()


def test_missing_binary_decisions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                  caplog: pytest.LogCaptureFixture) -> None:  # fmt: skip
    monkeypatch.setenv("PATH", path_without_prometheus(tmp_path))
    monkeypatch.delenv(local_prometheus.BINARY_ENV, raising=False)
    log = logging.getLogger("clipper.local")
    assert local_prometheus.choose_binary(None, log) is None
    with caplog.at_level(logging.WARNING, logger="clipper.local"):
        assert local_prometheus.choose_binary(0, log) is None
    assert "Prometheus is not installed" in caplog.text
    monkeypatch.setenv(local_prometheus.BINARY_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ClipperException, match="CLIPPER_PROMETHEUS=.*nowhere is not an executable file"):
        local_prometheus.choose_binary(0, log)


def test_targets_follow_the_recorded_replicas(tmp_path: Path) -> None:
    paths = ClusterPaths(tmp_path / "c")
    paths.prometheus_dir.mkdir(parents=True)
    state = ClusterState("c", "localhost", 1, 2, 3, "127.0.0.1", 4, True, prometheus_port=5)
    local_prometheus.write_config(paths, state, "5s")
    config = json.loads((paths.prometheus_dir / "prometheus.yml").read_text())
    assert [j["job_name"] for j in config["scrape_configs"]] == ["query", "models"]
    assert config["scrape_configs"][1]["file_sd_configs"][0]["files"] == [str(paths.prometheus_dir / "models.json")]
    assert json.loads((paths.prometheus_dir / "models.json").read_text()) == []
    for n, port in ((2, 7002), (1, 7001)):
        info = ReplicaInfo("m", "1", "m_1", "doubles", "img", port)
        state.processes[f"m_1-{n}"] = ProcessRecord(f"m_1-{n}", "model", 1, None, [], "", time.time(), info)
    local_prometheus.write_targets(paths, state)
    assert json.loads((paths.prometheus_dir / "models.json").read_text()) == [
        {"targets": ["127.0.0.1:7001"], "labels": {"job": "m_1-1"}},
        {"targets": ["127.0.0.1:7002"], "labels": {"job": "m_1-2"}},
    ]
    assert not list(paths.prometheus_dir.glob(".*.tmp"))  # written atomically, nothing left over
    state.prometheus_port = None  # a cluster without Prometheus gets no targets file rewrites
    del state.processes["m_1-1"]
    local_prometheus.write_targets(paths, state)
    assert len(json.loads((paths.prometheus_dir / "models.json").read_text())) == 2
