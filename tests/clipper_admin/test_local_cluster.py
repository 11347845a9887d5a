"""LocalContainerManager lifecycle with real processes: Redis, both frontends.

Every cluster runs on free ports in a temp directory; clusters are started
here and reached (connect, stop) from other Python processes, as users do.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager, PortInUseError
from tests.support.cluster import wait_for

pytestmark = pytest.mark.timeout(180)


def make_cm(cluster_dir: Path, **kwargs: object) -> LocalContainerManager:
    ports: dict[str, object] = {
        "clipper_query_port": 0,
        "clipper_management_port": 0,
        "clipper_rpc_port": 0,
        "redis_port": 0,
        "prometheus_port": None,  # Prometheus has tests of its own (test_local_prometheus.py)
    }
    ports.update(kwargs)
    return LocalContainerManager(cluster_name="t", cluster_dir=cluster_dir, **ports)  # type: ignore[arg-type]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[LocalContainerManager]:
    cm = make_cm(tmp_path / "cluster")
    cm.start_clipper()
    try:
        yield cm
    finally:
        cm.stop_all(graceful=False)


def pid_gone(pid: int) -> bool:
    """True once ``pid`` no longer exists or is a zombie someone else must reap."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return True


def run_python(code: str, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def admin(cm: LocalContainerManager, endpoint: str, body: dict[str, object]) -> requests.Response:
    return requests.post(f"http://{cm.get_admin_addr()}/admin/{endpoint}", json=body, timeout=10)


def test_connect_from_another_process_sees_the_same_cluster(cluster: LocalContainerManager) -> None:
    result = run_python(
        """
        import json, sys
        from clipper_admin.local import LocalContainerManager
        cm = LocalContainerManager(cluster_name="t", cluster_dir=sys.argv[1])
        cm.connect()
        print(json.dumps([cm.get_query_addr(), cm.get_admin_addr(), cm.get_metric_addr()]))
        """,
        str(cluster.cluster_dir),
    )
    assert result.returncode == 0, result.stderr
    query, admin_addr, metric = json.loads(result.stdout.strip().splitlines()[-1])
    assert query == cluster.get_query_addr() and metric == query
    assert admin_addr == cluster.get_admin_addr()
    assert cluster.clipper_query_port != 0 and cluster.clipper_management_port != 0
    assert requests.get(f"http://{admin_addr}/admin/ping", timeout=10).text == "PONG"
    assert requests.get(f"http://{query}/metrics", timeout=10).status_code == 200


def test_cluster_outlives_the_process_that_started_it(tmp_path: Path) -> None:
    cluster_dir = tmp_path / "cluster"
    result = run_python(
        """
        import sys
        from clipper_admin.local import LocalContainerManager
        cm = LocalContainerManager("t", 0, 0, 0, redis_port=0, prometheus_port=None, cluster_dir=sys.argv[1])
        cm.start_clipper()
        """,
        str(cluster_dir),
    )
    assert result.returncode == 0, result.stderr
    assert "Starting Redis on port" in result.stderr
    cm = LocalContainerManager(cluster_name="t", cluster_dir=cluster_dir)
    try:
        cm.connect()
        assert admin(cm, "add_app", {"name": "a", "input_type": "doubles", "default_output": "-1",
                                      "latency_slo_micros": 100000}).status_code == 200  # fmt: skip
        assert requests.get(f"http://{cm.get_query_addr()}/metrics", timeout=10).status_code == 200
        pids = [s.pid for s in cm.process_status()]
        assert len(pids) == 3
    finally:
        cm.stop_all()
    assert all(pid_gone(p) for p in pids)
    assert [p.name for p in cluster_dir.iterdir()] == ["logs"]  # kept until the next start or purge()
    cm.purge()
    assert not cluster_dir.exists()


def test_second_start_of_a_live_cluster_is_refused(cluster: LocalContainerManager) -> None:
    other = make_cm(cluster.cluster_dir)
    with pytest.raises(ClipperException) as e:
        other.start_clipper()
    assert str(e.value) == (
        "Cluster t cannot be started because it already exists. "
        "Please use ClipperConnection.connect() to connect to it."
    )
    assert all(s.alive for s in cluster.process_status())


def test_stop_all_leaves_no_process_and_next_start_is_fresh(cluster: LocalContainerManager) -> None:
    assert admin(cluster, "add_app", {"name": "a", "input_type": "doubles", "default_output": "-1",
                                       "latency_slo_micros": 100000}).status_code == 200  # fmt: skip
    pids = [s.pid for s in cluster.process_status()]
    cluster.stop_all()
    assert all(pid_gone(p) for p in pids)
    # Only the logs survive the stop, so a user can read why something failed.
    logs = cluster.cluster_dir / "logs"
    assert [p.name for p in cluster.cluster_dir.iterdir()] == ["logs"]
    assert {p.name for p in logs.iterdir()} >= {"query_frontend.log", "management_frontend.log"}
    assert cluster.get_logs(str(cluster.cluster_dir.parent / "copied"))
    with pytest.raises(ClipperException, match="No running local Clipper cluster named t"):
        cluster.connect()
    cluster.start_clipper()
    assert admin(cluster, "get_all_applications", {"verbose": False}).json() == []
    with pytest.raises(ClipperException, match="Cluster t is running: stop it before purging its files"):
        cluster.purge()


def test_stop_all_from_another_process(cluster: LocalContainerManager) -> None:
    pids = [s.pid for s in cluster.process_status()]
    result = run_python(
        """
        import sys
        from clipper_admin.local import LocalContainerManager
        LocalContainerManager(cluster_name="t", cluster_dir=sys.argv[1]).stop_all()
        """,
        str(cluster.cluster_dir),
    )
    assert result.returncode == 0, result.stderr
    assert all(pid_gone(p) for p in pids)
    assert cluster.process_status() == []


def test_crashed_management_frontend_is_reported_with_its_log(cluster: LocalContainerManager) -> None:
    mgmt = next(s for s in cluster.process_status() if s.role == "management_frontend")
    last_line = Path(mgmt.log).read_text().strip().splitlines()[-1]
    os.kill(mgmt.pid, signal.SIGKILL)
    wait_for(lambda: not next(s for s in cluster.process_status() if s.role == "management_frontend").alive)
    with pytest.raises(ClipperException) as e:
        LocalContainerManager(cluster_name="t", cluster_dir=cluster.cluster_dir).connect()
    message = str(e.value)
    assert f"Management frontend (pid {mgmt.pid})" in message
    assert last_line in message
    assert "stop_all()" in message
    # A broken cluster still counts as existing until it is stopped.
    with pytest.raises(ClipperException, match="already exists"):
        make_cm(cluster.cluster_dir).start_clipper()


def test_cluster_whose_processes_all_died_starts_afresh(
    cluster: LocalContainerManager, caplog: pytest.LogCaptureFixture
) -> None:
    assert admin(cluster, "add_app", {"name": "a", "input_type": "doubles", "default_output": "-1",
                                       "latency_slo_micros": 100000}).status_code == 200  # fmt: skip
    for s in cluster.process_status():
        os.kill(s.pid, signal.SIGKILL)
    wait_for(lambda: not any(s.alive for s in cluster.process_status()))
    with caplog.at_level(logging.WARNING, logger="clipper.local"):
        cluster.start_clipper()
    assert "The processes of cluster t are gone; starting it afresh" in caplog.text
    assert all(s.alive for s in cluster.process_status())
    assert admin(cluster, "get_all_applications", {"verbose": False}).json() == []


def test_busy_port_is_named_with_a_fix(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        cm = make_cm(tmp_path / "cluster", clipper_management_port=port)
        with pytest.raises(PortInUseError) as e:
            cm.start_clipper()
    message = str(e.value)
    assert f"Port {port} for the management frontend is already in use" in message
    assert "LocalContainerManager(clipper_management_port=0)" in message
    assert not (tmp_path / "cluster" / "cluster.json").exists()


def test_process_dying_at_start_is_reported_and_cleaned_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake-redis-server"
    fake.write_text("#!/bin/sh\necho 'fatal: the disk is on fire'\nexit 3\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CLIPPER_REDIS_SERVER", str(fake))
    cm = make_cm(tmp_path / "cluster")
    with pytest.raises(ClipperException) as e:
        cm.start_clipper()
    message = str(e.value)
    assert "Redis (pid" in message and "exited with code 3" in message
    assert "fatal: the disk is on fire" in message
    assert cm.process_status() == []


def test_only_one_query_frontend(tmp_path: Path) -> None:
    with pytest.raises(ClipperException, match="runs exactly one query frontend"):
        make_cm(tmp_path / "cluster").start_clipper(num_frontend_replicas=2)


def test_external_redis(tmp_path: Path, redis_instance: object) -> None:
    cm = make_cm(tmp_path / "cluster", redis_ip="127.0.0.1", redis_port=redis_instance.port)  # type: ignore[attr-defined]
    cm.start_clipper()
    try:
        assert {s.role for s in cm.process_status()} == {"management_frontend", "query_frontend"}
        assert admin(cm, "add_app", {"name": "ext", "input_type": "doubles", "default_output": "-1",
                                      "latency_slo_micros": 100000}).status_code == 200  # fmt: skip
    finally:
        cm.stop_all()
    assert [p.name for p in (tmp_path / "cluster").iterdir()] == ["logs"]


def test_get_logs_copies_every_process_log(cluster: LocalContainerManager, tmp_path: Path) -> None:
    paths = cluster.get_logs(str(tmp_path / "out"))
    assert sorted(Path(p).name for p in paths) == ["management_frontend.log", "query_frontend.log", "redis.log"]
    assert all(Path(p).stat().st_size > 0 for p in paths)
