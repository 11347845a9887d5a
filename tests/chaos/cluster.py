"""The chaos run's cluster: a LocalContainerManager cluster with two models of two replicas each.

- ``slow``: a Python closure deployed by Clipper (``deploy_python_closure``),
  20 ms per batch, versions 1 and 2 with two replicas each; the manager runs
  (and restarts) its replicas, and scale and version switches go through
  ``ClipperConnection``.
- ``fast``: registered without a container (``register_model``); its two
  replicas are started here, as replicas on other hosts would be, from the
  tests' fixture model (an echo): one straight to the query frontend's RPC
  port, one through a :class:`~tests.chaos.link.FaultyLink`. Killed, they are
  started again here after a second (an orchestrator's restart).

Applications ``fast`` and ``slow`` (SLO 100 ms, default output -1) link them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from clipper_admin import ClipperConnection
from clipper_admin.deployers.python import deploy_python_closure
from clipper_admin.local import LocalContainerManager
from tests.chaos.link import FaultyLink

REPO = Path(__file__).resolve().parents[2]
SLO_MICROS = 100_000
SLOW_BATCH_S = 0.02


def slow_model(xs: list[list[float]]) -> list[str]:
    time.sleep(SLOW_BATCH_S)
    return [str(sum(x)) for x in xs]


@dataclass
class ExternalReplica:
    """One ``fast`` replica run by this harness (through the faulty link when ``via_link``)."""

    index: int
    via_link: bool
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restart_at: float | None = None

    @property
    def ready_file(self) -> Path:
        return self.log.with_suffix(".ready")


@dataclass
class ChaosCluster:
    work_dir: Path
    seed: int
    cm: LocalContainerManager = field(init=False)
    conn: ClipperConnection = field(init=False)
    link: FaultyLink = field(init=False)
    external: list[ExternalReplica] = field(default_factory=list)

    def start(self) -> None:
        self.cm = LocalContainerManager(
            cluster_name=f"chaos-{self.seed}", cluster_dir=self.work_dir / "cluster", clipper_query_port=0,
            clipper_management_port=0, clipper_rpc_port=0, redis_port=0, prometheus_port=None)
        self.conn = ClipperConnection(self.cm)
        # A small cache: it is full within a minute, so the frontend's memory must then stay flat.
        self.conn.start_clipper(cache_size=4 * 1024 * 1024)
        for app in ("fast", "slow"):
            self.conn.register_application(app, "doubles", "-1", SLO_MICROS)
        self.conn.register_model("fast", "1", "doubles")
        for version in ("1", "2"):
            deploy_python_closure(self.conn, name="slow", version=version, input_type="doubles", func=slow_model,
                                  num_replicas=2)
        self.conn.set_model_version("slow", "1")
        self.conn.link_model_to_app("fast", "fast")
        self.conn.link_model_to_app("slow", "slow")
        self.link = FaultyLink(self.cm.clipper_rpc_port, self.seed).start()
        self.external = [ExternalReplica(i, i == 1, self.work_dir / f"fast-{i}.log") for i in range(2)]
        for r in self.external:
            self.start_external(r)

    def url(self, app: str) -> str:
        return f"http://{self.cm.get_query_addr()}/{app}/predict"

    # ------------------------------------------------------------------ the harness's own replicas

    def start_external(self, r: ExternalReplica) -> None:
        port = self.link.port if r.via_link else self.cm.clipper_rpc_port
        r.ready_file.unlink(missing_ok=True)  # a killed replica leaves it behind
        env = dict(os.environ, PYTHONUNBUFFERED="1", CLIPPER_MODEL_NAME="fast", CLIPPER_MODEL_VERSION="1",
                   CLIPPER_IP="127.0.0.1", CLIPPER_PORT=str(port), CLIPPER_INPUT_TYPE="doubles",
                   CLIPPER_METRICS_PORT="0", CLIPPER_READY_FILE=str(r.ready_file), FIXTURE_FAULT="echo",
                   FIXTURE_TAG="fast")
        env.pop("CLIPPER_RPC_SECRET", None)
        with open(r.log, "ab") as log:
            r.proc = subprocess.Popen([sys.executable, "-m", "tests.support.fixture_models"], cwd=REPO,
                                      stdout=log, stderr=subprocess.STDOUT, env=env)
        r.restart_at = None

    def tend_external(self, now: float) -> bool:
        """Start again the harness's replicas that died, a second after they did; True if one was started."""
        started = False
        for r in self.external:
            if r.proc is not None and r.proc.poll() is not None:
                if r.restart_at is None:
                    r.restart_at = now + 1.0
                elif now >= r.restart_at:
                    self.start_external(r)
                    started = True
        return started

    # ------------------------------------------------------------------ what runs, by role

    def served_pid(self, role: str) -> int | None:
        """The process the manager's restarter runs for ``role`` (None mid-restart)."""
        for s in self.cm.process_status():
            if s.role == role:
                return s.served_pid
        return None

    def model_replica_pids(self, model: str | None = None) -> dict[str, int]:
        """``{replica name: pid}`` of the manager's running replicas (of ``"name:version"``)."""
        return {s.name: s.served_pid for s in self.cm.process_status()
                if s.role == "model" and s.alive and s.served_pid is not None and (model is None or s.model == model)}

    def serving_replicas(self) -> list[tuple[str, str]]:
        """``(model, version)`` of every replica that runs and has connected (its ready file exists)."""
        out = [("fast", "1") for r in self.external
               if r.proc is not None and r.proc.poll() is None and r.ready_file.exists()]
        for s in self.cm.process_status():
            if s.role == "model" and s.alive and s.served_pid is not None and s.model is not None \
                    and self.cm.paths.ready_file(s.name).exists():
                name, version = s.model.split(":", 1)
                out.append((name, version))
        return out

    def stop(self) -> None:
        for r in self.external:
            if r.proc is not None and r.proc.poll() is None:
                r.proc.send_signal(signal.SIGCONT)
                r.proc.terminate()
                r.proc.wait(10)
        self.link.stop()
        self.cm.stop_all()
