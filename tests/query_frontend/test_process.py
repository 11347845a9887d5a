"""The query frontend as a real process: restarts, Redis outages, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.support.frame_container import FrameContainer
from tests.support.ports import log_size, qf_ports, wait_listening


class FrontendProcess:
    """``python -m query_frontend``: first on ports of its own choosing (0), restarted on the same ones."""

    def __init__(self, redis_port: int, log_path: Path) -> None:
        self.query_port = 0
        self.rpc_port = 0
        self.redis_port = redis_port
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        env = {**os.environ, "CLIPPER_QF_CONTAINER_PROBE_INTERVAL_MS": "200", "CLIPPER_QF_RESYNC_INTERVAL_S": "1"}
        offset = log_size(self.log_path)
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "query_frontend", "--redis_ip=127.0.0.1", f"--redis_port={self.redis_port}",
                 f"--rpc_service_port={self.rpc_port}", "--query_port", str(self.query_port), "--host", "127.0.0.1"],
                stdout=log, stderr=subprocess.STDOUT, env=env,
            )
        if self.query_port == 0:
            self.query_port, self.rpc_port = qf_ports(self.proc, self.log_path, 20, offset)
        else:  # a restart: the same address, where clients and containers reconnect
            wait_listening(self.proc, self.query_port, 20, self.log_path)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(15)

    def predict(self, app: str, body: dict) -> dict:
        r = requests.post(f"http://127.0.0.1:{self.query_port}/{app}/predict", json=body, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def wait_ready(self, timeout: float = 10) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.query_port}/ready", timeout=1).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.05)
        raise AssertionError("query frontend never became ready")


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if predicate():
                return
        except (requests.RequestException, AssertionError):
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@pytest.fixture
def frontend(redis_instance, tmp_path) -> Iterator[FrontendProcess]:
    fp = FrontendProcess(redis_instance.port, tmp_path / "qf.log")
    fp.start()
    yield fp
    if fp.proc is not None and fp.proc.poll() is None:
        fp.proc.kill()
        fp.proc.wait()


def _serve_sum(cluster_state, frontend: FrontendProcess) -> FrameContainer:
    cluster_state.add_app("app", slo_micros=500_000)
    cluster_state.add_model("m", "1")
    cluster_state.link("app", "m")
    container = FrameContainer(frontend.rpc_port, "m", "1").start()
    wait_for(lambda: frontend.predict("app", {"input": [1.0, 2.0]})["default"] is False, what="first prediction")
    return container


def test_restarted_frontend_serves_again_with_the_same_config(cluster_state, frontend: FrontendProcess) -> None:
    container = _serve_sum(cluster_state, frontend)
    try:
        assert frontend.stop() == 0
        frontend.start()
        wait_for(lambda: frontend.predict("app", {"input": [2.0, 2.0]})["output"] == 4.0, what="re-registration")
    finally:
        container.stop()


def test_predictions_keep_flowing_while_redis_is_down(redis_instance, cluster_state, frontend: FrontendProcess) -> None:
    container = _serve_sum(cluster_state, frontend)
    try:
        redis_instance.stop()
        for i in range(20):
            body = frontend.predict("app", {"input": [float(i), 1.0]})
            assert body["default"] is False and body["output"] == i + 1.0
        redis_instance.start()
        # A change made after Redis returns reaches the frontend.
        cluster_state.add_app("after", default_output="late")
        wait_for(lambda: frontend.predict("after", {"input": [1.0]})["output"] == "late", what="resync")
    finally:
        container.stop()


def test_starts_without_redis_and_becomes_ready(redis_instance, tmp_path) -> None:
    redis_instance.stop()
    fp = FrontendProcess(redis_instance.port, tmp_path / "qf2.log")
    fp.start()
    try:
        r = requests.get(f"http://127.0.0.1:{fp.query_port}/ready", timeout=2)
        assert r.status_code == 503 and "redis unreachable" in r.json()["reason"]
        redis_instance.start()
        fp.wait_ready()
        assert fp.stop() == 0
    finally:
        if fp.proc.poll() is None:
            fp.proc.kill()
            fp.proc.wait()


def test_sigterm_exits_cleanly(frontend: FrontendProcess) -> None:
    assert frontend.stop() == 0
    assert "shutting down" in frontend.log_path.read_text()
