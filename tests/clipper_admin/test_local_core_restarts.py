"""A local cluster heals itself: a killed Redis, management or query frontend comes back on its ports.

Real processes. Each core process runs under the restarter, as the model
replicas do; ``kill -9`` of the process it runs (``served_pid``) is followed
by a new one that serves the same state on the same port, and ``connect()``
never sees the cluster broken.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
import requests

from clipper_admin import ClipperConnection
from clipper_admin.exceptions import ClipperException
from clipper_admin.local import LocalContainerManager

pytestmark = pytest.mark.timeout(240)


def _served(cm: LocalContainerManager, role: str) -> int | None:
    """The pid of the process the restarter of ``role`` runs now (None between a death and its restart)."""
    (status,) = [s for s in cm.process_status() if s.role == role]
    assert status.alive, f"the restarter of {role} is gone"
    assert status.served_pid != status.pid
    return status.served_pid


def _until(what: str, check, timeout_s: float = 30.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            result = check()
            if result:
                return result
        except (requests.RequestException, ClipperException):
            pass
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout_s} s"
        time.sleep(0.1)


def test_killed_core_processes_are_restarted_with_their_state(tmp_path: Path) -> None:
    cm = LocalContainerManager(cluster_name="heal", cluster_dir=tmp_path / "c", clipper_query_port=0,
                               clipper_management_port=0, clipper_rpc_port=0, redis_port=0, prometheus_port=None)
    conn = ClipperConnection(cm)
    conn.start_clipper()
    try:
        conn.register_application("app", "doubles", "-7", 100000)
        predict = f"http://{cm.get_query_addr()}/app/predict"
        for role in ("query_frontend", "redis", "management_frontend"):
            old = _served(cm, role)
            assert old is not None
            os.kill(old, signal.SIGKILL)
            new = _until(f"a new {role}", lambda: (p := _served(cm, role)) != old and p)
            assert new != old
            # The same state, on the same ports: the app answers its default (no model linked).
            body = _until("the app answering", lambda: requests.post(
                predict, json={"input": [1.0]}, timeout=5).json())
            assert body["output"] == -7 and body["default"] is True
            assert _until("the admin API", lambda: conn.get_all_apps()) == ["app"]
            ClipperConnection(LocalContainerManager(cluster_name="heal", cluster_dir=cm.cluster_dir)).connect()
        log = (cm.cluster_dir / "logs" / "query_frontend.log").read_text()
        assert "was killed by signal 9; restarting it in 0.5 s" in log
    finally:
        cm.stop_all()
    assert cm.process_status() == []
