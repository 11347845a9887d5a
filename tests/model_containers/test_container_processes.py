"""The containers as real processes: ``python -m model_containers.*``."""

from __future__ import annotations

import importlib
import os
import signal
import struct
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cloudpickle
import pytest
from tests.model_containers.mc_fake_frontend import DOUBLES, STRINGS, FakeFrontend

REPO_ROOT = Path(__file__).resolve().parents[2]

Spawn = Callable[..., subprocess.Popen]


def _doubles(*xs: float) -> bytes:
    return struct.pack(f"<{len(xs)}d", *xs)


@pytest.fixture
def spawn(frontend: FakeFrontend, tmp_path: Path) -> Iterator[Spawn]:
    """Start a container module as a subprocess connected to ``frontend``; killed at teardown."""
    procs: list[subprocess.Popen] = []

    def start(module: str, **env: str) -> subprocess.Popen:
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CLIPPER_")}
        full_env.update(
            CLIPPER_MODEL_NAME="proc-model",
            CLIPPER_MODEL_VERSION="1",
            CLIPPER_IP="localhost",
            CLIPPER_PORT=str(frontend.port),
            CLIPPER_HEARTBEAT_INTERVAL_MS="100",
            CLIPPER_METRICS_PORT="0",
            CLIPPER_READY_FILE=str(tmp_path / "ready.check"),
        )
        full_env.update(env)
        with open(tmp_path / f"stderr-{len(procs)}.log", "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", module], env=full_env, cwd=REPO_ROOT,
                stdout=subprocess.DEVNULL, stderr=err,
            )
        proc.stderr_path = err.name  # type: ignore[attr-defined]
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        if proc.poll() is None:
            proc.kill()
        proc.wait(10)


def _stderr(proc: subprocess.Popen) -> str:
    return Path(proc.stderr_path).read_text()  # type: ignore[attr-defined]


def _write_closure_using_helper(
    model_dir: Path, helper_dir: Path, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Write ``func.pkl`` for a closure that uses module ``name`` from ``helper_dir``.

    The module is importable while pickling, so cloudpickle stores it by
    reference: unpickling imports it, as with any installed package.
    """
    helper_dir.mkdir(parents=True)
    (helper_dir / f"{name}.py").write_text("def double(x):\n    return 2 * x\n")
    monkeypatch.syspath_prepend(str(helper_dir))
    try:
        helper = importlib.import_module(name)
        offset = 0.5

        def predict(inputs: Any) -> Any:
            # Returns floats: the container maps str() over them.
            return [helper.double(float(x.sum())) + offset for x in inputs]

        model_dir.mkdir(parents=True, exist_ok=True)
        (model_dir / "func.pkl").write_bytes(cloudpickle.dumps(predict))
    finally:
        sys.modules.pop(name, None)


def test_closure_container_serves_a_closure_with_shipped_modules(
    frontend: FakeFrontend, spawn: Spawn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model_dir = tmp_path / "model"
    _write_closure_using_helper(model_dir, model_dir / "modules", "mc_shipped_helper", monkeypatch)
    proc = spawn("model_containers.python_closure_container", CLIPPER_MODEL_PATH=str(model_dir))

    identity, frames = frontend.register(timeout=30)
    assert frames == [b"", b"\x00\x00\x00\x00", b"proc-model", b"1", b"3", b"\x03\x00\x00\x00"]
    frontend.predict(identity, 42, DOUBLES, [_doubles(1.0, 2.0), _doubles(0.25, 0.25)])
    response = frontend.recv_response()
    assert response.msg_id_raw == b"\x2a\x00\x00\x00"
    assert response.outputs == [b"6.5", b"1.5"]
    assert (tmp_path / "ready.check").read_text() == "READY"

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0, _stderr(proc)
    assert not (tmp_path / "ready.check").exists()


def test_closure_needing_a_missing_package_exits_3_with_a_hint(
    frontend: FakeFrontend, spawn: Spawn, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The helper lies outside the model directory, so the container cannot import it.
    _write_closure_using_helper(tmp_path / "model", tmp_path / "elsewhere", "mc_unshipped_helper", monkeypatch)
    proc = spawn("model_containers.python_closure_container", CLIPPER_MODEL_PATH=str(tmp_path / "model"))
    assert proc.wait(30) == 3
    err = _stderr(proc)
    assert "mc_unshipped_helper" in err and "pkgs_to_install" in err


def test_closure_container_without_func_pkl_exits_1(spawn: Spawn, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    proc = spawn("model_containers.python_closure_container", CLIPPER_MODEL_PATH=str(tmp_path / "empty"))
    assert proc.wait(30) == 1
    assert "no func.pkl in" in _stderr(proc)


def test_closure_container_without_model_path_exits_1(spawn: Spawn) -> None:
    proc = spawn("model_containers.python_closure_container")
    assert proc.wait(30) == 1
    assert "CLIPPER_MODEL_PATH environment variable must be set" in _stderr(proc)


def test_noop_container_answers_1_0(frontend: FakeFrontend, spawn: Spawn) -> None:
    spawn("model_containers.noop_container", CLIPPER_INPUT_TYPE="strings")
    identity, frames = frontend.register(timeout=30)
    assert frames[4] == b"4"
    frontend.predict(identity, 1, STRINGS, [b"a", b"bb", b"ccc"])
    assert frontend.recv_response().outputs == [b"1.0"] * 3


def test_noop_container_without_model_name_exits_1(spawn: Spawn) -> None:
    proc = spawn("model_containers.noop_container", CLIPPER_MODEL_NAME="")
    assert proc.wait(30) == 1
    assert "CLIPPER_MODEL_NAME environment variable must be set" in _stderr(proc)
