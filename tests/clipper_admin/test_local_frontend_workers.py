"""A local cluster whose query frontend runs 2 workers (``query_frontend_workers=2``), with real processes.

Both workers share the query port (SO_REUSEPORT), each has its own model
replica; queries on fresh connections are all answered by the model, both
workers answer some (``/metrics`` sums them and lists each), a new model
version is followed by both, a killed worker is restarted and the cluster
keeps answering, and ``stop_all`` leaves no process behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from clipper_admin import ClipperConnection
from clipper_admin.deployers import python as python_deployer
from clipper_admin.local import LocalContainerManager
from clipper_admin.local.cluster_state import load_state
from tests.support.cluster import wait_for

pytestmark = pytest.mark.timeout(300)

APP = "sums"
WORKERS = 2


def feature_sum(xs: list[Any]) -> list[str]:
    return [str(sum(x)) for x in xs]


def shifted_sum(xs: list[Any]) -> list[str]:
    return [str(sum(x) + 1000) for x in xs]


def children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def descendants(pid: int) -> set[int]:
    out: set[int] = set()
    todo = [pid]
    while todo:
        for c in children(todo.pop()):
            if c not in out:
                out.add(c)
                todo.append(c)
    return out


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def worker_pids(cm: LocalContainerManager) -> list[int]:
    """The supervisor's worker processes (not multiprocessing's resource tracker)."""
    # The record is the restarter's; it runs the supervisor.
    sup = next(p.served_pid for p in cm.process_status() if p.role == "query_frontend")
    assert sup is not None
    return sorted(c for c in children(sup) if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes())


def ask(conn: ClipperConnection, x: list[float]) -> dict[str, Any]:
    # A new connection per query (no session): the kernel picks a worker for each.
    r = requests.post(f"http://{conn.get_query_addr()}/{APP}/predict", json={"input": x}, timeout=30)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def app_count(counters: list[dict[str, dict[str, str]]]) -> int:
    for c in counters:
        if f"app:{APP}:num_predictions" in c:
            return int(c[f"app:{APP}:num_predictions"]["count"])
    return 0


@pytest.fixture
def conn(tmp_path: Path) -> Iterator[ClipperConnection]:
    cm = LocalContainerManager(
        cluster_name="workers", clipper_query_port=0, clipper_management_port=0, clipper_rpc_port=0,
        redis_port=0, prometheus_port=None, cluster_dir=tmp_path / "cluster", query_frontend_workers=WORKERS,
    )  # fmt: skip
    connection = ClipperConnection(cm)
    connection.start_clipper()
    try:
        # A generous SLO: the machine running the tests may be busy.
        connection.register_application(APP, "doubles", "-1.0", 2_000_000)
        python_deployer.deploy_python_closure(connection, "m", 1, "doubles", feature_sum)
        connection.link_model_to_app(APP, "m")
        yield connection
    finally:
        connection.stop_all(graceful=False)


def test_two_workers_share_the_port_follow_versions_survive_a_crash_and_stop(conn: ClipperConnection) -> None:
    cm = conn.cm
    assert isinstance(cm, LocalContainerManager)
    state = load_state(cm.paths)
    assert state is not None and state.query_frontend_workers == WORKERS

    # One replica per worker, each on its worker's RPC port; both recorded in Redis.
    reps = state.replicas("m_1")
    assert sorted(p.replica.frontend_index for p in reps if p.replica) == [0, 1]
    assert cm.get_num_replicas("m", "1") == 1  # per worker, as Docker counts per frontend
    assert len([r for r in conn.get_all_model_replicas(verbose=True) if r["model_version"] == "1"]) == WORKERS

    # Another process's connect() sees the workers.
    other = LocalContainerManager(cluster_name="workers", cluster_dir=cm.cluster_dir)
    other.connect()
    assert other.query_frontend_workers == WORKERS and other.num_frontend_replicas == WORKERS

    # Queries on fresh connections: all answered by the model; both workers answered some.
    n = 40
    for i in range(n):
        body = ask(conn, [float(i), 0.25])
        assert body["default"] is False and float(body["output"]) == i + 0.25, body
    metrics = conn.inspect_instance()
    assert metrics["workers"]["count"] == WORKERS and metrics["workers"]["missing"] == []
    per_worker = [app_count(f["counters"]) for f in metrics["workers"]["figures"]]
    assert all(c > 0 for c in per_worker), per_worker
    assert app_count(metrics["counters"]) == sum(per_worker) == n

    # A new version: both workers switch to it.
    python_deployer.deploy_python_closure(conn, "m", 2, "doubles", shifted_sum)
    assert cm.get_num_replicas("m", "2") == 1

    def all_on_v2() -> bool:
        return all(float(ask(conn, [float(i), 0.5])["output"]) == i + 1000.5 for i in range(100, 120))

    wait_for(all_on_v2, timeout_s=30, what="both workers to serve version 2", interval_s=0.2)

    # Scaling counts replicas per worker.
    conn.set_num_replicas("m", 2, "2")
    state = load_state(cm.paths)
    assert state is not None
    assert sorted(p.replica.frontend_index for p in state.replicas("m_2") if p.replica) == [0, 0, 1, 1]
    conn.set_num_replicas("m", 1, "2")

    # Kill a worker: the supervisor starts another, whose replica reconnects; queries keep being answered.
    before = worker_pids(cm)
    assert len(before) == WORKERS
    os.kill(before[1], signal.SIGKILL)
    wait_for(lambda: len(worker_pids(cm)) == WORKERS and worker_pids(cm) != before, timeout_s=30,
             what="the supervisor to restart the worker", interval_s=0.1)

    def answered(start: int) -> bool:
        return all(not ask(conn, [float(i), 0.75])["default"] for i in range(start, start + 20))

    wait_for(lambda: answered(1000 + int(1e6 * (os.times().elapsed % 1))), timeout_s=60,
             what="every query answered after the restart", interval_s=0.2)

    # stop_all leaves no process behind: the supervisor, its workers, the replicas and theirs.
    pids = {p.pid for p in cm.process_status()}
    pids |= {d for p in list(pids) for d in descendants(p)}
    assert len(pids) >= 7  # Redis, management, supervisor + 2 workers, 2 replicas at least
    conn.stop_all()
    left = [p for p in pids if alive(p)]
    assert left == [], subprocess.run(["ps", "-o", "pid,ppid,args", "-p", ",".join(map(str, left))],
                                      capture_output=True, text=True).stdout


def test_a_query_frontend_with_workers_refuses_rpc_port_zero(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "query_frontend", "--workers", "2", "--rpc_service_port", "0",
                        "--query_port", "0"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "rpc_service_port 0" in r.stderr


@pytest.mark.parametrize("manager", ["docker", "kubernetes"])
@pytest.mark.parametrize("workers", [0, -1, 1.5, True, "2"])
def test_docker_and_kubernetes_refuse_a_bad_worker_count(manager: str, workers: object) -> None:
    from clipper_admin import ClipperException, DockerContainerManager, KubernetesContainerManager

    cls = DockerContainerManager if manager == "docker" else KubernetesContainerManager
    with pytest.raises(ClipperException, match="query_frontend_workers must be an integer >= 1"):
        cls(query_frontend_workers=workers)
