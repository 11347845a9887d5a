"""Several query frontends on one Redis keep each other's replica records (DB 3).

Two real query frontends (processes) and a management frontend share one
real Redis; model replicas connect to both. Replica ids are unique across
the frontends (claimed in Redis), each record names its frontend, and each
frontend deletes only its own records: a restarted frontend leaves the
other's alone, and the records of a frontend killed with SIGKILL are
collected by the survivor once that frontend's liveness key expires. The
admin API (``get_all_containers``, what ``get_all_model_replicas()`` reads)
lists exactly the connected replicas throughout.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from clipper_protocol.redis_schema import FRONTEND_ID_FIELD, RedisDB, frontend_liveness_key
from tests.load import params as p
from tests.support.cluster import REPO_ROOT, stop_process, wait_for
from tests.support.cluster_state import ClusterState
from tests.support.frame_container import FrameContainer
from tests.support.ports import log_size, mf_port, qf_ports

pytestmark = [pytest.mark.fault]

TTL_S = 2


@dataclass
class Frontend:
    """A ``python -m query_frontend`` process and the replicas connected to it."""

    redis_port: int
    log: Path
    rpc_port: int = 0
    ttl_s: float = TTL_S
    proc: subprocess.Popen[bytes] | None = None
    replicas: list[FrameContainer] = field(default_factory=list)

    def start(self) -> None:
        offset = log_size(self.log)
        with open(self.log, "ab") as f:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "query_frontend", "--redis_ip=127.0.0.1", f"--redis_port={self.redis_port}",
                 f"--rpc_service_port={self.rpc_port}", "--query_port=0", "--host=127.0.0.1",
                 f"--liveness_ttl_s={self.ttl_s}", "--container_activity_timeout_ms=1000",
                 "--container_probe_interval_ms=250"],
                cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        _, self.rpc_port = qf_ports(self.proc, self.log, p.START_TIMEOUT_S, offset)

    def connect(self, n: int) -> None:
        for _ in range(n):
            self.replicas.append(FrameContainer(self.rpc_port, "m", "1").start())

    def stop(self) -> None:
        for c in self.replicas:
            c.stop()
        if self.proc is not None:
            stop_process(self.proc)


@pytest.fixture
def two_frontends(redis_instance: Any, tmp_path: Path) -> Iterator[tuple[Frontend, Frontend, str]]:
    state = ClusterState(redis_instance.host, redis_instance.port)
    state.add_model("m", "1")
    state.close()
    a, b = Frontend(redis_instance.port, tmp_path / "qf-a.log"), Frontend(redis_instance.port, tmp_path / "qf-b.log")
    mf_log = tmp_path / "mf.log"
    with open(mf_log, "ab") as f:
        mf = subprocess.Popen([sys.executable, "-m", "management_frontend", "--redis_ip=127.0.0.1",
                               f"--redis_port={redis_instance.port}", "--host=127.0.0.1", "--port=0"],
                              cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                              env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        admin = f"http://127.0.0.1:{mf_port(mf, mf_log, p.START_TIMEOUT_S)}/admin"
        a.start()
        b.start()
        yield a, b, admin
    finally:
        a.stop()
        b.stop()
        stop_process(mf)


def _records(port: int) -> dict[str, dict[str, str]]:
    db = redis.Redis(port=port, db=int(RedisDB.CONTAINERS), decode_responses=True)
    try:
        return {k: db.hgetall(k) for k in db.keys("*")}
    finally:
        db.close()


def _wait_records(port: int, ok: Callable[[dict[str, dict[str, str]]], bool], timeout_s: float,
                  what: str) -> dict[str, dict[str, str]]:
    found: list[dict[str, dict[str, str]]] = []

    def check() -> bool:
        found[:] = [_records(port)]
        return ok(found[0])

    wait_for(check, timeout_s, what)
    return found[0]


def _alive(port: int, frontend_id: str) -> bool:
    db = redis.Redis(port=port, db=int(RedisDB.RESOURCES))
    try:
        return bool(db.exists(frontend_liveness_key(frontend_id)))
    finally:
        db.close()


def _by_owner(records: dict[str, dict[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for key, rec in records.items():
        out.setdefault(rec[FRONTEND_ID_FIELD], set()).add(key)
    return out


def _admin_replicas(admin: str) -> list[str]:
    r = requests.post(f"{admin}/get_all_containers", json={"verbose": False}, timeout=5)
    assert r.status_code == 200, r.text
    return sorted(r.json())


def _pid(frontend_id: str) -> int:
    return int(frontend_id.rsplit("-", 2)[1])


def _listed(records: dict[str, dict[str, str]]) -> list[str]:
    return sorted(k.replace(",", ":") for k in records)


def test_frontends_keep_each_others_replica_records(redis_instance: Any,
                                                    two_frontends: tuple[Frontend, Frontend, str]) -> None:
    a, b, admin = two_frontends
    port = redis_instance.port
    a.connect(2)
    b.connect(2)
    records = _wait_records(port, lambda r: len(r) == 4, 15, "4 replica records")
    # Unique ids across both frontends, the original's key and fields, one owner per frontend.
    assert sorted(int(k.rsplit(",", 1)[1]) for k in records) == [0, 1, 2, 3]
    for key, rec in records.items():
        assert key == f"m,1,{rec['model_replica_id']}" and rec["model_id"] == "m:1"
        assert {"model_name", "model_version", "zmq_connection_id", "batch_size", "input_type"} <= set(rec)
    owners = _by_owner(records)
    assert sorted(len(keys) for keys in owners.values()) == [2, 2]
    assert _admin_replicas(admin) == _listed(records)
    assert a.proc is not None and b.proc is not None
    a_id = next(o for o in owners if _pid(o) == a.proc.pid)  # ids are <host>-<pid>-<random>
    b_id = next(o for o in owners if _pid(o) == b.proc.pid)
    assert _alive(port, a_id) and _alive(port, b_id)
    b_keys = owners[b_id]

    # A restarts (SIGTERM, then on the same RPC port): B's records stay, byte for byte.
    a.proc.send_signal(signal.SIGTERM)
    assert a.proc.wait(15) == 0
    after_stop = _records(port)
    assert set(after_stop) == b_keys and all(after_stop[k] == records[k] for k in b_keys), after_stop
    assert not _alive(port, a_id)
    a.start()
    records = _wait_records(port, lambda r: len(r) == 4, 15, "A's replicas back")
    owners = _by_owner(records)
    assert owners[b_id] == b_keys and len(owners) == 2
    new_a_keys = next(keys for o, keys in owners.items() if o != b_id)
    assert not new_a_keys & b_keys and len(new_a_keys) == 2
    assert _admin_replicas(admin) == _listed(records)

    # B is killed: its records outlive it until its liveness key expires, then A collects them.
    b.proc.send_signal(signal.SIGKILL)
    b.proc.wait(10)
    for c in b.replicas:
        c.stop()
    b.replicas = []
    left = _wait_records(port, lambda r: set(r) == new_a_keys, TTL_S * 3 + 5, "B's records collected")
    assert not _alive(port, b_id)
    assert _admin_replicas(admin) == _listed(left)
    a_log = a.log.read_text(errors="replace")
    assert "replica records of query frontends that are gone" in a_log and b_id in a_log
    assert "Traceback" not in a_log


def test_a_frontend_restarted_in_place_clears_its_predecessors_records_at_once(redis_instance: Any,
                                                                                tmp_path: Path) -> None:
    """Killed, then started again on the same RPC port (as a supervisor does): the dead one's records
    go on the new one's first connection to Redis, not after the dead one's liveness key expires."""
    state = ClusterState(redis_instance.host, redis_instance.port)
    state.add_model("m", "1")
    state.close()
    port = redis_instance.port
    qf = Frontend(port, tmp_path / "qf.log", ttl_s=60)  # its key would outlive the test
    qf.start()
    try:
        qf.connect(2)
        first = _wait_records(port, lambda r: len(r) == 2, 15, "2 replica records")
        (old_id,) = _by_owner(first)
        assert qf.proc is not None
        qf.proc.send_signal(signal.SIGKILL)
        qf.proc.wait(10)
        assert _alive(port, old_id)  # its key outlives it
        qf.start()  # same rpc_port: the replicas reconnect to the new one
        after = _wait_records(port, lambda r: len(r) == 2 and old_id not in _by_owner(r), 10,
                              "only the new frontend's records")
        assert _alive(port, old_id)  # the key is still there: the records went because the endpoint is taken
        assert len(_by_owner(after)) == 1 and not set(first) & set(after)
        assert "replica records of query frontends that are gone" in qf.log.read_text(errors="replace")
    finally:
        qf.stop()
