"""Self-tests of the fault injectors: each fixture fault fires when its gate opens.

A fault test that passes because its fault never happened proves nothing,
so every injector the reliability tests use is shown here to fire, through
the real container runtime and query frontend, and to do nothing while its
gate is closed.
"""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import numpy as np
import pytest

from tests.load import params as p
from tests.support.cluster import Cluster, wait_for
from tests.support.fixture_models import CRASH_EXIT_CODE, FixtureModel

pytestmark = pytest.mark.fault


def _setup(cluster: Cluster, faults: list[str]) -> None:
    for fault in faults:
        cluster.add_app(f"app-{fault}")
        cluster.add_model(f"m-{fault}")
        cluster.link(f"app-{fault}", f"m-{fault}")


def _predict(cluster: Cluster, fault: str, seq: float) -> tuple[dict, float]:
    t0 = time.monotonic()
    r = cluster._http.post(f"{cluster.query_url}/app-{fault}/predict",
                           json={"input": [seq, time.time()]}, timeout=5)
    return r.json(), time.monotonic() - t0


def test_each_fixture_fault_fires_only_while_its_gate_is_open(cluster: Cluster) -> None:
    faults = ["slow", "hang", "crash", "garbage"]
    _setup(cluster, faults)
    replicas = {f: cluster.start_replica(f, name=f"m-{f}", delay_ms=300) for f in faults}
    for f in faults:
        cluster.wait_connected(1, name=f"m-{f}")
    # Gate closed: every fixture echoes.
    for f, replica in replicas.items():
        body, _ = _predict(cluster, f, 1.0)
        assert body["default"] is False and body["output"] == {"tag": "1", "seq": 1.0}, (f, body)
        assert replica.state().fired == {}
    for replica in replicas.values():
        replica.open_gate()

    body, elapsed = _predict(cluster, "slow", 2.0)  # 300 ms > SLO: the default, at the SLO
    assert body["default"] is True and elapsed < p.MAX_LATENCY_S
    wait_for(lambda: replicas["slow"].state().fired.get("slow") == 1, 5, "slow to fire")

    body, _ = _predict(cluster, "hang", 2.0)
    assert body["default"] is True
    assert replicas["hang"].state().fired == {"hang": 1}
    time.sleep(p.DEAD_AFTER_S * 1.5)  # heartbeats go on: still connected while hung
    assert len(cluster.connected("m-hang")) == 1 and replicas["hang"].proc.poll() is None
    replicas["hang"].close_gate()  # releases the hung batch

    body, _ = _predict(cluster, "garbage", 2.0)
    assert body["default"] is True and replicas["garbage"].proc.poll() is None
    assert replicas["garbage"].state().fired == {"garbage": 1}

    body, _ = _predict(cluster, "crash", 2.0)
    assert body["default"] is True
    assert replicas["crash"].proc.wait(5) == CRASH_EXIT_CODE
    assert replicas["crash"].state().fired == {"crash": 1}
    cluster.wait_connected(0, name="m-crash", timeout_s=p.DEAD_AFTER_S)


def test_signal_injectors_fire(cluster: Cluster) -> None:
    """SIGSTOP freezes the process (state T), SIGCONT thaws it, SIGKILL ends it."""
    replica = cluster.start_replica()
    wait_for(lambda: replica.state().pid, p.START_TIMEOUT_S, "replica to start")
    stat = Path(f"/proc/{replica.proc.pid}/stat")
    replica.signal(signal.SIGSTOP)
    wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] == "T", 2, "stopped state")
    replica.signal(signal.SIGCONT)
    wait_for(lambda: stat.read_text().rsplit(")", 1)[1].split()[0] != "T", 2, "running state")
    replica.signal(signal.SIGKILL)
    assert replica.proc.wait(5) == -signal.SIGKILL


def test_late_counter_counts_only_inputs_past_their_deadline(tmp_path: Path) -> None:
    model = FixtureModel("echo", state_dir=str(tmp_path), late_after_s=0.1)
    now = time.time()
    out = model.predict_doubles(np.array([[1.0, now], [2.0, now - 0.5], [3.0, now - 0.05]]))
    assert [json.loads(o)["seq"] for o in out] == [1.0, 2.0, 3.0]
    state = model.state
    assert (state.received, state.late, state.batches) == (3, 1, 1)
