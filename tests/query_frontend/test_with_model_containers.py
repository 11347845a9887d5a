"""The query frontend with our real model-container runtime, as processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import cloudpickle
import pytest

from tests.query_frontend.conftest import RunningFrontend


def _closure_dir(tmp_path: Path, func) -> Path:
    d = tmp_path / "model"
    d.mkdir()
    (d / "func.pkl").write_bytes(cloudpickle.dumps(func))
    return d


def _start_container(qf: RunningFrontend, model_dir: Path, name: str = "m", version: str = "1",
                     input_type: str = "doubles", tmp_path: Path | None = None) -> subprocess.Popen:
    env = {
        **os.environ,
        "CLIPPER_MODEL_NAME": name,
        "CLIPPER_MODEL_VERSION": version,
        "CLIPPER_IP": "127.0.0.1",
        "CLIPPER_PORT": str(qf.rpc_port),
        "CLIPPER_INPUT_TYPE": input_type,
        "CLIPPER_MODEL_PATH": str(model_dir),
        "CLIPPER_METRICS_PORT": "0",
        "CLIPPER_HEARTBEAT_INTERVAL_MS": "200",
        "CLIPPER_READY_FILE": str(model_dir / "ready"),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "model_containers.python_closure_container"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


@pytest.fixture
def processes():
    procs: list[subprocess.Popen] = []
    yield procs
    for p in procs:
        if p.poll() is None:
            p.kill()
        p.wait()


def _feature_sum(xs):
    return [sum(x) for x in xs]


def _picky(xs):
    if any(x[0] < 0 for x in xs):
        raise ValueError("negative input")
    return [float(x[0]) * 2 for x in xs]


async def _link(qf: RunningFrontend, cluster_state, input_type: str = "doubles", slo: int = 2_000_000) -> None:
    cluster_state.add_app("app", input_type=input_type, slo_micros=slo)
    cluster_state.add_model("m", "1", input_type=input_type)
    cluster_state.link("app", "m")
    await qf.wait_app("app", lambda a: a.linked_models == ["m"])


async def test_closure_container_serves_the_quickstart(qf, cluster_state, processes, tmp_path) -> None:
    await _link(qf, cluster_state)
    processes.append(_start_container(qf, _closure_dir(tmp_path, _feature_sum)))
    await qf.wait_replicas("m", "1", 1, timeout=20)
    status, body = await qf.predict("app", {"input": [1.1, 2.2, 3.3]})
    assert status == 200 and body["default"] is False
    assert body["output"] == pytest.approx(6.6)
    status, body = await qf.predict("app", {"input_batch": [[1.0, 2.0], [3.0, 4.0, 5.0]]})
    assert [p["output"] for p in body["batch_predictions"]] == [3.0, 12.0]


async def test_raising_model_gives_defaults_and_container_survives(qf, cluster_state, processes, tmp_path) -> None:
    await _link(qf, cluster_state)
    proc = _start_container(qf, _closure_dir(tmp_path, _picky))
    processes.append(proc)
    await qf.wait_replicas("m", "1", 1, timeout=20)
    status, body = await qf.predict("app", {"input": [-1.0]})
    assert body["default"] is True
    # The cause, not only "failed": what a user needs before opening the replica log.
    assert body["default_explanation"] == ("The model failed to produce an output for this input: "
                                           "ValueError: negative input")
    status, body = await qf.predict("app", {"input": [21.0]})
    assert body == {"query_id": body["query_id"], "output": 42.0, "default": False}
    assert proc.poll() is None


async def test_killed_container_process_leaves_rotation_quickly(qf, cluster_state, processes, tmp_path) -> None:
    await _link(qf, cluster_state)
    model_dir = _closure_dir(tmp_path, _feature_sum)
    proc = _start_container(qf, model_dir)
    processes.append(proc)
    await qf.wait_replicas("m", "1", 1, timeout=20)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    await qf.wait_replicas("m", "1", 0, timeout=1.0)
    status, body = await qf.predict("app", {"input": [5.0]})
    assert body["default"] is True
    # A replacement rejoins and serves without any admin call.
    processes.append(_start_container(qf, model_dir))
    await qf.wait_replicas("m", "1", 1, timeout=20)
    status, body = await qf.predict("app", {"input": [5.0]})
    assert body["default"] is False and body["output"] == 5.0


async def test_frozen_container_is_declared_dead(qf, cluster_state, processes, tmp_path) -> None:
    await _link(qf, cluster_state)
    proc = _start_container(qf, _closure_dir(tmp_path, _feature_sum))
    processes.append(proc)
    await qf.wait_replicas("m", "1", 1, timeout=20)
    proc.send_signal(signal.SIGSTOP)
    try:
        # The fixture's activity timeout is 1 s.
        await qf.wait_replicas("m", "1", 0, timeout=2.5)
    finally:
        proc.send_signal(signal.SIGCONT)
    # Once thawed it re-registers by itself.
    await qf.wait_replicas("m", "1", 1, timeout=10)
    await asyncio.sleep(0)
