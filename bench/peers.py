"""Start and stop the peer servers, each from its own virtual environment."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from clipper_admin.local.redis_server import free_port

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENVS = HERE / ".venvs"
RESULTS = HERE / "results"
logger = logging.getLogger("clipper.bench")

SUM_VECTOR = "1.1,2.2,3.3,4.4,5.5,6.6,7.7,8.8,9.9"  # plus the nonce: 10 doubles
CLIPPER_SUM_TEMPLATE = '{"input":[NONCE,' + SUM_VECTOR + "]}"


@dataclass
class Peer:
    """How to install-check, start and query one peer."""

    name: str
    venv: Path
    path: str
    template: str
    needs: str  # an executable inside the venv that must exist

    def available(self) -> str | None:
        """None when runnable, else why not."""
        if not (self.venv / "bin" / self.needs).exists():
            log = VENVS / f"{self.venv.name}.log"
            tail = log.read_text()[-400:] if log.exists() else "no install log"
            return f"not installed in {self.venv.relative_to(REPO)} ({self.needs} missing): {tail.strip()[-200:]}"
        return None

    def command(self, port: int, workload: str, workdir: Path) -> tuple[list[str], Path]:
        py = str(self.venv / "bin" / "python")
        servers = HERE / "servers"
        if self.name == "aiohttp (bare)":
            return [py, str(servers / "bare_aiohttp.py"), str(port)], servers
        if self.name == "LitServe":
            return [py, str(servers / "litserve_server.py"), str(port), workload], servers
        if self.name == "Ray Serve":
            return [py, str(servers / "ray_server.py"), str(port), workload], servers
        if self.name == "BentoML":
            return [str(self.venv / "bin" / "bentoml"), "serve", "bentoml_service:Sum", "--host", "127.0.0.1",
                    "--port", str(port)], servers
        if self.name == "MLServer":
            # settings.json names the ports; the model folder sits beside it.
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.copytree(HERE / "mlserver_sum", workdir)
            (workdir / "settings.json").write_text(json.dumps({
                "http_port": port, "grpc_port": free_port(), "metrics_port": free_port(),
                "parallel_workers": 0, "host": "127.0.0.1"}))
            return [str(self.venv / "bin" / "mlserver"), "start", str(workdir)], workdir
        raise ValueError(self.name)


def all_peers() -> list[Peer]:
    mlserver_body = '{"inputs":[{"name":"x","shape":[1,10],"datatype":"FP64","data":[NONCE,' + SUM_VECTOR + "]}]}"
    return [
        Peer("aiohttp (bare)", REPO / ".venv", "/predict", CLIPPER_SUM_TEMPLATE, "python"),
        Peer("LitServe", VENVS / "litserve", "/predict", CLIPPER_SUM_TEMPLATE, "litserve"),
        Peer("BentoML", VENVS / "bentoml", "/predict", '{"input":[[NONCE,' + SUM_VECTOR + "]]}", "bentoml"),
        Peer("Ray Serve", VENVS / "ray", "/predict", CLIPPER_SUM_TEMPLATE, "serve"),
        Peer("MLServer", VENVS / "mlserver", "/v2/models/sum/infer", mlserver_body, "mlserver"),
    ]


@dataclass
class RunningPeer:
    peer: Peer
    proc: subprocess.Popen[bytes]
    url: str
    cold_start_s: float
    log: Path
    extra_pids: list[int] = field(default_factory=list)


def start(peer: Peer, workload: str, timeout_s: float = 180.0) -> RunningPeer:
    """Start the peer and wait for its first 200 (the cold start)."""
    port = free_port()
    workdir = RESULTS / "peers" / peer.venv.name
    workdir.mkdir(parents=True, exist_ok=True)
    cmd, cwd = peer.command(port, workload, workdir / "run")
    env = dict(os.environ, BENCH_WORKLOAD=workload, RAY_USAGE_STATS_ENABLED="0", BENTOML_DO_NOT_TRACK="true",
               PYTHONUNBUFFERED="1", PYTHONPATH=str(HERE))  # every peer imports bench/models.py
    env.pop("VIRTUAL_ENV", None)
    env["PATH"] = f"{peer.venv / 'bin'}:{env.get('PATH', '')}"
    log = workdir / f"{workload}.log"
    t0 = time.monotonic()
    with open(log, "wb") as f:
        proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}{peer.path}"
    body = peer.template.replace("NONCE", "0.5")
    running = RunningPeer(peer, proc, url, 0.0, log)
    while True:
        if proc.poll() is not None:
            stop(running)
            raise RuntimeError(f"{peer.name} exited with {proc.returncode}: {log.read_text()[-1500:]}")
        try:
            r = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=5)
            if r.status_code == 200:
                break
        except requests.RequestException:
            pass
        if time.monotonic() - t0 > timeout_s:
            stop(running)
            raise RuntimeError(f"{peer.name} gave no 200 within {timeout_s:.0f} s: {log.read_text()[-1500:]}")
        time.sleep(0.25)
    running.cold_start_s = time.monotonic() - t0
    return running


def _pids_under(venv: Path) -> list[int]:
    """Processes started from the peer's venv (Ray and BentoML leave their own groups)."""
    needle = str(venv).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "cmdline").read_bytes():
                pids.append(int(entry.name))
        except OSError:
            continue
    return pids


def stop(running: RunningPeer) -> None:
    """Stop the process group, then any stray process of that venv, by pid."""
    for sig, wait in ((signal.SIGTERM, 10.0), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(running.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            running.proc.wait(timeout=wait)
            break
        except subprocess.TimeoutExpired:
            continue
    if running.peer.venv.name != ".venv":
        for sig in (signal.SIGTERM, signal.SIGKILL):
            pids = _pids_under(running.peer.venv)
            for pid in pids:
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            if pids:
                time.sleep(2.0)
