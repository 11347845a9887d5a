"""A real cluster as subprocesses: query frontend, management frontend, replicas.

Used by ``tests/reliability``: the frontends run as ``python -m`` processes
(the query frontend through :mod:`tests.support.qf_harness`, which adds a
read-only ``/state`` endpoint), the replicas run the container runtime with
:mod:`tests.support.fixture_models`. Every server binds a port of the OS's
choosing on 127.0.0.1 (port 0) and the cluster learns which
(:mod:`tests.support.ports`); logs go to files under the test's directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.load import params as p
from tests.support.fixture_models import FixtureState, read_state
from tests.support.ports import log_size, mf_port

REPO_ROOT = Path(__file__).resolve().parents[2]


def wait_for(predicate: Callable[[], Any], timeout_s: float = 20.0, what: str = "condition",
             interval_s: float = 0.02) -> Any:
    """Poll until ``predicate()`` is truthy and return it; AssertionError after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(interval_s)


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None


def _spawn(cmd: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with open(log, "ab") as f:
        return subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=f, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL)


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """SIGTERM (SIGCONT first, in case it is stopped), then SIGKILL; always reaped."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGCONT)
        proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
    proc.wait()


@dataclass
class Replica:
    """A fixture-model container process."""

    name: str
    version: str
    proc: subprocess.Popen[bytes]
    state_dir: Path
    gate_file: Path
    log: Path

    def state(self) -> FixtureState:
        return read_state(self.state_dir)

    def open_gate(self) -> None:
        """Turn the model's fault on."""
        self.gate_file.touch()

    def close_gate(self) -> None:
        self.gate_file.unlink(missing_ok=True)

    def signal(self, sig: signal.Signals) -> None:
        self.proc.send_signal(sig)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@dataclass
class Cluster:
    """Redis (given), the two frontends and the replicas this test started."""

    work_dir: Path
    redis_port: int
    query_port: int = 0
    admin_port: int = 0
    rpc_port: int = 0
    introspect_port: int = 0
    qf: subprocess.Popen[bytes] | None = None
    mf: subprocess.Popen[bytes] | None = None
    rpc_secret: str = ""
    replicas: list[Replica] = field(default_factory=list)
    _http: requests.Session = field(default_factory=requests.Session)

    # -- frontends ---------------------------------------------------------

    @property
    def query_url(self) -> str:
        return f"http://127.0.0.1:{self.query_port}"

    @property
    def predict_url(self) -> str:
        return f"{self.query_url}/{p.APP}/predict"

    @property
    def qf_log(self) -> Path:
        return self.work_dir / "query_frontend.log"

    @contextlib.contextmanager
    def running(self) -> Iterator["Cluster"]:
        """Started for the ``with`` block, stopped after it, whatever happens."""
        try:
            self.start()
            yield self
        finally:
            self.stop()

    @property
    def mf_log(self) -> Path:
        return self.work_dir / "management_frontend.log"

    def start(self) -> None:
        """Both frontends on ports they bind themselves (0); the ports they got are learnt."""
        ports_file = self.work_dir / "query_frontend.ports.json"
        ports_file.unlink(missing_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1", CLIPPER_TEST_INTROSPECT_PORT="0",
                   CLIPPER_TEST_PORTS_FILE=str(ports_file))
        env.pop("CLIPPER_QF_RPC_SECRET", None)
        if self.rpc_secret:
            env["CLIPPER_QF_RPC_SECRET"] = self.rpc_secret
        self.qf = _spawn([
            sys.executable, "-m", "tests.support.qf_harness", "--redis_ip=127.0.0.1",
            f"--redis_port={self.redis_port}", "--rpc_service_port=0", "--host=127.0.0.1", "--query_port=0",
            f"--container_activity_timeout_ms={int(p.DEAD_AFTER_S * 1000)}",
            f"--container_probe_interval_ms={int(p.HEARTBEAT_S * 1000)}",
            "--resync_interval_s=2.0",
        ], self.qf_log, env)
        mf_offset = log_size(self.mf_log)
        self.mf = _spawn([
            sys.executable, "-m", "management_frontend", "--redis_ip=127.0.0.1",
            f"--redis_port={self.redis_port}", "--host=127.0.0.1", "--port=0",
        ], self.mf_log, dict(os.environ, PYTHONUNBUFFERED="1"))
        qf = self.qf
        ports = wait_for(lambda: _read_json(ports_file) if qf.poll() is None else {"exited": qf.returncode},
                         p.START_TIMEOUT_S, "the query frontend's ports file")
        if "exited" in ports:
            raise AssertionError(f"the query frontend exited with {ports['exited']}:\n"
                                 + self.qf_log.read_text(errors="replace")[-3000:])
        self.query_port, self.rpc_port, self.introspect_port = ports["query"], ports["rpc"], ports["introspect"]
        self.admin_port = mf_port(self.mf, self.mf_log, p.START_TIMEOUT_S, mf_offset)
        wait_for(lambda: self._ready(), p.START_TIMEOUT_S, "query frontend /ready")

    def _ready(self) -> bool:
        try:
            return self._http.get(f"{self.query_url}/ready", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def ready_status(self) -> int:
        return self._http.get(f"{self.query_url}/ready", timeout=2).status_code

    def stop(self) -> None:
        for r in self.replicas:
            stop_process(r.proc)
        for proc in (self.qf, self.mf):
            if proc is not None:
                stop_process(proc)
        self._http.close()

    # -- admin API -----------------------------------------------------------

    def admin(self, route: str, body: dict[str, Any]) -> requests.Response:
        r = self._http.post(f"http://127.0.0.1:{self.admin_port}/admin/{route}", json=body, timeout=10)
        assert r.status_code == 200, f"{route}: {r.status_code} {r.text}"
        return r

    def add_app(self, name: str = p.APP, slo_ms: int = p.SLO_MS) -> None:
        self.admin("add_app", {"name": name, "input_type": "doubles", "default_output": p.DEFAULT_OUTPUT,
                               "latency_slo_micros": slo_ms * 1000})

    def add_model(self, name: str = p.MODEL, version: str = "1", batch_size: int = -1) -> None:
        self.admin("add_model", {"model_name": name, "model_version": version, "labels": [],
                                 "input_type": "doubles", "container_name": "fixture",
                                 "model_data_path": "", "batch_size": batch_size})

    def link(self, app: str = p.APP, model: str = p.MODEL) -> None:
        self.admin("add_model_links", {"app_name": app, "model_names": [model]})

    def set_model_version(self, name: str, version: str) -> None:
        self.admin("set_model_version", {"model_name": name, "model_version": version})

    def setup_app(self, batch_size: int = -1) -> None:
        """App ``a`` linked to model ``m`` version 1, seen by the query frontend."""
        self.add_app()
        self.add_model(batch_size=batch_size)
        self.link()
        wait_for(lambda: self.predict({"input": [0.0]}).get("default") is not None, 10, "app a to serve")

    # -- query frontend --------------------------------------------------------

    def predict(self, body: dict[str, Any]) -> dict[str, Any]:
        r = self._http.post(self.predict_url, json=body, timeout=5)
        result: dict[str, Any] = r.json()
        return result

    def qf_state(self) -> dict[str, Any]:
        """The query frontend's queues and replicas (the harness's ``/state``)."""
        r = self._http.get(f"http://127.0.0.1:{self.introspect_port}/state", timeout=5)
        result: dict[str, Any] = r.json()
        return result

    def connected(self, name: str = p.MODEL, version: str | None = None) -> list[dict[str, Any]]:
        return [r for r in self.qf_state()["replicas"]
                if r["model"] == name and (version is None or r["version"] == version)]

    def wait_connected(self, n: int, name: str = p.MODEL, version: str | None = None,
                       timeout_s: float = p.START_TIMEOUT_S) -> None:
        wait_for(lambda: len(self.connected(name, version)) == n, timeout_s,
                 f"{n} connected replicas of {name}:{version or '*'}")

    # -- replicas ---------------------------------------------------------------

    def start_replica(self, fault: str = "echo", version: str = "1", name: str = p.MODEL,
                      delay_ms: int = 0, late_after_ms: int | None = None, gated: bool = True,
                      secret: str | None = None, extra_env: dict[str, str] | None = None) -> Replica:
        """Start a fixture-model container (its fault gated by a file unless ``gated=False``)."""
        index = len(self.replicas)
        base = self.work_dir / f"replica-{index}-{name}-{version}"
        base.mkdir(parents=True)
        gate = base / "gate"
        env = dict(
            os.environ, PYTHONUNBUFFERED="1",
            CLIPPER_MODEL_NAME=name, CLIPPER_MODEL_VERSION=version, CLIPPER_IP="127.0.0.1",
            CLIPPER_PORT=str(self.rpc_port), CLIPPER_INPUT_TYPE="doubles", CLIPPER_METRICS_PORT="0",
            CLIPPER_HEARTBEAT_INTERVAL_MS=str(int(p.HEARTBEAT_S * 1000)),
            CLIPPER_ACTIVITY_TIMEOUT_MS=str(int(p.DEAD_AFTER_S * 1000)),
            CLIPPER_READY_FILE=str(base / "ready"),
            FIXTURE_FAULT=fault, FIXTURE_DELAY_MS=str(delay_ms), FIXTURE_STATE_DIR=str(base / "state"),
        )
        env.pop("CLIPPER_RPC_SECRET", None)
        if secret:
            env["CLIPPER_RPC_SECRET"] = secret
        if gated:
            env["FIXTURE_GATE_FILE"] = str(gate)
        if late_after_ms is not None:
            env["FIXTURE_LATE_AFTER_MS"] = str(late_after_ms)
        env.update(extra_env or {})
        log = base / "container.log"
        proc = _spawn([sys.executable, "-m", "tests.support.fixture_models"], log, env)
        replica = Replica(name, version, proc, base / "state", gate, log)
        self.replicas.append(replica)
        return replica
